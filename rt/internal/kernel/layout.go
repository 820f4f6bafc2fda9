// Package kernel is unigo's kernel core: the boot sequence from the PVH entry to
// the program's first instruction, the CPUs' descriptor tables and start-up
// (smp.go), the trap, interrupt and system call entry and exit, the scheduling
// step at the end of every trap, the power button (power.go), and the fault
// report.
//
// Context: everything here runs in kernel context (ring 0). boot_amd64.s,
// ap_amd64.s and trap_amd64.s are the only ways in; they set up what Go code
// needs (a stack, R14 pointing at a g whose bounds describe that stack, FS at a
// TLS block whose -8 slot holds the g, X15 = 0) and call kmain, apMain, trap or
// kernelFault. The rules of ARCHITECTURE.md, decision 5, hold for every
// function reachable from those four,
// and rt/internal/kcheck checks them on a linked image: no allocation, no write
// barriers (kernel structures hold uintptr, never Go pointers), no Go locks or
// scheduler calls, no recursion, no indirect calls, bounded stack. Kernel packages
// keep no mutable package state: all of it is in kernel memory reached from the
// per-CPU block (GS), which ring 3 cannot reach.
//
// It may call every other rt/internal package and the drivers; nothing calls it
// but the assembly entries and package rt (which only keeps it linked).
//
// # Protection
//
// The program runs in ring 3; page tables, descriptor tables, the TSS, kernel
// stacks and every kernel structure are in supervisor-only memory reached through
// the direct map. The image is mapped with its segments' permissions (text R-X,
// rodata R, data RW and no-execute, EFER.NXE on), page 0 is never mapped, and
// CR0.WP makes text read-only for the kernel too. SMEP and SMAP stay off: the
// kernel's own code and read-only data are the image's user-accessible pages,
// which SMEP would forbid it to run and SMAP to read. The kernel reaches the
// program's memory only through mm.Memory.Prepare, which validates each range
// against the address space (EFAULT otherwise), and package uaccess, whose
// copies survive a fault.
package kernel

import (
	"github.com/unigo-dev/unigo/drivers/acpi"
	"github.com/unigo-dev/unigo/drivers/apic"
	"github.com/unigo-dev/unigo/drivers/ioapic"
	"github.com/unigo-dev/unigo/drivers/pci"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/pcln"
	"github.com/unigo-dev/unigo/rt/internal/sched"
	"github.com/unigo-dev/unigo/rt/internal/syscalls"
	"github.com/unigo-dev/unigo/rt/internal/tlb"
)

// GDT selectors (kernel_amd64.h has the same).
const (
	selKCode   = 0x10
	selKData   = 0x18
	selUCode32 = 0x23
	selUData   = 0x2B
	selUCode   = 0x33
	selTSS     = 0x38
)

// Per-CPU feature bits (CPU.Features).
const (
	featXSave    = 1
	featXSaveOpt = 2
	featFSGSBase = 4
	featX2APIC   = 8
)

// Interrupt vectors.
const (
	vecTimer = 0x40
	// vecKick only brings a CPU into the kernel: to run a thread that became
	// runnable, deliver a signal, or take part in a TLB shootdown.
	vecKick     = 0x41
	vecPICBase  = 0x70 // the 8259s, remapped here and masked
	vecSpurious = 0xFF
)

// Stack sizes.
const (
	// KernelStackSize is each CPU's kernel stack: every trap and system call
	// runs on it. rt/internal/kcheck proves the deepest path fits.
	KernelStackSize = 64 << 10
	// PanicStackSize is the stack the fault report runs on.
	PanicStackSize = 32 << 10
	istStackSize   = 8 << 10
	stackGuard     = 928 // Go's stackguard0 distance from stack.lo on linux/amd64
	// BootStackSize is the stack kmain runs on (bss; boot_amd64.s).
	BootStackSize = 64 << 10
	// EntryFrameBytes is what the assembly entry puts on the kernel stack before
	// calling trap: the Frame at the top and the call's arguments.
	EntryFrameBytes = 184 + 24
	// APFrameBytes is what is above apMain's frame on an application
	// processor's kernel stack: the Frame area, 64 bytes of slack, and the
	// argument apEntry64 passes.
	APFrameBytes = 184 + 64 + 8
)

