package netstack

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Message flags (send/recv flags argument and recvmsg's msg_flags), Linux
// values.
const (
	MSG_OOB      = 0x1
	MSG_PEEK     = 0x2
	MSG_TRUNC    = 0x20
	MSG_DONTWAIT = 0x40
	MSG_EOR      = 0x80
	MSG_WAITALL  = 0x100
	MSG_ERRQUEUE = 0x2000
	MSG_NOSIGNAL = 0x4000
	MSG_MORE     = 0x8000
)

// Shutdown's how argument.
const (
	SHUT_RD   = 0
	SHUT_WR   = 1
	SHUT_RDWR = 2
)

// Readiness bits: Linux's EPOLL* values (equal to POLL*).
const (
	EPOLLIN     = 0x1
	EPOLLPRI    = 0x2
	EPOLLOUT    = 0x4
	EPOLLERR    = 0x8
	EPOLLHUP    = 0x10
	EPOLLRDNORM = 0x40
	EPOLLWRNORM = 0x100
	EPOLLRDHUP  = 0x2000
)

// Ioctl requests served by Ioctl.
const (
	FIONREAD = 0x541B // also SIOCINQ
	TIOCOUTQ = 0x5411 // also SIOCOUTQ
)

// socket is one entry of the socket table.
type socket struct {
	id     int
	family int // AF_INET or AF_INET6
	typ    int // SOCK_STREAM or SOCK_DGRAM
	proto  int // IPPROTO_TCP or IPPROTO_UDP
	ep     tcpip.Endpoint
	wq     *waiter.Queue
	entry  waiter.Entry // the permanent entry that feeds SetNotify's callback

	nonblock atomic.Bool
}

// SetNotify installs the readiness callback (nil removes it). The stack
// calls fn(id, mask) whenever socket id's readiness may have changed: data
// or a datagram arrived, send space was freed, a connection was established
// or failed, the peer shut down or reset, a connection is pending on a
// listener. mask holds the EPOLL* bits of the event(s) that fired; it is a
// hint, Readiness(id) gives the current state. Calls may be spurious but a
// change of readiness is never left without a call after it.
//
// fn runs on netstack goroutines, possibly with gVisor endpoint locks held:
// it must not block and must not call back into this package (Readiness
// included); record the event and wake whoever waits, then return.
func (st *Stack) SetNotify(fn func(id int, mask uint32)) {
	if fn == nil {
		st.notify.Store(nil)
		return
	}
	st.notify.Store(&fn)
}

func (st *Stack) fire(id int, m waiter.EventMask) {
	if f := st.notify.Load(); f != nil {
		(*f)(id, uint32(m))
	}
}

// get returns the socket with the given id, or EBADF.
func (st *Stack) get(id int) (*socket, Errno) {
	st.mu.Lock()
	sk := st.socks[id]
	st.mu.Unlock()
	if sk == nil {
		return nil, EBADF
	}
	return sk, 0
}

// insert puts ep into the table under the lowest free id and hooks its
// waiter queue to the notification callback.
func (st *Stack) insert(family, typ, proto int, ep tcpip.Endpoint, wq *waiter.Queue, nonblock bool) (int, Errno) {
	st.mu.Lock()
	if len(st.socks) >= st.maxSock {
		st.mu.Unlock()
		return -1, EMFILE
	}
	var id int
	if n := len(st.freeIDs); n > 0 {
		id = st.freeIDs[n-1]
		st.freeIDs = st.freeIDs[:n-1]
	} else {
		id = st.nextID
		st.nextID++
	}
	sk := &socket{id: id, family: family, typ: typ, proto: proto, ep: ep, wq: wq}
	sk.nonblock.Store(nonblock)
	sk.entry = waiter.NewFunctionEntry(waiter.AllEvents, func(m waiter.EventMask) { st.fire(id, m) })
	st.socks[id] = sk
	st.mu.Unlock()
	wq.EventRegister(&sk.entry)
	return id, 0
}

// Socket creates a socket, as socket(2). typ may carry SOCK_NONBLOCK and
// SOCK_CLOEXEC; CLOEXEC is the kernel's business and is ignored here.
func (st *Stack) Socket(domain, typ, proto int) (int, Errno) {
	if domain != AF_INET && domain != AF_INET6 {
		return -1, EAFNOSUPPORT
	}
	flags := typ & (SOCK_NONBLOCK | SOCK_CLOEXEC)
	typ &^= flags
	if typ < 0 || typ > 10 {
		return -1, EINVAL
	}
	if proto < 0 || proto > 255 {
		return -1, EINVAL
	}
	var tp tcpip.TransportProtocolNumber
	switch typ {
	case SOCK_STREAM:
		if proto != 0 && proto != IPPROTO_TCP {
			return -1, EPROTONOSUPPORT
		}
		proto, tp = IPPROTO_TCP, tcp.ProtocolNumber
	case SOCK_DGRAM:
		if proto != 0 && proto != IPPROTO_UDP {
			return -1, EPROTONOSUPPORT
		}
		proto, tp = IPPROTO_UDP, udp.ProtocolNumber
	default:
		return -1, ESOCKTNOSUPPORT
	}
	np := ipv4.ProtocolNumber
	if domain == AF_INET6 {
		np = ipv6.ProtocolNumber
	}
	wq := new(waiter.Queue)
	ep, err := st.s.NewEndpoint(tp, np, wq)
	if err != nil {
		return -1, translate(err)
	}
	id, e := st.insert(domain, typ, proto, ep, wq, flags&SOCK_NONBLOCK != 0)
	if e != 0 {
		ep.Close()
	}
	return id, e
}

// SetNonblock sets or clears the socket's O_NONBLOCK (fcntl F_SETFL).
func (st *Stack) SetNonblock(id int, nonblock bool) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	sk.nonblock.Store(nonblock)
	return 0
}

