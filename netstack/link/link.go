// Package link connects gVisor's netstack to a virtio-net device: Endpoint
// is a stack.LinkEndpoint (and stack.GSOEndpoint) over a virtionet.Device.
//
// What it owns: Ethernet framing in both directions (with gVisor's header
// helpers), the translation between gVisor's checksum and segmentation
// offload metadata (PacketBuffer.GSOOptions, CapabilityTXChecksumOffload)
// and the virtio_net_hdr, and the device's service goroutine (Open starts
// virtionet.Device.Run; Wait waits for it).
//
// Context: ordinary goroutines in ring 3, never kernel context. Inbound
// frames are delivered to the stack on the device's Run goroutine;
// WritePackets runs on whatever stack goroutine sends and may block briefly
// for ring space (virtionet.Config.SendTimeout), after which the packet is
// dropped and counted.
//
// What it may call: package virtionet (and, through it, the kernel's device
// window, DMA allocator and interrupt) and gVisor's public netstack API.
//
// # Checksums
//
// Transmit. With CSUM negotiated the endpoint reports
// CapabilityTXChecksumOffload, so gVisor leaves TCP and UDP checksums
// unset. For each such packet the endpoint writes the pseudo-header sum into
// the checksum field and sets VIRTIO_NET_HDR_F_NEEDS_CSUM with csum_start at
// the transport header and csum_offset at its checksum field; the device
// finishes the sum. TCP packets gVisor built for host GSO already carry the
// pseudo-header sum (over the whole super-packet, the convention the device
// expects) and keep it. With HOST_TSO4 and HOST_TSO6 both negotiated the
// endpoint reports stack.HostGSOSupported, and a TCP packet whose payload
// exceeds its MSS goes out as one TSO frame (gso_type TCPV4/TCPV6,
// gso_size MSS, hdr_len the header bytes). One limit: a UDP datagram that
// gVisor fragments at the IP layer while TX offload is on leaves with a zero
// UDP checksum, which IPv4 reads as "no checksum" and IPv6 rejects.
//
// Receive. The device vouches for a packet's transport checksum with
// VIRTIO_NET_HDR_F_DATA_VALID (it checked it) or F_NEEDS_CSUM (a partial
// checksum: the packet comes from a stack on the host that left the sum to
// offload, and never crossed a wire; Linux takes such packets as valid too).
// gVisor has no per-packet flag for that: its NIC sets
// PacketBuffer.RXChecksumValidated from the endpoint's
// CapabilityRXChecksumOffload bit as it takes each packet (stack/nic.go,
// DeliverNetworkPacket). So the endpoint reports that bit only while it
// delivers a vouched packet, one delivery at a time (rxMu), and gVisor
// verifies every other packet itself. A vouched packet is delivered without
// touching its payload: no software sum, where completing the partial sum and
// then having gVisor verify it took two passes over each 64 KiB frame. The
// bit also makes gVisor skip the IPv4 header checksum, which no device flag
// covers, so the endpoint checks that header itself for vouched packets.
package link

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-dev/unigo/drivers/virtionet"
)

// gsoMaxSize bounds gVisor's GSO packets: TCP subtracts its largest header
// (60 bytes) from it, and the IP header (up to 60 bytes) comes on top, so
// the IP packet stays within 65535 bytes.
const gsoMaxSize = 65535 - 60

// Stats are the endpoint's own counters (the device has more).
type Stats struct {
	// RxVouched counts the delivered packets whose transport checksum
	// the device vouched for (not verified again).
	RxDelivered, RxDropped, RxVouched atomic.Uint64
	TxDropped, TxOffloaded, TxTSO     atomic.Uint64
}

// Endpoint is a gVisor link endpoint over a virtio-net device.
type Endpoint struct {
	Stats

	dev *virtionet.Device

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	mtu        uint32
	addr       tcpip.LinkAddress
	onClose    func()

	txMu  sync.Mutex
	frags [][]byte

	// rxMu makes deliveries one at a time; rxVouched is set while one of a
	// vouched packet is under way (Capabilities).
	rxMu      sync.Mutex
	rxVouched atomic.Bool

	done      chan struct{} // closed when Run returns
	runErr    error
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
}

var (
	_ stack.LinkEndpoint = (*Endpoint)(nil)
	_ stack.GSOEndpoint  = (*Endpoint)(nil)
)

// Open opens the device described by cfg (its Receive callback is the
// endpoint's; LinkChange is kept), starts its Run goroutine and returns the
// endpoint to give to stack.CreateNIC.
func Open(cfg virtionet.Config) (*Endpoint, error) {
	e := &Endpoint{done: make(chan struct{}), closed: make(chan struct{})}
	cfg.Receive = e.deliver
	dev, err := virtionet.Open(cfg)
	if err != nil {
		return nil, err
	}
	e.dev = dev
	mac := dev.MAC()
	e.addr = tcpip.LinkAddress(mac[:])
	e.mtu = uint32(dev.MTU())
	go func() {
		e.runErr = dev.Run()
		close(e.done)
	}()
	return e, nil
}

