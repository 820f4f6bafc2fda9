package netstack

import (
	"encoding/binary"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Option levels and names, Linux values.
const (
	SOL_SOCKET = 1

	SO_REUSEADDR  = 2
	SO_TYPE       = 3
	SO_ERROR      = 4
	SO_BROADCAST  = 6
	SO_SNDBUF     = 7
	SO_RCVBUF     = 8
	SO_KEEPALIVE  = 9
	SO_LINGER     = 13
	SO_REUSEPORT  = 15
	SO_RCVLOWAT   = 18
	SO_SNDLOWAT   = 19
	SO_ACCEPTCONN = 30
	SO_PROTOCOL   = 38
	SO_DOMAIN     = 39

	TCP_NODELAY      = 1
	TCP_MAXSEG       = 2
	TCP_CORK         = 3
	TCP_KEEPIDLE     = 4
	TCP_KEEPINTVL    = 5
	TCP_KEEPCNT      = 6
	TCP_QUICKACK     = 12
	TCP_USER_TIMEOUT = 18

	IP_TOS = 1
	IP_TTL = 2

	IPV6_UNICAST_HOPS = 16
	IPV6_V6ONLY       = 26
	IPV6_TCLASS       = 67
)

func intOpt(v int) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(int32(v)))
	return b
}

func boolOpt(v bool) []byte {
	if v {
		return intOpt(1)
	}
	return intOpt(0)
}

// GetSockopt reads an option, as getsockopt(2). The value comes back in its
// Linux layout (an int is 4 bytes, little-endian; SO_LINGER is struct
// linger); the kernel copies at most optlen bytes of it. Options not
// listed here give ENOPROTOOPT. SO_ERROR reads and clears the pending
// error. SO_SNDBUF/SO_RCVBUF report the doubled value Linux reports.
func (st *Stack) GetSockopt(id, level, name int) ([]byte, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return nil, e
	}
	so := sk.ep.SocketOptions()
	switch level {
	case SOL_SOCKET:
		switch name {
		case SO_TYPE:
			return intOpt(sk.typ), 0
		case SO_DOMAIN:
			return intOpt(sk.family), 0
		case SO_PROTOCOL:
			return intOpt(sk.proto), 0
		case SO_ERROR:
			return intOpt(int(translate(sk.ep.LastError()))), 0
		case SO_ACCEPTCONN:
			return boolOpt(so.GetAcceptConn()), 0
		case SO_REUSEADDR:
			return boolOpt(so.GetReuseAddress()), 0
		case SO_REUSEPORT:
			return boolOpt(so.GetReusePort()), 0
		case SO_KEEPALIVE:
			return boolOpt(so.GetKeepAlive()), 0
		case SO_BROADCAST:
			return boolOpt(so.GetBroadcast()), 0
		case SO_SNDBUF:
			return intOpt(int(so.GetSendBufferSize())), 0
		case SO_RCVBUF:
			return intOpt(int(so.GetReceiveBufferSize())), 0
		case SO_RCVLOWAT:
			return intOpt(int(so.GetRcvlowat())), 0
		case SO_SNDLOWAT:
			return intOpt(1), 0
		case SO_LINGER:
			lg := so.GetLinger()
			b := make([]byte, 8)
			if lg.Enabled {
				binary.LittleEndian.PutUint32(b, 1)
			}
			binary.LittleEndian.PutUint32(b[4:], uint32(lg.Timeout/time.Second))
			return b, 0
		}
	case IPPROTO_TCP:
		if sk.typ != SOCK_STREAM {
			return nil, EOPNOTSUPP
		}
		switch name {
		case TCP_NODELAY:
			return boolOpt(!so.GetDelayOption()), 0
		case TCP_CORK:
			return boolOpt(so.GetCorkOption()), 0
		case TCP_QUICKACK:
			return boolOpt(so.GetQuickAck()), 0
		case TCP_KEEPIDLE:
			var v tcpip.KeepaliveIdleOption
			if err := sk.ep.GetSockOpt(&v); err != nil {
				return nil, translate(err)
			}
			return intOpt(int(time.Duration(v) / time.Second)), 0
		case TCP_KEEPINTVL:
			var v tcpip.KeepaliveIntervalOption
			if err := sk.ep.GetSockOpt(&v); err != nil {
				return nil, translate(err)
			}
			return intOpt(int(time.Duration(v) / time.Second)), 0
		case TCP_USER_TIMEOUT:
			var v tcpip.TCPUserTimeoutOption
			if err := sk.ep.GetSockOpt(&v); err != nil {
				return nil, translate(err)
			}
			return intOpt(int(time.Duration(v) / time.Millisecond)), 0
		case TCP_KEEPCNT:
			return st.getInt(sk, tcpip.KeepaliveCountOption)
		case TCP_MAXSEG:
			return st.getInt(sk, tcpip.MaxSegOption)
		}
	case IPPROTO_IP:
		switch name {
		case IP_TTL:
			v, err := sk.ep.GetSockOptInt(tcpip.IPv4TTLOption)
			if err != nil {
				return nil, translate(err)
			}
			if v <= 0 {
				v = 64 // the default Linux reports
			}
			return intOpt(v), 0
		case IP_TOS:
			return st.getInt(sk, tcpip.IPv4TOSOption)
		}
	case IPPROTO_IPV6:
		if sk.family != AF_INET6 {
			return nil, ENOPROTOOPT
		}
		switch name {
		case IPV6_V6ONLY:
			return boolOpt(so.GetV6Only()), 0
		case IPV6_UNICAST_HOPS:
			v, err := sk.ep.GetSockOptInt(tcpip.IPv6HopLimitOption)
			if err != nil {
				return nil, translate(err)
			}
			if v <= 0 {
				v = 64
			}
			return intOpt(v), 0
		case IPV6_TCLASS:
			return st.getInt(sk, tcpip.IPv6TrafficClassOption)
		}
	}
	return nil, ENOPROTOOPT
}