// CPU is the per-CPU block. GS points at it in kernel context; the fields up to
// Kernel are read by assembly at the offsets in kernel_amd64.h (layout_test.go
// checks them).
type CPU struct {
	Self       uintptr
	KStackTop  uintptr // the Frame ends here
	UserRSP    uintptr // SYSCALL's scratch slot
	XSave      uintptr // the running thread's XSAVE area
	KernelFS   uintptr // FS base for Go code on the kernel stack
	PanicFS    uintptr // FS base for the fault report
	Features   uint64
	Pending    [4]uint64 // interrupt vectors seen and not yet handled
	APICBase   uintptr   // xAPIC registers (kernel address), when not x2APIC
	PanicStack uintptr
	CopyInsn   uintptr // uaccess fault sites, for the trap code's fixups
	LoadInsn   uintptr
	FaultRet   uintptr
	CopyTail   uintptr // the second copying instruction (bytes after words)

	Kernel     uintptr // the Kernel
	KStackLow  uintptr
	TimerArmed uint64 // TSC deadline (or 0) the APIC timer is armed for
	// Index is the CPU's number (0: the boot CPU), APICID its local APIC's.
	Index  int
	APICID uint32
	// SliceArmed says the timer is armed for the end of this CPU's time
	// slice (someone else waits to run).
	SliceArmed bool
	// GDT is the kernel address of this CPU's GDT page (with the TSS).
	GDT uintptr
}

// Kernel is the machine-wide state.
type Kernel struct {
	Sys syscalls.System
	// CPUs are the CPU blocks by index (CPU0 is CPUs[0], the boot CPU);
	// NCPU how many the machine has (ACPI's MADT). TLB.Online says which
	// are running.
	CPUs [sched.MaxCPUs]uintptr
	CPU0 uintptr
	NCPU int
	// Idle has a bit per CPU halted for want of a runnable thread, until
	// someone sends it a kick.
	Idle uint32
	// lock is the kernel lock: one CPU at a time runs kernel code (smp.go).
	lock uint32
	// IDTR is the kernel address of the IDT register image all CPUs load.
	IDTR uintptr
	TLB  tlb.State
	ACPI acpi.Info
	APIC apic.APIC
	// IOAPICs (from the MADT) and the GED's event selector register (kernel
	// address, 0 without one): power.go.
	IOAPICs [maxIOAPICs]ioapic.IOAPIC
	NIOAPIC int
	GEDSel  uintptr
	// PCI is what the boot's PCI scan found, PCIAccess how it reached
	// configuration space (pci.go).
	PCI       pci.Scan
	PCIAccess pci.Access
	// mmioNext is the next free page of the kernel's MMIO area.
	mmioNext uintptr
	Sym      pcln.Table
	Image    image
	// APICTicksPerMs: the one-shot timer's rate, when there is no TSC-deadline
	// mode.
	APICTicksPerMs uint64
	// BootLog: print boot timings (unigo.bootlog=1).
	BootLog bool
}

// image describes the program's ELF image as loaded.
type image struct {
	base, end uint64 // [base, end): every PT_LOAD, page-rounded
	// keep is where the image's physical memory ends for the kernel: the
	// file-backed part and the boot code's own bss. The bss above it is
	// mapped zero-filled on demand, and its physical pages (which the loader
	// zeroed, where RAM is) are free: Go's crypto/rand alone brings a 32 MiB
	// buffer there that few programs touch.
	keep    uint64
	entry   uint64
	phdr    uint64 // address of the program headers
	phnum   uint64
	roStart uint64 // the read-only data segment (for pclntab)
	roEnd   uint64
}

func cpuAt(a uintptr) *CPU { return kmem.At[CPU](a) }

func kernelAt(a uintptr) *Kernel { return kmem.At[Kernel](a) }
