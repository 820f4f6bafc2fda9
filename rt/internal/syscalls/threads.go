package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/poweroff"
	"github.com/unigo-dev/unigo/rt/internal/sched"
	"github.com/unigo-dev/unigo/rt/internal/uaccess"
)

// The flags a thread-creating clone must carry: the new thread shares
// everything, as Go's (and glibc's) threads do.
const threadFlags = linux.CLONE_VM | linux.CLONE_FS | linux.CLONE_FILES | linux.CLONE_SIGHAND | linux.CLONE_THREAD

// clone(flags, stack, parent_tid, child_tid, tls) for threads only.
func (s *System) clone(parent *sched.Thread, f *sched.Frame, flags, stack, ptid, ctid, tls uint64) uint64 {
	if flags&linux.CLONE_THREAD == 0 || flags&linux.CLONE_VFORK != 0 {
		return neg(linux.ENOSYS) // a new process: there is only one, for good
	}
	if flags&threadFlags != threadFlags {
		return neg(linux.EINVAL)
	}
	if flags&linux.CLONE_SETTLS != 0 && !userAddr(tls) {
		return neg(linux.EPERM)
	}
	if s.Sched.Full() {
		return neg(linux.EAGAIN)
	}
	// Thread records come out of the frames left after commitments, keeping
	// half the floor for page tables.
	pfn, ok := s.Mem.Frames.Alloc(s.ThreadPages, 1, s.Mem.Frames.Floor()/2)
	if !ok {
		return neg(linux.EAGAIN)
	}
	addr := s.Mem.PT.DM + uintptr(pfn<<mm.PageShift)
	kmem.Zero(addr, int(s.ThreadPages<<mm.PageShift))
	t := kmem.At[sched.Thread](addr)
	t.Frame = *f
	t.Frame.RAX = 0
	if stack != 0 {
		t.Frame.RSP = stack
	}
	if flags&linux.CLONE_SETTLS != 0 {
		t.Frame.FSBase = tls
	}
	t.XSave = addr + ThreadXSaveOff
	kmem.Copy(t.XSave, parent.XSave, int(s.XSaveSize)) // the child starts with the parent's FP state
	t.SigMask = parent.SigMask
	t.PFN, t.Pages = pfn, s.ThreadPages
	if flags&linux.CLONE_CHILD_CLEARTID != 0 {
		t.ClearTID = ctid
	}
	if _, ok := s.Sched.Add(addr); !ok {
		s.Mem.Frames.Release(pfn, s.ThreadPages)
		return neg(linux.EAGAIN)
	}
	tid := uint32(t.TID)
	if flags&linux.CLONE_PARENT_SETTID != 0 {
		s.copyOut(ptid, kmem.Addr(&tid), 4)
	}
	if flags&linux.CLONE_CHILD_SETTID != 0 {
		s.copyOut(ctid, kmem.Addr(&tid), 4)
	}
	return uint64(tid)
}

func userAddr(a uint64) bool { return a < mm.UserTop }

// exitThread ends the calling thread. The last thread's exit ends the process.
func (s *System) exitThread(t *sched.Thread, status int) {
	if t.ClearTID != 0 {
		zero := uint32(0)
		if s.copyOut(t.ClearTID, kmem.Addr(&zero), 4) == 0 {
			s.Sched.FutexWake(t.ClearTID, 1, linux.FUTEX_BITSET_ALL)
		}
	}
	if s.Sched.Count() == 1 {
		s.ExitGroup(status)
	}
	s.Sched.Exit(t)
}

// ExitGroup ends the process, and with it the VM.
func (s *System) ExitGroup(status int) {
	if poweroff.Clamped(status) {
		var l klog.Line
		l.S("unigo: exit status ").U(uint64(status & 0xff)).S(" is reported as 125 (the runner's protocol stops at 125)").Out()
	}
	poweroff.Exit(status)
}

// Free releases an exited thread's record (the kernel calls it once the thread
// is off the CPU).
func (s *System) Free(t *sched.Thread) {
	pfn, n := t.PFN, t.Pages
	s.Sched.Remove(t)
	s.Mem.Frames.Release(pfn, n)
}

// timespec reads a struct timespec and checks it (EINVAL for a negative time or
// nanoseconds out of range).
func (s *System) timespec(addr uint64) (int64, linux.Errno) {
	var ts linux.Timespec
	if e := s.copyIn(kmem.Addr(&ts), addr, 16); e != 0 {
		return 0, e
	}
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1_000_000_000 {
		return 0, linux.EINVAL
	}
	if ts.Sec > (1<<62)/1_000_000_000 {
		return 1 << 62, 0 // forever, give or take
	}
	return ts.Sec*1_000_000_000 + ts.Nsec, 0
}

