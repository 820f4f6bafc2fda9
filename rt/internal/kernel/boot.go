package kernel

import (
	"encoding/binary"
	"unsafe"

	"github.com/unigo-dev/unigo/boot/pvh"
	"github.com/unigo-dev/unigo/drivers/acpi"
	"github.com/unigo-dev/unigo/drivers/apic"
	"github.com/unigo-dev/unigo/drivers/serial"
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/pcln"
	"github.com/unigo-dev/unigo/rt/internal/poweroff"
	"github.com/unigo-dev/unigo/rt/internal/sched"
	"github.com/unigo-dev/unigo/rt/internal/syscalls"
	"github.com/unigo-dev/unigo/rt/internal/uaccess"
	"github.com/unigo-dev/unigo/rt/internal/vdso"
)

func pvhEntry()
func boot64()
func haltForever()
func markerAddr() uintptr
func bootBSSEnd() uintptr
func idleWait()
func enterUser(frame uintptr)
func loadGS(base uintptr)
func haltForeverPC() uintptr
func entryPCs() (syscall, stubs uintptr)
func syscallEntry()
func exitToUser()

// Linked is called from package rt so that the linker keeps the boot path (the
// PVH entry is reached only through the marker, which only markerAddr names).
func Linked() uintptr { return markerAddr() }

// bootFail reports why the machine cannot run the program and stops.
func bootFail(msg string) {
	var l klog.Line
	l.S("unigo: boot: ").S(msg).Out()
	poweroff.KernelFault()
}

// ramRange is one usable stretch of physical memory.
type ramRange struct{ start, end uint64 }

const maxRAMRanges = 64

// bootInfo is what kmain learns before the allocator exists; it lives on the
// boot stack.
type bootInfo struct {
	ram     [maxRAMRanges]ramRange
	nram    int
	maxPhys uint64
	cmdline uint64 // physical address of the command line, or 0
	rsdp    uint64 // physical address of ACPI's RSDP from the loader, or 0
	cmdLen  uint64
	// Boot phases, for unigo.bootlog: where each ended (raw TSC).
	marks  [12]mark
	nmarks int
}

// mark is the end of a boot phase. The phase is a number, not its name: a
// string is a pointer, and storing one where the compiler cannot see the stack
// would need a write barrier.
type mark struct {
	phase int
	tsc   uint64
}

// Boot phases, in order.
const (
	phaseStartInfo = iota
	phaseFrames
	phasePageTables
	phaseCPU
	phasePCI
	phaseTSC
	phaseAPICTimer
	phaseVDSO
	phaseProcess
)

func phaseName(p int) string {
	switch p {
	case phaseStartInfo:
		return "start info"
	case phaseFrames:
		return "frame allocator"
	case phasePageTables:
		return "page tables"
	case phaseCPU:
		return "CPU tables, FPU, APIC"
	case phasePCI:
		return "PCI"
	case phaseTSC:
		return "TSC calibration"
	case phaseAPICTimer:
		return "APIC timer calibration"
	case phaseVDSO:
		return "vDSO"
	case phaseProcess:
		return "process stack"
	}
	return "?"
}

// mark notes the end of a boot phase.
func (bi *bootInfo) mark(phase int) {
	if bi.nmarks < len(bi.marks) {
		bi.marks[bi.nmarks] = mark{phase, x86.Rdtsc()}
		bi.nmarks++
	}
}

