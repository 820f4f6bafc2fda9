package syscalls

import (
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
)

// Kernel event descriptors (SysEventFD): how drivers wait for their device's
// interrupts without a thread of their own. Each descriptor watches one
// counter the kernel keeps (a device's interrupts); it is readable while the
// counter has moved since the descriptor's last read, and a read takes the
// counter's value. It never blocks: a read with nothing new is EAGAIN.
// Registered with Go's netpoller (edge-triggered, as it registers every
// descriptor), a goroutine waiting on it parks like one waiting on a socket,
// and the interrupt wakes whichever thread sits in epoll_wait: no thread
// blocked in a system call per driver, so no P handoff and no thread switch
// when the interrupt comes.
//
// The network service's taker (SysNetTake) still blocks in the kernel on a
// thread of its own: moved onto the netpoller the same way, it made bulk TCP
// faster still but left about 1 in 200 HTTP requests under wrk waiting up
// to 2 s, with no packet lost, and the cause is not found yet (docs/perf.md).

// keventCount is the counter a kernel event descriptor watches.
func (s *System) keventCount(f *file) uint64 {
	return s.devices[f.val-netcall.EventDevice].irqs
}

// eventFD is SysEventFD(source).
func (s *System) eventFD(source uint64) uint64 {
	switch {
	case source-netcall.EventDevice < uint64(s.ndev):
		s.devices[source-netcall.EventDevice].polled = true
	case source-netcall.EventDevice < maxDevices:
		return neg(linux.ENODEV)
	default:
		return neg(linux.EINVAL)
	}
	fd, ok := s.allocFD(0)
	if !ok {
		return neg(linux.EMFILE)
	}
	s.files[fd] = file{kind: kindKernelEvent, cloexec: true, status: linux.O_RDONLY | linux.O_NONBLOCK, val: source}
	f := &s.files[fd]
	f.off = s.keventCount(f) - 1 // readable at once: the caller has seen nothing yet
	return fd
}

// keventRead is read(2) on a kernel event descriptor: the 8-byte count.
func (s *System) keventRead(f *file, buf, count uint64) uint64 {
	if count < 8 {
		return neg(linux.EINVAL)
	}
	if e := s.Mem.Prepare(buf, 8, mm.Write); e != 0 {
		return neg(e)
	}
	v := s.keventCount(f)
	if v == f.off {
		return neg(linux.EAGAIN)
	}
	f.off = v
	return ret(8, s.copyOut(buf, kmem.Addr(&v), 8))
}
