package dhcp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// Message types (option 53).
const (
	Discover = 1
	Offer    = 2
	Request  = 3
	Decline  = 4
	Ack      = 5
	Nak      = 6
	Release  = 7
)

// Option codes used here (RFC 2132).
const (
	optPad         = 0
	optSubnetMask  = 1
	optRouter      = 3
	optDNS         = 6
	optHostname    = 12
	optRequestedIP = 50
	optLeaseTime   = 51
	optOverload    = 52
	optMsgType     = 53
	optServerID    = 54
	optParamList   = 55
	optMaxSize     = 57
	optT1          = 58
	optT2          = 59
	optClientID    = 61
	optEnd         = 255
)

const (
	opRequest = 1
	opReply   = 2

	flagBroadcast = 0x8000

	fixedLen = 236 // through the file field
	minLen   = fixedLen + 4
)

var magic = [4]byte{99, 130, 83, 99}

// Message is a DHCP message with the fields and options this client uses.
// Encode and Decode are exact inverses for those; other options are
// dropped on Decode.
type Message struct {
	Op       byte
	Xid      uint32
	Secs     uint16
	Flags    uint16
	CIAddr   netip.Addr // client's current address (renew/rebind)
	YIAddr   netip.Addr // "your" address, offered or acknowledged
	SIAddr   netip.Addr
	GIAddr   netip.Addr
	CHAddr   [6]byte // Ethernet hardware address
	Type     byte    // option 53
	ServerID netip.Addr
	ReqIP    netip.Addr
	Mask     netip.Addr
	Router   []netip.Addr
	DNS      []netip.Addr
	Lease    time.Duration // option 51, whole seconds
	T1, T2   time.Duration // options 58, 59
	Params   []byte        // option 55
}

func put4(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}

func get4(b []byte) netip.Addr {
	a := netip.AddrFrom4([4]byte(b[:4]))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func appendAddrOpt(b []byte, code byte, as ...netip.Addr) []byte {
	var v []byte
	for _, a := range as {
		if a.Is4() {
			x := a.As4()
			v = append(v, x[:]...)
		}
	}
	if len(v) == 0 || len(v) > 255 {
		return b
	}
	b = append(b, code, byte(len(v)))
	return append(b, v...)
}

func appendSecsOpt(b []byte, code byte, d time.Duration) []byte {
	if d <= 0 {
		return b
	}
	s := d / time.Second
	if s > 0xffffffff {
		s = 0xffffffff
	}
	b = append(b, code, 4)
	return binary.BigEndian.AppendUint32(b, uint32(s))
}

// Encode returns the wire form of m, padded to the 300-byte BOOTP minimum.
func (m *Message) Encode() []byte {
	b := make([]byte, fixedLen, 300)
	b[0] = m.Op
	b[1] = 1 // Ethernet
	b[2] = 6
	binary.BigEndian.PutUint32(b[4:], m.Xid)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	put4(b[12:], m.CIAddr)
	put4(b[16:], m.YIAddr)
	put4(b[20:], m.SIAddr)
	put4(b[24:], m.GIAddr)
	copy(b[28:], m.CHAddr[:])
	b = append(b, magic[:]...)
	if m.Type != 0 {
		b = append(b, optMsgType, 1, m.Type)
	}
	b = appendAddrOpt(b, optServerID, m.ServerID)
	b = appendAddrOpt(b, optRequestedIP, m.ReqIP)
	b = appendAddrOpt(b, optSubnetMask, m.Mask)
	b = appendAddrOpt(b, optRouter, m.Router...)
	b = appendAddrOpt(b, optDNS, m.DNS...)
	b = appendSecsOpt(b, optLeaseTime, m.Lease)
	b = appendSecsOpt(b, optT1, m.T1)
	b = appendSecsOpt(b, optT2, m.T2)
	if len(m.Params) > 0 && len(m.Params) < 256 {
		b = append(b, optParamList, byte(len(m.Params)))
		b = append(b, m.Params...)
	}
	b = append(b, optEnd)
	for len(b) < 300 {
		b = append(b, optPad)
	}
	return b
}

var errMalformed = errors.New("dhcp: malformed message")

// Decode parses a DHCP message. It rejects anything that is not Ethernet
// BOOTP with the DHCP magic cookie, and options that run past the end.
func Decode(b []byte) (*Message, error) {
	if len(b) < minLen || b[1] != 1 || b[2] != 6 || [4]byte(b[fixedLen:minLen]) != magic {
		return nil, errMalformed
	}
	m := &Message{
		Op:     b[0],
		Xid:    binary.BigEndian.Uint32(b[4:]),
		Secs:   binary.BigEndian.Uint16(b[8:]),
		Flags:  binary.BigEndian.Uint16(b[10:]),
		CIAddr: get4(b[12:]),
		YIAddr: get4(b[16:]),
		SIAddr: get4(b[20:]),
		GIAddr: get4(b[24:]),
		CHAddr: [6]byte(b[28:34]),
	}
	opts := b[minLen:]
	for len(opts) > 0 {
		code := opts[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, errMalformed
		}
		v := opts[2 : 2+int(opts[1])]
		opts = opts[2+len(v):]
		addrs := func() []netip.Addr {
			var as []netip.Addr
			for ; len(v) >= 4; v = v[4:] {
				as = append(as, netip.AddrFrom4([4]byte(v[:4])))
			}
			return as
		}
		secs := func() time.Duration {
			if len(v) != 4 {
				return 0
			}
			return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
		}
		switch code {
		case optMsgType:
			if len(v) == 1 {
				m.Type = v[0]
			}
		case optServerID:
			if len(v) == 4 {
				m.ServerID = get4(v)
			}
		case optRequestedIP:
			if len(v) == 4 {
				m.ReqIP = get4(v)
			}
		case optSubnetMask:
			if len(v) == 4 {
				m.Mask = netip.AddrFrom4([4]byte(v))
			}
		case optRouter:
			m.Router = addrs()
		case optDNS:
			m.DNS = addrs()
		case optLeaseTime:
			m.Lease = secs()
		case optT1:
			m.T1 = secs()
		case optT2:
			m.T2 = secs()
		case optParamList:
			m.Params = append([]byte(nil), v...)
		}
	}
	return m, nil
}

// maskBits returns the prefix length of a contiguous netmask, or -1.
func maskBits(m netip.Addr) int {
	if !m.Is4() {
		return -1
	}
	v := binary.BigEndian.Uint32(m.AsSlice())
	n := 0
	for v&0x80000000 != 0 {
		v <<= 1
		n++
	}
	if v != 0 {
		return -1
	}
	return n
}