// kmain is the first Go function to run: on the boot stack, with the boot page
// tables (the low 4 GiB identity-mapped), interrupts off. It builds the kernel's
// world and enters the program; it does not return.
func kmain(startInfo uintptr, entryTSC uint64) {
	serial.Init(serial.COM1)
	var bi bootInfo
	readStartInfo(&bi, uint64(startInfo))
	bi.mark(phaseStartInfo)

	_, _, ecx1, edx1 := x86.Cpuid(1, 0)
	_, ebx7, _, _ := x86.Cpuid(7, 0)
	hasRDRAND, hasRDSEED := ecx1&(1<<30) != 0, ebx7&(1<<18) != 0

	var img image
	findImage(&img)

	// Physical memory: a bitmap allocator over all RAM, minus what is in use.
	fr, bitmap := setupFrames(&bi, &img)
	bi.mark(phaseFrames)

	// Page tables, step 1: the direct map in a new PML4, with the boot identity
	// map still in slot 0 so that this code keeps running; then every kernel
	// structure is reached through the direct map.
	root := allocLow(fr, 1)
	pt := mm.PageTable{Root: root, DM: 0}
	for _, r := range bi.ram[:bi.nram] {
		for pa := r.start &^ (2<<20 - 1); pa < r.end; pa += 2 << 20 {
			if !pt.MapLarge(mm.DirectMapBase+pa, pa, mm.PTEWrite|mm.PTENoExec|mm.PTEGlobal, fr) {
				bootFail("out of memory for page tables")
			}
		}
	}
	rootTab := kmem.Words(uintptr(root), 512)
	rootTab[0] = kmem.Words(uintptr(x86.ReadCR3()), 512)[0]
	x86.WriteCR3(root)
	dm := uintptr(mm.DirectMapBase)
	fr = kmem.At[mm.Frames](dm + kmem.Addr(fr))
	fr.Rebase(dm + bitmap)

	// The kernel state, in kernel memory.
	kaddr := allocKernel(fr, unsafe.Sizeof(Kernel{}))
	k := kernelAt(kaddr)
	s := &k.Sys
	s.Mem.Frames = *fr
	fr = &s.Mem.Frames
	k.Image = img
	// ACPI, while the boot identity map still reaches the firmware's tables
	// anywhere in the low 4 GiB: the CPUs (MADT) and the power button (GED).
	findCPUs(k, &bi)

	// Page tables, step 2: the final PML4 gets the kernel half of step 1 and a
	// user half built from scratch, in which the image is mapped at its own
	// addresses, page by page, with its segments' permissions.
	final := allocKernelPhys(fr, 1)
	copy(kmem.Words(dm+uintptr(final), 512)[256:], kmem.Words(dm+uintptr(root), 512)[256:])
	s.Mem.PT = mm.PageTable{Root: final, DM: dm}
	s.Mem.Init(allocKernel(fr, mm.VMABytes), vdso.DataAddr-1<<30)
	mapImage(k)
	x86.WriteCR3(final)
	fr.Release(root>>mm.PageShift, 1)
	bi.mark(phasePageTables)

	setupIDT(k)
	c := newCPU(k, 0, k.TLB.APICID[0])
	k.CPU0 = c.Self
	loadCPU(k, c)
	setupFP(k, c)
	setupInterrupts(k, c)
	setupPowerButton(k, c)
	bi.mark(phaseCPU)
	findPCI(k, c)
	bi.mark(phasePCI)

	// Time: calibrate, then monotonic zero is the kernel's first instruction.
	pv := allocKernelPhys(fr, 1)
	s.Clock.Calibrate(dm+uintptr(pv), pv)
	bi.mark(phaseTSC)
	data := allocKernelPhys(fr, 1)
	s.Clock.Start(entryTSC, dm+uintptr(data))
	calibrateAPICTimer(k)
	bi.mark(phaseAPICTimer)
	image := allocKernelPhys(fr, 1)
	vdso.Build(dm + uintptr(image))
	if s.Mem.MapFixed(vdso.DataAddr, vdso.DataAddr+mm.PageSize, data, linux.PROT_READ) != 0 ||
		s.Mem.MapFixed(vdso.ImageAddr, vdso.ImageAddr+mm.PageSize, image, linux.PROT_READ) != 0 {
		bootFail("cannot map the vDSO")
	}

	bi.mark(phaseVDSO)

	s.HasRDRAND, s.HasRDSEED = hasRDRAND, hasRDSEED
	if !hasRDRAND && !hasRDSEED && !seedFromVirtioRNG(k) {
		bootFail("this CPU has neither RDSEED nor RDRAND and there is no virtio-rng device to seed the " +
			"kernel's random number generator: start QEMU with -cpu host under KVM or -cpu max under TCG, " +
			"or give it -device virtio-rng-device")
	}
	startProcess(k, c, &bi, edx1)
}