// Nonblock reports the socket's O_NONBLOCK (fcntl F_GETFL).
func (st *Stack) Nonblock(id int) (bool, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return false, e
	}
	return sk.nonblock.Load(), 0
}

// wait runs try until it returns something other than EAGAIN. When the
// socket (or the call) is nonblocking, EAGAIN is returned at once;
// otherwise it sleeps until one of the events in mask fires or ctx is done
// (EINTR).
func wait(ctx context.Context, sk *socket, nonblock bool, mask waiter.EventMask, try func() Errno) Errno {
	e := try()
	if e != EAGAIN || nonblock {
		return e
	}
	if ctx == nil {
		ctx = context.Background()
	}
	entry, ch := waiter.NewChannelEntry(mask)
	sk.wq.EventRegister(&entry)
	defer sk.wq.EventUnregister(&entry)
	for {
		if e = try(); e != EAGAIN {
			return e
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return EINTR
		}
	}
}

// Bind binds the socket to the sockaddr sa.
func (st *Stack) Bind(id int, sa []byte) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	a, e := decodeAddr(sk.family, sa)
	if e != 0 {
		return e
	}
	return translate(sk.ep.Bind(a))
}

// Listen marks a stream socket as listening. backlog is clamped as Linux
// does with the default somaxconn (4096).
func (st *Stack) Listen(id int, backlog int) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	if sk.typ != SOCK_STREAM {
		return EOPNOTSUPP
	}
	if backlog < 0 || backlog > 4096 {
		backlog = 4096
	}
	return translate(sk.ep.Listen(backlog))
}

// Accept takes a pending connection from a listening socket, as accept4(2).
// flags may hold SOCK_NONBLOCK (applied to the new socket) and
// SOCK_CLOEXEC (ignored). It blocks unless the listener is nonblocking;
// ctx ends the wait with EINTR. peer is the new socket's remote sockaddr in
// the listener's family.
func (st *Stack) Accept(ctx context.Context, id int, flags int) (newID int, peer []byte, err Errno) {
	return st.accept(ctx, id, flags, false)
}

// TryAccept is Accept that never waits, whatever the socket's O_NONBLOCK:
// EAGAIN when no connection is pending.
func (st *Stack) TryAccept(id int) (newID int, peer []byte, err Errno) {
	return st.accept(nil, id, 0, true)
}

func (st *Stack) accept(ctx context.Context, id int, flags int, now bool) (newID int, peer []byte, err Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return -1, nil, e
	}
	if flags&^(SOCK_NONBLOCK|SOCK_CLOEXEC) != 0 {
		return -1, nil, EINVAL
	}
	if sk.typ != SOCK_STREAM {
		return -1, nil, EOPNOTSUPP
	}
	var (
		nep tcpip.Endpoint
		nwq *waiter.Queue
		pa  tcpip.FullAddress
	)
	e = wait(ctx, sk, sk.nonblock.Load() || now, waiter.ReadableEvents, func() Errno {
		var err tcpip.Error
		nep, nwq, err = sk.ep.Accept(&pa)
		return translate(err)
	})
	if e != 0 {
		return -1, nil, e
	}
	nid, e := st.insert(sk.family, sk.typ, sk.proto, nep, nwq, flags&SOCK_NONBLOCK != 0)
	if e != 0 {
		nep.Close()
		return -1, nil, e
	}
	return nid, encodeAddr(sk.family, pa), 0
}

