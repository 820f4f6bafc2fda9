package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// epoll and eventfd, as the Go runtime's netpoller uses them: one epoll set,
// an eventfd registered level-triggered to interrupt a blocking epoll_wait, and
// (with networking) sockets registered edge-triggered.
//
// Readiness is computed from each file's state when asked. A thread that waits
// (epoll_wait with a timeout, a blocking eventfd read) sits on the scheduler's
// file-wait queue; whatever makes a file ready calls fileReady, which finishes
// every waiting call that now has something to return and writes its result
// into the waiter's saved registers (and events into its memory: there is one
// address space).

const (
	maxEpolls    = 8
	maxInterests = 2048
	// eventfdMax is the largest count an eventfd holds.
	eventfdMax = 0xFFFF_FFFF_FFFF_FFFE
)

type interest struct {
	fd     int32
	events uint32
	data   [8]byte
	seen   uint32 // the file's seq when this interest last reported it (EPOLLET)
	_      uint32
}

type epollSet struct {
	used  bool
	n     int
	items [maxInterests]interest
}

func (s *System) epollCreate(nr, arg uint64) uint64 {
	if nr == linux.SYS_epoll_create && int32(arg) <= 0 {
		return neg(linux.EINVAL)
	}
	if nr == linux.SYS_epoll_create1 && arg&^linux.O_CLOEXEC != 0 {
		return neg(linux.EINVAL)
	}
	set := -1
	for i := range s.epolls {
		if !s.epolls[i].used {
			set = i
			break
		}
	}
	if set < 0 {
		return neg(linux.EMFILE)
	}
	fd, ok := s.allocFD(0)
	if !ok {
		return neg(linux.EMFILE)
	}
	s.epolls[set].used = true
	s.epolls[set].n = 0
	s.files[fd] = file{kind: kindEpoll, cloexec: arg&linux.O_CLOEXEC != 0, status: linux.O_RDWR, val: uint64(set)}
	return fd
}

// sharedEpoll says whether another descriptor (a dup) still refers to the set
// that descriptor n names.
func (s *System) sharedEpoll(n uint64) bool {
	set := s.files[n].val
	for i := range s.files {
		if uint64(i) != n && s.files[i].kind == kindEpoll && s.files[i].val == set {
			return true
		}
	}
	return false
}

// forget drops descriptor fd from every interest set (closing a file removes it
// from epoll sets, as it does on Linux when the last reference goes).
func (s *System) forget(fd int32) {
	for i := range s.epolls {
		e := &s.epolls[i]
		if !e.used {
			continue
		}
		for j := 0; j < e.n; j++ {
			if e.items[j].fd == fd {
				e.items[j] = e.items[e.n-1]
				e.n--
				j--
			}
		}
	}
}

func (s *System) epollSetOf(epfd uint64) (*epollSet, linux.Errno) {
	f, ok := s.fd(epfd)
	if !ok {
		return nil, linux.EBADF
	}
	if f.kind != kindEpoll {
		return nil, linux.EINVAL
	}
	return &s.epolls[f.val], 0
}

func (s *System) epollCtl(epfd, op, fd, evp uint64) uint64 {
	set, e := s.epollSetOf(epfd)
	if e != 0 {
		return neg(e)
	}
	target, ok := s.fd(fd)
	if !ok {
		return neg(linux.EBADF)
	}
	if fd == epfd || target.kind == kindEpoll {
		return neg(linux.EINVAL) // nested sets are not supported
	}
	var ev linux.EpollEvent
	if op != linux.EPOLL_CTL_DEL {
		if e := s.copyIn(kmem.Addr(&ev), evp, 12); e != 0 {
			return neg(e)
		}
	}
	at := -1
	for i := 0; i < set.n; i++ {
		if set.items[i].fd == int32(fd) {
			at = i
			break
		}
	}
	switch op {
	case linux.EPOLL_CTL_ADD:
		if at >= 0 {
			return neg(linux.EEXIST)
		}
		if set.n == maxInterests {
			return neg(linux.ENOSPC)
		}
		at = set.n
		set.n++
	case linux.EPOLL_CTL_MOD:
		if at < 0 {
			return neg(linux.ENOENT)
		}
	case linux.EPOLL_CTL_DEL:
		if at < 0 {
			return neg(linux.ENOENT)
		}
		set.items[at] = set.items[set.n-1]
		set.n--
		return 0
	default:
		return neg(linux.EINVAL)
	}
	// A file already ready when added (or modified) is reported once, even
	// edge-triggered.
	set.items[at] = interest{fd: int32(fd), events: ev.Events, data: ev.Data, seen: s.edges(target) - 1}
	s.fileReady()
	return 0
}

// readiness is the epoll event mask a file has now.
func (s *System) readiness(f *file) uint32 {
	switch f.kind {
	case kindEventfd:
		r := uint32(0)
		if f.val > 0 {
			r |= linux.EPOLLIN
		}
		if f.val < eventfdMax {
			r |= linux.EPOLLOUT
		}
		return r
	case kindConsoleIn:
		return linux.EPOLLIN
	case kindConsoleOut:
		return linux.EPOLLOUT
	case kindNull, kindMemFile:
		return linux.EPOLLIN | linux.EPOLLOUT
	case kindSocket:
		k := &s.net.socks[f.val]
		switch {
		case k.ring != 0:
			return s.ringEvents(k)
		case k.queued && k.aqLen > 0:
			return k.events | linux.EPOLLIN
		}
		return k.events
	}
	return 0
}

// edges counts the times f became ready again: for EPOLLET, each is reported
// once. A socket's count is its own, shared by its descriptors.
func (s *System) edges(f *file) uint32 {
	if f.kind == kindSocket {
		return s.net.socks[f.val].seq
	}
	return f.seq
}