// Device is the underlying device.
func (e *Endpoint) Device() *virtionet.Device { return e.dev }

// RunError is why the device's Run goroutine ended (nil while it runs).
func (e *Endpoint) RunError() error {
	select {
	case <-e.done:
		return e.runErr
	default:
		return nil
	}
}

// MTU implements stack.LinkEndpoint: the IP MTU.
func (e *Endpoint) MTU() uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mtu
}

// SetMTU implements stack.LinkEndpoint. It cannot raise the MTU beyond the
// device's (frames longer than that are refused by the driver).
func (e *Endpoint) SetMTU(mtu uint32) {
	e.mu.Lock()
	e.mtu = min(mtu, uint32(e.dev.MTU()))
	e.mu.Unlock()
}

// MaxHeaderLength implements stack.LinkEndpoint.
func (*Endpoint) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

// LinkAddress implements stack.LinkEndpoint.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.addr
}

// SetLinkAddress implements stack.LinkEndpoint. The device is not told
// (that needs the control queue, which is not negotiated): it changes the
// source address of what we send and what we consider ours.
func (e *Endpoint) SetLinkAddress(addr tcpip.LinkAddress) {
	e.mu.Lock()
	e.addr = addr
	e.mu.Unlock()
}

// Capabilities implements stack.LinkEndpoint.
func (e *Endpoint) Capabilities() stack.LinkEndpointCapabilities {
	c := stack.CapabilityResolutionRequired
	if e.dev.TxChecksum() {
		c |= stack.CapabilityTXChecksumOffload
	}
	if e.rxVouched.Load() {
		c |= stack.CapabilityRXChecksumOffload // see the package doc, Receive
	}
	return c
}