// futexBits is the bitset of a futex operation: val3 for the _BITSET ones
// (which may not be 0), all bits otherwise.
func futexBits(cmd, val3 uint64) (uint32, bool) {
	if cmd == linux.FUTEX_WAIT_BITSET || cmd == linux.FUTEX_WAKE_BITSET {
		return uint32(val3), uint32(val3) != 0
	}
	return linux.FUTEX_BITSET_ALL, true
}

func (s *System) futex(t *sched.Thread, addr, op, val, timeout, val3 uint64) uint64 {
	cmd := op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME)
	switch cmd {
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bits, ok := futexBits(cmd, val3)
		if !ok || addr&3 != 0 {
			return neg(linux.EINVAL)
		}
		n := int(int32(val))
		if n < 0 {
			n = 0
		}
		return uint64(s.Sched.FutexWake(addr, n, bits))
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
	default:
		return neg(linux.ENOSYS)
	}
	bits, ok := futexBits(cmd, val3)
	if !ok || addr&3 != 0 {
		return neg(linux.EINVAL)
	}
	var deadline int64
	if timeout != 0 {
		d, e := s.timespec(timeout)
		if e != 0 {
			return neg(e)
		}
		now := s.Clock.Now()
		switch {
		case cmd == linux.FUTEX_WAIT:
			deadline = now + d // relative
		case op&linux.FUTEX_CLOCK_REALTIME != 0:
			deadline = d - s.Clock.RealOffset()
		default:
			deadline = d
		}
		if deadline <= now {
			return neg(linux.ETIMEDOUT)
		}
	}
	if e := s.Mem.Prepare(addr, 4, mm.Read); e != 0 {
		return neg(e)
	}
	cur, ok := uaccess.Load32(uintptr(addr))
	if !ok {
		return neg(linux.EFAULT)
	}
	if cur != uint32(val) {
		return neg(linux.EAGAIN)
	}
	s.Sched.Block(t, sched.WaitFutex, addr, bits, deadline)
	return 0 // not seen: the waker or the timer sets the result
}

func (s *System) nanosleep(t *sched.Thread, clock, flags, req uint64) uint64 {
	d, e := s.timespec(req)
	if e != 0 {
		return neg(e)
	}
	now := s.Clock.Now()
	var deadline int64
	switch clock {
	case linux.CLOCK_MONOTONIC, linux.CLOCK_BOOTTIME, linux.CLOCK_MONOTONIC_RAW:
		deadline = d
	case linux.CLOCK_REALTIME:
		deadline = d - s.Clock.RealOffset()
	default:
		return neg(linux.EINVAL)
	}
	if flags&linux.TIMER_ABSTIME == 0 {
		deadline = now + d
	}
	if deadline <= now {
		return 0
	}
	s.Sched.Block(t, sched.WaitSleep, 0, 0, deadline)
	return 0
}

func (s *System) archPrctl(f *sched.Frame, code, addr uint64) uint64 {
	switch code {
	case linux.ARCH_SET_FS:
		if !userAddr(addr) {
			return neg(linux.EPERM)
		}
		f.FSBase = addr
		return 0
	case linux.ARCH_GET_FS:
		v := f.FSBase
		return ret(0, s.copyOut(addr, kmem.Addr(&v), 8))
	}
	return neg(linux.EINVAL)
}

func (s *System) getaffinity(pid, size, mask uint64) uint64 {
	if int64(pid) < 0 {
		return neg(linux.ESRCH)
	}
	if size < 8 || size&7 != 0 {
		return neg(linux.EINVAL)
	}
	m := uint64(1)<<s.NCPU - 1
	return ret(8, s.copyOut(mask, kmem.Addr(&m), 8))
}

func (s *System) setaffinity(pid, size, mask uint64) uint64 {
	if size < 8 {
		return neg(linux.EINVAL)
	}
	var m uint64
	if e := s.copyIn(kmem.Addr(&m), mask, 8); e != 0 {
		return neg(e)
	}
	if m&(1<<s.NCPU-1) == 0 {
		return neg(linux.EINVAL) // no CPU the thread could run on
	}
	return 0 // every thread may run on every CPU; the mask is not kept
}

// getcpu reports the CPU the thread runs on, and NUMA node 0.
func (s *System) getcpu(t *sched.Thread, cpu, node uint64) uint64 {
	c, n := uint32(t.CPU), uint32(0)
	if cpu != 0 {
		if e := s.copyOut(cpu, kmem.Addr(&c), 4); e != 0 {
			return neg(e)
		}
	}
	if node != 0 {
		if e := s.copyOut(node, kmem.Addr(&n), 4); e != 0 {
			return neg(e)
		}
	}
	return 0
}
