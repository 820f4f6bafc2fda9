package netstack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Address families, socket types and flags, with their Linux values.
const (
	AF_UNSPEC = 0
	AF_INET   = 2
	AF_INET6  = 10

	SOCK_STREAM   = 1
	SOCK_DGRAM    = 2
	SOCK_RAW      = 3
	SOCK_NONBLOCK = 0x800
	SOCK_CLOEXEC  = 0x80000

	IPPROTO_IP   = 0
	IPPROTO_TCP  = 6
	IPPROTO_UDP  = 17
	IPPROTO_IPV6 = 41
)

// Sizes of struct sockaddr_in and struct sockaddr_in6.
const (
	SizeofSockaddrInet4 = 16
	SizeofSockaddrInet6 = 28
	sin6LenRFC2133      = 24 // the shortest sockaddr_in6 Linux accepts (no scope id)
)

// encodeAddr returns the Linux sockaddr for a, as a socket of the given
// family shows it: an IPv4 address on an AF_INET6 socket comes out
// IPv4-mapped (::ffff:a.b.c.d).
func encodeAddr(family int, a tcpip.FullAddress) []byte {
	if family == AF_INET {
		b := make([]byte, SizeofSockaddrInet4)
		binary.LittleEndian.PutUint16(b[0:], AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.Port)
		if a.Addr.Len() == 4 {
			copy(b[4:8], a.Addr.AsSlice())
		}
		return b
	}
	b := make([]byte, SizeofSockaddrInet6)
	binary.LittleEndian.PutUint16(b[0:], AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.Port)
	switch a.Addr.Len() {
	case 4:
		b[18], b[19] = 0xff, 0xff
		copy(b[20:24], a.Addr.AsSlice())
	case 16:
		copy(b[8:24], a.Addr.AsSlice())
		if header.IsV6LinkLocalUnicastAddress(a.Addr) {
			binary.LittleEndian.PutUint32(b[24:], uint32(a.NIC))
		}
	}
	return b
}

// sockaddrFamily returns the family field of sa, or -1 when sa is too short
// to hold one.
func sockaddrFamily(sa []byte) int {
	if len(sa) < 2 {
		return -1
	}
	return int(binary.LittleEndian.Uint16(sa))
}

// decodeAddr parses the sockaddr sa given to a socket of family fam, with
// the checks and errors Linux's inet_bind/inet6_bind and connect make. The
// address of an AF_INET6 socket stays 16 bytes (v4-mapped included); gVisor
// handles the mapping itself for dual-stack endpoints.
func decodeAddr(fam int, sa []byte) (tcpip.FullAddress, Errno) {
	var a tcpip.FullAddress
	switch fam {
	case AF_INET:
		if len(sa) < SizeofSockaddrInet4 {
			return a, EINVAL
		}
		f := sockaddrFamily(sa)
		a.Port = binary.BigEndian.Uint16(sa[2:])
		a.Addr = tcpip.AddrFrom4Slice(sa[4:8])
		if f != AF_INET {
			// Linux accepts AF_UNSPEC with INADDR_ANY for bind, for
			// old programs.
			if f != AF_UNSPEC || a.Addr != header.IPv4Any {
				return a, EAFNOSUPPORT
			}
		}
		if a.Addr == header.IPv4Any {
			a.Addr = tcpip.Address{} // gVisor's "any"
		}
		return a, 0
	case AF_INET6:
		if len(sa) < sin6LenRFC2133 {
			return a, EINVAL
		}
		if sockaddrFamily(sa) != AF_INET6 {
			return a, EAFNOSUPPORT
		}
		a.Port = binary.BigEndian.Uint16(sa[2:])
		a.Addr = tcpip.AddrFrom16Slice(sa[8:24])
		if len(sa) >= SizeofSockaddrInet6 {
			scope := binary.LittleEndian.Uint32(sa[24:])
			if scope != 0 && header.IsV6LinkLocalUnicastAddress(a.Addr) {
				a.NIC = tcpip.NICID(scope)
			}
		}
		if a.Addr == header.IPv6Any {
			a.Addr = tcpip.Address{} // gVisor's "any"
		}
		return a, 0
	}
	return a, EAFNOSUPPORT
}

// unmapV4 turns ::ffff:a.b.c.d into a.b.c.d and leaves other addresses alone.
func unmapV4(a tcpip.Address) tcpip.Address {
	if a.Len() == 16 {
		s := a.As16()
		if isV4Mapped(s[:]) {
			return tcpip.AddrFrom4Slice(s[12:])
		}
	}
	return a
}

func isV4Mapped(b []byte) bool {
	for i := 0; i < 10; i++ {
		if b[i] != 0 {
			return false
		}
	}
	return b[10] == 0xff && b[11] == 0xff
}
