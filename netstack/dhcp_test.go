package netstack

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/unigo-dev/unigo/netstack/dhcp"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// fakeServer answers like QEMU's user-network (slirp) DHCP server: it
// offers 10.0.2.15/24, router 10.0.2.2, DNS 10.0.2.3, server id 10.0.2.2.
type fakeServer struct {
	lease, t1, t2 time.Duration
	silent        atomic.Bool // stop answering
	discovers     atomic.Int32
	requests      atomic.Int32
	renewals      atomic.Int32 // REQUESTs with ciaddr sent to our unicast address
	rebinds       atomic.Int32 // REQUESTs with ciaddr sent to broadcast
}

var (
	slirpClient = netip.MustParseAddr("10.0.2.15")
	slirpServer = netip.MustParseAddr("10.0.2.2")
	slirpDNS    = netip.MustParseAddr("10.0.2.3")
)

func (f *fakeServer) run(t testing.TB, ctx context.Context, st *Stack) {
	s := st.Gvisor()
	wq := new(waiter.Queue)
	ep, err := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	require.Nil(t, err)
	ep.SocketOptions().SetBroadcast(true)
	ep.SocketOptions().SetReceivePacketInfo(true)
	require.Nil(t, ep.Bind(tcpip.FullAddress{Port: dhcp.ServerPort}))
	entry, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&entry)
	go func() {
		defer ep.Close()
		defer wq.EventUnregister(&entry)
		buf := make([]byte, 2048)
		for {
			w := tcpip.SliceWriter(buf)
			res, err := ep.Read(&w, tcpip.ReadOptions{})
			if err != nil {
				select {
				case <-ch:
					continue
				case <-ctx.Done():
					return
				}
			}
			m, derr := dhcp.Decode(buf[:res.Count])
			if derr != nil {
				continue
			}
			reply := &dhcp.Message{Op: 2, Xid: m.Xid, Flags: m.Flags, CHAddr: m.CHAddr,
				YIAddr: slirpClient, ServerID: slirpServer, Mask: netip.MustParseAddr("255.255.255.0"),
				Router: []netip.Addr{slirpServer}, DNS: []netip.Addr{slirpDNS},
				Lease: f.lease, T1: f.t1, T2: f.t2}
			switch m.Type {
			case dhcp.Discover:
				f.discovers.Add(1)
				reply.Type = dhcp.Offer
			case dhcp.Request:
				f.requests.Add(1)
				if m.CIAddr.IsValid() {
					if res.ControlMessages.PacketInfo.DestinationAddr != header.IPv4Broadcast {
						f.renewals.Add(1)
					} else {
						f.rebinds.Add(1)
					}
				}
				want := m.ReqIP
				if m.CIAddr.IsValid() {
					want = m.CIAddr
				}
				if want == slirpClient {
					reply.Type = dhcp.Ack
				} else {
					reply.Type = dhcp.Nak
				}
			default:
				continue
			}
			if f.silent.Load() {
				continue
			}
			to := tcpip.FullAddress{NIC: MainNIC, Addr: header.IPv4Broadcast, Port: dhcp.ClientPort}
			if m.CIAddr.IsValid() && m.Flags&0x8000 == 0 {
				to.Addr = tcpip.AddrFrom4(m.CIAddr.As4())
			}
			if _, err := ep.Write(bytes.NewReader(reply.Encode()), tcpip.WriteOptions{To: &to}); err != nil {
				t.Logf("fake server write: %v", err)
			}
		}
	}()
}

