// Package dhcp is a DHCPv4 client (RFC 2131) that runs over a gVisor
// stack: it acquires a lease on one NIC, renews it at T1 (unicast to the
// server), rebinds at T2 (broadcast) and reports expiry. It runs in its own
// goroutine (Run) and never configures the stack's addresses itself,
// except the temporary 0.0.0.0 source address it needs while it has no
// lease; the caller applies leases from the OnBound and OnExpire callbacks.
package dhcp

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Ports of the protocol.
const (
	ServerPort = 67
	ClientPort = 68
)

// Lease is what an ACK granted.
type Lease struct {
	Addr     netip.Prefix // address and subnet
	Router   netip.Addr   // first router, if any
	DNS      []netip.Addr
	Server   netip.Addr    // server identifier
	Duration time.Duration // lease time
	T1, T2   time.Duration // renewal and rebinding times, from Start
	Start    time.Time     // when the request that got the ACK was sent
}

// Config says where and how Run works.
type Config struct {
	Stack *stack.Stack
	NIC   tcpip.NICID
	// MAC is the client hardware address; zero means the NIC's own.
	MAC [6]byte

	// OnBound is called with each lease acquired, renewed or rebound;
	// OnExpire when the lease ended (expiry or NAK) and the address must
	// go. Both run on Run's goroutine.
	OnBound  func(Lease)
	OnExpire func(Lease)

	// Retransmission of DISCOVER and REQUEST while acquiring starts at
	// RetransmitBase and doubles up to RetransmitMax (RFC 2131: 4s to
	// 64s, the defaults), with a random jitter of a quarter of the
	// current delay. RenewRetryMin is the shortest wait between
	// retransmitted renew/rebind requests (default 60s, as RFC 2131).
	RetransmitBase, RetransmitMax, RenewRetryMin time.Duration
}

var errNAK = errors.New("dhcp: NAK")

type client struct {
	cfg  Config
	ep   tcpip.Endpoint
	ch   chan struct{}
	buf  []byte
	temp bool // 0.0.0.0 is on the NIC
}

// Run acquires and keeps a lease until ctx is done; it then removes any
// temporary address it added and returns ctx's error. A missing server
// only means Run keeps trying, with backoff.
func Run(ctx context.Context, cfg Config) error {
	if cfg.RetransmitBase <= 0 {
		cfg.RetransmitBase = 4 * time.Second
	}
	if cfg.RetransmitMax <= 0 {
		cfg.RetransmitMax = 64 * time.Second
	}
	if cfg.RenewRetryMin <= 0 {
		cfg.RenewRetryMin = 60 * time.Second
	}
	if cfg.MAC == ([6]byte{}) {
		nics := cfg.Stack.NICInfo()
		copy(cfg.MAC[:], nics[cfg.NIC].LinkAddress)
	}
	wq := new(waiter.Queue)
	ep, terr := cfg.Stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	if terr != nil {
		return errors.New("dhcp: endpoint: " + terr.String())
	}
	defer ep.Close()
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.SocketOptions().SetBindToDevice(int32(cfg.NIC)); terr != nil {
		return errors.New("dhcp: bind to device: " + terr.String())
	}
	if terr := ep.Bind(tcpip.FullAddress{NIC: cfg.NIC, Port: ClientPort}); terr != nil {
		return errors.New("dhcp: bind: " + terr.String())
	}
	entry, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	c := &client{cfg: cfg, ep: ep, ch: ch, buf: make([]byte, 1600)}
	defer c.dropTemp()

	for {
		l, err := c.acquire(ctx)
		if err != nil {
			return err
		}
		c.dropTemp()
		for err == nil {
			if cfg.OnBound != nil {
				cfg.OnBound(l)
			}
			l, err = c.keep(ctx, l)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cfg.OnExpire != nil {
			cfg.OnExpire(l)
		}
	}
}

// addTemp puts 0.0.0.0/0 on the NIC: broadcasts then leave with source
// 0.0.0.0, and 255.255.255.255 counts as that subnet's broadcast address,
// so the replies get in. Replies unicast to the offered address would not:
// the client sets the BROADCAST flag, which servers (QEMU's included)
// honor. Promiscuous mode cannot stand in for that: with the stack's
// HandleLocal on, gVisor then takes every source address for a local one
// and drops the packet.
func (c *client) addTemp() {
	if c.temp {
		return
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv4Any, PrefixLen: 0}}
	if err := c.cfg.Stack.AddProtocolAddress(c.cfg.NIC, pa, stack.AddressProperties{}); err == nil {
		c.temp = true
	}
}

func (c *client) dropTemp() {
	if c.temp {
		_ = c.cfg.Stack.RemoveAddress(c.cfg.NIC, header.IPv4Any)
		c.temp = false
	}
}

func (c *client) send(m *Message, to netip.Addr) {
	b := m.Encode()
	dst := tcpip.FullAddress{NIC: c.cfg.NIC, Addr: header.IPv4Broadcast, Port: ServerPort}
	if to.IsValid() {
		dst.Addr = tcpip.AddrFrom4(to.As4())
	}
	// A failed send is like a lost datagram: the retransmission covers it.
	_, _ = c.ep.Write(bytes.NewReader(b), tcpip.WriteOptions{To: &dst})
}

