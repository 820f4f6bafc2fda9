package kernel

import (
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// trap handles every entry from ring 3 (trap_amd64.s's userEntry): a system call,
// an exception, or an interrupt (already acknowledged and noted in c.Pending).
// f is the running thread's registers at the top of the kernel stack. On return
// exitToUser resumes whichever thread f and c.XSave then describe.
func trap(c *CPU, f *sched.Frame) {
	k := kernelAt(c.Kernel)
	lock(k, c)
	s := &k.Sys
	t := s.Sched.Thread(s.Sched.Current())
	switch {
	case f.Vector == sched.VecSyscall:
		s.Dispatch(t, f)
	case f.Vector < 32:
		userException(k, t, f)
	}
	schedule(k, c, t, f)
	kickOthers(k, c)
	unlock(k)
}

// Exception vectors.
const (
	vecDE = 0  // divide error
	vecDB = 1  // debug
	vecBP = 3  // breakpoint
	vecUD = 6  // invalid opcode
	vecNM = 7  // device not available
	vecDF = 8  // double fault
	vecTS = 10 // invalid TSS
	vecNP = 11 // segment not present
	vecSS = 12 // stack fault
	vecGP = 13 // general protection
	vecPF = 14 // page fault
	vecMF = 16 // x87 error
	vecAC = 17 // alignment check
	vecXM = 19 // SIMD error
)

// userException handles a CPU exception in the program: a page fault the memory
// manager can satisfy, or the signal Linux would send, with Linux's si_code and
// address (delivered on the way out, by schedule).
func userException(k *Kernel, t *sched.Thread, f *sched.Frame) {
	s := &k.Sys
	switch f.Vector {
	case vecPF:
		addr := x86.ReadCR2()
		access := mm.Read
		if f.Error&2 != 0 {
			access = mm.Write
		}
		if f.Error&16 != 0 {
			access = mm.Exec
		}
		switch s.Mem.Fault(addr, access) {
		case mm.Mapped:
			return
		case mm.OutOfMemory:
			var l klog.Line
			l.S("unigo: out of memory for page tables at ").X(addr).Out()
			s.ExitGroup(128 + linux.SIGKILL) // as the OOM killer's SIGKILL
			return
		case mm.BadAddress:
			s.Fault(t, linux.SIGSEGV, linux.SEGV_MAPERR, addr)
		default:
			s.Fault(t, linux.SIGSEGV, linux.SEGV_ACCERR, addr)
		}
	case vecDE:
		s.Fault(t, linux.SIGFPE, linux.FPE_INTDIV, f.RIP)
	case vecMF, vecXM:
		s.Fault(t, linux.SIGFPE, linux.FPE_FLTINV, f.RIP)
	case vecUD:
		s.Fault(t, linux.SIGILL, linux.ILL_ILLOPN, f.RIP)
	case vecDB, vecBP:
		s.Fault(t, linux.SIGTRAP, linux.SI_KERNEL, 0)
	case vecAC:
		s.Fault(t, linux.SIGBUS, linux.BUS_ADRALN, f.RIP)
	case vecSS, vecNP:
		s.Fault(t, linux.SIGBUS, linux.SI_KERNEL, 0)
	default:
		// #GP and the rest: a non-canonical address, a privileged
		// instruction. Linux says SIGSEGV from the kernel, address 0.
		s.Fault(t, linux.SIGSEGV, linux.SI_KERNEL, 0)
	}
}

// schedule ends every trap: it handles what the interrupts brought (expired
// timers), decides which thread runs next (the current one unless it blocked,
// exited or used up its time slice while others wait), idles when no thread can
// run, and arms the timer for the next event.
func schedule(k *Kernel, c *CPU, cur *sched.Thread, f *sched.Frame) {
	s := &k.Sys
	now := s.Clock.Now()
	// A thread that left the CPU in its system call (blocked, or yielded) keeps
	// its registers before anything can wake it and write its result.
	if cur.State == sched.Blocked || cur.State == sched.Runnable {
		cur.Frame = *f
	}
	takePending(k, c)
	s.Sched.Expire(now, int64(linux.ETIMEDOUT))
	s.RunTimers(now)
	if cur.State == sched.Running {
		if now < s.Sched.SliceEnd() || !s.Sched.Runnable() {
			if !s.Sched.Runnable() {
				s.Sched.ExtendSlice(now)
			}
			s.Deliver(cur, f)
			armTimer(k, c, now)
			return
		}
		cur.Frame = *f
		s.Sched.Yield(cur) // its slice is over and others wait
	}
	s.Sched.Stopped(cur, now)
	if cur.State == sched.Exiting {
		// Freed before this CPU may idle (and drop the kernel lock) in
		// pickNext: until then it would still count as a live thread. Its
		// XSAVE area is not used again: the next thread's replaces it.
		s.Free(cur)
	}
	next := pickNext(k, c)
	*f = next.Frame
	c.XSave = next.XSave
	s.Deliver(next, f)
	armTimer(k, c, s.Clock.Now())
}

// pickNext takes the next runnable thread, halting the CPU until an interrupt
// makes one runnable when there is none.
func pickNext(k *Kernel, c *CPU) *sched.Thread {
	s := &k.Sys
	for {
		now := s.Clock.Now()
		takePending(k, c)
		s.Sched.Expire(now, int64(linux.ETIMEDOUT))
		s.RunTimers(now)
		if t, ok := s.Sched.PickNext(now); ok {
			return t
		}
		armTimer(k, c, now)
		// Halt without the kernel lock; a kick (or the timer) ends it.
		k.Idle |= 1 << c.Index
		unlock(k)
		idleWait()
		lock(k, c)
		k.Idle &^= 1 << c.Index
	}
}

// takePending clears the interrupts noted since the last look. The timer's only
// effect is the time itself, which the caller reads, and that it is no longer
// armed: the next armTimer must program it again even for the same deadline (a
// one-shot count can end a little before the TSC deadline it stands for).
// The GED's interrupt is the power button (power.go).
func takePending(k *Kernel, c *CPU) {
	if c.Pending[vecTimer/64]&(1<<(vecTimer%64)) != 0 {
		c.TimerArmed = 0
	}
	if c.Pending[vecGED/64]&(1<<(vecGED%64)) != 0 {
		gedEvent(k)
	}
	for i := 0; i < k.Sys.Devices(); i++ {
		if v := vecDevice + i; c.Pending[v/64]&(1<<(v%64)) != 0 {
			k.Sys.DeviceInterrupt(i)
		}
	}
	for i := range c.Pending {
		c.Pending[i] = 0
	}
}

// armTimer sets the one hardware timer for the earliest of the next timed wait
// and, when others wait to run, the end of the current time slice. It writes the
// timer only when the deadline comes earlier than the one armed: each write is a
// VM exit, and under TCG it also takes QEMU's global lock and wakes QEMU's main
// loop (a bulk transfer measured some 9,000 writes a second, most of them moving
// the deadline later). A timer left armed for an earlier deadline fires early:
// nothing expires, and the trap it makes arms the real deadline.
func armTimer(k *Kernel, c *CPU, now int64) {
	s := &k.Sys
	next := s.Sched.NextDeadline()
	if d := s.TimerDeadline(now); d != 0 && (next == 0 || d < next) {
		next = d
	}
	c.SliceArmed = s.Sched.Current() >= 0 && s.Sched.Runnable()
	if c.SliceArmed && (next == 0 || s.Sched.SliceEnd() < next) {
		next = s.Sched.SliceEnd()
	}
	var tsc uint64
	if next != 0 {
		tsc = s.Clock.ToTSC(max(next, now+1000))
	}
	if tsc == 0 || (c.TimerArmed != 0 && c.TimerArmed <= tsc) {
		return // nothing to time, or the armed timer fires first
	}
	c.TimerArmed = tsc
	if k.APIC.Deadline {
		k.APIC.ArmDeadline(tsc)
		return
	}
	// One-shot count mode: ticks from now, at least one. A deadline more than
	// a few seconds away is reached in steps (the count register has 32 bits):
	// the timer fires early, nothing expires, and it is armed again.
	ns := uint64(min(max(next-now, 1000), 4_000_000_000))
	count := ns * k.APICTicksPerMs / 1_000_000
	k.APIC.ArmCount(uint32(min(max(count, 1), 0xFFFFFFFF)))
}