// readStartInfo copies what the kernel needs out of the loader's hvm_start_info.
func readStartInfo(bi *bootInfo, addr uint64) {
	si := kmem.At[pvh.StartInfo](uintptr(addr))
	if si.Magic != pvh.StartInfoMagic {
		bootFail("start_info has the wrong magic: the kernel was not started by a PVH loader")
	}
	if si.Version < 1 || si.MemmapEntries == 0 {
		bootFail("the loader gave no memory map (PVH start_info version 1 is needed)")
	}
	bi.rsdp = si.RSDPPaddr
	if si.CmdlinePaddr != 0 {
		bi.cmdline = si.CmdlinePaddr
		for bi.cmdLen < 1<<20 && *kmem.At[byte](uintptr(si.CmdlinePaddr + bi.cmdLen)) != 0 {
			bi.cmdLen++
		}
	}
	for i := uint64(0); i < uint64(si.MemmapEntries); i++ {
		e := kmem.At[pvh.MemmapEntry](uintptr(si.MemmapPaddr + i*24))
		if e.Type != pvh.MemRAM || e.Size == 0 || bi.nram == maxRAMRanges {
			continue
		}
		start := (e.Addr + mm.PageSize - 1) &^ (mm.PageSize - 1)
		end := (e.Addr + e.Size) &^ (mm.PageSize - 1)
		if start >= end {
			continue
		}
		bi.ram[bi.nram] = ramRange{start, end}
		bi.nram++
		bi.maxPhys = max(bi.maxPhys, end)
	}
	if bi.nram == 0 {
		bootFail("the memory map has no RAM")
	}
}

// findImage reads the program's own ELF header, which the loader left at the
// image base (the first PT_LOAD starts at file offset 0), to learn where its
// segments are. The base is found by looking back from the entry code, page by
// page, for the header.
func findImage(img *image) {
	entry, _ := entryPCs()
	base := uint64(entry) &^ (mm.PageSize - 1)
	for ; base >= mm.PageSize; base -= mm.PageSize {
		h := kmem.Bytes(uintptr(base), 64)
		if string(h[:4]) == "\x7fELF" && binary.LittleEndian.Uint16(h[18:]) == 62 && binary.LittleEndian.Uint16(h[16:]) == 2 {
			break
		}
	}
	h := kmem.Bytes(uintptr(base), 64)
	if string(h[:4]) != "\x7fELF" {
		bootFail("cannot find the program's ELF header")
	}
	img.entry = binary.LittleEndian.Uint64(h[24:])
	phoff := binary.LittleEndian.Uint64(h[32:])
	img.phnum = uint64(binary.LittleEndian.Uint16(h[56:]))
	img.phdr = base + phoff
	img.base, img.end = ^uint64(0), 0
	for i := uint64(0); i < img.phnum; i++ {
		p := kmem.Bytes(uintptr(img.phdr+i*56), 56)
		if binary.LittleEndian.Uint32(p) != 1 { // PT_LOAD
			continue
		}
		flags := binary.LittleEndian.Uint32(p[4:])
		va := binary.LittleEndian.Uint64(p[16:])
		filesz := binary.LittleEndian.Uint64(p[32:])
		memsz := binary.LittleEndian.Uint64(p[40:])
		img.base = min(img.base, va&^(mm.PageSize-1))
		img.end = max(img.end, (va+memsz+mm.PageSize-1)&^(mm.PageSize-1))
		img.keep = max(img.keep, (va+filesz+mm.PageSize-1)&^(mm.PageSize-1))
		if flags == 4 { // PF_R only: rodata, where the pclntab is
			img.roStart, img.roEnd = va, va+memsz
		}
	}
	img.keep = min(max(img.keep, (uint64(bootBSSEnd())+mm.PageSize-1)&^(mm.PageSize-1)), img.end)
}

