// Package syscalls is unigo's Linux personality: the x86-64 system calls the Go
// runtime and standard library make, with Linux's semantics and errno values.
// Each number maps to one function in Dispatch's switch; a number it does not
// know returns ENOSYS and is logged once. fork, vfork, execve, execveat and
// clone without CLONE_THREAD fail with ENOSYS: there is one process, for good.
// Signals (signal.go) and timers (timers.go) follow Linux x86-64; the power
// button (power.go) asks the program to stop with SIGTERM.
//
// Context: kernel context, called from the trap handler with the calling thread's
// registers (the Frame at the top of the kernel stack). A call that completes
// writes its result to RAX; a call that must wait (futex, nanosleep) parks the
// thread in the scheduler and returns, and whoever wakes the thread writes the
// result into its saved Frame. Nothing here allocates on the Go heap or takes Go
// locks; all state is in System, which lives in kernel memory.
//
// User memory is reached through copyIn and copyOut, which validate the range
// against the address space first (EFAULT for anything the program could not
// access itself) and then copy with a fault-tolerant routine.
package syscalls

import (
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/clock"
	"github.com/unigo-dev/unigo/rt/internal/entropy"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
	"github.com/unigo-dev/unigo/rt/internal/uaccess"
)

// MaxFiles is the size of the file descriptor table (RLIMIT_NOFILE).
const MaxFiles = 1024

// System is everything the system calls act on: the process's memory, threads,
// files and signal dispositions, and the machine's clock.
type System struct {
	Mem   mm.Memory
	Sched sched.Scheduler
	Clock clock.Clock

	// Thread records: ThreadPages frames each, the XSAVE area (XSaveSize
	// bytes) at offset ThreadXSaveOff.
	ThreadPages uint64
	XSaveSize   uint64

	// ShutdownGrace is how long the program has after the power button's
	// SIGTERM before the kernel powers off (ns); presses counts the presses
	// and forceOffAt is when the grace ends (0: not pressed).
	ShutdownGrace int64
	presses       int
	forceOffAt    int64
	// exitAt is when an exit_group that waits for sockets' send rings to
	// drain happens anyway (0: none waits), with exitStatus (ring.go).
	exitAt     int64
	exitStatus int

	// NetWanted says the program makes socket calls (the kernel looked for
	// Go's net.sysSocket in its symbol table).
	NetWanted bool

	// NCPU is how many CPUs run threads (sched_getaffinity's mask).
	NCPU int
	// Kick has a bit per CPU the kernel must interrupt when this trap ends,
	// because a thread running there has a signal to take.
	Kick uint32

	// Randomness: which instruction getrandom uses, and the pool virtio-rng
	// seeds (rt/internal/entropy).
	HasRDSEED, HasRDRAND bool
	Entropy              entropy.Pool

	// FP state: the XCR0 features the kernel saves (0 without XSAVE) and the
	// MXCSR bits the CPU accepts, for signal frames.
	XFeatures uint64
	MXCSRMask uint32

	net     netState
	devices [maxDevices]device
	ndev    int
	// dma are the SysDMAAlloc allocations (the first maxDMA of them);
	// watched the queues exit_group waits for (SysQueueWatch).
	dma     [maxDMA]dmaRange
	ndma    int
	watched [maxWatched]queueWatch
	nwatch  int
	files   [MaxFiles]file
	epolls  [maxEpolls]epollSet
	actions [linux.NSIG + 1]linux.Sigaction
	// Signals sent to the process and not yet taken by a thread, with their
	// si_code.
	procPending uint64
	procCode    [linux.NSIG]int16
	// Timers: POSIX ones, then the three setitimer ones; how many are armed
	// and the end of the used part of the table.
	timers   [maxTimers + 3]ptimer
	armed    int
	timerTop int
	rlimits  [linux.RLIM_NLIMITS]linux.Rlimit
	exe      [256]byte
	exeLen   int
	brk      uint64
	// Started is the monotonic time at which the program was entered.
	Started int64
	// Strace logs every system call on the console (unigo.strace=1).
	Strace bool
	// SelfTest enables SYS_UNIGO_SELFTEST (unigo.selftest=1).
	SelfTest bool

	// callFrame is the kernel address of the registers of the system call
	// being dispatched (one CPU at a time runs kernel code).
	callFrame uintptr

	counts [linux.NumSyscalls]uint64
	logged [linux.NumSyscalls / 64]uint64
}

