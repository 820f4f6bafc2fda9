package netstack

import (
	"context"
	"errors"
	"slices"

	"github.com/unigo-dev/unigo/netstack/dhcp"
)

// Lease is a DHCP lease (see package dhcp).
type Lease = dhcp.Lease

// StartDHCP starts the DHCP client on the main NIC in the background and
// returns at once. Each lease acquired or renewed is applied (address,
// subnet route, default route via the router, DNS servers) and then passed
// to onLease (which may be nil; it runs on the client's goroutine). An
// expired lease removes the address and routes. Without a server the NIC
// simply stays without an address and connects to non-local addresses fail
// with ENETUNREACH. The client stops when ctx is done or at Destroy.
func (st *Stack) StartDHCP(ctx context.Context, onLease func(Lease)) error {
	return st.StartDHCPConfig(ctx, dhcp.Config{}, onLease)
}

// StartDHCPConfig is StartDHCP with the client's timing knobs in cfg
// (its Stack, NIC, OnBound and OnExpire fields are filled in here).
func (st *Stack) StartDHCPConfig(ctx context.Context, cfg dhcp.Config, onLease func(Lease)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.hasNIC {
		return errors.New("netstack: DHCP needs a NIC")
	}
	if st.dhcpStop != nil {
		return errors.New("netstack: DHCP already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	st.dhcpStop = func() { cancel(); <-done }
	cfg.Stack, cfg.NIC = st.s, MainNIC
	cfg.OnBound = func(l Lease) {
		st.mu.Lock()
		if st.addr != l.Addr {
			_ = st.configureLocked(l.Addr, l.Router, l.DNS)
		} else {
			if st.gateway != l.Router {
				_ = st.configureLocked(l.Addr, l.Router, l.DNS)
			}
			st.dns = slices.Clone(l.DNS)
		}
		st.mu.Unlock()
		if onLease != nil {
			onLease(l)
		}
	}
	cfg.OnExpire = func(l Lease) {
		st.mu.Lock()
		if st.addr == l.Addr {
			st.unconfigureLocked()
		}
		st.mu.Unlock()
	}
	go func() {
		defer close(done)
		_ = dhcp.Run(ctx, cfg)
	}()
	return nil
}