// mapImage maps each PT_LOAD of the image at its own address (the loader put it
// at physical = virtual), with the segment's permissions: text R-X, rodata R,
// data and bss RW. The header page belongs to the text segment.
func mapImage(k *Kernel) {
	img := &k.Image
	for i := uint64(0); i < img.phnum; i++ {
		p := kmem.Bytes(uintptr(img.phdr+i*56), 56)
		if binary.LittleEndian.Uint32(p) != 1 {
			continue
		}
		flags := binary.LittleEndian.Uint32(p[4:])
		va := binary.LittleEndian.Uint64(p[16:])
		memsz := binary.LittleEndian.Uint64(p[40:])
		start, end := va&^(mm.PageSize-1), (va+memsz+mm.PageSize-1)&^(mm.PageSize-1)
		prot := uint32(0)
		if flags&4 != 0 {
			prot |= linux.PROT_READ
		}
		if flags&2 != 0 {
			prot |= linux.PROT_WRITE
		}
		if flags&1 != 0 {
			prot |= linux.PROT_EXEC
		}
		// Up to img.keep at the image's physical address; the bss above it
		// zero-filled on demand.
		fixedEnd := min(end, max(img.keep, start))
		if fixedEnd > start && k.Sys.Mem.MapFixed(start, fixedEnd, start, prot) != 0 ||
			end > fixedEnd && k.Sys.Mem.MapZero(fixedEnd, end) != 0 {
			bootFail("cannot map the program image (overlapping or writable and executable segments)")
		}
	}
}

// setupFrames creates the frame allocator with its bitmap in RAM above the image,
// and frees every RAM page not in use: the first MiB (firmware, the loader's
// tables, the command line), the image, the bitmap.
func setupFrames(bi *bootInfo, img *image) (*mm.Frames, uintptr) {
	nframes := bi.maxPhys >> mm.PageShift
	need := (mm.BitmapBytes(nframes) + mm.PageSize - 1) &^ (mm.PageSize - 1)
	// The Frames header goes in the first page, the bitmap after it.
	need += mm.PageSize
	var at uint64
	for _, r := range bi.ram[:bi.nram] {
		start := max(r.start, img.keep, 1<<20)
		if start+need <= r.end && start+need <= 4<<30 {
			at = start
			break
		}
	}
	if at == 0 {
		bootFail("no room in low memory for the frame bitmap")
	}
	fr := kmem.At[mm.Frames](uintptr(at))
	bitmap := uintptr(at + mm.PageSize)
	fr.Init(bitmap, nframes)
	for _, r := range bi.ram[:bi.nram] {
		start := max(r.start, 1<<20)
		for _, hole := range [2]ramRange{{img.base, img.keep}, {at, at + need}} {
			if start < hole.start && hole.start < r.end {
				fr.AddFree(start>>mm.PageShift, (hole.start-start)>>mm.PageShift)
				start = max(start, hole.end)
			} else if start >= hole.start && start < hole.end {
				start = hole.end
			}
		}
		if start < r.end {
			fr.AddFree(start>>mm.PageShift, (r.end-start)>>mm.PageShift)
		}
	}
	// Frames commitments must leave for page tables and kernel objects: 1/64
	// of memory, at least 1 MiB.
	fr.SetFloor(max(int64(fr.Free()/64), 256))
	return fr, bitmap
}

// allocLow takes frames below 4 GiB, reachable through the boot identity map.
func allocLow(fr *mm.Frames, n uint64) uint64 {
	pfn, ok := fr.Alloc(n, 1, 0)
	if !ok || (pfn+n)<<mm.PageShift > 4<<30 {
		bootFail("out of low memory")
	}
	pa := pfn << mm.PageShift
	kmem.Zero(uintptr(pa), int(n<<mm.PageShift))
	return pa
}

// allocKernelPhys takes zeroed frames once the direct map is up and returns their
// physical address.
func allocKernelPhys(fr *mm.Frames, n uint64) uint64 {
	pfn, ok := fr.Alloc(n, 1, 0)
	if !ok {
		bootFail("out of memory for kernel structures")
	}
	pa := pfn << mm.PageShift
	kmem.Zero(mm.DirectMapBase+uintptr(pa), int(n<<mm.PageShift))
	return pa
}

// allocKernel is allocKernelPhys for bytes, returning the kernel address.
func allocKernel(fr *mm.Frames, bytes uintptr) uintptr {
	n := (uint64(bytes) + mm.PageSize - 1) >> mm.PageShift
	return mm.DirectMapBase + uintptr(allocKernelPhys(fr, n))
}

