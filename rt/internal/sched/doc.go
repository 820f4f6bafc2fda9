// Package sched owns the process's threads: their saved registers, the run queue,
// the timer heap of timed waits, and the futex wait queues.
//
// Context: kernel context (the trap handler's scheduling step and the syscalls
// that block or wake). No Go heap, no Go locks: the Scheduler and every Thread
// live in kernel memory, threads refer to each other by slot index, and the
// current time is always passed in, so host tests drive the same code with a fake
// clock.
//
// # Shape
//
// The kernel has one kernel stack per CPU, not one per thread: a thread that
// blocks in a system call leaves only its saved user registers (Frame) and a
// record of what it waits for. Whoever wakes it writes the system call's result
// into the saved RAX and puts it on the run queue; when it next runs it returns to
// user space as if the call had just finished. So a thousand blocked threads cost
// a thousand thread records (one page each, with the XSAVE area), nothing more.
//
// One FIFO run queue shared by every CPU, round-robin with a time slice per CPU;
// a binary heap of deadlines for timed waits (futex timeouts, nanosleep); futex
// waiters hashed by address. Each CPU has its running thread and slice end; the
// kernel says which CPU it runs on (Enter) when it takes the kernel lock, and
// only one CPU at a time is in here (rt/internal/kernel/smp.go). The caller arms
// each CPU's timer for min(next deadline, end of its slice), so an idle CPU takes
// no interrupts it does not need (tickless).
package sched