// recv waits until the deadline for a reply with the given xid whose type
// is one of want.
func (c *client) recv(ctx context.Context, deadline time.Time, xid uint32, want ...byte) (*Message, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		w := tcpip.SliceWriter(c.buf)
		res, err := c.ep.Read(&w, tcpip.ReadOptions{})
		if err == nil {
			m, derr := Decode(c.buf[:res.Count])
			if derr == nil && m.Op == opReply && m.Xid == xid && m.CHAddr == c.cfg.MAC {
				for _, ty := range want {
					if m.Type == ty {
						return m, nil
					}
				}
			}
			continue
		}
		if _, wb := err.(*tcpip.ErrWouldBlock); !wb {
			return nil, errors.New("dhcp: read: " + err.String())
		}
		select {
		case <-c.ch:
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *client) backoff(try int) time.Duration {
	d := c.cfg.RetransmitBase << min(try, 16)
	if d > c.cfg.RetransmitMax || d <= 0 {
		d = c.cfg.RetransmitMax
	}
	j := int64(d / 4)
	if j > 0 {
		d += time.Duration(rand.Int64N(2*j) - j)
	}
	return d
}

var params = []byte{optSubnetMask, optRouter, optDNS, optLeaseTime, optServerID, optT1, optT2}

// acquire runs DISCOVER → OFFER → REQUEST → ACK until it gets a lease or
// ctx ends.
func (c *client) acquire(ctx context.Context) (Lease, error) {
	c.addTemp()
	start := time.Now()
	for try := 0; ; try++ {
		xid := rand.Uint32()
		secs := func() uint16 { return uint16(min(time.Since(start)/time.Second, 0xffff)) }
		disc := &Message{Op: opRequest, Xid: xid, Flags: flagBroadcast, CHAddr: c.cfg.MAC, Type: Discover, Params: params, Secs: secs()}
		c.send(disc, netip.Addr{})
		offer, err := c.recv(ctx, time.Now().Add(c.backoff(try)), xid, Offer)
		if err != nil {
			return Lease{}, err
		}
		if offer == nil || !offer.YIAddr.IsValid() {
			continue
		}
		server := offer.ServerID
		req := &Message{Op: opRequest, Xid: xid, Flags: flagBroadcast, CHAddr: c.cfg.MAC, Type: Request,
			ReqIP: offer.YIAddr, ServerID: server, Params: params}
		for rtry := 0; rtry < 4; rtry++ {
			req.Secs = secs()
			sent := time.Now()
			c.send(req, netip.Addr{})
			ack, err := c.recv(ctx, time.Now().Add(c.backoff(rtry)), xid, Ack, Nak)
			if err != nil {
				return Lease{}, err
			}
			if ack == nil {
				continue
			}
			if ack.Type == Nak {
				break
			}
			return leaseFrom(ack, sent, server), nil
		}
		try = 0
	}
}

// keep holds lease l: it renews at T1 and rebinds at T2. It returns the
// new lease on success, or l and a non-nil error when the lease is over
// (expired, NAK, or ctx done).
func (c *client) keep(ctx context.Context, l Lease) (Lease, error) {
	t1, t2, end := l.Start.Add(l.T1), l.Start.Add(l.T2), l.Start.Add(l.Duration)
	if err := sleepUntil(ctx, t1); err != nil {
		return l, err
	}
	xid := rand.Uint32()
	for _, phase := range []struct {
		until  time.Time
		server netip.Addr
	}{{t2, l.Server}, {end, netip.Addr{}}} {
		for {
			left := time.Until(phase.until)
			if left <= 0 {
				break
			}
			wait := max(left/2, c.cfg.RenewRetryMin)
			wait = min(wait, left)
			req := &Message{Op: opRequest, Xid: xid, CHAddr: c.cfg.MAC, Type: Request, CIAddr: l.Addr.Addr(), Params: params}
			sent := time.Now()
			c.send(req, phase.server)
			m, err := c.recv(ctx, sent.Add(wait), xid, Ack, Nak)
			if err != nil {
				return l, err
			}
			if m == nil {
				continue
			}
			if m.Type == Nak {
				return l, errNAK
			}
			server := m.ServerID
			if !server.IsValid() {
				server = l.Server
			}
			return leaseFrom(m, sent, server), nil
		}
	}
	return l, errors.New("dhcp: lease expired")
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func leaseFrom(m *Message, sent time.Time, server netip.Addr) Lease {
	bits := maskBits(m.Mask)
	if bits < 0 {
		bits = 24
	}
	l := Lease{Addr: netip.PrefixFrom(m.YIAddr, bits), DNS: m.DNS, Server: server, Duration: m.Lease, T1: m.T1, T2: m.T2, Start: sent}
	if len(m.Router) > 0 {
		l.Router = m.Router[0]
	}
	if l.Duration <= 0 {
		l.Duration = 0xffffffff * time.Second // infinite
	}
	if l.T1 <= 0 || l.T1 >= l.Duration {
		l.T1 = l.Duration / 2
	}
	if l.T2 <= 0 || l.T2 >= l.Duration || l.T2 < l.T1 {
		l.T2 = l.Duration * 7 / 8
	}
	return l
}
