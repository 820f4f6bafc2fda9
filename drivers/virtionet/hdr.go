package virtionet

import (
	"encoding/binary"
	"errors"
)

// Feature bits of a network device (virtio 1.2 §5.1.3).
const (
	FeatureCSUM           = 1 << 0  // device completes partial checksums of what we send
	FeatureGuestCSUM      = 1 << 1  // device may hand us packets with partial checksums
	FeatureCtrlGuestOffl  = 1 << 2  // (not used)
	FeatureMTU            = 1 << 3  // config has the MTU
	FeatureMAC            = 1 << 5  // config has the MAC address
	FeatureGuestTSO4      = 1 << 7  // device may hand us TCPv4 super-packets
	FeatureGuestTSO6      = 1 << 8  // device may hand us TCPv6 super-packets
	FeatureGuestECN       = 1 << 9  // (not used)
	FeatureGuestUFO       = 1 << 10 // (not used)
	FeatureHostTSO4       = 1 << 11 // we may send TCPv4 super-packets
	FeatureHostTSO6       = 1 << 12 // we may send TCPv6 super-packets
	FeatureHostECN        = 1 << 13 // (not used)
	FeatureHostUFO        = 1 << 14 // (not used)
	FeatureMrgRxBuf       = 1 << 15 // a packet may span several receive buffers
	FeatureStatus         = 1 << 16 // config has the link status
	FeatureCtrlVQ         = 1 << 17 // (not used)
	FeatureCtrlRx         = 1 << 18
	FeatureCtrlVLAN       = 1 << 19
	FeatureGuestAnnounce  = 1 << 21
	FeatureMQ             = 1 << 22
	FeatureCtrlMACAddr    = 1 << 23
	FeatureSpeedDuplex    = 1 << 63
	featureGuestTSO       = FeatureGuestTSO4 | FeatureGuestTSO6
	featureHostTSO        = FeatureHostTSO4 | FeatureHostTSO6
	deviceSpecificDefault = FeatureCSUM | FeatureGuestCSUM | FeatureMTU | FeatureMAC |
		FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureHostTSO4 | FeatureHostTSO6 |
		FeatureMrgRxBuf | FeatureStatus
)

// featureNames names the device-specific bits for virtio.Features.String.
var featureNames = map[int]string{
	0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC",
	7: "GUEST_TSO4", 8: "GUEST_TSO6", 9: "GUEST_ECN", 10: "GUEST_UFO",
	11: "HOST_TSO4", 12: "HOST_TSO6", 13: "HOST_ECN", 14: "HOST_UFO",
	15: "MRG_RXBUF", 16: "STATUS", 17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN",
	21: "GUEST_ANNOUNCE", 22: "MQ", 23: "CTRL_MAC_ADDR",
	56: "HOST_USO", 57: "HASH_REPORT", 59: "GUEST_HDRLEN", 60: "RSS",
	61: "RSC_EXT", 62: "STANDBY", 63: "SPEED_DUPLEX",
}

// Device configuration offsets (virtio 1.2 §5.1.4).
const (
	cfgMAC    = 0
	cfgStatus = 6
	cfgMTU    = 10

	statusLinkUp = 1
)

// HdrLen is the size of struct virtio_net_hdr with VERSION_1: it always
// carries num_buffers.
const HdrLen = 12

// Header flags.
const (
	HdrNeedsCsum = 1 // checksum at CsumStart+CsumOffset holds only the pseudo-header sum
	HdrDataValid = 2 // the device checked the checksums (receive only)
	HdrRSCInfo   = 4 // (receive only, RSC_EXT)
)

// GSO types.
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80
)

// NetHdr is struct virtio_net_hdr (virtio 1.2 §5.1.6), which precedes every
// packet on both queues.
type NetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // length of the headers to copy into each segment
	GSOSize    uint16 // payload bytes per segment (MSS for TCP)
	CsumStart  uint16 // where checksumming starts, from the Ethernet header
	CsumOffset uint16 // where the checksum goes, from CsumStart
	NumBuffers uint16 // receive buffers the packet spans (mergeable receive)
}

// Encode writes h into b[:HdrLen], little-endian.
func (h *NetHdr) Encode(b []byte) {
	_ = b[HdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	le := binary.LittleEndian
	le.PutUint16(b[2:], h.HdrLen)
	le.PutUint16(b[4:], h.GSOSize)
	le.PutUint16(b[6:], h.CsumStart)
	le.PutUint16(b[8:], h.CsumOffset)
	le.PutUint16(b[10:], h.NumBuffers)
}

// DecodeHdr reads a header from b[:HdrLen].
func DecodeHdr(b []byte) NetHdr {
	_ = b[HdrLen-1]
	le := binary.LittleEndian
	return NetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     le.Uint16(b[2:]),
		GSOSize:    le.Uint16(b[4:]),
		CsumStart:  le.Uint16(b[6:]),
		CsumOffset: le.Uint16(b[8:]),
		NumBuffers: le.Uint16(b[10:]),
	}
}

// ErrChecksumRange is CompleteChecksum's answer to offsets outside the frame.
var ErrChecksumRange = errors.New("virtionet: checksum start or offset outside the frame")

// CompleteChecksum finishes a partial checksum (HdrNeedsCsum) in software:
// it sums frame[CsumStart:], which includes the pseudo-header sum already in
// the checksum field, and stores the complement at CsumStart+CsumOffset.
// It does nothing when the flag is clear.
func CompleteChecksum(h NetHdr, frame []byte) error {
	if h.Flags&HdrNeedsCsum == 0 {
		return nil
	}
	start, at := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	if start >= len(frame) || at+2 > len(frame) {
		return ErrChecksumRange
	}
	var c Checksum
	c.Add(frame[start:])
	binary.BigEndian.PutUint16(frame[at:], ^c.Sum16())
	return nil
}

// Checksum accumulates the Internet checksum (RFC 1071) over a sequence of
// byte slices of any lengths.
type Checksum struct {
	sum uint64
	odd bool // an odd number of bytes so far: the next byte is a low half
}

// Add adds b to the sum.
func (c *Checksum) Add(b []byte) {
	if len(b) == 0 {
		return
	}
	if c.odd {
		c.sum += uint64(b[0])
		b = b[1:]
		c.odd = false
	}
	for len(b) >= 8 {
		c.sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		c.sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		c.sum += uint64(b[0]) << 8
		c.odd = true
	}
}

// Sum16 is the folded one's-complement sum (not complemented).
func (c *Checksum) Sum16() uint16 {
	s := c.sum
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