func (st *Stack) getInt(sk *socket, opt tcpip.SockOptInt) ([]byte, Errno) {
	v, err := sk.ep.GetSockOptInt(opt)
	if err != nil {
		return nil, translate(err)
	}
	return intOpt(v), 0
}

// SetSockopt sets an option, as setsockopt(2); val is the option's bytes
// (an int needs at least 4). Options not listed in GetSockopt's set give
// ENOPROTOOPT; read-only ones (SO_TYPE, SO_ERROR, ...) too, as on Linux.
func (st *Stack) SetSockopt(id, level, name int, val []byte) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	so := sk.ep.SocketOptions()
	if level == SOL_SOCKET && name == SO_LINGER {
		if len(val) < 8 {
			return EINVAL
		}
		on := binary.LittleEndian.Uint32(val) != 0
		secs := int32(binary.LittleEndian.Uint32(val[4:]))
		if secs < 0 {
			secs = 0
		}
		so.SetLinger(tcpip.LingerOption{Enabled: on, Timeout: time.Duration(secs) * time.Second})
		return 0
	}
	if len(val) < 4 {
		return EINVAL
	}
	v := int(int32(binary.LittleEndian.Uint32(val)))
	switch level {
	case SOL_SOCKET:
		switch name {
		case SO_REUSEADDR:
			so.SetReuseAddress(v != 0)
			return 0
		case SO_REUSEPORT:
			so.SetReusePort(v != 0)
			return 0
		case SO_KEEPALIVE:
			so.SetKeepAlive(v != 0)
			return 0
		case SO_BROADCAST:
			so.SetBroadcast(v != 0)
			return 0
		case SO_SNDBUF, SO_RCVBUF:
			// Linux doubles the request for bookkeeping overhead;
			// gVisor clamps to the stack's limits.
			if v < 0 {
				v = 0
			}
			if v > 1<<30 {
				v = 1 << 30
			}
			if name == SO_SNDBUF {
				so.SetSendBufferSize(int64(v)*2, true)
			} else {
				so.SetReceiveBufferSize(int64(v)*2, true)
			}
			return 0
		case SO_RCVLOWAT:
			if v < 0 {
				v = 0
			}
			return translate(so.SetRcvlowat(int32(v)))
		}
	case IPPROTO_TCP:
		if sk.typ != SOCK_STREAM {
			return EOPNOTSUPP
		}
		switch name {
		case TCP_NODELAY:
			so.SetDelayOption(v == 0)
			return 0
		case TCP_CORK:
			so.SetCorkOption(v != 0)
			return 0
		case TCP_QUICKACK:
			so.SetQuickAck(v != 0)
			return 0
		case TCP_KEEPIDLE:
			if v < 1 || v > 32767 {
				return EINVAL
			}
			o := tcpip.KeepaliveIdleOption(time.Duration(v) * time.Second)
			return translate(sk.ep.SetSockOpt(&o))
		case TCP_KEEPINTVL:
			if v < 1 || v > 32767 {
				return EINVAL
			}
			o := tcpip.KeepaliveIntervalOption(time.Duration(v) * time.Second)
			return translate(sk.ep.SetSockOpt(&o))
		case TCP_KEEPCNT:
			if v < 1 || v > 127 {
				return EINVAL
			}
			return translate(sk.ep.SetSockOptInt(tcpip.KeepaliveCountOption, v))
		case TCP_USER_TIMEOUT:
			if v < 0 {
				return EINVAL
			}
			o := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
			return translate(sk.ep.SetSockOpt(&o))
		case TCP_MAXSEG:
			return translate(sk.ep.SetSockOptInt(tcpip.MaxSegOption, v))
		}
	case IPPROTO_IP:
		switch name {
		case IP_TTL:
			if v == -1 {
				v = 0 // back to the default
			}
			if v < 0 || v > 255 {
				return EINVAL
			}
			return translate(sk.ep.SetSockOptInt(tcpip.IPv4TTLOption, v))
		case IP_TOS:
			return translate(sk.ep.SetSockOptInt(tcpip.IPv4TOSOption, v&0xff))
		}
	case IPPROTO_IPV6:
		if sk.family != AF_INET6 {
			return ENOPROTOOPT
		}
		switch name {
		case IPV6_V6ONLY:
			if a, err := sk.ep.GetLocalAddress(); err == nil && a.Port != 0 {
				return EINVAL // Linux: not after bind
			}
			so.SetV6Only(v != 0)
			return 0
		case IPV6_UNICAST_HOPS:
			if v < -1 || v > 255 {
				return EINVAL
			}
			return translate(sk.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, v))
		case IPV6_TCLASS:
			if v < -1 || v > 255 {
				return EINVAL
			}
			if v == -1 {
				v = 0
			}
			return translate(sk.ep.SetSockOptInt(tcpip.IPv6TrafficClassOption, v))
		}
	}
	return ENOPROTOOPT
}
