package linux

// System call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	SYS_read              = 0
	SYS_write             = 1
	SYS_open              = 2
	SYS_close             = 3
	SYS_stat              = 4
	SYS_fstat             = 5
	SYS_lstat             = 6
	SYS_poll              = 7
	SYS_lseek             = 8
	SYS_mmap              = 9
	SYS_mprotect          = 10
	SYS_munmap            = 11
	SYS_brk               = 12
	SYS_rt_sigaction      = 13
	SYS_rt_sigprocmask    = 14
	SYS_rt_sigreturn      = 15
	SYS_ioctl             = 16
	SYS_pread64           = 17
	SYS_pwrite64          = 18
	SYS_readv             = 19
	SYS_writev            = 20
	SYS_access            = 21
	SYS_pipe              = 22
	SYS_sched_yield       = 24
	SYS_madvise           = 28
	SYS_dup               = 32
	SYS_dup2              = 33
	SYS_pause             = 34
	SYS_nanosleep         = 35
	SYS_getitimer         = 36
	SYS_alarm             = 37
	SYS_setitimer         = 38
	SYS_getpid            = 39
	SYS_socket            = 41
	SYS_connect           = 42
	SYS_accept            = 43
	SYS_sendto            = 44
	SYS_recvfrom          = 45
	SYS_sendmsg           = 46
	SYS_recvmsg           = 47
	SYS_shutdown          = 48
	SYS_bind              = 49
	SYS_listen            = 50
	SYS_getsockname       = 51
	SYS_getpeername       = 52
	SYS_socketpair        = 53
	SYS_setsockopt        = 54
	SYS_getsockopt        = 55
	SYS_accept4           = 288
	SYS_clone             = 56
	SYS_fork              = 57
	SYS_vfork             = 58
	SYS_execve            = 59
	SYS_exit              = 60
	SYS_wait4             = 61
	SYS_kill              = 62
	SYS_uname             = 63
	SYS_fcntl             = 72
	SYS_getcwd            = 79
	SYS_readlink          = 89
	SYS_gettimeofday      = 96
	SYS_getrlimit         = 97
	SYS_getrusage         = 98
	SYS_sysinfo           = 99
	SYS_getuid            = 102
	SYS_getgid            = 104
	SYS_geteuid           = 107
	SYS_getegid           = 108
	SYS_getppid           = 110
	SYS_rt_sigpending     = 127
	SYS_rt_sigtimedwait   = 128
	SYS_rt_sigsuspend     = 130
	SYS_sigaltstack       = 131
	SYS_prctl             = 157
	SYS_arch_prctl        = 158
	SYS_setrlimit         = 160
	SYS_gettid            = 186
	SYS_tkill             = 200
	SYS_timer_create      = 222
	SYS_timer_settime     = 223
	SYS_timer_gettime     = 224
	SYS_timer_getoverrun  = 225
	SYS_timer_delete      = 226
	SYS_time              = 201
	SYS_futex             = 202
	SYS_sched_setaffinity = 203
	SYS_sched_getaffinity = 204
	SYS_set_tid_address   = 218
	SYS_clock_gettime     = 228
	SYS_clock_getres      = 229
	SYS_clock_nanosleep   = 230
	SYS_exit_group        = 231
	SYS_epoll_wait        = 232
	SYS_epoll_ctl         = 233
	SYS_tgkill            = 234
	SYS_waitid            = 247
	SYS_openat            = 257
	SYS_newfstatat        = 262
	SYS_readlinkat        = 267
	SYS_faccessat         = 269
	SYS_set_robust_list   = 273
	SYS_pipe2             = 293
	SYS_dup3              = 292
	SYS_prlimit64         = 302
	SYS_epoll_pwait       = 281
	SYS_eventfd           = 284
	SYS_eventfd2          = 290
	SYS_epoll_create1     = 291
	SYS_getcpu            = 309
	SYS_getrandom         = 318
	SYS_execveat          = 322
	SYS_statx             = 332
	SYS_rseq              = 334
	SYS_pidfd_open        = 434
	SYS_clone3            = 435
	SYS_faccessat2        = 439
	SYS_epoll_pwait2      = 441
	SYS_epoll_create      = 213

	// NumSyscalls bounds Linux's numbers (for per-number tables).
	NumSyscalls = 512
)