import (
	"unsafe"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

// Frame is a thread's user register state, in the order the kernel's entry code
// saves it (rt/internal/kernel/kernel_amd64.h has the offsets). The hardware part
// (RIP to SS) matches an interrupt frame; SYSCALL entries build the same.
type Frame struct {
	R15, R14, R13, R12, R11, R10, R9, R8 uint64
	RBP, RDI, RSI, RDX, RCX, RBX, RAX    uint64
	FSBase                               uint64
	Vector                               uint64 // trap vector, or VecSyscall
	Error                                uint64 // exception error code
	RIP, CS, RFLAGS, RSP, SS             uint64
}

// FrameSize is the size of Frame in bytes.
const FrameSize = 23 * 8

// VecSyscall is the Frame.Vector of a SYSCALL entry (vectors are 0..255).
const VecSyscall = 256

// VecRestore marks a Frame whose every register must come back, RCX and R11
// included (rt_sigreturn): the return to ring 3 then takes IRETQ, not SYSRET.
const VecRestore = 257

// Limits.
const (
	// MaxThreads is the size of the thread table. clone beyond Scheduler.Limit
	// (at most this) fails with EAGAIN.
	MaxThreads = 4096
	// MaxCPUs is how many CPUs the scheduler runs threads on.
	MaxCPUs = 16
	// DefaultSlice is how long a thread runs before the timer lets the next
	// runnable thread in.
	DefaultSlice = 10_000_000 // ns
	futexBuckets = 256
	none         = -1
)

// Thread states.
const (
	Free = iota
	Runnable
	Running
	Blocked
	// Exiting: the thread called exit; the kernel frees it once it has
	// switched to another thread.
	Exiting
)

// What a blocked thread waits for.
const (
	WaitNone  = iota
	WaitFutex // on a futex queue, maybe with a deadline
	WaitSleep // only the deadline
	// WaitFile: on the file-wait queue (epoll_wait, a blocking read), maybe
	// with a deadline; whoever changes a file's readiness looks at the queue.
	WaitFile
)

// Thread is one thread's record. It lives at the start of the pages the kernel
// allocated for it; the XSAVE area follows it in the same pages.
type Thread struct {
	Frame Frame
	TID   int32
	State uint8
	Wait  uint8
	_     [2]byte
	// Next and Prev link the thread into the run queue or a futex queue.
	Next, Prev int32
	heapIdx    int32
	slot       int32
	Deadline   int64  // ns of the monotonic clock; 0: none
	WaitAddr   uint64 // futex address; epoll_wait or read buffer
	WaitBits   uint32 // futex bitset; epoll_wait's maxevents or the read size
	WaitFD     int32  // the file waited on (WaitFile)
	// Signal state: the blocked mask (rt_sigprocmask), the signals sent to
	// this thread and not yet delivered with each one's si_code, the fault
	// address of a pending fault signal, and the alternate stack.
	SigMask    uint64
	SigPending uint64
	SigCode    [64]int16
	SigAddr    uint64
	AltSP      uint64
	AltSize    uint64
	AltFlags   int32
	// SigTimer is the timer whose expiry sent the pending SIGPROF or
	// SIGALRM (si_timerid).
	SigTimer int32
	ClearTID uint64 // CLONE_CHILD_CLEARTID: zeroed and woken at exit
	// CPU is where the thread runs (Running) or last ran.
	CPU int32
	_   int32
	// CPU time: nanoseconds run so far, and when the current run began.
	CPUTime  int64
	RunStart int64
	XSave    uintptr // this thread's XSAVE area (64-byte aligned)
	PFN      uint64  // first frame of the record's pages
	Pages    uint64  // how many
}

// ThreadSize is the size of a Thread record.
const ThreadSize = unsafe.Sizeof(Thread{})

type timer struct {
	deadline int64
	slot     int32
	_        int32
}

type queue struct{ head, tail int32 }

// Scheduler is the process's thread table and queues.
type Scheduler struct {
	threads [MaxThreads]uintptr // slot -> kernel address of its Thread, 0 if free
	gen     [MaxThreads]uint16  // bumped when a slot is reused, so TIDs differ
	// Limit caps the number of threads (unigo.maxthreads), at most MaxThreads.
	Limit   int
	count   int
	run     queue
	timers  [MaxThreads]timer
	ntimers int
	futex   [futexBuckets]queue
	files   queue
	// cpu is the CPU the kernel runs on now (Enter); cur and sliceEnd are
	// each CPU's running thread (slot or -1) and when its time slice ends.
	cpu      int
	cur      [MaxCPUs]int32
	sliceEnd [MaxCPUs]int64
	// Slice is the time slice length (ns).
	Slice int64
	// cpuTotal is the CPU time of every run that has ended, exited threads'
	// included (the process CPU clock).
	cpuTotal int64
}

// Init empties the scheduler.
func (s *Scheduler) Init(limit int) {
	if limit <= 0 || limit > MaxThreads {
		limit = MaxThreads
	}
	s.Limit = limit
	s.count, s.ntimers = 0, 0
	s.run = queue{none, none}
	for i := range s.futex {
		s.futex[i] = queue{none, none}
	}
	s.files = queue{none, none}
	for i := range s.cur {
		s.cur[i] = none
	}
	s.Slice = DefaultSlice
}

// Enter says which CPU the kernel now runs on: Current, PickNext and the time
// slice are that CPU's. (One CPU at a time runs kernel code.)
func (s *Scheduler) Enter(cpu int) { s.cpu = cpu }

// CPU is the CPU the kernel runs on now.
func (s *Scheduler) CPU() int { return s.cpu }

// Current is the slot of the thread running on this CPU, or -1.
func (s *Scheduler) Current() int32 { return s.cur[s.cpu] }

// SliceEnd is when this CPU's time slice ends (ns).
func (s *Scheduler) SliceEnd() int64 { return s.sliceEnd[s.cpu] }

// ExtendSlice gives this CPU's thread a fresh time slice from now.
func (s *Scheduler) ExtendSlice(now int64) { s.sliceEnd[s.cpu] = now + s.Slice }

// Thread returns the thread in slot i.
func (s *Scheduler) Thread(i int32) *Thread { return kmem.At[Thread](s.threads[i]) }

// Count is the number of live threads.
func (s *Scheduler) Count() int { return s.count }

// Full says whether another thread would exceed the limit.
func (s *Scheduler) Full() bool { return s.count >= s.Limit }

// Add records a new thread whose record the caller allocated at addr (zeroed
// except for what the caller set: Frame, XSave, PFN, Pages). It is runnable and
// at the back of the run queue. ok is false when the table is full.
func (s *Scheduler) Add(addr uintptr) (t *Thread, ok bool) {
	if s.Full() {
		return nil, false
	}
	for i := int32(0); i < int32(s.Limit); i++ {
		if s.threads[i] != 0 {
			continue
		}
		s.threads[i] = addr
		s.count++
		t = kmem.At[Thread](addr)
		t.slot = i
		t.TID = int32(s.gen[i])*MaxThreads + i + 1
		t.heapIdx = none
		t.Next, t.Prev = none, none
		t.State = Runnable
		s.push(&s.run, t)
		return t, true
	}
	return nil, false
}

// ByTID finds a live thread.
func (s *Scheduler) ByTID(tid int32) (*Thread, bool) {
	if tid <= 0 {
		return nil, false
	}
	i := (tid - 1) % MaxThreads
	if s.threads[i] == 0 {
		return nil, false
	}
	t := s.Thread(i)
	return t, t.TID == tid
}

// Slot is the thread's index in the table.
func (t *Thread) Slot() int32 { return t.slot }

// Remove drops a thread that is no longer on any queue (it exited). The caller
// frees its pages.
func (s *Scheduler) Remove(t *Thread) {
	s.cancelTimer(t)
	i := t.slot
	s.threads[i] = 0
	s.gen[i]++
	if int(s.gen[i])*MaxThreads+MaxThreads >= 1<<31 {
		s.gen[i] = 0
	}
	s.count--
	t.State = Free
	if s.cur[s.cpu] == i {
		s.cur[s.cpu] = none
	}
}

// push appends t to q.
func (s *Scheduler) push(q *queue, t *Thread) {
	t.Next, t.Prev = none, q.tail
	if q.tail != none {
		s.Thread(q.tail).Next = t.slot
	} else {
		q.head = t.slot
	}
	q.tail = t.slot
}

// unlink removes t from q.
func (s *Scheduler) unlink(q *queue, t *Thread) {
	if t.Prev != none {
		s.Thread(t.Prev).Next = t.Next
	} else {
		q.head = t.Next
	}
	if t.Next != none {
		s.Thread(t.Next).Prev = t.Prev
	} else {
		q.tail = t.Prev
	}
	t.Next, t.Prev = none, none
}

// Runnable says whether a thread waits for the CPU.
func (s *Scheduler) Runnable() bool { return s.run.head != none }

// PickNext takes the thread at the front of the run queue and makes it current,
// with a fresh time slice from now.
func (s *Scheduler) PickNext(now int64) (*Thread, bool) {
	if s.run.head == none {
		return nil, false
	}
	t := s.Thread(s.run.head)
	s.unlink(&s.run, t)
	t.State = Running
	t.RunStart = now
	t.CPU = int32(s.cpu)
	s.cur[s.cpu] = t.slot
	s.sliceEnd[s.cpu] = now + s.Slice
	return t, true
}

// Stopped charges the CPU time of the run that ends now to t.
func (s *Scheduler) Stopped(t *Thread, now int64) {
	if t.RunStart != 0 {
		t.CPUTime += now - t.RunStart
		s.cpuTotal += now - t.RunStart
		t.RunStart = 0
	}
}

// ThreadCPUTime is t's CPU time up to now.
func (t *Thread) ThreadCPUTime(now int64) int64 {
	if t.RunStart != 0 {
		return t.CPUTime + now - t.RunStart
	}
	return t.CPUTime
}

// Exit marks the running thread as exiting: it leaves the CPU at the next switch
// and the kernel then frees it.
func (s *Scheduler) Exit(t *Thread) {
	t.State = Exiting
	if s.cur[s.cpu] == t.slot {
		s.cur[s.cpu] = none
	}
}

// ProcessCPUTime is the CPU time of every thread the process has had, up to now.
func (s *Scheduler) ProcessCPUTime(now int64) int64 {
	sum := s.cpuTotal
	for _, i := range s.cur {
		if i != none {
			if t := s.Thread(i); t.RunStart != 0 {
				sum += now - t.RunStart
			}
		}
	}
	return sum
}

// ThreadAt returns the live thread in slot i (0 <= i < Limit), to walk the table.
func (s *Scheduler) ThreadAt(i int) (*Thread, bool) {
	if i < 0 || i >= s.Limit || s.threads[i] == 0 {
		return nil, false
	}
	return s.Thread(int32(i)), true
}

// Yield puts the current thread at the back of the run queue (sched_yield, the end
// of a time slice). The caller then picks the next thread.
func (s *Scheduler) Yield(t *Thread) {
	t.State = Runnable
	s.push(&s.run, t)
	if s.cur[s.cpu] == t.slot {
		s.cur[s.cpu] = none
	}
}

// Block stops the current thread until a wake-up or, when deadline is not 0, until
// then. For WaitFutex it joins the queue for addr; for WaitFile, the file-wait
// queue.
func (s *Scheduler) Block(t *Thread, wait uint8, addr uint64, bits uint32, deadline int64) {
	t.State = Blocked
	t.Wait = wait
	t.WaitAddr, t.WaitBits = addr, bits
	switch wait {
	case WaitFutex:
		s.push(&s.futex[bucket(addr)], t)
	case WaitFile:
		s.push(&s.files, t)
	}
	if deadline != 0 {
		s.addTimer(t, deadline)
	}
	if s.cur[s.cpu] == t.slot {
		s.cur[s.cpu] = none
	}
}

// Wake makes a blocked thread runnable, with result as its system call's return
// value (RAX).
func (s *Scheduler) Wake(t *Thread, result int64) {
	if t.State != Blocked {
		return
	}
	switch t.Wait {
	case WaitFutex:
		s.unlink(&s.futex[bucket(t.WaitAddr)], t)
	case WaitFile:
		s.unlink(&s.files, t)
	}
	s.cancelTimer(t)
	t.Wait = WaitNone
	t.Frame.RAX = uint64(result)
	t.State = Runnable
	s.push(&s.run, t)
}

// FutexRequeue makes up to n threads waiting on addr runnable without touching
// their saved registers: they were parked to run their system call again.
func (s *Scheduler) FutexRequeue(addr uint64, n int) int {
	q := &s.futex[bucket(addr)]
	woken := 0
	for i := q.head; i != none && woken < n; {
		t := s.Thread(i)
		i = t.Next
		if t.WaitAddr == addr && t.State == Blocked {
			rax := t.Frame.RAX
			s.Wake(t, 0)
			t.Frame.RAX = rax
			woken++
		}
	}
	return woken
}

func bucket(addr uint64) uint32 {
	return uint32((addr >> 2) * 0x9E3779B97F4A7C15 >> 56)
}

// FutexWake wakes up to n threads waiting on addr whose bitset meets bits, and
// returns how many it woke (FUTEX_WAKE, FUTEX_WAKE_BITSET).
func (s *Scheduler) FutexWake(addr uint64, n int, bits uint32) int {
	q := &s.futex[bucket(addr)]
	woken := 0
	for i := q.head; i != none && woken < n; {
		t := s.Thread(i)
		i = t.Next
		if t.WaitAddr == addr && t.WaitBits&bits != 0 {
			s.Wake(t, 0)
			woken++
		}
	}
	return woken
}

// FileWaiters returns the first thread waiting on a file, to walk with
// NextFileWaiter (take the next one before waking the current).
func (s *Scheduler) FileWaiters() (*Thread, bool) { return s.thread(s.files.head) }

// NextFileWaiter is the thread after t on the file-wait queue.
func (s *Scheduler) NextFileWaiter(t *Thread) (*Thread, bool) { return s.thread(t.Next) }

func (s *Scheduler) thread(i int32) (*Thread, bool) {
	if i == none {
		return nil, false
	}
	return s.Thread(i), true
}

// addTimer puts t on the timer heap.
func (s *Scheduler) addTimer(t *Thread, deadline int64) {
	s.cancelTimer(t)
	t.Deadline = deadline
	i := s.ntimers
	s.ntimers++
	s.timers[i] = timer{deadline: deadline, slot: t.slot}
	t.heapIdx = int32(i)
	s.up(i)
}

func (s *Scheduler) cancelTimer(t *Thread) {
	i := int(t.heapIdx)
	if i == none {
		return
	}
	t.heapIdx = none
	t.Deadline = 0
	last := s.ntimers - 1
	s.ntimers--
	if i == last {
		return
	}
	s.timers[i] = s.timers[last]
	s.Thread(s.timers[i].slot).heapIdx = int32(i)
	s.down(i)
	s.up(i)
}

func (s *Scheduler) swap(i, j int) {
	s.timers[i], s.timers[j] = s.timers[j], s.timers[i]
	s.Thread(s.timers[i].slot).heapIdx = int32(i)
	s.Thread(s.timers[j].slot).heapIdx = int32(j)
}

func (s *Scheduler) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if s.timers[p].deadline <= s.timers[i].deadline {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Scheduler) down(i int) {
	for {
		l := 2*i + 1
		if l >= s.ntimers {
			return
		}
		c := l
		if r := l + 1; r < s.ntimers && s.timers[r].deadline < s.timers[l].deadline {
			c = r
		}
		if s.timers[i].deadline <= s.timers[c].deadline {
			return
		}
		s.swap(i, c)
		i = c
	}
}

// NextDeadline is the earliest timed wait, or 0.
func (s *Scheduler) NextDeadline() int64 {
	if s.ntimers == 0 {
		return 0
	}
	return s.timers[0].deadline
}

// Expire wakes every thread whose deadline is at or before now: a futex wait ends
// with -ETIMEDOUT, a sleep with 0. It returns how many it woke.
func (s *Scheduler) Expire(now int64, etimedout int64) int {
	n := 0
	for s.ntimers > 0 && s.timers[0].deadline <= now {
		t := s.Thread(s.timers[0].slot)
		result := int64(0)
		if t.Wait == WaitFutex {
			result = -etimedout
		}
		s.Wake(t, result)
		n++
	}
	return n
}