// Connect connects the socket to sa, as connect(2). For a stream socket
// that is nonblocking it returns EINPROGRESS; the socket then turns
// writable (EPOLLOUT) when the attempt ends and GetSockopt(SOL_SOCKET,
// SO_ERROR) tells the outcome. A blocking connect waits for the outcome;
// when ctx is done first it returns EINTR and the attempt goes on in the
// background, as on Linux. An AF_UNSPEC sockaddr dissolves a datagram
// socket's association.
func (st *Stack) Connect(ctx context.Context, id int, sa []byte) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	if sockaddrFamily(sa) == AF_UNSPEC {
		if err := sk.ep.Disconnect(); err != nil {
			return translate(err)
		}
		return 0
	}
	a, e := decodeAddr(sk.family, sa)
	if e != 0 {
		return e
	}
	if sk.typ != SOCK_STREAM {
		return translate(sk.ep.Connect(a))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	entry, ch := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventErr | waiter.EventHUp)
	sk.wq.EventRegister(&entry)
	defer sk.wq.EventUnregister(&entry)
	err := sk.ep.Connect(a)
	if _, started := err.(*tcpip.ErrConnectStarted); !started {
		return translate(err)
	}
	if sk.nonblock.Load() {
		return EINPROGRESS
	}
	for {
		select {
		case <-ch:
		case <-ctx.Done():
			return EINTR
		}
		if err := sk.ep.LastError(); err != nil {
			return translate(err)
		}
		if _, err := sk.ep.GetRemoteAddress(); err == nil {
			return 0
		}
		// Not connected yet and no error: a spurious wakeup.
	}
}

// sliceWriter copies into a fixed buffer; with discard set it only counts
// (MSG_TRUNC on stream sockets).
type sliceWriter struct {
	b       []byte
	n       int
	discard bool
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	// gVisor wants a full write or an error.
	var err error
	if room := len(w.b) - w.n; len(p) > room {
		p, err = p[:room], io.ErrShortWrite
	}
	if !w.discard {
		copy(w.b[w.n:], p)
	}
	w.n += len(p)
	return len(p), err
}

// Read is Recvfrom without flags or source address (read(2)).
func (st *Stack) Read(ctx context.Context, id int, buf []byte) (int, Errno) {
	n, _, _, e := st.Recvfrom(ctx, id, buf, 0)
	return n, e
}

// Recvfrom receives into buf, as recvfrom(2)/recvmsg(2). flags: MSG_PEEK,
// MSG_DONTWAIT, MSG_TRUNC, MSG_WAITALL. On a stream socket it returns 0 at
// end of file; MSG_TRUNC discards the bytes it counts. On a datagram socket
// a datagram longer than buf is truncated and the rest dropped (unless
// MSG_PEEK); with MSG_TRUNC n is the datagram's full length. msgFlags is
// recvmsg's msg_flags (MSG_TRUNC when a datagram was truncated). from is
// the sender's sockaddr for datagram sockets (nil for stream sockets, as
// Linux leaves msg_namelen 0 there).
func (st *Stack) Recvfrom(ctx context.Context, id int, buf []byte, flags int) (n int, from []byte, msgFlags int, err Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return 0, nil, 0, e
	}
	if flags&MSG_OOB != 0 {
		if sk.typ == SOCK_STREAM {
			return 0, nil, 0, EINVAL
		}
		return 0, nil, 0, EOPNOTSUPP
	}
	if flags&MSG_ERRQUEUE != 0 {
		return 0, nil, 0, EAGAIN
	}
	nonblock := sk.nonblock.Load() || flags&MSG_DONTWAIT != 0
	peek := flags&MSG_PEEK != 0
	if sk.typ == SOCK_STREAM {
		if len(buf) == 0 {
			return 0, nil, 0, 0
		}
		total := 0
		for {
			w := &sliceWriter{b: buf[total:], discard: flags&MSG_TRUNC != 0}
			e = wait(ctx, sk, nonblock, waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr, func() Errno {
				_, err := sk.ep.Read(w, tcpip.ReadOptions{Peek: peek})
				if _, eof := err.(*tcpip.ErrClosedForReceive); eof {
					return 0
				}
				return translate(err)
			})
			if w.n > 0 && !peek {
				sk.ep.ModerateRecvBuf(w.n)
			}
			total += w.n
			if e != 0 {
				if total > 0 {
					return total, nil, 0, 0
				}
				return 0, nil, 0, e
			}
			if w.n == 0 || flags&MSG_WAITALL == 0 || peek || total == len(buf) {
				return total, nil, 0, 0
			}
		}
	}
	var res tcpip.ReadResult
	w := &sliceWriter{b: buf}
	e = wait(ctx, sk, nonblock, waiter.ReadableEvents|waiter.EventErr, func() Errno {
		w.n = 0
		var err tcpip.Error
		res, err = sk.ep.Read(w, tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: true})
		if _, eof := err.(*tcpip.ErrClosedForReceive); eof {
			// A datagram socket shut down for reading: no data, no wait.
			return 0
		}
		return translate(err)
	})
	if e != 0 {
		return 0, nil, 0, e
	}
	n = res.Count
	if res.Total > res.Count {
		msgFlags |= MSG_TRUNC
		if flags&MSG_TRUNC != 0 {
			n = res.Total
		}
	}
	if res.RemoteAddr.Addr.Len() != 0 || res.RemoteAddr.Port != 0 {
		from = encodeAddr(sk.family, res.RemoteAddr)
	}
	return n, from, msgFlags, 0
}

