package syscalls

import (
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Signals, with Linux x86-64 semantics.
//
// A signal is sent to a thread (tgkill, tkill, a CPU exception, a per-thread
// timer) or to the process (kill, setitimer, the power button). Each thread has
// a pending set with one si_code per signal (standard signals do not queue: a
// second one while the first is pending is merged), the process has another.
// Sending to the process picks a thread that does not block the signal, as
// Linux does.
//
// Delivery happens on the way back to ring 3 (Deliver, from the end of every
// trap): the first pending, unblocked signal (synchronous fault signals first,
// then the lowest number) either takes its default action, is ignored, or gets
// an rt_sigframe on the thread's stack (or its alternate stack, SA_ONSTACK) and
// the thread resumes in the handler. The frame is Linux's: return address (the
// SA_RESTORER), ucontext with the registers and the mask to restore, siginfo,
// and the FP state in XSAVE format with the _fpx_sw_bytes and trailing magic
// that say so, sized from CPUID. rt_sigreturn reads it all back, checking what
// would make the CPU fault in ring 0 (a non-user RIP, bad XSAVE header or
// MXCSR bits) and killing the process with SIGSEGV instead.
//
// A signal to a thread blocked in a system call (futex, nanosleep, epoll_wait,
// a blocking read) ends the call with EINTR, which every caller in Go's runtime
// and standard library retries; calls are not restarted behind the program's
// back even with SA_RESTART.

// Signals whose default action is to do nothing. The stop signals are here too:
// there is no job control to stop for.
const defaultIgnore = 1<<(linux.SIGCHLD-1) | 1<<(linux.SIGCONT-1) | 1<<(linux.SIGURG-1) | 1<<(linux.SIGWINCH-1) |
	1<<(linux.SIGTSTP-1) | 1<<(linux.SIGTTIN-1) | 1<<(linux.SIGTTOU-1)

// synchronous are the signals a faulting instruction raises; they go first.
const synchronous = 1<<(linux.SIGSEGV-1) | 1<<(linux.SIGBUS-1) | 1<<(linux.SIGILL-1) | 1<<(linux.SIGTRAP-1) |
	1<<(linux.SIGFPE-1) | 1<<(linux.SIGSYS-1)

// unblockable are SIGKILL and SIGSTOP, which no mask may hold.
const unblockable = 1<<(linux.SIGKILL-1) | 1<<(linux.SIGSTOP-1)

func validSignal(sig uint64) bool { return sig >= 1 && sig <= linux.NSIG }

func sigBit(sig int) uint64 { return 1 << (sig - 1) }

// ignored says whether sig would be discarded on delivery.
func (s *System) ignored(sig int) bool {
	h := s.actions[sig].Handler
	return h == linux.SIG_IGN || h == linux.SIG_DFL && defaultIgnore&sigBit(sig) != 0
}

// SendThread makes sig pending on t with the given si_code, and interrupts t's
// blocking system call if it can take the signal now.
func (s *System) SendThread(t *sched.Thread, sig int, code int16) {
	if s.ignored(sig) && sig != linux.SIGKILL {
		return // discarded at once, as Linux does for ignored signals
	}
	t.SigPending |= sigBit(sig)
	t.SigCode[sig-1] = code
	s.interrupt(t, sig)
}

// SendProcess makes sig pending on the process and lets a thread that does not
// block it see it soon: the running thread if it qualifies, else a runnable
// one, else a blocked one, whose system call it interrupts.
func (s *System) SendProcess(sig int, code int16) {
	if s.ignored(sig) && sig != linux.SIGKILL {
		return
	}
	s.procPending |= sigBit(sig)
	s.procCode[sig-1] = code
	var blocked *sched.Thread
	for i := 0; i < s.Sched.Limit; i++ {
		t, ok := s.Sched.ThreadAt(i)
		if !ok || t.SigMask&sigBit(sig) != 0 {
			continue
		}
		switch t.State {
		case sched.Running:
			s.interrupt(t, sig) // it takes it on its way back to ring 3
			return
		case sched.Runnable:
			return // it takes it when it next runs
		case sched.Blocked:
			if blocked == nil {
				blocked = t
			}
		}
	}
	if blocked != nil {
		s.interrupt(blocked, sig)
	}
}

// interrupt makes t notice sig soon when it can take it now: a blocking
// system call ends with EINTR; a thread running on another CPU is interrupted
// there (it takes the signal on its way back to ring 3).
func (s *System) interrupt(t *sched.Thread, sig int) {
	if t.SigMask&sigBit(sig) != 0 && sig != linux.SIGKILL {
		return
	}
	switch {
	case t.State == sched.Blocked && t.Wait == sched.WaitFutex && isNetWait(t):
		s.interruptNet(t, sig) // a socket call the service is doing
	case t.State == sched.Blocked && (t.Wait == sched.WaitFutex && t.WaitAddr == exitKey || isLingerWait(t)):
		// In exit_group or close, waiting for send rings to drain: an
		// exit never returns, and a close is done; it takes the signal
		// when the wait ends.
	case t.State == sched.Blocked && t.Wait == sched.WaitFutex && (t.WaitAddr == netSlotKey || isRingWait(t) || isAcceptWait(t)):
		// Parked to run its socket call again (its registers say so).
		s.interruptRestart(t, sig)
	case t.State == sched.Blocked:
		s.Sched.Wake(t, -int64(linux.EINTR))
	case t.State == sched.Running && int(t.CPU) != s.Sched.CPU():
		s.Kick |= 1 << t.CPU
	}
}

// Fault sends the signal a CPU exception in the program raises (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGTRAP) with its si_code and address. As on Linux,
// a fault signal the thread blocks or ignores cannot be put off: its action is
// reset to the default and it is unblocked, so it kills the process.
func (s *System) Fault(t *sched.Thread, sig int, code int16, addr uint64) {
	a := &s.actions[sig]
	if t.SigMask&sigBit(sig) != 0 || a.Handler == linux.SIG_IGN {
		a.Handler = linux.SIG_DFL
		t.SigMask &^= sigBit(sig)
	}
	t.SigPending |= sigBit(sig)
	t.SigCode[sig-1] = code
	t.SigAddr = addr
}

// Deliver runs on the way back to ring 3 for t, whose registers are f: it
// takes the first deliverable signal and acts on it. A handler gets its frame
// and f then resumes there; a default action that terminates ends the process
// here.
func (s *System) Deliver(t *sched.Thread, f *sched.Frame) {
	for {
		pend := (t.SigPending | s.procPending) &^ t.SigMask
		if pend == 0 {
			return
		}
		sig := pick(pend)
		bit := sigBit(sig)
		var code int16
		if t.SigPending&bit != 0 {
			t.SigPending &^= bit
			code = t.SigCode[sig-1]
		} else {
			s.procPending &^= bit
			code = s.procCode[sig-1]
		}
		a := s.actions[sig]
		switch {
		case a.Handler == linux.SIG_IGN:
			continue
		case a.Handler == linux.SIG_DFL:
			if defaultIgnore&bit != 0 {
				continue
			}
			s.killedBy(t, f, sig, code)
			return
		}
		if !s.pushFrame(t, f, sig, code, &a) {
			// No room or no way back (a bad stack, no restorer): Linux's
			// force_sigsegv.
			s.killedBy(t, f, linux.SIGSEGV, linux.SI_KERNEL)
		}
		return
	}
}

// pendingFor is a signal t would take now (pending for it or for the process,
// not blocked, not ignored), or 0.
func (s *System) pendingFor(t *sched.Thread) int {
	pend := (t.SigPending | s.procPending) &^ t.SigMask
	for pend != 0 {
		sig := pick(pend)
		if !s.ignored(sig) {
			return sig
		}
		pend &^= sigBit(sig)
	}
	return 0
}

// pick chooses among pending signals: synchronous ones first, then the lowest.
func pick(pend uint64) int {
	if pend&synchronous != 0 {
		pend &= synchronous
	}
	n := 1
	for pend&1 == 0 {
		pend >>= 1
		n++
	}
	return n
}

// onAltStack says whether sp is on t's alternate signal stack.
func onAltStack(t *sched.Thread, sp uint64) bool {
	return t.AltSize != 0 && sp > t.AltSP && sp-t.AltSP <= t.AltSize
}

// sigframeSize is the rt_sigframe below the FP state.
const sigframeSize = 440

// fpStateSize is the fpstate in a signal frame: the XSAVE area and the
// trailing magic word, or the bare FXSAVE area.
func (s *System) fpStateSize() uint64 {
	if s.XFeatures != 0 {
		return s.XSaveSize + 4
	}
	return 512
}

// pushFrame builds sig's rt_sigframe for handler a on t's stack and points f at
// the handler. false: the frame could not be written.
func (s *System) pushFrame(t *sched.Thread, f *sched.Frame, sig int, code int16, a *linux.Sigaction) bool {
	if a.Flags&linux.SA_RESTORER == 0 || a.Handler >= mm.UserTop || a.Restorer >= mm.UserTop {
		return false
	}
	sp := f.RSP
	onAlt := onAltStack(t, sp)
	switch {
	case a.Flags&linux.SA_ONSTACK != 0 && t.AltSize != 0 && !onAlt:
		sp = t.AltSP + t.AltSize
	default:
		sp -= 128 // the red zone
	}
	fp := (sp - s.fpStateSize()) &^ 63
	frame := (fp-sigframeSize)&^15 - 8
	if onAlt && frame < t.AltSP || frame > sp {
		return false // the alternate stack overflows, or wraps
	}
	var sf linux.RtSigframe
	sf.Pretcode = a.Restorer
	uc := &sf.Uc
	if s.XFeatures != 0 {
		uc.Flags = linux.UC_FP_XSTATE | linux.UC_SIGCONTEXT_SS | linux.UC_STRICT_RESTORE_SS
	} else {
		uc.Flags = linux.UC_SIGCONTEXT_SS | linux.UC_STRICT_RESTORE_SS
	}
	uc.Stack = linux.StackT{SP: t.AltSP, Size: t.AltSize}
	switch {
	case t.AltSize == 0:
		uc.Stack.Flags = linux.SS_DISABLE
	case onAlt:
		uc.Stack.Flags = linux.SS_ONSTACK
	}
	mc := &uc.Mcontext
	mc.R8, mc.R9, mc.R10, mc.R11 = f.R8, f.R9, f.R10, f.R11
	mc.R12, mc.R13, mc.R14, mc.R15 = f.R12, f.R13, f.R14, f.R15
	mc.RDI, mc.RSI, mc.RBP, mc.RBX = f.RDI, f.RSI, f.RBP, f.RBX
	mc.RDX, mc.RAX, mc.RCX = f.RDX, f.RAX, f.RCX
	mc.RSP, mc.RIP, mc.EFlags = f.RSP, f.RIP, f.RFLAGS
	mc.CS, mc.SS = uint16(f.CS), uint16(f.SS)
	if f.Vector < 32 {
		mc.Trapno, mc.Err = f.Vector, f.Error
		if f.Vector == vecPF {
			mc.CR2 = t.SigAddr
		}
	}
	mc.Oldmask = t.SigMask
	mc.FPState = fp
	uc.Sigmask = t.SigMask
	s.siginfo(&sf.Info, t, sig, code)
	if s.copyOut(frame, kmem.Addr(&sf), sigframeSize) != 0 || !s.saveFP(t, fp) {
		return false
	}
	// The handler starts with a clean FP state, as on Linux.
	s.InitFP(t.XSave)
	f.RSP = frame
	f.RIP = a.Handler
	f.RDI = uint64(sig)
	f.RSI = frame + 312 // &sf.Info
	f.RDX = frame + 8   // &sf.Uc
	f.RAX = 0
	f.RFLAGS &^= rflagsTF | rflagsDF | rflagsRF
	mask := a.Mask
	if a.Flags&linux.SA_NODEFER == 0 {
		mask |= sigBit(sig)
	}
	t.SigMask = (t.SigMask | mask) &^ unblockable
	if a.Flags&linux.SA_RESETHAND != 0 {
		s.actions[sig].Handler = linux.SIG_DFL
	}
	return true
}

// Page-fault vector, for the frame's CR2 (the kernel package has the full list).
const vecPF = 14

// RFLAGS bits a handler starts with clear, and the ones sigreturn takes from
// the frame (the rest are forced on the way out).
const (
	rflagsTF = 1 << 8
	rflagsDF = 1 << 10
	rflagsRF = 1 << 16
)

// siginfo fills in the siginfo for sig as it was sent.
func (s *System) siginfo(si *linux.Siginfo, t *sched.Thread, sig int, code int16) {
	si.Signo, si.Code = int32(sig), int32(code)
	switch {
	case code > 0 && code != linux.SI_KERNEL && synchronous&sigBit(sig) != 0:
		si.Fields[0] = t.SigAddr // si_addr
	case code == linux.SI_TIMER:
		si.Fields[0] = uint64(uint32(t.SigTimer)) // si_tid (the timer id); si_overrun 0
	case code == linux.SI_USER || code == linux.SI_TKILL:
		si.Fields[0] = 1 // si_pid 1, si_uid 0
	}
}

// FP state layout (the XSAVE area begins with the 512-byte FXSAVE area).
const (
	fpFCW       = 0
	fpMXCSR     = 24
	fpMXCSRMask = 28
	fpSWBytes   = 464
	fpXHeader   = 512
)

// saveFP writes t's FP state as a signal frame's fpstate at fp.
func (s *System) saveFP(t *sched.Thread, fp uint64) bool {
	if s.copyOut(fp, t.XSave, s.XSaveSize) != 0 {
		return false
	}
	if s.XFeatures == 0 {
		return true
	}
	sw := linux.FPXSWBytes{
		Magic1:       linux.FP_XSTATE_MAGIC1,
		ExtendedSize: uint32(s.XSaveSize + 4),
		Xfeatures:    s.XFeatures,
		XstateSize:   uint32(s.XSaveSize),
	}
	magic2 := uint32(linux.FP_XSTATE_MAGIC2)
	return s.copyOut(fp+fpSWBytes, kmem.Addr(&sw), 48) == 0 &&
		s.copyOut(fp+s.XSaveSize, kmem.Addr(&magic2), 4) == 0
}

// InitFP puts the save area at xs in the state a new program starts with: every
// component in its initial state, x87 control word and MXCSR at their defaults.
func (s *System) InitFP(xs uintptr) {
	kmem.Zero(xs, 512)
	*kmem.At[uint16](xs + fpFCW) = 0x37F
	*kmem.At[uint32](xs + fpMXCSR) = 0x1F80
	if s.XFeatures != 0 {
		kmem.Zero(xs+fpXHeader, 64) // XSTATE_BV 0: all components initial
	}
}

// sigreturn restores what the signal frame at the top of the stack saved
// (rt_sigreturn). The registers all come back, so the return to ring 3 must
// take IRETQ (VecRestore). false: the frame is bad and the process gets
// SIGSEGV, as on Linux.
func (s *System) sigreturn(t *sched.Thread, f *sched.Frame) bool {
	var uc linux.Ucontext
	if s.copyIn(kmem.Addr(&uc), f.RSP, 304) != 0 {
		return false
	}
	mc := &uc.Mcontext
	if mc.RIP >= mm.UserTop {
		return false // IRETQ to it would fault in ring 0
	}
	if !s.restoreFP(t, mc.FPState) {
		return false
	}
	f.R8, f.R9, f.R10, f.R11 = mc.R8, mc.R9, mc.R10, mc.R11
	f.R12, f.R13, f.R14, f.R15 = mc.R12, mc.R13, mc.R14, mc.R15
	f.RDI, f.RSI, f.RBP, f.RBX = mc.RDI, mc.RSI, mc.RBP, mc.RBX
	f.RDX, f.RAX, f.RCX = mc.RDX, mc.RAX, mc.RCX
	f.RSP, f.RIP = mc.RSP, mc.RIP
	// The arithmetic flags, DF, TF, AC and RF come from the frame; the return
	// path forces the privileged ones (IF on, IOPL 0).
	const fromFrame = 0x40DD5 | rflagsTF | rflagsDF | rflagsRF
	f.RFLAGS = f.RFLAGS&^fromFrame | mc.EFlags&fromFrame
	f.Vector = sched.VecRestore
	t.SigMask = uc.Sigmask &^ unblockable
	return true
}

// restoreFP loads the fpstate at fp into t's save area, checking every field
// XRSTOR or FXRSTOR would fault on. fp 0 means the initial state.
func (s *System) restoreFP(t *sched.Thread, fp uint64) bool {
	if fp == 0 {
		s.InitFP(t.XSave)
		return true
	}
	if fp&63 != 0 && s.XFeatures != 0 || fp&15 != 0 {
		return false
	}
	xs := t.XSave
	var sw linux.FPXSWBytes
	if s.copyIn(kmem.Addr(&sw), fp+fpSWBytes, 48) != 0 {
		return false
	}
	size := uint64(512)
	if s.XFeatures != 0 && sw.Magic1 == linux.FP_XSTATE_MAGIC1 {
		if uint64(sw.XstateSize) != s.XSaveSize || uint64(sw.ExtendedSize) != s.XSaveSize+4 {
			return false
		}
		size = s.XSaveSize
	}
	if s.copyIn(xs, fp, size) != 0 {
		s.InitFP(xs)
		return false
	}
	ok := *kmem.At[uint32](xs + fpMXCSR)&^s.MXCSRMask == 0
	if s.XFeatures != 0 {
		hdr := kmem.Words(xs+fpXHeader, 8)
		if size == 512 {
			// A bare FXSAVE image: x87 and SSE from it, the rest initial.
			clear(hdr)
			hdr[0] = 3
		}
		ok = ok && hdr[0]&^s.XFeatures == 0 && hdr[1] == 0
		for _, w := range hdr[2:] {
			ok = ok && w == 0
		}
	}
	if !ok {
		s.InitFP(xs)
	}
	return ok
}

// killedBy ends the process as sig's default action does: a report on the
// console (registers and, for a fault, the address), then exit status
// 128+sig.
func (s *System) killedBy(t *sched.Thread, f *sched.Frame, sig int, code int16) {
	var l klog.Line
	l.S("unigo: thread ").D(int64(t.TID)).S(" killed by signal ").D(int64(sig)).S(" (").S(signalName(sig)).S(")").Out()
	l.S("unigo: rip=").X(f.RIP).S(" rsp=").X(f.RSP).S(" code=").D(int64(code))
	if code > 0 && code != linux.SI_KERNEL && synchronous&sigBit(sig) != 0 {
		l.S(" addr=").X(t.SigAddr)
	}
	l.Out()
	s.ExitGroup(128 + sig)
}

func signalName(sig int) string {
	switch sig {
	case linux.SIGHUP:
		return "SIGHUP"
	case linux.SIGINT:
		return "SIGINT"
	case linux.SIGQUIT:
		return "SIGQUIT"
	case linux.SIGILL:
		return "SIGILL"
	case linux.SIGTRAP:
		return "SIGTRAP"
	case linux.SIGABRT:
		return "SIGABRT"
	case linux.SIGBUS:
		return "SIGBUS"
	case linux.SIGFPE:
		return "SIGFPE"
	case linux.SIGKILL:
		return "SIGKILL"
	case linux.SIGSEGV:
		return "SIGSEGV"
	case linux.SIGPIPE:
		return "SIGPIPE"
	case linux.SIGALRM:
		return "SIGALRM"
	case linux.SIGTERM:
		return "SIGTERM"
	case linux.SIGPROF:
		return "SIGPROF"
	}
	return "signal"
}

func (s *System) tgkill(tgid, tid, sig uint64) uint64 {
	if int64(tgid) <= 0 || int64(tid) <= 0 || (sig != 0 && !validSignal(sig)) {
		return neg(linux.EINVAL)
	}
	t, ok := s.Sched.ByTID(int32(tid))
	if tgid != 1 || !ok {
		return neg(linux.ESRCH)
	}
	if sig != 0 {
		s.SendThread(t, int(sig), linux.SI_TKILL)
	}
	return 0
}

func (s *System) kill(pid, sig uint64) uint64 {
	if sig != 0 && !validSignal(sig) {
		return neg(linux.EINVAL)
	}
	switch int64(pid) {
	case 0, 1, -1:
	default:
		return neg(linux.ESRCH)
	}
	if sig != 0 {
		s.SendProcess(int(sig), linux.SI_USER)
	}
	return 0
}

func (s *System) sigaction(sig, act, old, size uint64) uint64 {
	if size != 8 || !validSignal(sig) {
		return neg(linux.EINVAL)
	}
	if act != 0 && (sig == linux.SIGKILL || sig == linux.SIGSTOP) {
		return neg(linux.EINVAL)
	}
	cur := s.actions[sig]
	if act != 0 {
		var a linux.Sigaction
		if e := s.copyIn(kmem.Addr(&a), act, 32); e != 0 {
			return neg(e)
		}
		a.Mask &^= unblockable
		s.actions[sig] = a
		if s.ignored(int(sig)) {
			// Setting a signal to be ignored discards it where pending.
			s.discard(int(sig))
		}
	}
	if old != 0 {
		if e := s.copyOut(old, kmem.Addr(&cur), 32); e != 0 {
			return neg(e)
		}
	}
	return 0
}

// discard drops sig wherever it is pending.
func (s *System) discard(sig int) {
	s.procPending &^= sigBit(sig)
	for i := 0; i < s.Sched.Limit; i++ {
		if t, ok := s.Sched.ThreadAt(i); ok {
			t.SigPending &^= sigBit(sig)
		}
	}
}

func (s *System) sigprocmask(t *sched.Thread, how, set, old, size uint64) uint64 {
	if size != 8 {
		return neg(linux.EINVAL)
	}
	cur := t.SigMask
	if set != 0 {
		var m uint64
		if e := s.copyIn(kmem.Addr(&m), set, 8); e != 0 {
			return neg(e)
		}
		switch how {
		case linux.SIG_BLOCK:
			t.SigMask |= m
		case linux.SIG_UNBLOCK:
			t.SigMask &^= m
		case linux.SIG_SETMASK:
			t.SigMask = m
		default:
			return neg(linux.EINVAL)
		}
		t.SigMask &^= unblockable
	}
	if old != 0 {
		if e := s.copyOut(old, kmem.Addr(&cur), 8); e != 0 {
			return neg(e)
		}
	}
	return 0
}

func (s *System) sigpending(t *sched.Thread, set, size uint64) uint64 {
	if size > 8 {
		return neg(linux.EINVAL)
	}
	m := (t.SigPending | s.procPending) & t.SigMask
	return ret(0, s.copyOut(set, kmem.Addr(&m), size))
}

func (s *System) sigaltstack(t *sched.Thread, f *sched.Frame, ss, old uint64) uint64 {
	onAlt := onAltStack(t, f.RSP)
	cur := linux.StackT{SP: t.AltSP, Flags: t.AltFlags, Size: t.AltSize}
	switch {
	case cur.Size == 0:
		cur.Flags = linux.SS_DISABLE
	case onAlt:
		cur.Flags = linux.SS_ONSTACK
	}
	if ss != 0 {
		var n linux.StackT
		if e := s.copyIn(kmem.Addr(&n), ss, 24); e != 0 {
			return neg(e)
		}
		switch {
		case onAlt:
			return neg(linux.EPERM) // not while running on it
		case n.Flags&^linux.SS_DISABLE != 0:
			return neg(linux.EINVAL)
		case n.Flags&linux.SS_DISABLE != 0:
			t.AltSP, t.AltSize, t.AltFlags = 0, 0, 0
		case n.Size < linux.MINSIGSTKSZ:
			return neg(linux.ENOMEM)
		default:
			t.AltSP, t.AltSize, t.AltFlags = n.SP, n.Size, 0
		}
	}
	if old != 0 {
		if e := s.copyOut(old, kmem.Addr(&cur), 24); e != 0 {
			return neg(e)
		}
	}
	return 0
}
