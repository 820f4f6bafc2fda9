package syscalls

import (
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Accept queues (netcall's "Accept queues"): the service accepts a listening
// socket's connections as they come and queues them here, each with its id,
// addresses and rings already set up, so the program's accept takes one with
// no thread switch. A listener the service put in this mode (queued) never has
// its accepts forwarded: an accept on an empty queue says EAGAIN, or waits
// here on a blocking socket.

// listenKeyBase is the futex key a blocking accept waits on for listener id.
const listenKeyBase = 0xFFFF_FF00_0005_0000

func listenKey(id int) uint64 { return listenKeyBase + uint64(id)*4 }

func isAcceptWait(t *sched.Thread) bool {
	return t.WaitAddr >= listenKeyBase && t.WaitAddr < listenKeyBase+netcall.MaxSockets*4
}

// listener is the open socket id, or nil.
func (s *System) listener(id uint64) *sock {
	if id >= netcall.MaxSockets || s.net.socks[id].refs <= 0 {
		return nil
	}
	return &s.net.socks[id]
}

// netAcceptQueue is SysNetAcceptQueue(listener).
func (s *System) netAcceptQueue(id uint64) uint64 {
	k := s.listener(id)
	if k == nil {
		return neg(linux.EBADF)
	}
	k.queued = true
	return 0
}

// netAcceptReserve is SysNetAcceptReserve(listener).
func (s *System) netAcceptReserve(id uint64) uint64 {
	k := s.listener(id)
	if k == nil || !k.queued {
		return neg(linux.EBADF)
	}
	n, ok := s.reserveSock(k.family)
	if !ok {
		return neg(linux.EMFILE)
	}
	return uint64(n)
}

// netAcceptPush is SysNetAcceptPush(listener, sock).
func (s *System) netAcceptPush(id, n uint64) uint64 {
	if n >= netcall.MaxSockets || s.net.socks[n].refs != -1 {
		return neg(linux.EINVAL)
	}
	k := s.listener(id)
	if k == nil || !k.queued {
		s.dropSock(int(n))
		return neg(linux.EBADF)
	}
	if k.aqLen >= netcall.AcceptQueueMax {
		return neg(linux.EAGAIN)
	}
	s.net.socks[n].aqNext = 0
	if k.aqLen == 0 {
		k.aqHead = uint16(n + 1)
	} else {
		s.net.socks[k.aqTail-1].aqNext = uint16(n + 1)
	}
	k.aqTail = uint16(n + 1)
	k.aqLen++
	k.seq++ // an edge for epoll
	s.Sched.FutexRequeue(listenKey(int(id)), 1<<30)
	s.fileReady()
	return 0
}

// popAccept takes the first connection queued on listener k.
func (s *System) popAccept(k *sock) int {
	n := int(k.aqHead - 1)
	k.aqHead = s.net.socks[n].aqNext
	k.aqLen--
	return n
}

// acceptQueued is accept4(fd, addr, addrlen, flags) on a queued listener.
func (s *System) acceptQueued(t *sched.Thread, f *file, sk int32, addr, lenp, flags uint64) uint64 {
	if flags&^(linux.SOCK_NONBLOCK|linux.SOCK_CLOEXEC) != 0 {
		return neg(linux.EINVAL)
	}
	var have uint32
	if addr != 0 {
		if e := s.copyIn(kmem.Addr(&have), lenp, 4); e != 0 {
			return neg(e)
		}
		if int32(have) < 0 {
			return neg(linux.EINVAL)
		}
		// Check before taking a connection, so a bad pointer loses none.
		if e := s.Mem.Prepare(addr, uint64(min(have, 28)), mm.Write); e != 0 {
			return neg(e)
		}
	}
	k := &s.net.socks[sk]
	if k.aqLen == 0 {
		if f.status&linux.O_NONBLOCK != 0 {
			return neg(linux.EAGAIN)
		}
		return s.parkToRestart(t, listenKey(int(sk))) // again when a connection comes
	}
	n := s.popAccept(k)
	c := &s.net.socks[n]
	if addr != 0 {
		if m := min(uint64(have), uint64(c.npeer)); m > 0 {
			if e := s.copyOut(addr, kmem.Addr(&c.peer[0]), m); e != 0 {
				s.dropSock(n)
				return neg(e)
			}
		}
		full := uint32(c.npeer)
		if e := s.copyOut(lenp, kmem.Addr(&full), 4); e != 0 {
			s.dropSock(n)
			return neg(e)
		}
	}
	fd := s.accepted(n, flags)
	if int64(fd) >= 0 && flags&linux.SOCK_NONBLOCK != 0 {
		s.notify(netcall.OpSetNonblock, int32(n), 1, 0, 0)
	}
	return uint64(fd)
}