// collect writes up to max ready events of set to user memory at buf and returns
// how many.
func (s *System) collect(set *epollSet, buf uint64, max int) (int, linux.Errno) {
	n := 0
	for i := 0; i < set.n && n < max; i++ {
		it := &set.items[i]
		f := &s.files[it.fd]
		ev := s.readiness(f) & (it.events | linux.EPOLLERR | linux.EPOLLHUP)
		if ev == 0 {
			continue
		}
		if it.events&linux.EPOLLET != 0 {
			if it.seen == s.edges(f) {
				continue
			}
			it.seen = s.edges(f)
		}
		if it.events&linux.EPOLLONESHOT != 0 {
			it.events = 0
		}
		out := linux.EpollEvent{Events: ev, Data: it.data}
		if e := s.copyOut(buf+uint64(n)*12, kmem.Addr(&out), 12); e != 0 {
			return n, e
		}
		n++
	}
	return n, 0
}

func (s *System) epollWait(t *sched.Thread, epfd, buf, max uint64, timeoutMs int64) uint64 {
	var deadline int64
	if timeoutMs > 0 {
		deadline = s.Clock.Now() + timeoutMs*1_000_000
	}
	return s.epollWaitUntil(t, epfd, buf, max, timeoutMs == 0, deadline)
}

func (s *System) epollWait2(t *sched.Thread, epfd, buf, max, timeout uint64) uint64 {
	if timeout == 0 {
		return s.epollWaitUntil(t, epfd, buf, max, false, 0)
	}
	d, e := s.timespec(timeout)
	if e != 0 {
		return neg(e)
	}
	return s.epollWaitUntil(t, epfd, buf, max, d == 0, s.Clock.Now()+d)
}

func (s *System) epollWaitUntil(t *sched.Thread, epfd, buf, max uint64, poll bool, deadline int64) uint64 {
	set, e := s.epollSetOf(epfd)
	if e != 0 {
		return neg(e)
	}
	if int64(max) <= 0 || max > 1<<20 {
		return neg(linux.EINVAL)
	}
	if e := s.Mem.Prepare(buf, max*12, mm.Write); e != 0 {
		return neg(e)
	}
	n, e := s.collect(set, buf, int(max))
	if e != 0 {
		return neg(e)
	}
	if n > 0 || poll {
		return uint64(n)
	}
	t.WaitFD = int32(epfd)
	s.Sched.Block(t, sched.WaitFile, buf, uint32(max), deadline)
	return 0
}

func (s *System) eventfd(initval, flags uint64) uint64 {
	if flags&^(linux.EFD_SEMAPHORE|linux.EFD_NONBLOCK|linux.EFD_CLOEXEC) != 0 || initval > 0xFFFFFFFF {
		return neg(linux.EINVAL)
	}
	fd, ok := s.allocFD(0)
	if !ok {
		return neg(linux.EMFILE)
	}
	s.files[fd] = file{kind: kindEventfd, cloexec: flags&linux.EFD_CLOEXEC != 0, sem: flags&linux.EFD_SEMAPHORE != 0,
		status: linux.O_RDWR | uint32(flags)&linux.O_NONBLOCK, val: initval}
	return fd
}

// eventfdTake returns what a read of the eventfd gets, and takes it.
func eventfdTake(f *file) uint64 {
	v := f.val
	if f.sem {
		v = 1
	}
	f.val -= v
	return v
}

func (s *System) eventfdRead(t *sched.Thread, n uint64, f *file, buf, count uint64) uint64 {
	if count < 8 {
		return neg(linux.EINVAL)
	}
	if e := s.Mem.Prepare(buf, 8, mm.Write); e != 0 {
		return neg(e)
	}
	if f.val == 0 {
		if f.status&linux.O_NONBLOCK != 0 {
			return neg(linux.EAGAIN)
		}
		t.WaitFD = int32(n)
		s.Sched.Block(t, sched.WaitFile, buf, 8, 0)
		return 0
	}
	v := eventfdTake(f)
	return ret(8, s.copyOut(buf, kmem.Addr(&v), 8))
}

func (s *System) eventfdWrite(f *file, buf, count uint64) uint64 {
	if count < 8 {
		return neg(linux.EINVAL)
	}
	var v uint64
	if e := s.copyIn(kmem.Addr(&v), buf, 8); e != 0 {
		return neg(e)
	}
	if v == ^uint64(0) {
		return neg(linux.EINVAL)
	}
	if v > eventfdMax-f.val {
		return neg(linux.EAGAIN) // a blocking writer would wait for a read; none do here
	}
	if v > 0 {
		f.val += v
		f.seq++
		s.fileReady()
	}
	return 8
}

// fileReady finishes every waiting call that a readiness change has satisfied:
// epoll_wait calls with events to report, eventfd reads with a count to take.
func (s *System) fileReady() {
	t, ok := s.Sched.FileWaiters()
	for ok {
		next, more := s.Sched.NextFileWaiter(t)
		f := &s.files[t.WaitFD]
		switch f.kind {
		case kindEpoll:
			n, e := s.collect(&s.epolls[f.val], t.WaitAddr, int(t.WaitBits))
			switch {
			case e != 0:
				s.Sched.Wake(t, -int64(e))
			case n > 0:
				s.Sched.Wake(t, int64(n))
			}
		case kindEventfd:
			if f.val > 0 {
				v := eventfdTake(f)
				if e := s.copyOut(t.WaitAddr, kmem.Addr(&v), 8); e != 0 {
					s.Sched.Wake(t, -int64(e))
				} else {
					s.Sched.Wake(t, 8)
				}
			}
		default:
			// The file was closed under the waiter.
			s.Sched.Wake(t, -int64(linux.EBADF))
		}
		t, ok = next, more
	}
}