// unigo's private system calls, in a range Linux does not use.
const (
	// SYS_UNIGO_COUNT returns how many times system call arg0 entered the kernel.
	SYS_UNIGO_COUNT = 0x1000
	// SYS_UNIGO_SELFTEST makes the kernel fail on purpose, to test its fault
	// report: arg0 = 1 dereferences nil, 2 indexes out of range. Only with the
	// kernel parameter unigo.selftest=1; ENOSYS otherwise.
	SYS_UNIGO_SELFTEST = 0x1001
)

// clone flags.
const (
	CLONE_VM             = 0x100
	CLONE_FS             = 0x200
	CLONE_FILES          = 0x400
	CLONE_SIGHAND        = 0x800
	CLONE_PIDFD          = 0x1000
	CLONE_PTRACE         = 0x2000
	CLONE_VFORK          = 0x4000
	CLONE_PARENT         = 0x8000
	CLONE_THREAD         = 0x10000
	CLONE_NEWNS          = 0x20000
	CLONE_SYSVSEM        = 0x40000
	CLONE_SETTLS         = 0x80000
	CLONE_PARENT_SETTID  = 0x100000
	CLONE_CHILD_CLEARTID = 0x200000
	CLONE_DETACHED       = 0x400000
	CLONE_UNTRACED       = 0x800000
	CLONE_CHILD_SETTID   = 0x1000000
	CSIGNAL              = 0xff
)

// futex operations.
const (
	FUTEX_WAIT           = 0
	FUTEX_WAKE           = 1
	FUTEX_WAIT_BITSET    = 9
	FUTEX_WAKE_BITSET    = 10
	FUTEX_PRIVATE_FLAG   = 128
	FUTEX_CLOCK_REALTIME = 256
	FUTEX_BITSET_ALL     = 0xffffffff
)

// Clocks.
const (
	CLOCK_REALTIME           = 0
	CLOCK_MONOTONIC          = 1
	CLOCK_PROCESS_CPUTIME_ID = 2
	CLOCK_THREAD_CPUTIME_ID  = 3
	CLOCK_MONOTONIC_RAW      = 4
	CLOCK_REALTIME_COARSE    = 5
	CLOCK_MONOTONIC_COARSE   = 6
	CLOCK_BOOTTIME           = 7
	TIMER_ABSTIME            = 1
)

// Files.
const (
	AT_FDCWD            = -100
	AT_SYMLINK_NOFOLLOW = 0x100
	AT_EMPTY_PATH       = 0x1000
	O_RDONLY            = 0
	O_WRONLY            = 1
	O_RDWR              = 2
	O_ACCMODE           = 3
	O_NONBLOCK          = 0x800
	O_CLOEXEC           = 0x80000
	F_DUPFD             = 0
	F_GETFD             = 1
	F_SETFD             = 2
	F_GETFL             = 3
	F_SETFL             = 4
	F_DUPFD_CLOEXEC     = 1030
	FD_CLOEXEC          = 1
	S_IFCHR             = 0o020000
	S_IFDIR             = 0o040000
	S_IFREG             = 0o100000
	S_IFSOCK            = 0o140000
	PATH_MAX            = 4096
)

// epoll and eventfd.
const (
	EPOLL_CTL_ADD  = 1
	EPOLL_CTL_DEL  = 2
	EPOLL_CTL_MOD  = 3
	EPOLLIN        = 0x1
	EPOLLPRI       = 0x2
	EPOLLOUT       = 0x4
	EPOLLERR       = 0x8
	EPOLLHUP       = 0x10
	EPOLLRDHUP     = 0x2000
	EPOLLEXCLUSIVE = 1 << 28
	EPOLLWAKEUP    = 1 << 29
	EPOLLONESHOT   = 1 << 30
	EPOLLET        = 1 << 31
	EFD_SEMAPHORE  = 1
	EFD_NONBLOCK   = O_NONBLOCK
	EFD_CLOEXEC    = O_CLOEXEC
)