// Write is Sendto without flags or address (write(2)).
func (st *Stack) Write(ctx context.Context, id int, buf []byte) (int, Errno) {
	return st.Sendto(ctx, id, buf, 0, nil)
}

// Sendto sends buf, as sendto(2)/sendmsg(2); to is the destination sockaddr
// of a datagram (nil: the connected peer; ignored on stream sockets).
// flags: MSG_DONTWAIT, MSG_MORE, MSG_NOSIGNAL (the kernel's), MSG_EOR.
// A blocking stream send waits until all of buf is queued; when ctx ends
// the wait it returns the bytes queued so far, or EINTR if none.
//
// EPIPE means the socket can no longer send (shut down for writing, or the
// connection is closed or reset): the kernel must then raise SIGPIPE on the
// calling thread unless flags holds MSG_NOSIGNAL, as Linux does.
func (st *Stack) Sendto(ctx context.Context, id int, buf []byte, flags int, to []byte) (int, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return 0, e
	}
	if flags&MSG_OOB != 0 {
		return 0, EOPNOTSUPP
	}
	nonblock := sk.nonblock.Load() || flags&MSG_DONTWAIT != 0
	opts := tcpip.WriteOptions{More: flags&MSG_MORE != 0, EndOfRecord: flags&MSG_EOR != 0}
	if sk.typ == SOCK_DGRAM && to != nil {
		a, e := decodeAddr(sk.family, to)
		if e != 0 {
			return 0, e
		}
		opts.To = &a
	}
	if sk.typ == SOCK_DGRAM {
		var n int64
		e = wait(ctx, sk, nonblock, waiter.WritableEvents|waiter.EventErr, func() Errno {
			var err tcpip.Error
			n, err = sk.ep.Write(bytes.NewReader(buf), opts)
			return translate(err)
		})
		if e != 0 {
			return 0, e
		}
		return int(n), 0
	}
	total := 0
	e = wait(ctx, sk, nonblock, waiter.WritableEvents|waiter.EventErr|waiter.EventHUp, func() Errno {
		for {
			n, err := sk.ep.Write(bytes.NewReader(buf[total:]), opts)
			total += int(n)
			if err != nil {
				return translate(err)
			}
			if total >= len(buf) {
				return 0
			}
			if n == 0 {
				return EAGAIN
			}
		}
	})
	if total > 0 && (e == 0 || e == EAGAIN || e == EINTR) {
		return total, 0
	}
	if e != 0 {
		return 0, e
	}
	return total, 0
}

// WriteRing writes a and then b to stream socket id as one piece, without
// blocking, and says how many bytes the stack took (EAGAIN when none). It is
// for the service's pump, whose send ring may wrap: one write keeps both
// sides of the ring's end in one TCP segment (the stack never merges a
// segment with part of the next), where two writes would send the first
// side as a frame of its own. Errors are Sendto's with MSG_NOSIGNAL.
func (st *Stack) WriteRing(id int, a, b []byte) (int, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return 0, e
	}
	n, err := sk.ep.Write(&pieces{a, b}, tcpip.WriteOptions{})
	switch {
	case n > 0:
		return int(n), 0
	case err != nil:
		return 0, translate(err)
	}
	return 0, EAGAIN
}

