package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NIC identifiers inside the gVisor stack.
const (
	LoopbackNIC tcpip.NICID = 1
	MainNIC     tcpip.NICID = 2
)

// Options tunes NewStack. The zero value is a sensible default.
type Options struct {
	// TCP send and receive buffer sizes: the default a new socket gets
	// and the most SO_SNDBUF/SO_RCVBUF or auto-tuning may reach. Zero
	// picks 1 MiB default and 8 MiB maximum for receive, 1 MiB and 8 MiB
	// for send.
	TCPRecvBufDefault, TCPRecvBufMax int
	TCPSendBufDefault, TCPSendBufMax int

	// MaxSockets caps the socket table; zero means 65536. Socket beyond
	// it fails with EMFILE.
	MaxSockets int
}

// Stack is one gVisor network stack plus the socket table in front of it.
// All methods are safe for concurrent use.
type Stack struct {
	s *stack.Stack

	notify atomic.Pointer[func(id int, mask uint32)]

	mu      sync.Mutex
	socks   map[int]*socket
	freeIDs []int
	nextID  int
	maxSock int
	hasNIC  bool
	addr    netip.Prefix // the address configured on MainNIC, if any
	gateway netip.Addr
	dns     []netip.Addr

	dhcpStop func() // stops the DHCP client and waits for it; nil if none
}

// NewStack creates the stack with IPv4, IPv6, ARP, ICMP, TCP and UDP and
// the loopback interface (127.0.0.1/8 and ::1/128).
func NewStack(opts Options) (*Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	sack := tcpip.TCPSACKEnabled(true)
	mod := tcpip.TCPModerateReceiveBufferOption(true)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: def(opts.TCPRecvBufDefault, 1<<20), Max: def(opts.TCPRecvBufMax, 8<<20)}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: def(opts.TCPSendBufDefault, 1<<20), Max: def(opts.TCPSendBufMax, 8<<20)}
	for _, o := range []tcpip.SettableTransportProtocolOption{&sack, &mod, &rcv, &snd} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			s.Close()
			return nil, fmt.Errorf("netstack: TCP option %T: %v", o, err)
		}
	}
	if err := s.CreateNICWithOptions(LoopbackNIC, loopback.New(), stack.NICOptions{Name: "lo"}); err != nil {
		s.Close()
		return nil, fmt.Errorf("netstack: loopback NIC: %v", err)
	}
	for _, pa := range []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8}},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv6Loopback, PrefixLen: 128}},
	} {
		if err := s.AddProtocolAddress(LoopbackNIC, pa, stack.AddressProperties{}); err != nil {
			s.Close()
			return nil, fmt.Errorf("netstack: loopback address: %v", err)
		}
		s.AddRoute(tcpip.Route{Destination: pa.AddressWithPrefix.Subnet(), NIC: LoopbackNIC})
	}
	st := &Stack{s: s, socks: make(map[int]*socket), nextID: 1, maxSock: def(opts.MaxSockets, 65536)}
	return st, nil
}

// Gvisor returns the underlying gVisor stack (for tests and drivers).
func (st *Stack) Gvisor() *stack.Stack { return st.s }

// Destroy aborts every socket and destroys the stack.
func (st *Stack) Destroy() {
	st.mu.Lock()
	stop := st.dhcpStop
	st.dhcpStop = nil
	st.mu.Unlock()
	if stop != nil {
		stop()
	}
	st.mu.Lock()
	socks := st.socks
	st.socks = map[int]*socket{}
	st.mu.Unlock()
	for _, sk := range socks {
		sk.wq.EventUnregister(&sk.entry)
		sk.ep.Abort()
	}
	st.s.Close()
	st.s.Wait()
}

// AddNIC attaches the machine's network interface. ep carries whole
// Ethernet frames (a driver's endpoint, or a channel endpoint in tests);
// when ep does no Ethernet framing of its own (ARPHardwareType none, no
// header room) it is wrapped in gVisor's Ethernet layer. mac becomes the
// interface's address. There is one such NIC (MainNIC).
func (st *Stack) AddNIC(ep stack.LinkEndpoint, mac [6]byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.hasNIC {
		return errors.New("netstack: NIC already added")
	}
	if ep.ARPHardwareType() == header.ARPHardwareNone && ep.MaxHeaderLength() == 0 {
		ep = ethernet.New(ep)
	}
	ep.SetLinkAddress(tcpip.LinkAddress(mac[:]))
	if err := st.s.CreateNICWithOptions(MainNIC, ep, stack.NICOptions{Name: "eth0"}); err != nil {
		return fmt.Errorf("netstack: create NIC: %v", err)
	}
	st.hasNIC = true
	return nil
}

// ConfigureStatic puts addr on the main NIC (replacing any previous
// address), routes its subnet there and, when gateway is valid, makes it the
// default route. dns is remembered for DNS(); nothing else reads it.
func (st *Stack) ConfigureStatic(addr netip.Prefix, gateway netip.Addr, dns []netip.Addr) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.configureLocked(addr, gateway, dns)
}

func (st *Stack) configureLocked(addr netip.Prefix, gateway netip.Addr, dns []netip.Addr) error {
	if !st.hasNIC {
		return errors.New("netstack: no NIC")
	}
	st.unconfigureLocked()
	if !addr.IsValid() {
		return nil
	}
	proto := ipv4.ProtocolNumber
	if !addr.Addr().Is4() {
		proto = ipv6.ProtocolNumber
	}
	awp := tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(addr.Addr().AsSlice()), PrefixLen: addr.Bits()}
	if err := st.s.AddProtocolAddress(MainNIC, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: awp}, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("netstack: add address %v: %v", addr, err)
	}
	st.s.AddRoute(tcpip.Route{Destination: awp.Subnet(), NIC: MainNIC})
	if gateway.IsValid() {
		var any tcpip.Subnet
		if gateway.Is4() {
			any = header.IPv4EmptySubnet
		} else {
			any = header.IPv6EmptySubnet
		}
		st.s.AddRoute(tcpip.Route{Destination: any, Gateway: tcpip.AddrFromSlice(gateway.AsSlice()), NIC: MainNIC})
	}
	st.addr, st.gateway, st.dns = addr, gateway, append([]netip.Addr(nil), dns...)
	return nil
}

// unconfigureLocked removes the address and the routes of the main NIC.
func (st *Stack) unconfigureLocked() {
	if st.addr.IsValid() {
		_ = st.s.RemoveAddress(MainNIC, tcpip.AddrFromSlice(st.addr.Addr().AsSlice()))
	}
	st.s.RemoveRoutes(func(r tcpip.Route) bool { return r.NIC == MainNIC })
	st.addr, st.gateway, st.dns = netip.Prefix{}, netip.Addr{}, nil
}

// Address returns the main NIC's configured address and gateway (invalid
// values when there is none).
func (st *Stack) Address() (netip.Prefix, netip.Addr) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.addr, st.gateway
}

// DNS returns the DNS servers from the last configuration (static or DHCP).
func (st *Stack) DNS() []netip.Addr {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]netip.Addr(nil), st.dns...)
}