// EpollEvent is struct epoll_event, packed on x86-64 (12 bytes).
type EpollEvent struct {
	Events uint32
	Data   [8]byte
}

// Signals.
const (
	SIGHUP    = 1
	SIGINT    = 2
	SIGQUIT   = 3
	SIGILL    = 4
	SIGTRAP   = 5
	SIGABRT   = 6
	SIGBUS    = 7
	SIGFPE    = 8
	SIGKILL   = 9
	SIGUSR1   = 10
	SIGSEGV   = 11
	SIGUSR2   = 12
	SIGPIPE   = 13
	SIGALRM   = 14
	SIGTERM   = 15
	SIGCHLD   = 17
	SIGCONT   = 18
	SIGSTOP   = 19
	SIGTSTP   = 20
	SIGTTIN   = 21
	SIGTTOU   = 22
	SIGURG    = 23
	SIGVTALRM = 26
	SIGPROF   = 27
	SIGWINCH  = 28
	SIGSYS    = 31
	NSIG      = 64

	SIG_DFL = 0
	SIG_IGN = 1

	SIG_BLOCK   = 0
	SIG_UNBLOCK = 1
	SIG_SETMASK = 2

	SS_ONSTACK  = 1
	SS_DISABLE  = 2
	MINSIGSTKSZ = 2048

	SA_SIGINFO   = 0x4
	SA_ONSTACK   = 0x08000000
	SA_RESTORER  = 0x04000000
	SA_RESTART   = 0x10000000
	SA_NODEFER   = 0x40000000
	SA_RESETHAND = 0x80000000

	// si_code values.
	SI_USER     = 0
	SI_KERNEL   = 0x80
	SI_TIMER    = -2
	SI_TKILL    = -6
	SEGV_MAPERR = 1
	SEGV_ACCERR = 2
	BUS_ADRALN  = 1
	ILL_ILLOPN  = 2
	FPE_INTDIV  = 1
	FPE_FLTINV  = 7
	TRAP_BRKPT  = 1

	// ucontext uc_flags.
	UC_FP_XSTATE         = 1
	UC_SIGCONTEXT_SS     = 2
	UC_STRICT_RESTORE_SS = 4

	// The fpstate's software bytes (in the FXSAVE area's unused tail) and the
	// word after the XSAVE area that say the frame holds XSAVE state.
	FP_XSTATE_MAGIC1 = 0x46505853
	FP_XSTATE_MAGIC2 = 0x46505845

	// Timers (timer_create, setitimer).
	SIGEV_SIGNAL    = 0
	SIGEV_NONE      = 1
	SIGEV_THREAD_ID = 4
	ITIMER_REAL     = 0
	ITIMER_VIRTUAL  = 1
	ITIMER_PROF     = 2
)

// Sockets.
const (
	SOCK_NONBLOCK = O_NONBLOCK
	SOCK_CLOEXEC  = O_CLOEXEC
	MSG_DONTWAIT  = 0x40
	MSG_NOSIGNAL  = 0x4000
	FIONBIO       = 0x5421
	FIONREAD      = 0x541B
)

// Msghdr is struct msghdr.
type Msghdr struct {
	Name       uint64
	Namelen    uint32
	_          uint32
	Iov        uint64
	Iovlen     uint64
	Control    uint64
	Controllen uint64
	Flags      int32
	_          int32
}

// Siginfo is siginfo_t: 128 bytes, the fields after Code depend on the signal.
type Siginfo struct {
	Signo, Errno, Code int32
	_                  int32
	// Fields: si_addr (faults); si_pid, si_uid (kill); si_tid, si_overrun,
	// si_value (timers), as the signal's kind says.
	Fields [14]uint64
}