// setupIDT builds the interrupt descriptor table every CPU loads: each vector
// to its stub (vectors_amd64.s); NMI, #DF and #MC on the IST stack.
func setupIDT(k *Kernel) {
	fr := &k.Sys.Mem.Frames
	ia := allocKernel(fr, mm.PageSize)
	_, stubs := entryPCs()
	for v := 0; v < 256; v++ {
		h := *kmem.At[uint64](stubs + uintptr(v)*8)
		ist := uint64(0)
		if v == 2 || v == 8 || v == 18 {
			ist = 1
		}
		e := kmem.Words(ia+uintptr(v)*16, 2)
		e[0] = h&0xFFFF | selKCode<<16 | ist<<32 | 0x8E<<40 | (h>>16&0xFFFF)<<48
		e[1] = h >> 32
	}
	idtr := allocKernel(fr, 16)
	*kmem.At[uint16](idtr) = 256*16 - 1
	*kmem.At[uint64](idtr + 2) = uint64(ia)
	k.IDTR = idtr
}

// newCPU builds CPU index's per-CPU block, stacks, GDT and TSS (the boot CPU's
// and, at start-up, each application processor's).
func newCPU(k *Kernel, index int, apicID uint32) *CPU {
	s := &k.Sys
	fr := &s.Mem.Frames
	ca := allocKernel(fr, mm.PageSize)
	c := cpuAt(ca)
	c.Self = ca
	c.Kernel = kernelAddr(k)
	c.Index, c.APICID = index, apicID
	k.CPUs[index] = ca

	kstack := mapStack(k, 3*index, KernelStackSize)
	panicStack := mapStack(k, 3*index+1, PanicStackSize)
	ist := mapStack(k, 3*index+2, istStackSize)
	c.KStackLow = kstack
	c.KStackTop = kstack + KernelStackSize
	c.PanicStack = panicStack + PanicStackSize - 64

	// Two g's and two TLS blocks in the CPU page: one for the kernel stack,
	// one for the panic stack (the ABI wrappers reload R14 from FS:-8).
	kg, pg := ca+0x800, ca+0x840
	setG(kg, kstack, KernelStackSize)
	setG(pg, panicStack, PanicStackSize)
	*kmem.At[uintptr](ca + 0x880) = kg
	*kmem.At[uintptr](ca + 0x890) = pg
	c.KernelFS, c.PanicFS = ca+0x888, ca+0x898
	c.CopyInsn, c.CopyTail, c.LoadInsn, c.FaultRet = uaccess.Sites()

	// GDT (Linux's selector layout) and the TSS, in one page.
	ga := allocKernel(fr, mm.PageSize)
	gdt := kmem.Words(ga, 10)
	gdt[selKCode/8] = 0x00AF9A000000FFFF
	gdt[selKData/8] = 0x00CF92000000FFFF
	gdt[selUCode32/8] = 0x00CFFA000000FFFF
	gdt[selUData/8] = 0x00CFF2000000FFFF
	gdt[selUCode/8] = 0x00AFFA000000FFFF
	tss := ga + 0x100
	*kmem.At[uint64](tss + 4) = uint64(c.KStackTop) // RSP0
	*kmem.At[uint64](tss + 36) = uint64(ist + istStackSize)
	*kmem.At[uint16](tss + 102) = 104 // no I/O bitmap
	gdt[selTSS/8] = 103 | uint64(tss&0xFFFFFF)<<16 | 0x89<<40 | uint64(tss>>24&0xFF)<<56
	gdt[selTSS/8+1] = uint64(tss) >> 32
	gdtr := ga + 0x200
	*kmem.At[uint16](gdtr) = 10*8 - 1
	*kmem.At[uint64](gdtr + 2) = uint64(ga)
	c.GDT = ga
	return c
}

// loadCPU loads c's descriptor tables, TSS and GS base on the CPU running it,
// and points SYSCALL at the kernel's entry.
func loadCPU(k *Kernel, c *CPU) {
	// CS, DS, ES and SS keep the selectors the boot GDT gave them, whose
	// descriptors are the same in this table, so no segment reload is needed.
	x86.Lgdt(c.GDT + 0x200)
	x86.Ltr(selTSS)
	x86.Lidt(k.IDTR)
	loadGS(c.Self)

	// SYSCALL: CS/SS from STAR (kernel 0x10/0x18, user base 0x20 -> 0x33/0x2b),
	// entry at LSTAR, and FMASK clears IF, TF, DF, AC and NT on entry.
	sys, _ := entryPCs()
	x86.Wrmsr(0xC0000081, uint64(0x20)<<48|uint64(selKCode)<<32)
	x86.Wrmsr(0xC0000082, uint64(sys))
	x86.Wrmsr(0xC0000084, 0x47700)
	x86.Wrmsr(0xC0000080, x86.Rdmsr(0xC0000080)|1) // EFER.SCE
}

