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
// Receive. gVisor's NIC overwrites PacketBuffer.RXChecksumValidated with
// the endpoint's CapabilityRXChecksumOffload bit for every packet
// (stack/nic.go, DeliverNetworkPacket), so per-packet validity cannot be
// passed up, and advertising the capability would make gVisor skip even the
// IPv4 header checksum of every packet, DATA_VALID or not. The endpoint
// therefore does not advertise it and keeps every packet verifiable: a
// packet with NEEDS_CSUM (partial checksum, GUEST_CSUM) has its checksum
// completed in software before delivery; a packet with DATA_VALID is
// delivered as is and gVisor verifies it again (a redundant pass, never a
// wrong answer), except a coalesced TCP super-packet (GUEST_TSO, gso_type
// set), whose TCP checksum is recomputed because the device vouched for the
// data but not necessarily for the merged header's checksum field.
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
	RxDelivered, RxDropped, RxCsumCompleted, RxCsumRecomputed atomic.Uint64
	TxDropped, TxOffloaded, TxTSO                             atomic.Uint64
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

// deliver is the device's receive callback, on its Run goroutine.
// Inject hands the stack a frame as if the device had received it, with the
// header h: for fault injection (unigo.net.fuzz) and tests.
func (e *Endpoint) Inject(h virtionet.NetHdr, frame []byte) { e.deliver(h, frame) }

func (e *Endpoint) deliver(h virtionet.NetHdr, frame []byte) {
	select {
	case <-e.closed:
		e.RxDropped.Add(1)
		return
	default:
	}
	e.mu.RLock()
	d := e.dispatcher
	own := e.addr
	e.mu.RUnlock()
	if d == nil || len(frame) < header.EthernetMinimumSize {
		e.RxDropped.Add(1)
		return
	}
	if h.Flags&virtionet.HdrNeedsCsum != 0 {
		// frame is the driver's buffer, ours until we return.
		if virtionet.CompleteChecksum(h, frame) != nil {
			e.RxDropped.Add(1)
			return
		}
		e.RxCsumCompleted.Add(1)
	} else if h.Flags&virtionet.HdrDataValid != 0 && h.GSOType != virtionet.GSONone {
		if !recomputeTCP(frame) {
			e.RxDropped.Add(1)
			return
		}
		e.RxCsumRecomputed.Add(1)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer pkt.DecRef()
	hdr, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	if !ok {
		e.RxDropped.Add(1)
		return
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
	d.DeliverNetworkPacket(eth.Type(), pkt)
}

// recomputeTCP rewrites the TCP checksum of an unfragmented IPv4 or IPv6
// (no extension headers) TCP frame; false if the frame is not one.
func recomputeTCP(frame []byte) bool {
	ipb := frame[header.EthernetMinimumSize:]
	var src, dst tcpip.Address
	var seg []byte
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(ipb)
		if len(ipb) < header.IPv4MinimumSize {
			return false
		}
		hl, tl := int(ip.HeaderLength()), int(ip.TotalLength())
		if hl < header.IPv4MinimumSize || tl < hl || tl > len(ipb) || ip.TransportProtocol() != header.TCPProtocolNumber ||
			ip.More() || ip.FragmentOffset() != 0 {
			return false
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), ipb[hl:tl]
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(ipb)
		if len(ipb) < header.IPv6MinimumSize {
			return false
		}
		pl := int(ip.PayloadLength())
		if ip.NextHeader() != uint8(header.TCPProtocolNumber) || header.IPv6MinimumSize+pl > len(ipb) {
			return false
		}
		src, dst, seg = ip.SourceAddress(), ip.DestinationAddress(), ipb[header.IPv6MinimumSize:header.IPv6MinimumSize+pl]
	default:
		return false
	}
	if len(seg) < header.TCPMinimumSize || len(seg) > 0xffff {
		return false
	}
	tcp := header.TCP(seg)
	tcp.SetChecksum(0)
	var c virtionet.Checksum
	var ph [2]byte
	binary.BigEndian.PutUint16(ph[:], header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg))))
	c.Add(ph[:])
	c.Add(seg)
	tcp.SetChecksum(^c.Sum16())
	return true
}