// GSOMaxSize implements stack.GSOEndpoint.
func (e *Endpoint) GSOMaxSize() uint32 {
	if e.SupportedGSO() == stack.HostGSOSupported {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint: host GSO when the device takes
// both TCPv4 and TCPv6 segmentation (gVisor asks per endpoint, not per
// protocol).
func (e *Endpoint) SupportedGSO() stack.SupportedGSO {
	if e.dev.TSO4() && e.dev.TSO6() {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

// Attach implements stack.LinkEndpoint.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
}

// IsAttached implements stack.LinkEndpoint.
func (e *Endpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

// Wait implements stack.LinkEndpoint. It returns at once when no stack is
// attached, and otherwise once the device's Run goroutine has ended or the
// endpoint has been closed. It cannot insist on the goroutine's end: gVisor
// calls Wait with the stack's lock held (Stack.Wait, after detaching the
// endpoint with Attach(nil)), and the Run goroutine may be inside
// DeliverNetworkPacket waiting for that lock. Once detached or closed no new
// frame is delivered; one already blocked in delivery reaches a removed NIC,
// which drops it. Done reports the goroutine's actual end.
func (e *Endpoint) Wait() {
	if !e.IsAttached() {
		return
	}
	select {
	case <-e.done:
	case <-e.closed:
	}
}

// Done is closed when the device's Run goroutine has returned: when the
// interrupt source fails (the kernel tears the device down) or at the first
// interrupt after Close.
func (e *Endpoint) Done() <-chan struct{} { return e.done }

// ARPHardwareType implements stack.LinkEndpoint.
func (*Endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint.
func (e *Endpoint) AddHeader(pkt *stack.PacketBuffer) {
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = e.LinkAddress()
	}
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: src,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.
func (*Endpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint.
func (e *Endpoint) Close() {
	e.closeOnce.Do(func() { close(e.closed) })
	e.mu.Lock()
	f := e.onClose
	e.onClose = nil
	e.mu.Unlock()
	if f != nil {
		f()
	}
	_ = e.dev.Close()
}

// SetOnCloseAction implements stack.LinkEndpoint.
func (e *Endpoint) SetOnCloseAction(f func()) {
	e.mu.Lock()
	e.onClose = f
	e.mu.Unlock()
}

// WritePackets implements stack.LinkWriter. Packets the device refuses
// (ring full past the send timeout, or a malformed offload request) are
// dropped and counted; the count written is those the device took.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	n := 0
	var firstErr tcpip.Error
	for _, pkt := range pkts.AsSlice() {
		h, ok := e.txHeader(pkt)
		if !ok {
			e.TxDropped.Add(1)
			continue
		}
		e.frags = e.frags[:0]
		vl, off := pkt.AsViewList()
		for v := vl.Front(); v != nil; v = v.Next() {
			b := v.AsSlice()
			if off >= len(b) {
				off -= len(b)
				continue
			}
			e.frags = append(e.frags, b[off:])
			off = 0
		}
		if err := e.dev.SendDeferred(h, e.frags); err != nil {
			e.TxDropped.Add(1)
			if firstErr == nil && n == 0 {
				firstErr = &tcpip.ErrWouldBlock{}
			}
			continue
		}
		n++
	}
	clear(e.frags)
	e.dev.Flush()
	if n == 0 && firstErr != nil {
		return 0, firstErr
	}
	return n, nil
}

// txHeader builds the virtio_net_hdr for pkt (see the package comment).
func (e *Endpoint) txHeader(pkt *stack.PacketBuffer) (virtionet.NetHdr, bool) {
	var h virtionet.NetHdr
	if !e.dev.TxChecksum() {
		return h, true // gVisor computed every checksum
	}
	nh := pkt.NetworkHeader().Slice()
	th := pkt.TransportHeader().Slice()
	var csumOff int
	switch pkt.TransportProtocolNumber {
	case header.TCPProtocolNumber:
		if len(th) < header.TCPMinimumSize {
			return h, true
		}
		csumOff = header.TCPChecksumOffset
	case header.UDPProtocolNumber:
		if len(th) < header.UDPMinimumSize {
			return h, true
		}
		csumOff = 6 // udp checksum field
	default:
		return h, true // ICMP and others: gVisor computes those itself
	}
	var src, dst tcpip.Address
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(nh)
		if len(nh) < header.IPv4MinimumSize || ip.More() || ip.FragmentOffset() != 0 {
			return h, true // a fragment: the checksum spans fragments (see package comment)
		}
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	case header.IPv6ProtocolNumber:
		if len(nh) < header.IPv6MinimumSize {
			return h, true
		}
		ip := header.IPv6(nh)
		src, dst = ip.SourceAddress(), ip.DestinationAddress()
	default:
		return h, true
	}
	l4len := len(th) + pkt.Data().Size()
	gso := pkt.GSOOptions
	if gso.Type == stack.GSONone || !gso.NeedsCsum {
		// gVisor left the field for us: put the pseudo-header sum there.
		sum := header.PseudoHeaderChecksum(pkt.TransportProtocolNumber, src, dst, uint16(l4len))
		binary.BigEndian.PutUint16(th[csumOff:], sum)
	}
	h.Flags = virtionet.HdrNeedsCsum
	h.CsumStart = uint16(header.EthernetMinimumSize + len(nh))
	h.CsumOffset = uint16(csumOff)
	e.TxOffloaded.Add(1)
	if (gso.Type == stack.GSOTCPv4 || gso.Type == stack.GSOTCPv6) && gso.NeedsCsum &&
		pkt.TransportProtocolNumber == header.TCPProtocolNumber && gso.MSS > 0 && pkt.Data().Size() > int(gso.MSS) {
		if gso.Type == stack.GSOTCPv4 {
			h.GSOType = virtionet.GSOTCPv4
		} else {
			h.GSOType = virtionet.GSOTCPv6
		}
		h.GSOSize = gso.MSS
		h.HdrLen = uint16(header.EthernetMinimumSize + len(nh) + len(th))
		e.TxTSO.Add(1)
	}
	return h, true
}

// Inject hands the stack a frame as if the device had received it, with the
// header h: for fault injection (unigo.net.fuzz) and tests.
func (e *Endpoint) Inject(h virtionet.NetHdr, frame []byte) { e.deliver(h, [][]byte{frame}) }

// deliver is the device's receive callback, on its Run goroutine. Every
// frame but a TCP segment carrying data is urgent (virtionet.Config.Receive):
// an acknowledgement lets the stack send more, and ARP, ICMP, UDP and
// connection setup are answered at once. Data waits, so the stack takes it
// in batches: answered one frame at a time, a bulk transfer into the guest
// drew 1.5 acknowledgements per frame instead of 0.9, the guest's receive
// window closed a thousand times instead of 15, and it ran at 49 to 55
// MiB/s where it ran at 62 to 75 (docs/perf.md).
func (e *Endpoint) deliver(h virtionet.NetHdr, frame [][]byte) (urgent bool) {
	select {
	case <-e.closed:
		e.RxDropped.Add(1)
		return false
	default:
	}
	e.mu.RLock()
	d := e.dispatcher
	own := e.addr
	e.mu.RUnlock()
	total := 0
	for _, p := range frame {
		total += len(p)
	}
	if d == nil || total < header.EthernetMinimumSize {
		e.RxDropped.Add(1)
		return false
	}
	// The headers, contiguous: the first piece, or the first headerSplit
	// bytes gathered when it is shorter.
	head := frame[0]
	var hb [headerSplit]byte
	if n := min(total, headerSplit); len(head) < n {
		head = hb[:gather(hb[:n], frame)]
	}
	vouched := h.Flags&(virtionet.HdrNeedsCsum|virtionet.HdrDataValid) != 0
	if vouched && !ipv4HeaderOK(head) {
		e.RxDropped.Add(1)
		return false
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: payload(frame, total)})
	defer pkt.DecRef()
	hdr, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	if !ok {
		e.RxDropped.Add(1)
		return false
	}
	eth := header.Ethernet(hdr)
	switch dst := eth.DestinationAddress(); {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	case dst == own:
		pkt.PktType = tcpip.PacketHost
	default:
		pkt.PktType = tcpip.PacketOtherHost
	}
	e.RxDelivered.Add(1)
	if vouched {
		e.RxVouched.Add(1)
	}
	e.rxMu.Lock()
	e.rxVouched.Store(vouched)
	d.DeliverNetworkPacket(eth.Type(), pkt)
	e.rxVouched.Store(false)
	e.rxMu.Unlock()
	return !carriesTCPData(head)
}

// headerSplit is where payload puts a large frame's second chunk: past the
// Ethernet header and the largest IPv4 and TCP headers.
const headerSplit = header.EthernetMinimumSize + header.IPv4MaximumHeaderSize + header.TCPHeaderMaximumSize

// payload copies frame, total bytes in pieces, into gVisor's buffer, a large
// frame in two chunks, the headers in the first. gVisor's IPv4 layer keeps a
// reference to the network header's chunk while it reads that header again,
// and reading a header out of a shared chunk copies the whole chunk
// (buffer.Buffer.PullUp): with one chunk, a 64 KiB copy for every large
// packet received; this way, a few hundred bytes.
func payload(frame [][]byte, total int) buffer.Buffer {
	if total <= 2*headerSplit {
		v := buffer.NewView(total)
		for _, p := range frame {
			v.Write(p)
		}
		return buffer.MakeWithView(v)
	}
	first, rest := buffer.NewView(headerSplit), buffer.NewView(total-headerSplit)
	for _, p := range frame {
		if n := min(headerSplit-first.Size(), len(p)); n > 0 {
			first.Write(p[:n])
			p = p[n:]
		}
		rest.Write(p)
	}
	b := buffer.MakeWithView(first)
	b.Append(rest)
	return b
}

// gather copies the first len(dst) bytes of pieces into dst and returns how
// many there were.
func gather(dst []byte, pieces [][]byte) int {
	n := 0
	for _, p := range pieces {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], p)
	}
	return n
}

// carriesTCPData reports whether frame, whose headers it holds contiguously,
// is a TCP segment with payload over IPv4 or over IPv6 without extension
// headers. Anything it cannot parse is not.
func carriesTCPData(frame []byte) bool {
	var (
		proto   tcpip.TransportProtocolNumber
		payload int    // bytes after the IP header
		l4      []byte // the transport header's bytes in frame
	)
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip, ok := ipv4Header(frame)
		if !ok {
			return false
		}
		hl := int(ip.HeaderLength())
		proto, payload, l4 = ip.TransportProtocol(), int(ip.TotalLength())-hl, ip[hl:]
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(frame[header.EthernetMinimumSize:])
		if len(ip) < header.IPv6MinimumSize {
			return false
		}
		proto, payload, l4 = ip.TransportProtocol(), int(ip.PayloadLength()), ip[header.IPv6MinimumSize:]
	default:
		return false
	}
	if proto != header.TCPProtocolNumber || len(l4) < header.TCPMinimumSize {
		return false
	}
	return payload > int(header.TCP(l4).DataOffset())
}

// ipv4HeaderOK checks the IPv4 header checksum of an IPv4 frame (true for
// other frames, whose network header has none): gVisor skips it for the
// packets it is told are valid. A header too short for its length field is
// left to gVisor, which drops it as malformed.
func ipv4HeaderOK(frame []byte) bool {
	ip, ok := ipv4Header(frame)
	return !ok || ip.IsChecksumValid()
}

// ipv4Header returns the IPv4 header of frame, whose headers it holds
// contiguously, if frame is IPv4 and the header's length field fits.
func ipv4Header(frame []byte) (header.IPv4, bool) {
	if header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return nil, false
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if len(ip) < header.IPv4MinimumSize {
		return nil, false
	}
	hl := int(ip.HeaderLength())
	if hl < header.IPv4MinimumSize || hl > len(ip) {
		return nil, false
	}
	return ip, true
}