// setG fills a g whose stack bounds describe [lo, lo+size): stack.lo, stack.hi,
// stackguard0, stackguard1. Its m stays nil, so anything that tries to reach the
// scheduler faults at once into the fault report.
func setG(g, lo uintptr, size uintptr) {
	w := kmem.Words(g, 4)
	w[0], w[1] = uint64(lo), uint64(lo+size)
	w[2], w[3] = uint64(lo+stackGuard), uint64(lo+stackGuard)
}

// mapStack maps a kernel stack of size bytes at the slot-th position of the
// kernel stack area, with an unmapped guard page below it, and returns its
// lowest address.
func mapStack(k *Kernel, slot int, size uintptr) uintptr {
	fr := &k.Sys.Mem.Frames
	base := uintptr(mm.KernelStackBase) + uintptr(slot)<<20 + mm.PageSize
	pa := allocKernelPhys(fr, uint64(size>>mm.PageShift))
	for off := uintptr(0); off < size; off += mm.PageSize {
		if !k.Sys.Mem.PT.Map(uint64(base+off), pa+uint64(off), mm.PTEWrite|mm.PTENoExec|mm.PTEGlobal, fr) {
			bootFail("out of memory for kernel stacks")
		}
	}
	return base
}

// setupFP enables the FP/vector state the CPU has, so the program's Go code may
// use it (CR4.OSXSAVE with XCR0 naming what the kernel saves), and sizes the
// save area every thread carries.
func setupFP(k *Kernel, c *CPU) {
	s := &k.Sys
	boot := c.Index == 0
	_, _, ecx1, _ := x86.Cpuid(1, 0)
	_, ebx7, _, _ := x86.Cpuid(7, 0)
	cr4 := x86.ReadCR4()
	size := uint64(512) // FXSAVE
	if ecx1&(1<<26) != 0 {
		cr4 |= 1 << 18 // OSXSAVE
		x86.WriteCR4(cr4)
		lo, _, _, hi := x86.Cpuid(0xD, 0)
		// x87, SSE, AVX and the three AVX-512 components; nothing that needs
		// supervisor state or permission (AMX, PKRU, MPX).
		xcr0 := (uint64(hi)<<32 | uint64(lo)) & 0xE7
		x86.Xsetbv(0, xcr0)
		if boot {
			s.XFeatures = xcr0
		}
		_, sz, _, _ := x86.Cpuid(0xD, 0)
		size = uint64(sz)
		c.Features |= featXSave
		if a, _, _, _ := x86.Cpuid(0xD, 1); a&1 != 0 {
			c.Features |= featXSaveOpt
		}
	}
	if ebx7&1 != 0 {
		cr4 |= 1 << 16 // FSGSBASE
		x86.WriteCR4(cr4)
		c.Features |= featFSGSBase
	}
	// CR0: MP and NE on, EM and TS off: FP instructions run and report errors
	// as exceptions.
	x86.WriteCR0(x86.ReadCR0()&^(1<<2|1<<3) | 1<<1 | 1<<5)
	if !boot {
		return // the rest was measured once, on the boot CPU
	}
	s.XSaveSize = size
	// The MXCSR bits the CPU accepts (FXSAVE reports them; 0 means the
	// original set, without DAZ): rt_sigreturn refuses others, which would
	// make the restore fault.
	var area [512 + 16]byte
	fx := (kmem.Addr(&area[0]) + 15) &^ 15
	x86.Fxsave(fx)
	s.MXCSRMask = *kmem.At[uint32](fx + 28)
	if s.MXCSRMask == 0 {
		s.MXCSRMask = 0xFFBF
	}
	s.ThreadPages = (uint64(syscalls.ThreadXSaveOff) + size + mm.PageSize - 1) >> mm.PageShift
}