// ThreadXSaveOff is where a thread record's XSAVE area starts (64-byte aligned).
const ThreadXSaveOff = (sched.ThreadSize + 63) &^ 63

// Init prepares the tables: standard input, output and error on the console,
// default limits, the executable's path for /proc/self/exe.
func (s *System) Init(exe []byte, brk uint64) {
	for i := range s.files {
		s.files[i] = file{}
	}
	s.files[0] = file{kind: kindConsoleIn, status: linux.O_RDWR}
	s.files[1] = file{kind: kindConsoleOut, status: linux.O_RDWR}
	s.files[2] = file{kind: kindConsoleOut, status: linux.O_RDWR}
	for i := range s.rlimits {
		s.rlimits[i] = linux.Rlimit{Cur: linux.RLIM_INFINITY, Max: linux.RLIM_INFINITY}
	}
	s.rlimits[linux.RLIMIT_NOFILE] = linux.Rlimit{Cur: MaxFiles, Max: MaxFiles}
	s.rlimits[linux.RLIMIT_STACK] = linux.Rlimit{Cur: 8 << 20, Max: linux.RLIM_INFINITY}
	s.exeLen = copy(s.exe[:], exe)
	s.brk = brk
}

// ret is a system call's return value: a result, or -errno.
func ret(v uint64, e linux.Errno) uint64 {
	if e != 0 {
		return uint64(-int64(e))
	}
	return v
}

func neg(e linux.Errno) uint64 { return uint64(-int64(e)) }

// copyIn copies n bytes of user memory at addr to the kernel address dst.
func (s *System) copyIn(dst uintptr, addr, n uint64) linux.Errno {
	if e := s.Mem.Prepare(addr, n, mm.Read); e != 0 {
		return e
	}
	if !uaccess.Copy(dst, uintptr(addr), uintptr(n)) {
		return linux.EFAULT
	}
	return 0
}

// copyOut copies n bytes from the kernel address src to user memory at addr.
func (s *System) copyOut(addr uint64, src uintptr, n uint64) linux.Errno {
	if e := s.Mem.Prepare(addr, n, mm.Write); e != 0 {
		return e
	}
	if !uaccess.Copy(uintptr(addr), src, uintptr(n)) {
		return linux.EFAULT
	}
	return 0
}