// Sigcontext is struct sigcontext (x86-64), the registers in a signal frame.
type Sigcontext struct {
	R8, R9, R10, R11, R12, R13, R14, R15 uint64
	RDI, RSI, RBP, RBX, RDX, RAX, RCX    uint64
	RSP, RIP, EFlags                     uint64
	CS, GS, FS, SS                       uint16
	Err, Trapno, Oldmask, CR2            uint64
	FPState                              uint64
	_                                    [8]uint64
}

// Ucontext is the kernel's struct ucontext on x86-64.
type Ucontext struct {
	Flags    uint64
	Link     uint64
	Stack    StackT
	Mcontext Sigcontext
	Sigmask  uint64
}

// RtSigframe is what the kernel pushes on the stack for a handler: the return
// address (the restorer), the context, the siginfo. The FP state goes above it.
type RtSigframe struct {
	Pretcode uint64
	Uc       Ucontext
	Info     Siginfo
}

// FPXSWBytes is struct _fpx_sw_bytes, at byte 464 of the fpstate.
type FPXSWBytes struct {
	Magic1       uint32
	ExtendedSize uint32
	Xfeatures    uint64
	XstateSize   uint32
	_            [7]uint32
}

// Sigevent is struct sigevent (timer_create).
type Sigevent struct {
	Value  uint64
	Signo  int32
	Notify int32
	TID    int32
	_      [11]int32
}

// Itimerspec is struct itimerspec; Itimerval is struct itimerval.
type Itimerspec struct{ Interval, Value Timespec }
type Itimerval struct{ Interval, Value [2]int64 }

// arch_prctl and prctl.
const (
	ARCH_SET_GS = 0x1001
	ARCH_SET_FS = 0x1002
	ARCH_GET_FS = 0x1003
	ARCH_GET_GS = 0x1004
	PR_SET_NAME = 15
	PR_GET_NAME = 16
)

// Resource limits.
const (
	RLIMIT_STACK  = 3
	RLIMIT_NOFILE = 7
	RLIM_NLIMITS  = 16
	RLIM_INFINITY = ^uint64(0)
)

// getrandom flags.
const (
	GRND_NONBLOCK = 1
	GRND_RANDOM   = 2
	GRND_INSECURE = 4
)

// Auxiliary vector tags.
const (
	AT_NULL         = 0
	AT_PHDR         = 3
	AT_PHENT        = 4
	AT_PHNUM        = 5
	AT_PAGESZ       = 6
	AT_BASE         = 7
	AT_FLAGS        = 8
	AT_ENTRY        = 9
	AT_UID          = 11
	AT_EUID         = 12
	AT_GID          = 13
	AT_EGID         = 14
	AT_PLATFORM     = 15
	AT_HWCAP        = 16
	AT_CLKTCK       = 17
	AT_SECURE       = 23
	AT_RANDOM       = 25
	AT_HWCAP2       = 26
	AT_EXECFN       = 31
	AT_SYSINFO_EHDR = 33
	AT_MINSIGSTKSZ  = 51
)

// Timespec is struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Stat is struct stat for x86-64.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Nlink   uint64
	Mode    uint32
	UID     uint32
	GID     uint32
	_       int32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
	_       [3]int64
}

// Utsname is struct utsname.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname [65]byte
}

// Sigaction is the kernel's struct sigaction (rt_sigaction).
type Sigaction struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     uint64
}

// StackT is stack_t (sigaltstack).
type StackT struct {
	SP    uint64
	Flags int32
	_     int32
	Size  uint64
}

// Rlimit is struct rlimit.
type Rlimit struct {
	Cur, Max uint64
}

// Sysinfo is struct sysinfo.
type Sysinfo struct {
	Uptime    int64
	Loads     [3]uint64
	Totalram  uint64
	Freeram   uint64
	Sharedram uint64
	Bufferram uint64
	Totalswap uint64
	Freeswap  uint64
	Procs     uint16
	_         [6]byte
	Totalhigh uint64
	Freehigh  uint64
	MemUnit   uint32
	_         [4]byte
}

// Rusage is struct rusage.
type Rusage struct {
	Utime, Stime [2]int64 // struct timeval
	Rest         [14]int64
}
