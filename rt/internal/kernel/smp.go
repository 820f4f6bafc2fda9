package kernel

import (
	"sync/atomic"

	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Multiprocessing.
//
// Threads run on every CPU at once; kernel code runs on one CPU at a time, under
// one kernel lock taken at the start of every trap and dropped just before the
// return to ring 3 (and while a CPU halts for want of work). Kernel code is
// short (system calls, faults, scheduling) and the program's own code, where
// the time goes, runs in parallel, so one lock costs little at the CPU counts a
// unikernel VM has, and every structure keeps the single-CPU code that the
// tests already prove. If the lock ever shows up in profiles, the run queue and
// futex buckets are the first candidates for their own locks.
//
// Run queue: one, shared, FIFO. A CPU takes the next thread when its current
// one blocks, exits or uses up its slice; a thread that becomes runnable while
// a CPU is idle gets that CPU at once (a kick IPI wakes it), so there is
// nothing to balance: the queue is the balance. A thread may move between CPUs.
//
// IPIs (vecKick) bring a CPU into the kernel: to run a newly runnable thread
// (an idle CPU), to give a waiting thread its turn (a CPU running a thread
// with no time slice armed), to deliver a signal to a thread running there,
// and for TLB shootdowns (package tlb), whose acknowledgement every CPU gives
// while it waits for the kernel lock.
//
// Start-up: the boot CPU reads the CPUs from ACPI's MADT and starts each other
// one with INIT and two start-up IPIs. An application processor begins in
// real mode at the trampoline (trampoline.go), a page below 1 MiB, which
// enters 32-bit protected mode and jumps to apEntry32 in the image (the same
// mode switch as the PVH entry, with the kernel's page tables), then to
// apEntry64 and apMain on its own kernel stack.

// lock takes the kernel lock for CPU c, acknowledging TLB shootdowns while it
// waits (the holder may be waiting for exactly that).
func lock(k *Kernel, c *CPU) {
	for {
		k.TLB.Ack(c.Index)
		if atomic.LoadUint32(&k.lock) == 0 && atomic.CompareAndSwapUint32(&k.lock, 0, 1) {
			break
		}
		x86.Pause()
	}
	k.TLB.Ack(c.Index)
	k.TLB.Self = c.Index
	k.Sys.Sched.Enter(c.Index)
}

// unlock drops the kernel lock.
func unlock(k *Kernel) { atomic.StoreUint32(&k.lock, 0) }

// kick sends CPU i the kick IPI.
func kick(k *Kernel, i int) {
	c := cpuAt(k.CPUs[i])
	k.APIC.SendIPI(c.APICID, vecKick)
}

// kickOthers ends every trap: it brings in the CPUs that have something to do
// because of what this trap did (a thread became runnable, a signal arrived for
// a thread running elsewhere).
func kickOthers(k *Kernel, c *CPU) {
	s := &k.Sys
	want := s.Kick &^ (1 << c.Index)
	s.Kick = 0
	if s.Sched.Runnable() {
		if idle := k.Idle &^ (1 << c.Index); idle != 0 {
			// One idle CPU per trap: it takes the first runnable thread and,
			// if more wait, kicks the next idle CPU at the end of its own trap.
			i := lowestBit(idle)
			k.Idle &^= 1 << i
			want |= 1 << i
		} else {
			// Every CPU is busy: each must have a time slice armed, so the
			// waiting thread gets a turn.
			for i := 0; i < k.NCPU; i++ {
				if i != c.Index && k.TLB.Online&(1<<i) != 0 && !cpuAt(k.CPUs[i]).SliceArmed {
					want |= 1 << i
				}
			}
		}
	}
	for i := 0; want != 0 && i < k.NCPU; i++ {
		if want&(1<<i) != 0 && k.TLB.Online&(1<<i) != 0 {
			want &^= 1 << i
			kick(k, i)
		}
	}
}

func lowestBit(m uint32) int {
	i := 0
	for m&1 == 0 {
		m >>= 1
		i++
	}
	return i
}

// AP start-up block (kernel_amd64.h AP_*), in the image's data so that the 32-
// and 64-bit entry code can find it: what the next application processor needs
// to reach apMain. The boot CPU fills it for one AP at a time.
type apBlock struct {
	CR3     uint64 // the kernel's page tables (below 4 GiB: CR3 is loaded in 32-bit mode)
	EFER    uint64 // long mode, NX, SYSCALL: the boot CPU's, minus LMA
	GDTR    uint64 // the boot GDT's register image (boot32)
	Entry64 uint64 // apEntry64
	Stack   uint64 // the AP's initial stack pointer (its kernel stack)
	FS      uint64 // its kernel TLS
	G       uint64 // its kernel g
	CPU     uint64 // its CPU block
	Alive   uint64 // set by the AP once it runs Go code
	// The 32-bit code's stack: its far return pushes two words below the
	// end of the block.
	Stack32 [3]uint64
}

func apEntry32()
func apEntry64()
func apBootAddr() uintptr
func apEntry32Addr() uintptr
func boot32GDTR() uintptr

// Start-up timing: how long to wait for an AP to report in after each start-up
// IPI. Hypervisors start a vCPU at once, but an emulated one on a loaded host
// may take a while; the wait bounds a CPU that never comes.
const (
	apSIPIWait = 10_000_000    // ns before the second start-up IPI
	apTimeout  = 5_000_000_000 // ns before giving up on it
)

// startAPs starts every CPU the MADT lists besides the boot CPU. It runs at the
// end of boot with the kernel lock held, so each AP, once up, waits for the
// lock and then for work.
func startAPs(k *Kernel, bi *bootInfo) {
	if k.NCPU <= 1 {
		return
	}
	page, ok := trampolinePage(bi)
	if !ok {
		var l klog.Line
		l.S("unigo: no free page below 1 MiB for the AP start-up code; running on one CPU").Out()
		k.NCPU = 1
		return
	}
	ap := kmem.At[apBlock](apBootAddr())
	ap.CR3 = k.Sys.Mem.PT.Root
	ap.EFER = x86.Rdmsr(0xC0000080) &^ (1 << 10)
	ap.GDTR = uint64(boot32GDTR())
	writeTrampoline(mm.DirectMapBase+uintptr(page), uint32(page), uint32(apBootAddr()), uint32(apEntry32Addr()))
	n := 1
	for i := 1; i < k.NCPU; i++ {
		c := newCPU(k, i, k.TLB.APICID[i])
		ap.Stack = uint64(c.KStackTop - sched.FrameSize - 64)
		ap.FS = uint64(c.KernelFS)
		ap.G = uint64(*kmem.At[uintptr](c.KernelFS - 8))
		ap.CPU = uint64(c.Self)
		atomic.StoreUint64(&ap.Alive, 0)
		k.APIC.SendInit(c.APICID)
		start := k.Sys.Clock.Now()
		k.APIC.SendStartup(c.APICID, uint8(page>>12))
		second := false
		for atomic.LoadUint64(&ap.Alive) == 0 {
			now := k.Sys.Clock.Now()
			if !second && now-start > apSIPIWait {
				k.APIC.SendStartup(c.APICID, uint8(page>>12))
				second = true
			}
			if now-start > apTimeout {
				break
			}
			x86.Pause()
		}
		if atomic.LoadUint64(&ap.Alive) == 0 {
			// It may still come, late, and read the start-up block: do not
			// rewrite it for another CPU.
			var l klog.Line
			l.S("unigo: CPU ").D(int64(i)).S(" (APIC ID ").U(uint64(c.APICID)).S(") did not start; not starting the rest").Out()
			break
		}
		n++
	}
	if n < k.NCPU {
		var l klog.Line
		l.S("unigo: running on ").D(int64(n)).S(" of ").D(int64(k.NCPU)).S(" CPUs").Out()
	}
}

// trampolinePage finds a RAM page below 1 MiB for the real-mode start-up code.
// By now the loader's start info and command line have been read, and the
// first MiB is never given to the frame allocator, so any RAM page there that
// is not the firmware's is free to use.
func trampolinePage(bi *bootInfo) (uint64, bool) {
	const low, high = 0x8000, 0x9F000 // above the real-mode IVT and BDA, below the EBDA
	for _, r := range bi.ram[:bi.nram] {
		start := max((r.start+mm.PageSize-1)&^(mm.PageSize-1), low)
		if start+mm.PageSize <= min(r.end, high) {
			return start, true
		}
	}
	return 0, false
}

// apMain is where an application processor's Go code starts, on its kernel
// stack below the Frame area: it loads its own descriptor tables, FP state and
// local APIC, reports in, and waits for work.
func apMain(ca uintptr) {
	c := cpuAt(ca)
	k := kernelAt(c.Kernel)
	loadCPU(k, c)
	setupFP(k, c)
	setupInterrupts(k, c)
	atomic.StoreUint64(&kmem.At[apBlock](apBootAddr()).Alive, 1)
	lock(k, c)
	atomic.StoreUint32(&k.TLB.Online, k.TLB.Online|1<<c.Index)
	enterFirstThread(k, c)
}

// enterFirstThread runs the first thread this CPU gets (it holds the lock, and
// drops it on the way out).
func enterFirstThread(k *Kernel, c *CPU) {
	s := &k.Sys
	t := pickNext(k, c)
	f := c.KStackTop - sched.FrameSize
	fr := kmem.At[sched.Frame](f)
	*fr = t.Frame
	c.XSave = t.XSave
	s.Deliver(t, fr)
	armTimer(k, c, s.Clock.Now())
	kickOthers(k, c)
	unlock(k)
	enterUser(f)
}
