package netstack

import (
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Errno is a Linux error number (x86-64 numbering). Zero means success. A
// system call returns -int(e) to the program when e is not zero.
type Errno uint16

// The Linux errno values this package returns.
const (
	EPERM           Errno = 1
	ENOENT          Errno = 2
	EINTR           Errno = 4
	EIO             Errno = 5
	EBADF           Errno = 9
	EAGAIN          Errno = 11
	ENOMEM          Errno = 12
	EACCES          Errno = 13
	EFAULT          Errno = 14
	EBUSY           Errno = 16
	EEXIST          Errno = 17
	ENODEV          Errno = 19
	EINVAL          Errno = 22
	EMFILE          Errno = 24
	ENOTTY          Errno = 25
	EPIPE           Errno = 32
	ENOSYS          Errno = 38
	ENONET          Errno = 64
	ENOTSOCK        Errno = 88
	EDESTADDRREQ    Errno = 89
	EMSGSIZE        Errno = 90
	EPROTOTYPE      Errno = 91
	ENOPROTOOPT     Errno = 92
	EPROTONOSUPPORT Errno = 93
	ESOCKTNOSUPPORT Errno = 94
	EOPNOTSUPP      Errno = 95
	EAFNOSUPPORT    Errno = 97
	EADDRINUSE      Errno = 98
	EADDRNOTAVAIL   Errno = 99
	ENETDOWN        Errno = 100
	ENETUNREACH     Errno = 101
	ECONNABORTED    Errno = 103
	ECONNRESET      Errno = 104
	ENOBUFS         Errno = 105
	EISCONN         Errno = 106
	ENOTCONN        Errno = 107
	ETIMEDOUT       Errno = 110
	ECONNREFUSED    Errno = 111
	EHOSTDOWN       Errno = 112
	EHOSTUNREACH    Errno = 113
	EALREADY        Errno = 114
	EINPROGRESS     Errno = 115
)

var errnoNames = map[Errno]string{
	EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
	EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT",
	EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL",
	EMFILE: "EMFILE", ENOTTY: "ENOTTY", EPIPE: "EPIPE", ENOSYS: "ENOSYS",
	ENONET: "ENONET", ENOTSOCK: "ENOTSOCK", EDESTADDRREQ: "EDESTADDRREQ",
	EMSGSIZE: "EMSGSIZE", EPROTOTYPE: "EPROTOTYPE", ENOPROTOOPT: "ENOPROTOOPT",
	EPROTONOSUPPORT: "EPROTONOSUPPORT", ESOCKTNOSUPPORT: "ESOCKTNOSUPPORT",
	EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE",
	EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH",
	ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS",
	EISCONN: "EISCONN", ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT",
	ECONNREFUSED: "ECONNREFUSED", EHOSTDOWN: "EHOSTDOWN", EHOSTUNREACH: "EHOSTUNREACH",
	EALREADY: "EALREADY", EINPROGRESS: "EINPROGRESS",
}

// Error implements error; it gives the C name of the errno.
func (e Errno) Error() string {
	if e == 0 {
		return "success"
	}
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}

// String is Error.
func (e Errno) String() string { return e.Error() }

// translate maps a netstack error to the errno Linux gives in the same
// situation. nil maps to 0.
func translate(err tcpip.Error) Errno {
	switch err.(type) {
	case nil:
		return 0
	case *tcpip.ErrWouldBlock:
		return EAGAIN
	case *tcpip.ErrConnectStarted:
		return EINPROGRESS
	case *tcpip.ErrAlreadyConnecting:
		return EALREADY
	case *tcpip.ErrAlreadyConnected:
		return EISCONN
	case *tcpip.ErrNotConnected:
		return ENOTCONN
	case *tcpip.ErrConnectionRefused:
		return ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		return ECONNRESET
	case *tcpip.ErrConnectionAborted:
		return ECONNABORTED
	case *tcpip.ErrClosedForSend, *tcpip.ErrAborted:
		return EPIPE
	case *tcpip.ErrClosedForReceive:
		return 0 // end of file; callers handle it before translating
	case *tcpip.ErrTimeout:
		return ETIMEDOUT
	case *tcpip.ErrNetworkUnreachable:
		return ENETUNREACH
	case *tcpip.ErrHostUnreachable:
		return EHOSTUNREACH
	case *tcpip.ErrHostDown:
		return EHOSTDOWN
	case *tcpip.ErrNoNet:
		return ENONET
	case *tcpip.ErrPortInUse:
		return EADDRINUSE
	case *tcpip.ErrBadLocalAddress:
		return EADDRNOTAVAIL
	case *tcpip.ErrNoPortAvailable:
		return EAGAIN // Linux: EAGAIN when the ephemeral range is exhausted
	case *tcpip.ErrDestinationRequired:
		return EDESTADDRREQ
	case *tcpip.ErrMessageTooLong:
		return EMSGSIZE
	case *tcpip.ErrNoBufferSpace:
		return ENOBUFS
	case *tcpip.ErrBroadcastDisabled:
		return EACCES
	case *tcpip.ErrNotPermitted:
		return EPERM
	case *tcpip.ErrNotSupported:
		return EOPNOTSUPP
	case *tcpip.ErrQueueSizeNotSupported:
		return ENOTTY
	case *tcpip.ErrUnknownProtocolOption:
		return ENOPROTOOPT
	case *tcpip.ErrAddressFamilyNotSupported:
		return EAFNOSUPPORT
	case *tcpip.ErrBadAddress, *tcpip.ErrBadBuffer:
		return EFAULT
	case *tcpip.ErrDuplicateAddress:
		return EEXIST
	case *tcpip.ErrUnknownDevice, *tcpip.ErrUnknownNICID, *tcpip.ErrInvalidNICID:
		return ENODEV
	case *tcpip.ErrEndpointBusy:
		return EBUSY
	default:
		// ErrInvalidEndpointState, ErrInvalidOptionValue, ErrAlreadyBound,
		// ErrUnknownProtocol, ErrMalformedHeader and anything new.
		return EINVAL
	}
}
