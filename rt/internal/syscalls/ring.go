package syscalls

import (
	"sync/atomic"

	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// The hot path: a connected stream socket's reads and writes, served here from
// its rings (netcall's "Rings") with no thread switch. The service fills the
// receive ring from the stack and drains the send ring into it; the kernel
// copies between the rings, which it reaches through the direct map, and the
// caller's buffers, which it reaches through copyIn and copyOut (a bad pointer
// is EFAULT and the ring keeps its bytes). The kernel trusts nothing in the
// header: every offset is taken modulo the ring's size (its own record of it,
// not the header's), and a ring whose indices are further apart than its size
// is reported as EIO.

const (
	// maxRings bounds the sockets with rings; ringBudget the share of memory
	// they may take (1/ringBudget of the machine), of which large rings
	// (516 KiB a socket) take at most half and small ones (132 KiB) the
	// rest: in 256 MiB, about 63 sockets with large rings and 250 with small.
	// A socket without rings has its calls forwarded, as before.
	maxRings   = 1024
	ringBudget = 4
	// ringKeyBase is the futex key a blocking caller waits on for ring i.
	ringKeyBase = 0xFFFF_FF00_0003_0000
)

// Ring slot states.
const (
	ringUnused   = iota // free (its memory, once allocated, is kept)
	ringAttached        // serves socket sock
	ringClosing         // its socket is closed; the service still sends what it holds
)

// ring is one slot of ring memory.
type ring struct {
	state  uint8
	poked  bool  // an OpRingPoke for it is queued
	closer int32 // the thread whose close waits for the send ring (closeLinger)
	sock   int32
	phys   uint64 // the kernel reaches it at DM+phys
	user   uint64 // the service's mapping
	size   uint32 // each ring's size (netcall.RingSizeLarge or RingSizeSmall)
}

func (s *System) ringHeader(r *ring) *netcall.RingHeader {
	return kmem.At[netcall.RingHeader](s.Mem.PT.DM + uintptr(r.phys))
}

func ringKey(slot int) uint64 { return ringKeyBase + uint64(slot)*4 }

// ringPages is how many pages a socket's rings of size bytes take.
func ringPages(size uint32) uint64 { return uint64(netcall.RingBytes(size)) >> mm.PageShift }

// isRingWait says whether t waits on a ring (a blocking read or write).
func isRingWait(t *sched.Thread) bool {
	return t.WaitAddr >= ringKeyBase && t.WaitAddr < ringKeyBase+maxRings*4
}

// netRing is SysNetRing(sock, *slot).
func (s *System) netRing(id, slotp uint64) uint64 {
	if id >= netcall.MaxSockets {
		return neg(linux.EINVAL)
	}
	k := &s.net.socks[id]
	switch {
	case k.refs == 0:
		return neg(linux.EBADF)
	case k.ring != 0:
		return neg(linux.EEXIST)
	case s.dataInFlight(int32(id)):
		return neg(linux.EBUSY)
	}
	if e := s.Mem.Prepare(slotp, 4, mm.Write); e != 0 {
		return neg(e)
	}
	// A free slot whose memory is there, large rings first; else one without.
	// Large memory is never given back, so once small rings exist no new
	// slot would get large ones.
	slot, rank := -1, 0
	for i := range s.net.rings {
		r := &s.net.rings[i]
		if r.state != ringUnused {
			continue
		}
		k := 1 // no memory yet
		switch {
		case r.phys != 0 && r.size == netcall.RingSizeLarge:
			k = 3
		case r.phys != 0:
			k = 2
		}
		if k > rank {
			slot, rank = i, k
		}
		if k == 3 {
			break
		}
	}
	if slot < 0 {
		return neg(linux.ENOMEM)
	}
	r := &s.net.rings[slot]
	if r.phys == 0 {
		total := s.Mem.Frames.Total()
		size, large := uint32(netcall.RingSizeLarge), true
		if (s.net.largeRingPages+ringPages(size))*2*ringBudget > total {
			size, large = netcall.RingSizeSmall, false
		}
		pages := ringPages(size)
		if (s.net.ringPages+pages)*ringBudget > total {
			return neg(linux.ENOMEM)
		}
		pfn, ok := s.Mem.Frames.Alloc(pages, 1, s.Mem.Frames.Floor())
		if !ok {
			return neg(linux.ENOMEM)
		}
		a, e := s.Mem.MapDevice(pfn<<mm.PageShift, uint64(netcall.RingBytes(size)), false)
		if e != 0 {
			s.Mem.Frames.Release(pfn, pages)
			return neg(e)
		}
		r.phys, r.user, r.size = pfn<<mm.PageShift, a, size
		s.net.ringPages += pages
		if large {
			s.net.largeRingPages += pages
		}
	}
	kmem.Zero(s.Mem.PT.DM+uintptr(r.phys), netcall.RingHeaderSize)
	s.ringHeader(r).Size = r.size
	// Until the program reads, any data is news to it.
	s.ringHeader(r).RxBlocked = 1
	r.state, r.sock, r.poked = ringAttached, int32(id), false
	k.ring = uint16(slot + 1)
	v := uint32(slot)
	if e := s.copyOut(slotp, kmem.Addr(&v), 4); e != 0 {
		return neg(e)
	}
	return r.user
}

// dataInFlight says whether a forwarded read or write on socket id is queued
// or being done: rings must not start under it, or bytes could pass each other.
func (s *System) dataInFlight(id int32) bool {
	for i := range s.net.reqs {
		r := &s.net.reqs[i]
		if r.state == reqFree || r.hdr.Sock != id {
			continue
		}
		switch r.hdr.Op {
		case linux.SYS_read, linux.SYS_readv, linux.SYS_recvfrom, linux.SYS_recvmsg,
			linux.SYS_write, linux.SYS_writev, linux.SYS_sendto, linux.SYS_sendmsg:
			return true
		}
	}
	return false
}

// netRingFree is SysNetRingFree(slot).
func (s *System) netRingFree(slot uint64) uint64 {
	if slot >= maxRings {
		return neg(linux.EINVAL)
	}
	r := &s.net.rings[slot]
	switch r.state {
	case ringClosing:
		r.state = ringUnused
		if t, ok := s.Sched.ByTID(r.closer); ok && r.closer != 0 && t.State == sched.Blocked && t.WaitAddr == lingerKey(int(slot)) {
			s.Sched.Wake(t, 0) // its close returns
		}
		r.closer = 0
		return 0
	case ringAttached:
		return neg(linux.EBUSY)
	}
	return neg(linux.EINVAL)
}

// detachRing ends socket k's use of its rings (the socket is closed): the
// service sends what the send ring holds, then frees them.
func (s *System) detachRing(k *sock) {
	if k.ring == 0 {
		return
	}
	slot := int(k.ring - 1)
	r := &s.net.rings[slot]
	r.state = ringClosing
	k.ring = 0
	s.Sched.FutexRequeue(ringKey(slot), 1<<30) // their calls now say EBADF
}

// pokeService tells the service the kernel moved in ring slot, if it asked
// (want, the header's RxWant or TxWant). At most one poke per ring is queued.
func (s *System) pokeService(slot int, want *uint32) {
	r := &s.net.rings[slot]
	if atomic.LoadUint32(want) == 0 || r.poked {
		return
	}
	if !s.notify(netcall.OpRingPoke, r.sock, uint64(slot), 0, 0) {
		return // the queue is full: the flag stays, the next move pokes
	}
	atomic.StoreUint32(want, 0)
	r.poked = true
}

// ringEvents is the readiness of a socket with rings: EPOLLIN, EPOLLOUT and
// EPOLLRDHUP from the rings, the rest as the service reported.
func (s *System) ringEvents(k *sock) uint32 {
	r := &s.net.rings[k.ring-1]
	h := s.ringHeader(r)
	ev := k.events &^ (linux.EPOLLIN | linux.EPOLLOUT)
	rxEOF, rxErr, txErr := atomic.LoadUint32(&h.RxEOF), atomic.LoadUint32(&h.RxErr), atomic.LoadUint32(&h.TxErr)
	if atomic.LoadUint32(&h.RxTail) != h.RxHead || rxEOF != 0 || rxErr != 0 {
		ev |= linux.EPOLLIN
	}
	if rxEOF != 0 {
		ev |= linux.EPOLLRDHUP
	}
	if h.TxTail-atomic.LoadUint32(&h.TxHead) < r.size || txErr != 0 {
		ev |= linux.EPOLLOUT
	}
	return ev
}

// ringCall serves a read or write on socket sk, which has rings; done is false
// for the calls the rings do not serve (they are forwarded).
func (s *System) ringCall(t *sched.Thread, f *file, sk int32, nr, a1, a2, a3, a4, a5 uint64) (res uint64, done bool) {
	nonblock := f.status&linux.O_NONBLOCK != 0
	switch nr {
	case linux.SYS_read:
		return s.ringRecv(t, sk, nonblock, ioFlat, a1, a2, 0, 0), true
	case linux.SYS_readv:
		return s.ringRecv(t, sk, nonblock, ioIov, a1, a2, 0, 0), true
	case linux.SYS_recvfrom:
		return s.ringRecv(t, sk, nonblock, ioFlat, a1, a2, a3, a5), true
	case linux.SYS_recvmsg:
		var m linux.Msghdr
		if e := s.copyIn(kmem.Addr(&m), a1, 56); e != 0 {
			return neg(e), true
		}
		r := s.ringRecv(t, sk, nonblock, ioIov, m.Iov, m.Iovlen, a2, 0)
		if int64(r) >= 0 {
			// A stream has no source address, control data or flags.
			var zero [2]uint64
			if e := s.copyOut(a1+40, kmem.Addr(&zero), 16); e != 0 {
				return neg(e), true
			}
			if m.Name != 0 {
				if e := s.copyOut(a1+8, kmem.Addr(&zero), 4); e != 0 {
					return neg(e), true
				}
			}
		}
		return r, true
	case linux.SYS_write:
		return s.ringSend(t, sk, nonblock, ioFlat, a1, a2, 0), true
	case linux.SYS_writev:
		return s.ringSend(t, sk, nonblock, ioIov, a1, a2, 0), true
	case linux.SYS_sendto:
		// The destination, if any, is ignored on a connected stream, as on
		// Linux.
		return s.ringSend(t, sk, nonblock, ioFlat, a1, a2, a3), true
	case linux.SYS_sendmsg:
		var m linux.Msghdr
		if e := s.copyIn(kmem.Addr(&m), a1, 56); e != 0 {
			return neg(e), true
		}
		if m.Controllen != 0 {
			return neg(linux.EOPNOTSUPP), true // no ancillary data
		}
		return s.ringSend(t, sk, nonblock, ioIov, m.Iov, m.Iovlen, a2), true
	}
	return 0, false
}

// Receive flags the rings handle (others are ignored, as Linux ignores
// unknown ones).
const (
	msgOOB      = 0x1
	msgPeek     = 0x2
	msgTrunc    = 0x20
	msgWaitAll  = 0x100
	msgErrQueue = 0x2000
)

// ringRecv copies from the receive ring into a buffer or iovec array. lenp,
// when not 0, is recvfrom's socklen_t for a source address: a stream has
// none, so it gets 0.
func (s *System) ringRecv(t *sched.Thread, sk int32, nonblock bool, kind uint8, buf, n, flags, lenp uint64) uint64 {
	switch {
	case flags&msgOOB != 0:
		return neg(linux.EINVAL)
	case flags&msgErrQueue != 0:
		return neg(linux.EAGAIN)
	}
	size, e := s.ioSize(kind, buf, n, mm.Write)
	if e != 0 {
		return neg(e)
	}
	nonblock = nonblock || flags&linux.MSG_DONTWAIT != 0
	peek := flags&msgPeek != 0
	slot := int(s.net.socks[sk].ring - 1)
	r := &s.net.rings[slot]
	h := s.ringHeader(r)
	head := h.RxHead
	avail := atomic.LoadUint32(&h.RxTail) - head
	// need: MSG_WAITALL on a blocking socket waits for the whole request (as
	// much as a ring holds); otherwise any byte will do.
	need := uint32(min(size, 1))
	if flags&msgWaitAll != 0 && !nonblock && !peek {
		need = uint32(min(size, uint64(r.size)))
	}
	if avail < need && atomic.LoadUint32(&h.RxEOF) == 0 && atomic.LoadUint32(&h.RxErr) == 0 {
		atomic.StoreUint32(&h.RxBlocked, 1)
		avail = atomic.LoadUint32(&h.RxTail) - head // the service may have just produced
		if avail < need && atomic.LoadUint32(&h.RxEOF) == 0 && atomic.LoadUint32(&h.RxErr) == 0 {
			if nonblock {
				return neg(linux.EAGAIN)
			}
			return s.ringWait(t, slot)
		}
	}
	if avail > r.size {
		return neg(linux.EIO)
	}
	if avail == 0 && size > 0 {
		if err := atomic.SwapUint32(&h.RxErr, 0); err != 0 {
			return neg(linux.Errno(err)) // reported once; then end of file
		}
		return 0 // end of file
	}
	c := uint32(min(size, uint64(avail)))
	if flags&msgTrunc == 0 {
		if e := s.ringCopy(h, r.size, netcall.RingHeaderSize, head, c, kind, buf, n, true); e != 0 {
			return neg(e)
		}
	}
	if lenp != 0 {
		var zero uint32
		if e := s.copyOut(lenp, kmem.Addr(&zero), 4); e != 0 {
			return neg(e)
		}
	}
	if !peek && c > 0 {
		atomic.StoreUint32(&h.RxHead, head+c)
		if c == avail {
			atomic.StoreUint32(&h.RxBlocked, 1) // empty: the next byte is an edge
		}
		s.pokeService(slot, &h.RxWant)
	}
	return uint64(c)
}

// ringSend copies a buffer or iovec array into the send ring. A write larger
// than the room there is cut short (a partial write), on blocking sockets too.
func (s *System) ringSend(t *sched.Thread, sk int32, nonblock bool, kind uint8, buf, n, flags uint64) uint64 {
	if flags&msgOOB != 0 {
		return neg(linux.EOPNOTSUPP)
	}
	size, e := s.ioSize(kind, buf, n, mm.Read)
	if e != 0 {
		return neg(e)
	}
	nonblock = nonblock || flags&linux.MSG_DONTWAIT != 0
	slot := int(s.net.socks[sk].ring - 1)
	r := &s.net.rings[slot]
	h := s.ringHeader(r)
	if err := linux.Errno(atomic.LoadUint32(&h.TxErr)); err != 0 {
		if err != linux.EPIPE {
			atomic.StoreUint32(&h.TxErr, uint32(linux.EPIPE)) // reported once, as Linux does a reset
		}
		if err == linux.EPIPE && flags&linux.MSG_NOSIGNAL == 0 {
			s.SendThread(t, linux.SIGPIPE, linux.SI_USER)
		}
		return neg(err)
	}
	if size == 0 {
		return 0
	}
	tail := h.TxTail
	used := tail - atomic.LoadUint32(&h.TxHead)
	if used > r.size {
		return neg(linux.EIO)
	}
	if used == r.size {
		atomic.StoreUint32(&h.TxBlocked, 1)
		used = tail - atomic.LoadUint32(&h.TxHead) // the service may have just consumed
		if used == r.size {
			if nonblock {
				return neg(linux.EAGAIN)
			}
			return s.ringWait(t, slot)
		}
	}
	room := r.size - used
	c := uint32(min(size, uint64(room)))
	if e := s.ringCopy(h, r.size, netcall.RingHeaderSize+uintptr(r.size), tail, c, kind, buf, n, false); e != 0 {
		return neg(e)
	}
	atomic.StoreUint32(&h.TxTail, tail+c)
	if c == room {
		atomic.StoreUint32(&h.TxBlocked, 1) // full: room is news
	}
	s.pokeService(slot, &h.TxWant)
	return uint64(c)
}

// ringCopy copies c bytes between the ring of size bytes at byte base of the
// rings' memory, from index at, and the caller's buffer or iovec array
// (toUser: ring to caller). The ring wraps; the caller's side goes on from
// where it stopped.
func (s *System) ringCopy(h *netcall.RingHeader, size uint32, base uintptr, at, c uint32, kind uint8, buf, n uint64, toUser bool) linux.Errno {
	mem := kmem.Addr(h) + base
	for done := uint32(0); done < c; {
		off := (at + done) & (size - 1)
		piece := min(c-done, size-off)
		k := mem + uintptr(off)
		var e linux.Errno
		switch {
		case kind == ioFlat && toUser:
			e = s.copyOut(buf+uint64(done), k, uint64(piece))
		case kind == ioFlat:
			e = s.copyIn(k, buf+uint64(done), uint64(piece))
		default:
			var got uint64
			if got, e = s.iovCopy(buf, n, uint64(done), k, uint64(piece), toUser); e == 0 && got != uint64(piece) {
				e = linux.EFAULT
			}
		}
		if e != 0 {
			return e
		}
		done += piece
	}
	return 0
}

// ringWait blocks a blocking caller until the service moves in ring slot (or
// the socket closes), then runs its call again from the start: nothing was
// taken or given, so the call is whole when it restarts.
func (s *System) ringWait(t *sched.Thread, slot int) uint64 {
	return s.parkToRestart(t, ringKey(slot))
}

// parkToRestart parks t, in a system call that has not done anything yet, on
// the futex key until FutexRequeue wakes it (with its registers kept), and sets
// its registers to make the same call again then: back over the SYSCALL
// instruction, the call's number in RAX (the return value). Its signals go
// through interruptRestart.
func (s *System) parkToRestart(t *sched.Thread, key uint64) uint64 {
	f := kmem.At[sched.Frame](s.callFrame)
	f.RIP -= 2 // SYSCALL is two bytes
	nr := f.RAX
	s.Sched.Block(t, sched.WaitFutex, key, linux.FUTEX_BITSET_ALL, 0)
	return nr
}

// Close with bytes in the send ring. The last close of a socket whose send
// ring still holds bytes waits (up to closeFlushMax) until the service has
// handed them to the stack and given the ring back. Linux's close returns at
// once and its socket sends on; here the wait is what lets the service run
// when the closing thread holds the only P (GOMAXPROCS=1): a program that
// writes, closes and exits would otherwise end the VM with its last bytes
// unsent. Waiting costs the close a thread switch, not the writes.
const (
	closeFlushMax = 1_000_000_000 // ns
	lingerKeyBase = 0xFFFF_FF00_0004_0000
)

func lingerKey(slot int) uint64 { return lingerKeyBase + uint64(slot)*4 }

func isLingerWait(t *sched.Thread) bool {
	return t.Wait == sched.WaitSleep && t.WaitAddr >= lingerKeyBase && t.WaitAddr < lingerKeyBase+maxRings*4
}

// closeLinger makes t, which just closed the socket that had ring slot,
// wait for its send ring to drain (netRingFree wakes it), if it holds bytes.
func (s *System) closeLinger(t *sched.Thread, slot int) {
	r := &s.net.rings[slot]
	if t == nil || r.state != ringClosing || !s.txPending(r) {
		return
	}
	r.closer = t.TID
	s.Sched.Block(t, sched.WaitSleep, lingerKey(slot), 0, s.Clock.Now()+closeFlushMax)
}

// txPending says whether ring r's send ring holds bytes the stack can still
// take.
func (s *System) txPending(r *ring) bool {
	h := s.ringHeader(r)
	return atomic.LoadUint32(&h.TxHead) != h.TxTail && atomic.LoadUint32(&h.TxErr) == 0
}

// Exit with bytes in the rings. On Linux a process's socket buffers outlive
// it: what it wrote before exiting still goes out. Here the VM ends with the
// process, so exit_group first lets the service hand what the send rings hold
// to the stack (and the stack send it), and the hypervisor take the frames
// already in the network device's transmit queue (SysQueueWatch): the calling
// thread waits, the others run on, until no ring holds unsent bytes and no
// watched queue unused frames, or exitFlushMax has passed. With
// GOMAXPROCS=1 the exiting thread holds the only P and the service cannot
// run: then the wait only delays the exit, which is why close waits too
// (closeLinger) and this bound is short.
const (
	exitFlushMax = 500_000_000 // ns
	exitPoll     = 5_000_000   // how often the timer path looks (ns)
	exitKey      = 0xFFFF_FF00_0000_0200
)

// exitGroup is the program's exit_group(status).
func (s *System) exitGroup(t *sched.Thread, status int) uint64 {
	if !s.outputPending() {
		s.ExitGroup(status)
	}
	if s.exitAt == 0 {
		s.exitAt = s.Clock.Now() + exitFlushMax
		s.exitStatus = status
	}
	// Nobody wakes it: RunTimers ends the process while it waits.
	s.Sched.Block(t, sched.WaitFutex, exitKey, linux.FUTEX_BITSET_ALL, 0)
	return 0
}

// outputPending says whether an exit still waits for output: bytes in a send
// ring for the stack, or frames in a watched device queue (SysQueueWatch) the
// hypervisor has not taken yet.
func (s *System) outputPending() bool {
	return s.ringsPending() || s.queuesPending()
}

// ringsPending says whether a send ring still holds bytes for the stack.
func (s *System) ringsPending() bool {
	for i := range s.net.rings {
		if r := &s.net.rings[i]; r.state != ringUnused && s.txPending(r) {
			return true
		}
	}
	return false
}

// interruptRestart handles a signal for a thread parked to run its call again
// (ringWait, or a wait for a request slot): as on Linux, the call restarts
// after the handler if the handler has SA_RESTART, and fails with EINTR if
// not.
func (s *System) interruptRestart(t *sched.Thread, sig int) {
	if s.actions[sig].Flags&linux.SA_RESTART != 0 && s.actions[sig].Handler > linux.SIG_IGN {
		rax := t.Frame.RAX
		s.Sched.Wake(t, 0)
		t.Frame.RAX = rax
		return
	}
	t.Frame.RIP += 2 // past SYSCALL again: the call ends here
	s.Sched.Wake(t, -int64(linux.EINTR))
}