// setupInterrupts masks the legacy 8259s (remapped out of the exception range
// first, so a spurious one cannot pass for a fault) and enables the local APIC
// with its timer on vecTimer.
func setupInterrupts(k *Kernel, c *CPU) {
	if c.Index == 0 {
		for _, w := range [...][2]uint16{
			{0x20, 0x11}, {0xA0, 0x11}, {0x21, vecPICBase}, {0xA1, vecPICBase + 8},
			{0x21, 4}, {0xA1, 2}, {0x21, 1}, {0xA1, 1}, {0x21, 0xFF}, {0xA1, 0xFF},
		} {
			x86.Outb(w[0], uint8(w[1]))
		}
		x2, deadline := apic.Features()
		k.APIC = apic.APIC{X2: x2, Deadline: deadline}
		if !x2 {
			// Every CPU sees its own APIC at the same address.
			va := uint64(mm.MMIOBase)
			if !k.Sys.Mem.PT.Map(va, apic.PhysBase, mm.PTEWrite|mm.PTEPCD|mm.PTENoExec|mm.PTEGlobal, &k.Sys.Mem.Frames) {
				bootFail("cannot map the local APIC")
			}
			k.APIC.MMIO = uintptr(va)
		}
	}
	if k.APIC.X2 {
		c.Features |= featX2APIC
	} else {
		c.APICBase = k.APIC.MMIO
	}
	k.APIC.Enable(vecSpurious, vecTimer)
}

// calibrateAPICTimer measures the local APIC timer's rate against the TSC, for
// the one-shot mode used when the CPU has no TSC-deadline mode (QEMU's TCG).
func calibrateAPICTimer(k *Kernel) {
	if k.APIC.Deadline {
		return
	}
	const ms = 1
	k.APIC.ArmCount(0xFFFFFFFF)
	start := x86.Rdtsc()
	for x86.Rdtsc()-start < k.Sys.Clock.TSCHz/1000*ms {
		x86.Pause()
	}
	passed := 0xFFFFFFFF - uint64(k.APIC.Count())
	k.APIC.ArmCount(0)
	k.APICTicksPerMs = max(passed/ms, 1)
}

// findSymbols finds the pclntab, for the fault report, and ties it to the text
// through a function whose name and address are known. Without it, reports show
// bare addresses. The fault report calls it, not the boot: finding the table
// means scanning the read-only data.
func findSymbols(k *Kernel) {
	img := &k.Image
	t, ok := pcln.Find(uintptr(img.roStart), uintptr(img.roEnd))
	if !ok {
		return
	}
	if t.SetText(haltForeverPC(), "github.com/unigo-dev/unigo/rt/internal/kernel.haltForever.abi0") ||
		t.SetText(haltForeverPC(), "github.com/unigo-dev/unigo/rt/internal/kernel.haltForever") {
		k.Sym = t
	}
}

