package syscalls

import (
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Sockets. The network stack is Go code (gVisor's netstack, package netstack)
// and runs in goroutines, so socket calls cannot be served here: each becomes a
// netcall.Request on a queue, the caller blocks, and the network service takes
// the request (SysNetTake), does it and answers (SysNetReply); the kernel then
// copies the results into the caller's memory and wakes it. netstack/netcall
// has the protocol. Readiness for epoll is the service's to report
// (SysNetReady); epoll reads it from the socket table here, so epoll_wait,
// the call Go's netpoller makes most, never leaves the kernel.

const (
	// maxRequests bounds the socket calls in flight (one per blocked thread).
	maxRequests = 1024
	// Futex keys in the kernel half of the address space, which no program
	// futex can use: the service's wait, and each request's caller.
	netTakeKey = 0xFFFF_FF00_0000_0000
	netReqKey  = 0xFFFF_FF00_0001_0000
	netSlotKey = 0xFFFF_FF00_0000_0100 // a thread waiting for a free request slot
)

// Request states.
const (
	reqFree = iota
	reqQueued
	reqTaken
)

// Where a call's input comes from and its output goes.
const (
	ioNone = iota
	ioFlat // a buffer: addr, length
	ioIov  // an iovec array: addr, count
)

// netReq is one request and what the kernel needs to finish it.
type netReq struct {
	state     uint8
	inKind    uint8
	outKind   uint8
	_         uint8
	gen       uint32
	tid       int32 // the caller, 0 for a request nobody waits for
	_         int32
	hdr       netcall.Request
	in, inN   uint64 // input buffer or iovec array
	addrIn    uint64 // destination address (sendto, sendmsg, bind, connect)
	out, outN uint64 // output buffer or iovec array
	addrOut   uint64 // address output (accept, recvfrom, getsockname, ...)
	addrLenP  uint64 // its socklen_t, in and out
	optLenP   uint64 // getsockopt's socklen_t
	msg       uint64 // recvmsg: the msghdr, for msg_namelen and msg_flags
}

// sock is a socket's kernel side: its last reported events, the count of their
// rising edges (for EPOLLET), how many descriptors refer to it, its family, and
// its addresses as the service last reported them.
type sock struct {
	events uint32
	seq    uint32
	refs   int32
	family uint16
	local  [28]byte
	peer   [28]byte
	nlocal uint8
	npeer  uint8
	ring   uint16 // 1 + its ring slot, 0 without rings
	// A listener served from its accept queue (accept.go): the queue, as
	// socket ids + 1 linked through aqNext (0: none).
	queued         bool
	closing        bool // freed, and the service has not taken its OpClose yet
	aqHead, aqTail uint16
	aqNext         uint16
	aqLen          uint16
}

// Address families and socket types the network service offers.
const (
	afInet     = 2
	afInet6    = 10
	sockStream = 1
	sockDgram  = 2
)

// netState is the socket side of System.
type netState struct {
	reqs [maxRequests]netReq
	// notes are the records nobody waits for (a new socket, a close, a
	// nonblocking flag): many can be in flight, so they are small and apart
	// from the requests, in a ring of their own.
	notes              [maxNotes]note
	noteHead, noteTail int
	// queue orders requests, cancel records and notes (their index with
	// noteBit), FIFO: the service sees a socket made before it is used.
	queue        [maxRequests + maxNotes + 64]uint32
	qHead, qTail int
	socks        [netcall.MaxSockets]sock
	// resolv is /etc/resolv.conf, as the service last set it.
	resolv     [1024]byte
	resolvN    int
	resolvTime int64 // real time of the last change (ns)
	// rings are the stream sockets' rings (ring.go); ringPages the memory
	// they hold, largeRingPages the part of it in large rings.
	rings          [maxRings]ring
	ringPages      uint64
	largeRingPages uint64
	// takenClose is 1 + the socket whose OpClose the service took last.
	takenClose int32
	// on: the network service runs (SysNetStart).
	on bool
	// netParams are the kernel command line's unigo.net.* parameters.
	netParams  [512]byte
	netParamsN int
}

// cancelBit marks a queue entry as a cancel record for the request it names;
// noteBit as a note.
const (
	cancelBit = 1 << 31
	noteBit   = 1 << 30
)

// maxNotes bounds the notes in flight.
const maxNotes = 4096

// note is a record nobody waits for.
type note struct {
	op   uint32
	sock int32
	args [3]uint64
}

func (s *System) enqueue(v uint32) bool {
	n := s.net.qTail - s.net.qHead
	if n == len(s.net.queue) {
		return false
	}
	s.net.queue[s.net.qTail%len(s.net.queue)] = v
	s.net.qTail++
	s.Sched.FutexWake(netTakeKey, 1, linux.FUTEX_BITSET_ALL)
	return true
}

// newRequest takes a free request slot for op on socket sk, made by t (nil for
// one nobody waits for).
func (s *System) newRequest(t *sched.Thread, op uint32, sk int32) (*netReq, int, bool) {
	for i := range s.net.reqs {
		r := &s.net.reqs[i]
		if r.state != reqFree {
			continue
		}
		gen := r.gen + 1
		*r = netReq{gen: gen}
		r.hdr = netcall.Request{ID: uint32(i) | gen<<16, Op: op, Sock: sk}
		if t != nil {
			r.tid = t.TID
		}
		return r, i, true
	}
	return nil, 0, false
}

// submit queues request i and blocks its caller until the answer.
func (s *System) submit(t *sched.Thread, r *netReq, i int) uint64 {
	if !s.enqueue(uint32(i)) {
		r.state = reqFree
		return neg(linux.ENOBUFS)
	}
	r.state = reqQueued
	if t == nil {
		return 0
	}
	s.Sched.Block(t, sched.WaitFutex, netReqKey+uint64(i)*4, linux.FUTEX_BITSET_ALL, 0)
	return 0 // not seen: the answer sets the result
}

// notify queues a note for the service (a new socket, a close, a nonblocking
// flag). false: too many are in flight.
func (s *System) notify(op uint32, sk int32, a0, a1, a2 uint64) bool {
	if s.net.noteTail-s.net.noteHead == maxNotes {
		return false
	}
	i := s.net.noteTail % maxNotes
	if !s.enqueue(noteBit | uint32(i)) {
		return false
	}
	s.net.notes[i] = note{op: op, sock: sk, args: [3]uint64{a0, a1, a2}}
	s.net.noteTail++
	return true
}

// isNetWait says whether t waits for the answer to a socket call.
func isNetWait(t *sched.Thread) bool {
	return t.WaitAddr >= netReqKey && t.WaitAddr < netReqKey+maxRequests*4
}

// interruptNet handles a signal for thread t while it waits for its socket
// call. A call that cannot wait for the network (a nonblocking socket, or a
// call like bind) is answered soon: the signal waits for the answer, as Linux
// would deliver it after a call that does not sleep. A call that waits for the
// network is stopped (the service gets a cancel record and its late answer is
// dropped) and then, as on Linux, restarted if the signal's handler has
// SA_RESTART (the thread goes back to its SYSCALL instruction with the same
// registers, after the handler) or ends with EINTR.
func (s *System) interruptNet(t *sched.Thread, sig int) {
	i := (t.WaitAddr - netReqKey) / 4
	r := &s.net.reqs[i]
	if r.hdr.Nonblock != 0 || !netcall.MayWait(r.hdr.Op) {
		return
	}
	switch r.state {
	case reqTaken:
		s.enqueue(cancelBit | uint32(i))
		r.tid = 0 // the answer, when it comes, has nobody to go to
	case reqQueued:
		r.state = reqFree // still queued: SysNetTake skips it
		s.unreserve(r)
	}
	if s.actions[sig].Flags&linux.SA_RESTART != 0 && s.actions[sig].Handler > linux.SIG_IGN {
		s.Sched.Wake(t, int64(r.hdr.Op))
		t.Frame.RIP -= 2 // SYSCALL is two bytes: run it again
		return
	}
	s.Sched.Wake(t, -int64(linux.EINTR))
}

// sockFD returns the socket descriptor n's socket.
func (s *System) sockFD(n uint64) (*file, int32, linux.Errno) {
	f, ok := s.fd(n)
	if !ok {
		return nil, 0, linux.EBADF
	}
	if f.kind != kindSocket {
		return nil, 0, linux.ENOTSOCK
	}
	return f, int32(f.val), 0
}

// sockCall is every socket system call but close: it records what the answer
// needs and queues the request.
func (s *System) sockCall(t *sched.Thread, nr uint64, a0, a1, a2, a3, a4, a5 uint64) uint64 {
	switch nr {
	case linux.SYS_socket:
		return s.socket(a0, a1, a2)
	case linux.SYS_getsockname, linux.SYS_getpeername:
		return s.sockName(nr, a0, a1, a2)
	}
	f, sk, e := s.sockFD(a0)
	if e != 0 {
		return neg(e)
	}
	if s.net.socks[sk].ring != 0 {
		if r, done := s.ringCall(t, f, sk, nr, a1, a2, a3, a4, a5); done {
			return r
		}
	}
	if s.net.socks[sk].queued && (nr == linux.SYS_accept || nr == linux.SYS_accept4) {
		if nr == linux.SYS_accept {
			a3 = 0
		}
		return s.acceptQueued(t, f, sk, a1, a2, a3)
	}
	if s.wouldBlock(f, sk, nr, a2, a3) {
		return neg(linux.EAGAIN)
	}
	r, i, ok := s.newRequest(t, uint32(nr), sk)
	if !ok {
		// Every request slot is taken: wait for one, then make the call
		// again from the start.
		return s.parkToRestart(t, netSlotKey)
	}
	h := &r.hdr
	h.Args = [6]uint64{a0, a1, a2, a3, a4, a5}
	if f.status&linux.O_NONBLOCK != 0 {
		h.Nonblock = 1
	}
	switch nr {
	case linux.SYS_bind, linux.SYS_connect:
		e = s.input(r, ioFlat, a1, a2)
	case linux.SYS_listen, linux.SYS_shutdown:
	case linux.SYS_accept, linux.SYS_accept4:
		if e = s.addrOutput(r, a1, a2); e == 0 {
			// The new connection's id, chosen here (the service uses the
			// kernel's ids); Args[4] carries it.
			id, ok := s.reserveSock(s.net.socks[sk].family)
			if !ok {
				e = linux.EMFILE
			}
			h.Args[4] = uint64(id)
			if nr == linux.SYS_accept {
				h.Args[3] = 0
			}
		}
	case linux.SYS_read:
		e = s.output(r, ioFlat, a1, a2)
	case linux.SYS_readv:
		e = s.output(r, ioIov, a1, a2)
	case linux.SYS_write:
		e = s.input(r, ioFlat, a1, a2)
	case linux.SYS_writev:
		e = s.input(r, ioIov, a1, a2)
	case linux.SYS_sendto:
		if e = s.input(r, ioFlat, a1, a2); e == 0 && a4 != 0 {
			e = s.addrInput(r, a4, a5)
		}
	case linux.SYS_recvfrom:
		if e = s.output(r, ioFlat, a1, a2); e == 0 && a4 != 0 {
			e = s.addrOutput(r, a4, h.Args[5])
		}
	case linux.SYS_sendmsg, linux.SYS_recvmsg:
		e = s.msghdr(r, nr, a1)
	case linux.SYS_setsockopt:
		e = s.input(r, ioFlat, a3, a4)
	case linux.SYS_getsockopt:
		var n uint32
		if e = s.copyIn(kmem.Addr(&n), a4, 4); e == 0 {
			r.optLenP = a4
			e = s.output(r, ioFlat, a3, uint64(n))
		}
	default:
		e = linux.EINVAL
	}
	switch {
	case (nr == linux.SYS_sendto || nr == linux.SYS_recvfrom) && a3&linux.MSG_DONTWAIT != 0,
		(nr == linux.SYS_sendmsg || nr == linux.SYS_recvmsg) && a2&linux.MSG_DONTWAIT != 0:
		h.Nonblock = 1
	}
	if e != 0 {
		r.state = reqFree
		return neg(e)
	}
	if rv := s.submit(t, r, i); rv != 0 {
		s.unreserve(r)
		return rv
	}
	return 0
}

// unreserve frees the id an accept reserved, when the accept made nothing.
func (s *System) unreserve(r *netReq) {
	if r.hdr.Op == linux.SYS_accept || r.hdr.Op == linux.SYS_accept4 {
		if id := r.hdr.Args[4]; id < netcall.MaxSockets && s.net.socks[id].refs == -1 {
			s.net.socks[id] = sock{}
		}
	}
}

// wouldBlock answers a nonblocking call the socket's readiness already
// refuses, here, with EAGAIN: a read, receive or accept with nothing to take, a
// write or send with no room. Go's netpoller makes such a call before every
// wait, so half of its reads need no round trip to the service. The readiness
// may be late (data just arrived and its report is on the way), which is what
// EAGAIN means anyway: the report that follows is an edge, and the caller
// tries again. Errors and hang-ups go to the service, which says what they
// are.
func (s *System) wouldBlock(f *file, sk int32, nr, a2, a3 uint64) bool {
	nonblock := f.status&linux.O_NONBLOCK != 0
	switch nr {
	case linux.SYS_recvfrom, linux.SYS_sendto:
		nonblock = nonblock || a3&linux.MSG_DONTWAIT != 0
	case linux.SYS_recvmsg, linux.SYS_sendmsg:
		nonblock = nonblock || a2&linux.MSG_DONTWAIT != 0
	}
	if !nonblock {
		return false
	}
	var need uint32
	switch nr {
	case linux.SYS_read, linux.SYS_readv, linux.SYS_recvfrom, linux.SYS_recvmsg, linux.SYS_accept, linux.SYS_accept4:
		need = linux.EPOLLIN
	case linux.SYS_write, linux.SYS_writev, linux.SYS_sendto, linux.SYS_sendmsg:
		need = linux.EPOLLOUT
	default:
		return false
	}
	ev := s.net.socks[sk].events
	return ev&(need|linux.EPOLLERR|linux.EPOLLHUP|linux.EPOLLRDHUP) == 0
}

// input records the call's input: a buffer, or an iovec array.
func (s *System) input(r *netReq, kind uint8, addr, n uint64) linux.Errno {
	r.inKind, r.in, r.inN = kind, addr, n
	size, e := s.ioSize(kind, addr, n, mm.Read)
	r.hdr.DataLen = uint32(min(size, netcall.MaxData))
	return e
}

// output records where the answer's data goes.
func (s *System) output(r *netReq, kind uint8, addr, n uint64) linux.Errno {
	r.outKind, r.out, r.outN = kind, addr, n
	size, e := s.ioSize(kind, addr, n, mm.Write)
	r.hdr.Want = uint32(min(size, netcall.MaxData))
	return e
}

// addrInput records a destination address of n bytes at addr.
func (s *System) addrInput(r *netReq, addr, n uint64) linux.Errno {
	r.addrIn = addr
	r.hdr.AddrLen = uint32(min(n, 128))
	return s.Mem.Prepare(addr, uint64(r.hdr.AddrLen), mm.Read)
}

// addrOutput records a (struct sockaddr *, socklen_t *) pair for the answer.
func (s *System) addrOutput(r *netReq, addr, lenp uint64) linux.Errno {
	if addr == 0 {
		return 0
	}
	var n uint32
	if e := s.copyIn(kmem.Addr(&n), lenp, 4); e != 0 {
		return e
	}
	if int32(n) < 0 {
		return linux.EINVAL
	}
	r.addrOut, r.addrLenP = addr, lenp
	r.hdr.WantAddr = min(n, 128)
	return s.Mem.Prepare(addr, uint64(r.hdr.WantAddr), mm.Write)
}

// msghdr reads sendmsg's or recvmsg's struct msghdr.
func (s *System) msghdr(r *netReq, nr, addr uint64) linux.Errno {
	var m linux.Msghdr
	if e := s.copyIn(kmem.Addr(&m), addr, 56); e != 0 {
		return e
	}
	if m.Controllen != 0 && nr == linux.SYS_sendmsg {
		return linux.EOPNOTSUPP // no ancillary data
	}
	r.msg = addr
	if nr == linux.SYS_sendmsg {
		if m.Name != 0 {
			if e := s.addrInput(r, m.Name, uint64(m.Namelen)); e != 0 {
				return e
			}
		}
		return s.input(r, ioIov, m.Iov, m.Iovlen)
	}
	if m.Name != 0 {
		r.addrOut = m.Name
		r.addrLenP = addr + 8 // &msg_namelen
		r.hdr.WantAddr = min(m.Namelen, 128)
	}
	return s.output(r, ioIov, m.Iov, m.Iovlen)
}

// ioSize checks a buffer or iovec array and returns how many bytes it holds.
func (s *System) ioSize(kind uint8, addr, n uint64, access int) (uint64, linux.Errno) {
	if kind == ioFlat {
		if n > 0 {
			return n, s.Mem.Prepare(addr, n, access)
		}
		return 0, 0
	}
	if n > 1024 {
		return 0, linux.EINVAL
	}
	var total uint64
	for j := uint64(0); j < n; j++ {
		var v [2]uint64
		if e := s.copyIn(kmem.Addr(&v), addr+j*16, 16); e != 0 {
			return 0, e
		}
		if v[1] > 0 {
			if e := s.Mem.Prepare(v[0], v[1], access); e != 0 {
				return 0, e
			}
		}
		total += v[1]
	}
	return total, 0
}

// netTake is SysNetTake: the next request (or cancel record) with its input.
func (s *System) netTake(t *sched.Thread, buf, size, flags uint64) uint64 {
	if size < netcall.RequestSize || flags&^netcall.TakeNoWait != 0 {
		return neg(linux.EINVAL)
	}
	if c := s.net.takenClose; c > 0 {
		// The service takes one record at a time: asking for the next, it
		// is done with the OpClose it took last, and the id may name a new
		// socket now.
		s.net.socks[c-1].closing = false
		s.net.takenClose = 0
	}
	for s.net.qHead < s.net.qTail {
		v := s.net.queue[s.net.qHead%len(s.net.queue)]
		s.net.qHead++
		if v&cancelBit != 0 {
			i := v &^ cancelBit
			h := netcall.Request{Op: netcall.OpCancel, Sock: -1}
			h.Args[0] = uint64(i | s.net.reqs[i].gen<<16)
			return ret(netcall.RequestSize, s.copyOut(buf, kmem.Addr(&h), netcall.RequestSize))
		}
		if v&noteBit != 0 {
			n := &s.net.notes[v&^noteBit]
			s.net.noteHead++
			switch n.op {
			case netcall.OpRingPoke:
				s.net.rings[n.args[0]].poked = false
			case netcall.OpClose:
				s.net.takenClose = n.sock + 1
			}
			h := netcall.Request{Op: n.op, Sock: n.sock}
			h.Args[0], h.Args[1], h.Args[2] = n.args[0], n.args[1], n.args[2]
			return ret(netcall.RequestSize, s.copyOut(buf, kmem.Addr(&h), netcall.RequestSize))
		}
		r := &s.net.reqs[v]
		if r.state != reqQueued {
			continue // interrupted while queued
		}
		return s.handOver(r, buf, size)
	}
	if flags&netcall.TakeNoWait != 0 {
		return neg(linux.EAGAIN)
	}
	s.Sched.Block(t, sched.WaitFutex, netTakeKey, linux.FUTEX_BITSET_ALL, 0)
	return 0
}

// handOver copies request r and its input into the service's buffer.
func (s *System) handOver(r *netReq, buf, size uint64) uint64 {
	h := r.hdr
	room := size - netcall.RequestSize
	h.DataLen = uint32(min(uint64(h.DataLen), room))
	h.AddrLen = uint32(min(uint64(h.AddrLen), room-uint64(h.DataLen)))
	if r.tid == 0 || h.Op >= netcall.OpCancel {
		r.state = reqFree // nobody waits: no answer
	} else {
		r.state = reqTaken
	}
	// The input goes straight from the caller's memory to the service's, a
	// page-sized piece at a time through the kernel stack.
	var chunk [512]byte
	for off := uint64(0); off < uint64(h.DataLen); {
		n := min(uint64(len(chunk)), uint64(h.DataLen)-off)
		if r.inKind == ioFlat {
			if e := s.copyIn(kmem.Addr(&chunk[0]), r.in+off, n); e != 0 {
				return s.failTaken(r, e)
			}
		} else if got, e := s.iovCopy(r.in, r.inN, off, kmem.Addr(&chunk[0]), n, false); e != 0 || got != n {
			return s.failTaken(r, linux.EFAULT)
		}
		if e := s.copyOut(buf+netcall.RequestSize+off, kmem.Addr(&chunk[0]), n); e != 0 {
			return neg(e)
		}
		off += n
	}
	if h.AddrLen > 0 {
		for off := uint64(0); off < uint64(h.AddrLen); off += 64 {
			n := min(64, uint64(h.AddrLen)-off)
			if e := s.copyIn(kmem.Addr(&chunk[0]), r.addrIn+off, n); e != 0 {
				return s.failTaken(r, e)
			}
			if e := s.copyOut(buf+netcall.RequestSize+uint64(h.DataLen)+off, kmem.Addr(&chunk[0]), n); e != 0 {
				return neg(e)
			}
		}
	}
	return ret(netcall.RequestSize+uint64(h.DataLen)+uint64(h.AddrLen), s.copyOut(buf, kmem.Addr(&h), netcall.RequestSize))
}

// failTaken ends a request whose input could not be read: the caller gets the
// error; the service gets nothing (0: take again).
func (s *System) failTaken(r *netReq, e linux.Errno) uint64 {
	s.finish(r, -int64(e))
	return 0
}

// iovCopy copies n bytes between the kernel address k and an iovec array,
// starting at byte off of the array's data: out of it (toUser false) or into it.
// It returns how many bytes it copied.
func (s *System) iovCopy(iov, cnt, off uint64, k uintptr, n uint64, toUser bool) (uint64, linux.Errno) {
	var done, pos uint64
	for j := uint64(0); j < cnt && done < n; j++ {
		var v [2]uint64
		if e := s.copyIn(kmem.Addr(&v), iov+j*16, 16); e != 0 {
			return done, e
		}
		if pos+v[1] <= off+done {
			pos += v[1]
			continue
		}
		skip := off + done - pos
		c := min(v[1]-skip, n-done)
		var e linux.Errno
		if toUser {
			e = s.copyOut(v[0]+skip, k+uintptr(done), c)
		} else {
			e = s.copyIn(k+uintptr(done), v[0]+skip, c)
		}
		if e != 0 {
			return done, e
		}
		done += c
		pos += v[1]
	}
	return done, 0
}

// finish wakes request r's caller with result and frees r.
func (s *System) finish(r *netReq, result int64) {
	tid := r.tid
	i := (r.hdr.ID & 0xFFFF)
	r.state = reqFree
	s.Sched.FutexRequeue(netSlotKey, 1) // a slot is free
	if tid == 0 {
		return
	}
	t, ok := s.Sched.ByTID(tid)
	if !ok || t.State != sched.Blocked || t.WaitAddr != netReqKey+uint64(i)*4 {
		return // interrupted meanwhile
	}
	s.Sched.Wake(t, result)
}

// netReply is SysNetReply(id, result, data, dataLen, addr, addrLen).
func (s *System) netReply(id, result, data, dataLen, addr, addrLen uint64) uint64 {
	i := id & 0xFFFF
	if i >= maxRequests {
		return neg(linux.EINVAL)
	}
	r := &s.net.reqs[i]
	if r.state != reqTaken || uint32(id) != r.hdr.ID {
		return neg(linux.ENOENT) // canceled, or answered already
	}
	res := int64(result)
	if r.tid == 0 {
		// Its caller was interrupted: nobody takes the answer. A connection
		// accepted meanwhile is closed.
		if res >= 0 && (r.hdr.Op == linux.SYS_accept || r.hdr.Op == linux.SYS_accept4) {
			s.dropSock(int(r.hdr.Args[4]))
		} else {
			s.unreserve(r)
		}
		r.state = reqFree
		return 0
	}
	if res >= 0 {
		res = s.deliverOutput(r, res, data, min(dataLen, netcall.MaxData), addr, min(addrLen, 128))
		if id := r.hdr.Args[4]; res < 0 && (r.hdr.Op == linux.SYS_accept || r.hdr.Op == linux.SYS_accept4) && s.net.socks[id].refs == -1 {
			s.dropSock(int(id)) // made, but its address could not be given: closed
		}
	} else {
		s.unreserve(r)
	}
	if res == -int64(linux.EPIPE) && s.wantsSIGPIPE(r) {
		if t, ok := s.Sched.ByTID(r.tid); ok {
			s.SendThread(t, linux.SIGPIPE, linux.SI_USER)
		}
	}
	s.finish(r, res)
	return 0
}

// wantsSIGPIPE says whether EPIPE from r raises SIGPIPE (not with MSG_NOSIGNAL).
func (s *System) wantsSIGPIPE(r *netReq) bool {
	switch r.hdr.Op {
	case linux.SYS_write, linux.SYS_writev:
		return true
	case linux.SYS_sendto:
		return r.hdr.Args[3]&linux.MSG_NOSIGNAL == 0
	case linux.SYS_sendmsg:
		return r.hdr.Args[2]&linux.MSG_NOSIGNAL == 0
	}
	return false
}

// deliverOutput copies an answer's data and address into the caller's memory
// and turns a new socket into a descriptor; it returns the call's result.
func (s *System) deliverOutput(r *netReq, res int64, data, dataLen, addr, addrLen uint64) int64 {
	var chunk [512]byte
	for off := uint64(0); off < dataLen && r.outKind != ioNone; {
		n := min(uint64(len(chunk)), dataLen-off)
		if e := s.copyIn(kmem.Addr(&chunk[0]), data+off, n); e != 0 {
			return -int64(e)
		}
		if r.outKind == ioFlat {
			if off >= r.outN {
				break
			}
			n = min(n, r.outN-off)
			if e := s.copyOut(r.out+off, kmem.Addr(&chunk[0]), n); e != 0 {
				return -int64(e)
			}
		} else if _, e := s.iovCopy(r.out, r.outN, off, kmem.Addr(&chunk[0]), n, true); e != 0 {
			return -int64(e)
		}
		off += n
	}
	if r.optLenP != 0 {
		n := uint32(dataLen)
		if e := s.copyOut(r.optLenP, kmem.Addr(&n), 4); e != 0 {
			return -int64(e)
		}
	}
	if r.addrLenP != 0 {
		// The full length goes back even when the buffer was shorter, as on
		// Linux; only what fits is copied.
		n := uint32(addrLen)
		c := min(addrLen, uint64(r.hdr.WantAddr))
		if c > 0 {
			if e := s.copyIn(kmem.Addr(&chunk[0]), addr, c); e != 0 {
				return -int64(e)
			}
			if e := s.copyOut(r.addrOut, kmem.Addr(&chunk[0]), c); e != 0 {
				return -int64(e)
			}
		}
		if e := s.copyOut(r.addrLenP, kmem.Addr(&n), 4); e != 0 {
			return -int64(e)
		}
	}
	if r.hdr.Op == linux.SYS_recvmsg && r.msg != 0 {
		zero := [2]uint64{}
		s.copyOut(r.msg+40, kmem.Addr(&zero), 16) // msg_controllen, msg_flags
	}
	if r.hdr.Op == linux.SYS_accept || r.hdr.Op == linux.SYS_accept4 {
		return s.accepted(int(r.hdr.Args[4]), r.hdr.Args[3])
	}
	return res
}

// socket is socket(domain, type, protocol), served here: the kernel picks the
// socket's id and descriptor and tells the service (OpSocket), which takes
// requests in order, so the socket exists there before any call on it.
func (s *System) socket(domain, typ, proto uint64) uint64 {
	base := typ &^ (linux.SOCK_NONBLOCK | linux.SOCK_CLOEXEC)
	switch {
	case !s.net.on:
		return neg(linux.EAFNOSUPPORT) // no network service
	case domain != afInet && domain != afInet6:
		return neg(linux.EAFNOSUPPORT)
	case base != sockStream && base != sockDgram:
		return neg(linux.ESOCKTNOSUPPORT)
	case proto != 0 && !(base == sockStream && proto == 6) && !(base == sockDgram && proto == 17):
		return neg(linux.EPROTONOSUPPORT)
	}
	id, ok := s.reserveSock(uint16(domain))
	if !ok {
		return neg(linux.EMFILE)
	}
	fd, ok := s.allocFD(0)
	if !ok {
		s.net.socks[id] = sock{}
		return neg(linux.EMFILE)
	}
	if !s.notify(netcall.OpSocket, int32(id), domain, typ, proto) {
		s.net.socks[id] = sock{}
		return neg(linux.ENOBUFS)
	}
	s.files[fd] = file{kind: kindSocket, cloexec: typ&linux.SOCK_CLOEXEC != 0,
		status: linux.O_RDWR | uint32(typ)&linux.O_NONBLOCK, val: uint64(id)}
	s.net.socks[id] = sock{refs: 1, family: uint16(domain)}
	return fd
}

// sockName answers getsockname and getpeername from the addresses the service
// reported (SysNetNames).
func (s *System) sockName(nr, n, addr, lenp uint64) uint64 {
	_, id, e := s.sockFD(n)
	if e != 0 {
		return neg(e)
	}
	k := &s.net.socks[id]
	var name [28]byte
	size := uint64(k.nlocal)
	switch {
	case nr == linux.SYS_getpeername:
		if k.npeer == 0 {
			return neg(linux.ENOTCONN)
		}
		name, size = k.peer, uint64(k.npeer)
	case k.nlocal > 0:
		name = k.local
	default:
		// Not bound yet: the family's any address, port 0.
		name[0] = byte(k.family)
		size = 16
		if k.family == afInet6 {
			size = 28
		}
	}
	var have uint32
	if e := s.copyIn(kmem.Addr(&have), lenp, 4); e != 0 {
		return neg(e)
	}
	if int32(have) < 0 {
		return neg(linux.EINVAL)
	}
	if c := min(uint64(have), size); c > 0 {
		if e := s.copyOut(addr, kmem.Addr(&name[0]), c); e != 0 {
			return neg(e)
		}
	}
	full := uint32(size)
	return ret(0, s.copyOut(lenp, kmem.Addr(&full), 4))
}

// netNames is SysNetNames(sock, local, localLen, peer, peerLen).
func (s *System) netNames(id, local, nlocal, peer, npeer uint64) uint64 {
	if id >= netcall.MaxSockets || nlocal > 28 || npeer > 28 {
		return neg(linux.EINVAL)
	}
	k := &s.net.socks[id]
	if k.refs == 0 {
		return 0 // closed meanwhile
	}
	if nlocal > 0 {
		if e := s.copyIn(kmem.Addr(&k.local[0]), local, nlocal); e != 0 {
			return neg(e)
		}
	}
	if npeer > 0 {
		if e := s.copyIn(kmem.Addr(&k.peer[0]), peer, npeer); e != 0 {
			return neg(e)
		}
	}
	k.nlocal, k.npeer = uint8(nlocal), uint8(npeer)
	return 0
}

// reserveSock takes a free socket id, for a new socket or for the connection
// an accept will make (refs -1 until it has a descriptor).
func (s *System) reserveSock(family uint16) (int, bool) {
	for i := range s.net.socks {
		if k := &s.net.socks[i]; k.refs == 0 && !k.closing {
			s.net.socks[i] = sock{refs: -1, family: family}
			return i, true
		}
	}
	return 0, false
}

// accepted gives the socket an accept made a descriptor, with accept4's
// SOCK_NONBLOCK and SOCK_CLOEXEC.
func (s *System) accepted(id int, flags uint64) int64 {
	fd, ok := s.allocFD(0)
	if !ok {
		s.dropSock(id)
		return -int64(linux.EMFILE)
	}
	s.files[fd] = file{kind: kindSocket, cloexec: flags&linux.SOCK_CLOEXEC != 0,
		status: linux.O_RDWR | uint32(flags)&linux.O_NONBLOCK, val: uint64(id)}
	s.net.socks[id].refs = 1
	return int64(fd)
}

// dropSock frees a socket id and closes the socket in the service, and the
// connections queued on it if it is a listener.
func (s *System) dropSock(id int) {
	k := &s.net.socks[id]
	for k.aqLen > 0 {
		s.freeSock(s.popAccept(k))
	}
	s.Sched.FutexRequeue(listenKey(id), 1<<30) // blocked accepts: EBADF now
	s.freeSock(id)
}

// freeSock frees socket id. The id is not reused until the service has taken
// its OpClose: the service goes by ids too, and an id it still knows as the old
// socket must not name a new one (the acceptor reserves ids outside the
// queue's order).
func (s *System) freeSock(id int) {
	s.detachRing(&s.net.socks[id])
	s.net.socks[id] = sock{}
	s.net.socks[id].closing = s.notify(netcall.OpClose, int32(id), 0, 0, 0)
}

// netReady is SysNetReady(buf, n): the sockets' events now.
func (s *System) netReady(buf, n uint64) uint64 {
	if n > 4096 {
		return neg(linux.EINVAL)
	}
	changed := false
	for j := uint64(0); j < n; j++ {
		var rd netcall.Ready
		if e := s.copyIn(kmem.Addr(&rd), buf+j*8, 8); e != 0 {
			return neg(e)
		}
		if rd.Sock < 0 || rd.Sock >= netcall.MaxSockets {
			continue
		}
		// Every report with events is an edge for EPOLLET, as every wake-up
		// is on Linux: a second connection arriving on a listener that had
		// one is news even though it stayed readable. Spurious edges cost a
		// call that says EAGAIN; a missed one would hang the program.
		k := &s.net.socks[rd.Sock]
		if rd.Events != 0 || k.ring != 0 {
			// A socket with rings is reported when its rings moved and
			// the program waits for that (RxBlocked, TxBlocked): always
			// news, and a blocking caller may be parked on it.
			k.seq++
			changed = true
		}
		k.events = rd.Events
		if k.ring != 0 {
			s.Sched.FutexRequeue(ringKey(int(k.ring-1)), 1<<30)
		}
	}
	if changed {
		s.fileReady()
	}
	return 0
}

// closeSock drops a descriptor's reference to its socket; the last one closes
// the socket, and t (nil: nobody) waits for what its send ring holds to go
// out (closeLinger).
func (s *System) closeSock(t *sched.Thread, f *file) {
	k := &s.net.socks[f.val]
	k.refs--
	if k.refs <= 0 {
		slot := int(k.ring) - 1
		s.dropSock(int(f.val))
		if slot >= 0 {
			s.closeLinger(t, slot)
		}
	}
}

// setSockNonblock tells the service a socket's new O_NONBLOCK.
func (s *System) setSockNonblock(f *file) {
	v := uint64(0)
	if f.status&linux.O_NONBLOCK != 0 {
		v = 1
	}
	s.notify(netcall.OpSetNonblock, int32(f.val), v, 0, 0)
}

// netConfig is SysNetConfig(buf, len): the unigo.net.* kernel parameters.
func (s *System) netConfig(buf, n uint64) uint64 {
	c := min(n, uint64(s.net.netParamsN))
	if c == 0 {
		return 0
	}
	return ret(c, s.copyOut(buf, kmem.Addr(&s.net.netParams[0]), c))
}

// SetNetParams records the unigo.net.* kernel parameters for the service.
func (s *System) SetNetParams(p []byte) {
	s.net.netParamsN = copy(s.net.netParams[:], p)
}
