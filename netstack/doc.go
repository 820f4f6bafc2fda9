// Package netstack is unigo's network: gVisor's TCP/IP stack behind the
// Linux socket API, expressed as Go calls with Linux semantics and errno
// values, so that the kernel's socket system calls can be served by calling
// it.
//
// What it owns: one gVisor stack.Stack (IPv4, IPv6, ARP, ICMP, TCP with
// SACK and receive-buffer moderation, UDP), its loopback interface
// (127.0.0.1/8, ::1) and at most one machine NIC (AddNIC), the address
// configuration of that NIC (ConfigureStatic, or a DHCP lease from
// StartDHCP, whose protocol lives in netstack/dhcp), and the socket table:
// small integer ids, each naming one gVisor endpoint plus its O_NONBLOCK
// flag. The kernel maps file descriptors to these ids; this package knows
// nothing of descriptors, close-on-exec or signals.
//
// Where it runs: ordinary goroutines. Every function here may allocate,
// take locks and block, so none of it may be called from kernel context
// (trap or interrupt handlers); the kernel's socket service goroutine calls
// it on behalf of the program. gVisor's own goroutines (TCP timers, packet
// processing started by the link endpoint) run alongside.
//
// What it calls: gVisor's tcpip packages and the link endpoint given to
// AddNIC (a driver's, or a channel endpoint in tests); nothing in rt/ or
// drivers/ directly. Upward it calls only the readiness callback installed
// with SetNotify, from netstack goroutines, and the onLease callback of
// StartDHCP.
//
// How the kernel's socket calls reach this package, and which ones it serves
// itself (epoll, and a connected TCP socket's reads and writes from rings the
// service fills and drains), is netstack/service's package doc.
//
// Errors: every socket call returns an Errno, a Linux errno number (0 for
// success). Blocking calls (Accept, Connect, Recvfrom, Sendto, Close with
// SO_LINGER) block only when the socket is not O_NONBLOCK and the call has
// no MSG_DONTWAIT; they take a context.Context and return EINTR when it is
// done first, which is how the kernel interrupts them for a signal.
// EPIPE from Sendto/Write means "raise SIGPIPE unless MSG_NOSIGNAL".
package netstack