// startProcess builds the program's first thread and initial stack (Linux's
// argc, argv, envp, auxv) and enters it.
func startProcess(k *Kernel, c *CPU, bi *bootInfo, hwcap uint32) {
	s := &k.Sys
	fr := &s.Mem.Frames
	s.Sched.Init(sched.MaxThreads)

	// The first thread's record and FP state.
	pfn, ok := fr.Alloc(s.ThreadPages, 1, 0)
	if !ok {
		bootFail("out of memory for the first thread")
	}
	taddr := mm.DirectMapBase + uintptr(pfn<<mm.PageShift)
	kmem.Zero(taddr, int(s.ThreadPages<<mm.PageShift))
	t, _ := s.Sched.Add(taddr)
	t.PFN, t.Pages = pfn, s.ThreadPages
	t.XSave = taddr + syscalls.ThreadXSaveOff
	s.InitFP(t.XSave)

	sp := buildProcessStack(k, bi, hwcap)
	routeDevices(k, c)
	// Whether the program opens sockets at all decides whether the network
	// service runs (netcall.SysNetStart).
	findSymbols(k)
	s.NetWanted = k.Sym.HasFunc("net.sysSocket")
	bi.mark(phaseProcess)

	t.Frame = sched.Frame{RIP: k.Image.entry, RSP: sp, RFLAGS: 0x202, Vector: 0}
	now := s.Clock.Now()
	s.Sched.PickNext(now)
	s.Started = now
	if k.BootLog {
		var l klog.Line
		l.S("unigo: boot: kernel ready, entering the program at ").U(uint64(now / 1000)).S(" us").Out()
		l.S("unigo: boot: TSC ").U(s.Clock.TSCHz / 1000).S(" kHz (source ").U(uint64(s.Clock.Source)).S("), APIC timer ")
		if k.APIC.Deadline {
			l.S("TSC-deadline")
		} else {
			l.S("one-shot, ").U(k.APICTicksPerMs).S(" ticks/ms")
		}
		l.S(", x2APIC ").U(c.Features & featX2APIC / featX2APIC).S(", XSAVE area ").U(s.XSaveSize).S(" bytes").Out()
		prev := int64(0)
		for _, m := range bi.marks[:bi.nmarks] {
			t := s.Clock.FromTSC(m.tsc)
			l.S("unigo: boot:   ").S(phaseName(m.phase)).S(" done at ").U(uint64(t / 1000)).S(" us (+").U(uint64((t - prev) / 1000)).S(")").Out()
			prev = t
		}
		for i := 0; i < s.Devices(); i++ {
			logDevice(k, i)
		}
		free := fr.Avail()
		l.S("unigo: boot: memory ").U(fr.Total() * mm.PageSize >> 20).S(" MiB, ").D(free * mm.PageSize >> 10).S(" KiB available to the program").Out()
	}

	// The other CPUs: they come up and wait for the kernel lock, which this
	// CPU drops on its way into the program.
	lock(k, c)
	k.TLB.Online = 1
	k.TLB.APIC = k.APIC
	k.TLB.Vector = vecKick
	s.Mem.TLB = kmem.Addr(&k.TLB)
	startAPs(k, bi)

	f := c.KStackTop - sched.FrameSize
	*kmem.At[sched.Frame](f) = t.Frame
	c.XSave = t.XSave
	unlock(k)
	enterUser(f)
}

// findCPUs lists the CPUs from ACPI's MADT: the boot CPU first, then every
// enabled one, up to sched.MaxCPUs. Without ACPI there is the boot CPU.
func findCPUs(k *Kernel, bi *bootInfo) {
	_, ebx, _, _ := x86.Cpuid(1, 0)
	bsp := ebx >> 24
	k.NCPU = 1
	k.TLB.APICID[0] = bsp
	k.Sys.NCPU = 1
	var mem acpi.Memory
	mem.Add(0, 0, 4<<30) // the boot identity map
	if err := acpi.Parse(&mem, bi.rsdp, &k.ACPI); err != nil || !k.ACPI.HasMADT {
		return
	}
	findMMIODevices(k, &mem)
	m := &k.ACPI.MADT
	for i := 0; i < m.NumCPUs; i++ {
		cpu := &m.CPUs[i]
		if !cpu.Enabled || cpu.APICID == bsp {
			continue
		}
		if k.NCPU == sched.MaxCPUs {
			var l klog.Line
			l.S("unigo: the machine has more than ").D(sched.MaxCPUs).S(" CPUs; the rest stay unused").Out()
			break
		}
		k.TLB.APICID[k.NCPU] = cpu.APICID
		k.NCPU++
	}
	k.Sys.NCPU = k.NCPU
}

// findMMIODevices lists the virtio-mmio transports the DSDT describes (QEMU's
// microvm with ACPI; without ACPI it puts them on the command line instead,
// which buildProcessStack reads).
func findMMIODevices(k *Kernel, mem *acpi.Memory) {
	if !k.ACPI.HasDSDT {
		return
	}
	var d acpi.Device
	for n := 0; n < 32; n++ {
		if k.ACPI.Scanner.FindNthDevice(mem, k.ACPI.DSDT, "LNRO0005", n, &d) != nil {
			return
		}
		if d.HasMem && d.HasIRQ {
			k.Sys.AddDevice(netcall.DeviceVirtioMMIO, d.IRQ, uint64(d.MemBase), uint64(d.MemLen))
		}
	}
}

func kernelAddr(k *Kernel) uintptr { return kmem.Addr(k) }