// dhcpPair is a client stack with no address and a server stack at
// 10.0.2.2/24 on one simulated Ethernet.
func dhcpPair(t *testing.T) (cl, srv *Stack) {
	cl, srv = newStack(t), newStack(t)
	epC := channel.New(512, 1500, "")
	epS := channel.New(512, 1500, "")
	require.NoError(t, cl.AddNIC(epC, macA))
	require.NoError(t, srv.AddNIC(epS, macB))
	require.NoError(t, srv.ConfigureStatic(netip.MustParsePrefix("10.0.2.2/24"), netip.Addr{}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go forward(ctx, epC, epS)
	go forward(ctx, epS, epC)
	return cl, srv
}

var fastDHCP = dhcp.Config{RetransmitBase: 100 * time.Millisecond, RetransmitMax: 400 * time.Millisecond, RenewRetryMin: 200 * time.Millisecond}

func TestDHCPLeaseRenewExpire(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	cl, srv := dhcpPair(t)
	f := &fakeServer{lease: 3 * time.Second, t1: time.Second, t2: 2 * time.Second}
	f.run(t, ctx, srv)

	var mu sync.Mutex
	var leases []Lease
	got := make(chan struct{}, 16)
	require.NoError(t, cl.StartDHCPConfig(ctx, fastDHCP, func(l Lease) {
		mu.Lock()
		leases = append(leases, l)
		mu.Unlock()
		got <- struct{}{}
	}))
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no lease")
	}
	addr, gw := cl.Address()
	require.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), addr)
	require.Equal(t, slirpServer, gw)
	require.Equal(t, []netip.Addr{slirpDNS}, cl.DNS())
	mu.Lock()
	l := leases[0]
	mu.Unlock()
	require.Equal(t, slirpServer, l.Server)
	require.Equal(t, 3*time.Second, l.Duration)
	require.Equal(t, time.Second, l.T1)

	var hasDefault bool
	for _, r := range cl.Gvisor().GetRouteTable() {
		if r.Destination.Prefix() == 0 && r.Gateway == tcpip.AddrFrom4(slirpServer.As4()) {
			hasDefault = true
		}
	}
	require.True(t, hasDefault, "default route via 10.0.2.2")

	// The lease works: TCP from the client to the server, and through
	// the default route the client reaches off-link addresses (ARP for
	// the gateway, then a refused-or-timeout, not ENETUNREACH).
	ln := listenOn(t, srv, AF_INET, sa4("10.0.2.2", 0))
	done := echoServer(ctx, srv, ln)
	echoRoundTrip(t, ctx, cl, AF_INET, sa4("10.0.2.2", boundPort(t, srv, ln)), 4096)
	require.Equal(t, ok, <-done)

	// Renewal at T1, unicast to the server.
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no renewal")
	}
	require.GreaterOrEqual(t, f.renewals.Load(), int32(1))
	addr, _ = cl.Address()
	require.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), addr)

	// The server goes away: rebinding fails and the lease expires.
	f.silent.Store(true)
	deadline := time.Now().Add(6 * time.Second)
	for {
		if a, _ := cl.Address(); !a.IsValid() {
			break
		}
		require.True(t, time.Now().Before(deadline), "lease never expired")
		time.Sleep(20 * time.Millisecond)
	}
	require.GreaterOrEqual(t, f.rebinds.Load(), int32(1))
	c := mustSocket(t, cl, AF_INET, SOCK_STREAM)
	require.Equal(t, ENETUNREACH, cl.Connect(ctx, c, sa4("10.0.2.2", 80)))

	// The server returns: the client acquires again.
	f.silent.Store(false)
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no new lease")
	}
	addr, _ = cl.Address()
	require.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), addr)
}

func TestDHCPNoServer(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	st := newStack(t)
	ep := channel.New(64, 1500, "")
	require.NoError(t, st.AddNIC(ep, macA))
	var sent atomic.Int32
	go func() {
		for ep.ReadContext(ctx) != nil {
			sent.Add(1)
		}
	}()
	t0 := time.Now()
	require.NoError(t, st.StartDHCPConfig(ctx, fastDHCP, func(Lease) { t.Error("lease without a server") }))
	require.Less(t, time.Since(t0), 100*time.Millisecond, "StartDHCP must not block")
	c := mustSocket(t, st, AF_INET, SOCK_STREAM)
	require.Equal(t, ENETUNREACH, st.Connect(ctx, c, sa4("10.0.2.2", 80)))
	time.Sleep(500 * time.Millisecond)
	a, _ := st.Address()
	require.False(t, a.IsValid())
	require.GreaterOrEqual(t, sent.Load(), int32(2), "DISCOVER retransmitted")
	require.Equal(t, ENETUNREACH, st.Connect(ctx, c, sa4("10.0.2.2", 80)))
	t1 := time.Now()
	st.Destroy()
	require.Less(t, time.Since(t1), 2*time.Second, "Destroy stops the DHCP client")
}

func TestDHCPMessageRoundTrip(t *testing.T) {
	m := &dhcp.Message{Op: 2, Xid: 0xdeadbeef, Flags: 0x8000, CHAddr: macA, Type: dhcp.Ack,
		YIAddr: slirpClient, ServerID: slirpServer, Mask: netip.MustParseAddr("255.255.255.0"),
		Router: []netip.Addr{slirpServer}, DNS: []netip.Addr{slirpDNS, slirpServer},
		Lease: time.Hour, T1: 30 * time.Minute, T2: 50 * time.Minute, Params: []byte{1, 3, 6}}
	b := m.Encode()
	require.GreaterOrEqual(t, len(b), 300)
	d, err := dhcp.Decode(b)
	require.NoError(t, err)
	require.Equal(t, m, d)
	for n := 0; n < len(b); n += 7 {
		_, _ = dhcp.Decode(b[:n]) // never panics
	}
	bad := append([]byte(nil), b[:241]...)
	bad[240] = 3
	bad = append(bad, 200) // option length past the end
	_, err = dhcp.Decode(bad)
	require.Error(t, err)
}