// pieces reads two byte slices as one (a tcpip.Payloader).
type pieces struct{ a, b []byte }

func (p *pieces) Len() int { return len(p.a) + len(p.b) }

func (p *pieces) Read(buf []byte) (int, error) {
	if p.Len() == 0 {
		return 0, io.EOF
	}
	n := copy(buf, p.a)
	p.a = p.a[n:]
	m := copy(buf[n:], p.b)
	p.b = p.b[m:]
	return n + m, nil
}

// Shutdown shuts down part of a full-duplex connection (SHUT_RD, SHUT_WR,
// SHUT_RDWR).
func (st *Stack) Shutdown(id int, how int) Errno {
	sk, e := st.get(id)
	if e != 0 {
		return e
	}
	var f tcpip.ShutdownFlags
	switch how {
	case SHUT_RD:
		f = tcpip.ShutdownRead
	case SHUT_WR:
		f = tcpip.ShutdownWrite
	case SHUT_RDWR:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return EINVAL
	}
	return translate(sk.ep.Shutdown(f))
}

// Close removes the socket from the table and closes its endpoint. With
// SO_LINGER on and a zero timeout the connection is reset (gVisor does
// this); with a positive timeout on a blocking socket, Close waits up to
// that long (or until ctx is done) for the connection to finish closing.
func (st *Stack) Close(ctx context.Context, id int) Errno {
	st.mu.Lock()
	sk := st.socks[id]
	if sk == nil {
		st.mu.Unlock()
		return EBADF
	}
	delete(st.socks, id)
	st.freeIDs = append(st.freeIDs, id)
	st.mu.Unlock()
	sk.wq.EventUnregister(&sk.entry)

	lg := sk.ep.SocketOptions().GetLinger()
	if sk.typ == SOCK_STREAM && lg.Enabled && lg.Timeout > 0 && !sk.nonblock.Load() {
		if ctx == nil {
			ctx = context.Background()
		}
		entry, ch := waiter.NewChannelEntry(waiter.EventHUp)
		sk.wq.EventRegister(&entry)
		sk.ep.Close()
		if sk.ep.Readiness(waiter.EventHUp) == 0 {
			tctx, cancel := context.WithTimeout(ctx, lg.Timeout)
			select {
			case <-ch:
			case <-tctx.Done():
			}
			cancel()
		}
		sk.wq.EventUnregister(&entry)
		return 0
	}
	sk.ep.Close()
	return 0
}

// GetSockName returns the socket's local sockaddr (all zero when unbound).
func (st *Stack) GetSockName(id int) ([]byte, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return nil, e
	}
	a, err := sk.ep.GetLocalAddress()
	if err != nil {
		return nil, translate(err)
	}
	return encodeAddr(sk.family, a), 0
}

// GetPeerName returns the connected peer's sockaddr, or ENOTCONN.
func (st *Stack) GetPeerName(id int) ([]byte, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return nil, e
	}
	a, err := sk.ep.GetRemoteAddress()
	if err != nil {
		return nil, translate(err)
	}
	return encodeAddr(sk.family, a), 0
}

// IsStream says whether socket id is a stream (TCP) socket.
func (st *Stack) IsStream(id int) bool {
	sk, e := st.get(id)
	return e == 0 && sk.typ == SOCK_STREAM
}

// Readiness returns the socket's current EPOLL* bits.
func (st *Stack) Readiness(id int) uint32 {
	sk, e := st.get(id)
	if e != 0 {
		return EPOLLERR | EPOLLHUP
	}
	return uint32(sk.ep.Readiness(waiter.AllEvents))
}

// Ioctl serves FIONREAD (bytes readable; for a datagram socket the size of
// the next datagram) and TIOCOUTQ (bytes not yet sent). Others: ENOTTY.
func (st *Stack) Ioctl(id int, req uint) (int, Errno) {
	sk, e := st.get(id)
	if e != 0 {
		return 0, e
	}
	var opt tcpip.SockOptInt
	switch req {
	case FIONREAD:
		opt = tcpip.ReceiveQueueSizeOption
	case TIOCOUTQ:
		opt = tcpip.SendQueueSizeOption
	default:
		return 0, ENOTTY
	}
	v, err := sk.ep.GetSockOptInt(opt)
	if err != nil {
		return 0, translate(err)
	}
	return v, 0
}