// Dispatch runs the system call in f (number in RAX, arguments in RDI, RSI, RDX,
// R10, R8, R9) for thread t.
func (s *System) Dispatch(t *sched.Thread, f *sched.Frame) {
	nr := f.RAX
	a0, a1, a2, a3, a4, a5 := f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9
	s.callFrame = kmem.Addr(f)
	if nr < linux.NumSyscalls {
		s.counts[nr]++
	}
	var r uint64
	switch nr {
	case linux.SYS_read:
		r = s.read(t, a0, a1, a2)
	case linux.SYS_write:
		r = s.write(t, a0, a1, a2)
	case linux.SYS_close:
		r = s.close(t, a0)
	case linux.SYS_fstat:
		r = s.fstat(a0, a1)
	case linux.SYS_lseek, linux.SYS_pread64, linux.SYS_pwrite64:
		r = s.seek(a0)
	case linux.SYS_mmap:
		r = s.mmap(a0, a1, a2, a3, a4)
	case linux.SYS_mprotect:
		r = ret(0, s.Mem.Mprotect(a0, a1, uint32(a2)))
	case linux.SYS_munmap:
		r = ret(0, s.Mem.Munmap(a0, a1))
	case linux.SYS_brk:
		r = s.brk // the heap never grows: programs here map memory instead
	case linux.SYS_rt_sigaction:
		r = s.sigaction(a0, a1, a2, a3)
	case linux.SYS_rt_sigprocmask:
		r = s.sigprocmask(t, a0, a1, a2, a3)
	case linux.SYS_rt_sigreturn:
		if !s.sigreturn(t, f) {
			s.Fault(t, linux.SIGSEGV, linux.SI_KERNEL, 0)
		}
		return // RAX is the interrupted code's, restored
	case linux.SYS_rt_sigpending:
		r = s.sigpending(t, a0, a1)
	case linux.SYS_ioctl:
		r = s.ioctl(a0, a1, a2)
	case linux.SYS_readv:
		r = s.readv(t, a0, a1, a2)
	case linux.SYS_epoll_create, linux.SYS_epoll_create1:
		r = s.epollCreate(nr, a0)
	case linux.SYS_epoll_ctl:
		r = s.epollCtl(a0, a1, a2, a3)
	case linux.SYS_epoll_wait, linux.SYS_epoll_pwait:
		r = s.epollWait(t, a0, a1, a2, int64(int32(a3)))
	case linux.SYS_epoll_pwait2:
		r = s.epollWait2(t, a0, a1, a2, a3)
	case linux.SYS_eventfd:
		r = s.eventfd(a0, 0)
	case linux.SYS_eventfd2:
		r = s.eventfd(a0, a1)
	case linux.SYS_writev:
		r = s.writev(t, a0, a1, a2)
	case linux.SYS_sched_yield:
		s.Sched.Yield(t)
		r = 0
	case linux.SYS_madvise:
		r = ret(0, s.Mem.Madvise(a0, a1, int(int32(a2))))
	case linux.SYS_dup:
		r = s.dup(a0, 0, false)
	case linux.SYS_dup2:
		r = s.dup2(a0, a1)
	case linux.SYS_dup3:
		r = s.dup3(a0, a1, a2)
	case linux.SYS_nanosleep:
		r = s.nanosleep(t, linux.CLOCK_MONOTONIC, 0, a0)
	case linux.SYS_clock_nanosleep:
		r = s.nanosleep(t, a0, a1, a2)
	case linux.SYS_getpid:
		r = 1
	case linux.SYS_getppid:
		r = 0
	case linux.SYS_gettid:
		r = uint64(t.TID)
	case linux.SYS_getuid, linux.SYS_geteuid, linux.SYS_getgid, linux.SYS_getegid:
		r = 0
	case linux.SYS_clone:
		r = s.clone(t, f, a0, a1, a2, a3, a4)
	case linux.SYS_exit:
		s.exitThread(t, int(int32(a0)))
		return
	case linux.SYS_exit_group:
		r = s.exitGroup(t, int(int32(a0)))
	case linux.SYS_kill:
		r = s.kill(a0, a1)
	case linux.SYS_tgkill:
		r = s.tgkill(a0, a1, a2)
	case linux.SYS_tkill:
		r = s.tgkill(1, a0, a1)
	case linux.SYS_uname:
		r = s.uname(a0)
	case linux.SYS_fcntl:
		r = s.fcntl(a0, a1, a2)
	case linux.SYS_getcwd:
		r = s.getcwd(a0, a1)
	case linux.SYS_gettimeofday:
		r = s.gettimeofday(a0, a1)
	case linux.SYS_time:
		r = s.time(a0)
	case linux.SYS_getrlimit:
		r = s.prlimit(0, a0, 0, a1)
	case linux.SYS_setrlimit:
		r = s.prlimit(0, a0, a1, 0)
	case linux.SYS_prlimit64:
		r = s.prlimit(a0, a1, a2, a3)
	case linux.SYS_getrusage:
		r = s.getrusage(t, a0, a1)
	case linux.SYS_sysinfo:
		r = s.sysinfo(a0)
	case linux.SYS_timer_create:
		r = s.timerCreate(t, a0, a1, a2)
	case linux.SYS_timer_settime:
		r = s.timerSettime(a0, a1, a2, a3)
	case linux.SYS_timer_gettime:
		r = s.timerGettime(a0, a1)
	case linux.SYS_timer_getoverrun:
		r = s.timerGetoverrun(a0)
	case linux.SYS_timer_delete:
		r = s.timerDelete(a0)
	case linux.SYS_setitimer:
		r = s.setitimer(a0, a1, a2)
	case linux.SYS_getitimer:
		r = s.getitimer(a0, a1)
	case linux.SYS_alarm:
		r = s.alarm(a0)
	case linux.SYS_sigaltstack:
		r = s.sigaltstack(t, f, a0, a1)
	case linux.SYS_prctl:
		r = neg(linux.EINVAL) // PR_SET_VMA and the rest: as a kernel without them
	case linux.SYS_arch_prctl:
		r = s.archPrctl(f, a0, a1)
	case linux.SYS_futex:
		r = s.futex(t, a0, a1, a2, a3, a5)
	case linux.SYS_getcpu:
		r = s.getcpu(t, a0, a1)
	case linux.SYS_sched_getaffinity:
		r = s.getaffinity(a0, a1, a2)
	case linux.SYS_sched_setaffinity:
		r = s.setaffinity(a0, a1, a2)
	case linux.SYS_set_tid_address:
		t.ClearTID = a0
		r = uint64(t.TID)
	case linux.SYS_set_robust_list:
		r = 0 // the list only matters to other processes
	case linux.SYS_clock_gettime:
		r = s.clockGettime(t, a0, a1)
	case linux.SYS_clock_getres:
		r = s.clockGetres(a0, a1)
	case linux.SYS_openat:
		r = s.openat(a0, a1, a2)
	case linux.SYS_open:
		r = s.openat(atFDCWD, a0, a1)
	case linux.SYS_newfstatat:
		r = s.fstatat(a0, a1, a2, a3)
	case linux.SYS_stat, linux.SYS_lstat:
		r = s.fstatat(atFDCWD, a0, a1, 0)
	case linux.SYS_readlinkat:
		r = s.readlinkat(a0, a1, a2, a3)
	case linux.SYS_readlink:
		r = s.readlinkat(atFDCWD, a0, a1, a2)
	case linux.SYS_faccessat, linux.SYS_faccessat2:
		r = s.faccessat(a0, a1)
	case linux.SYS_access:
		r = s.faccessat(atFDCWD, a0)
	case linux.SYS_getrandom:
		r = s.getrandom(a0, a1, a2)
	case linux.SYS_fork, linux.SYS_vfork, linux.SYS_execve, linux.SYS_execveat,
		linux.SYS_clone3, linux.SYS_wait4, linux.SYS_waitid, linux.SYS_pidfd_open,
		linux.SYS_rseq, linux.SYS_pipe, linux.SYS_pipe2:
		// One process, for good: these fail the way a kernel without them does.
		r = neg(linux.ENOSYS)
	case linux.SYS_UNIGO_SELFTEST:
		if !s.SelfTest {
			r = neg(linux.ENOSYS)
			break
		}
		r = selfTest(a0, a1)
	case linux.SYS_socket, linux.SYS_bind, linux.SYS_connect, linux.SYS_listen, linux.SYS_accept,
		linux.SYS_accept4, linux.SYS_shutdown, linux.SYS_getsockname, linux.SYS_getpeername,
		linux.SYS_sendto, linux.SYS_recvfrom, linux.SYS_sendmsg, linux.SYS_recvmsg,
		linux.SYS_setsockopt, linux.SYS_getsockopt:
		r = s.sockCall(t, nr, a0, a1, a2, a3, a4, a5)
	case linux.SYS_socketpair:
		r = neg(linux.EOPNOTSUPP)
	case netcall.SysNetTake:
		r = s.netTake(t, a0, a1, a2)
	case netcall.SysNetReply:
		r = s.netReply(a0, a1, a2, a3, a4, a5)
	case netcall.SysNetReady:
		r = s.netReady(a0, a1)
	case netcall.SysNetConfig:
		r = s.netConfig(a0, a1)
	case netcall.SysNetResolv:
		r = s.setResolv(a0, a1)
	case netcall.SysNetNames:
		r = s.netNames(a0, a1, a2, a3, a4)
	case netcall.SysNetRing:
		r = s.netRing(a0, a1)
	case netcall.SysNetRingFree:
		r = s.netRingFree(a0)
	case netcall.SysNetAcceptQueue:
		r = s.netAcceptQueue(a0)
	case netcall.SysNetAcceptReserve:
		r = s.netAcceptReserve(a0)
	case netcall.SysNetAcceptPush:
		r = s.netAcceptPush(a0, a1)
	case netcall.SysNetStart:
		if s.NetWanted {
			s.net.on = true
			r = 1
		}
	case netcall.SysEntropy:
		r = s.mixEntropy(a0, a1)
	case netcall.SysDevice:
		r = s.deviceInfo(a0, a1)
	case netcall.SysDeviceMap:
		r = s.deviceMap(a0, a1)
	case netcall.SysPCIConfig:
		r = s.pciConfig(a0, a1, a2)
	case netcall.SysDMAAlloc:
		r = s.dmaAlloc(a0, a1)
	case netcall.SysQueueWatch:
		r = s.queueWatch(a0, a1)
	case netcall.SysIRQWait:
		r = s.irqWait(t, a0, a1)
	case linux.SYS_UNIGO_COUNT:
		if a0 < linux.NumSyscalls {
			r = s.counts[a0]
		} else {
			r = neg(linux.EINVAL)
		}
	default:
		s.logUnknown(nr)
		r = neg(linux.ENOSYS)
	}
	f.RAX = r
	if t.State == sched.Blocked {
		// A signal already pending ends the wait before it starts, as on
		// Linux: it may have been sent while this thread ran, to the process
		// or to this thread, and nothing would interrupt the wait later.
		if sig := s.pendingFor(t); sig != 0 {
			s.interrupt(t, sig)
		}
	}
	if s.Strace {
		var l klog.Line
		l.S("strace: tid ").D(int64(t.TID)).S(" ").U(nr).S("(").X(a0).S(", ").X(a1).S(", ").X(a2).S(", ").X(a3).S(") = ")
		if t.State == sched.Blocked {
			l.S("(blocked)")
		} else {
			l.D(int64(r))
		}
		l.Out()
	}
}

// logUnknown says once per number that a system call is missing.
func (s *System) logUnknown(nr uint64) {
	if nr < linux.NumSyscalls {
		if s.logged[nr/64]&(1<<(nr%64)) != 0 {
			return
		}
		s.logged[nr/64] |= 1 << (nr % 64)
	}
	var l klog.Line
	l.S("unigo: system call ").U(nr).S(" is not implemented; it returns ENOSYS").Out()
}

// atFDCWD is AT_FDCWD as it arrives in a register.
const atFDCWD = ^uint64(99) // -100

// selfTest fails in kernel context on purpose (SYS_UNIGO_SELFTEST): the fault
// report and the kernel-fault exit status are tested with it.
//
//go:noinline
func selfTest(what, index uint64) uint64 {
	switch what {
	case 1:
		var p *uint64
		return *p
	case 2:
		var table [4]uint64
		return table[index]
	}
	if r := kcheckBad(what); r != 0 {
		return r
	}
	return neg(linux.EINVAL)
}
