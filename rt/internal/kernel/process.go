package kernel

import (
	"github.com/unigo-dev/unigo/boot/cmdline"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
	"github.com/unigo-dev/unigo/rt/internal/syscalls"
	"github.com/unigo-dev/unigo/rt/internal/uaccess"
	"github.com/unigo-dev/unigo/rt/internal/vdso"
)

// word is one decoded command-line word: its kind and where its bytes are in the
// string area.
type word struct {
	kind uint8
	_    [3]byte
	off  uint32
	n    uint32
	_    uint32
}

// buildProcessStack decodes the command line into the program's arguments and
// environment and lays out the initial stack Linux gives a new process at the top
// of a new stack mapping, and applies the kernel's own parameters. It returns the
// stack pointer.
func buildProcessStack(k *Kernel, bi *bootInfo, hwcap uint32) uint64 {
	s := &k.Sys
	fr := &s.Mem.Frames
	raw := kmem.Bytes(mm.DirectMapBase+uintptr(bi.cmdline), int(bi.cmdLen))
	if bi.cmdline == 0 {
		raw = nil
	}
	// Scratch: decoded strings (never longer than the command line) and the
	// word index (at most one word per two bytes, plus one).
	strsSize := uint64(len(raw)) + 64
	maxWords := uint64(len(raw))/2 + 2
	scratchPages := (strsSize + maxWords*16 + 64 + mm.PageSize - 1) >> mm.PageShift
	scratchPA := allocKernelPhys(fr, scratchPages)
	scratch := mm.DirectMapBase + uintptr(scratchPA)
	strs := kmem.Bytes(scratch, int(strsSize))
	words := unsafeWords(scratch+uintptr(strsSize+63)&^63, int(maxWords))

	nw, used, argv0, err := decodeCmdline(raw, strs, words)
	if err != cmdline.ErrNone {
		var l klog.Line
		l.S("unigo: boot: bad kernel command line: ").S(err.Error()).Out()
		bootFail("fix the -append string")
	}
	p := params(strs, words[:nw])
	if p.maxThreads > 0 {
		s.Sched.Limit = min(p.maxThreads, sched.MaxThreads)
	}
	k.BootLog = p.bootlog
	if argv0.n == 0 {
		argv0 = word{kind: uint8(cmdline.Arg), off: uint32(used), n: uint32(copy(strs[used:], cmdline.DefaultArgv0))}
		used += int(argv0.n) + 1
	}

	// The stack: 64 KiB for the Go runtime's first goroutine stack (g0 of m0
	// uses that much below the initial SP) plus what the strings and vectors
	// take, rounded up.
	var random [16]byte
	if !s.RandomBytes(random[:]) {
		bootFail("no randomness for AT_RANDOM")
	}
	aux := auxv{
		{linux.AT_PHDR, k.Image.phdr}, {linux.AT_PHENT, 56}, {linux.AT_PHNUM, k.Image.phnum},
		{linux.AT_PAGESZ, mm.PageSize}, {linux.AT_BASE, 0}, {linux.AT_FLAGS, 0},
		{linux.AT_ENTRY, k.Image.entry}, {linux.AT_UID, 0}, {linux.AT_EUID, 0}, {linux.AT_GID, 0},
		{linux.AT_EGID, 0}, {linux.AT_SECURE, 0}, {linux.AT_HWCAP, uint64(hwcap)},
		{linux.AT_HWCAP2, hwcap2(k)}, {linux.AT_CLKTCK, 100},
		{linux.AT_SYSINFO_EHDR, vdso.ImageAddr},
		{linux.AT_MINSIGSTKSZ, 1024 + k.Sys.XSaveSize},
		// AT_RANDOM, AT_PLATFORM, AT_EXECFN: filled in by layoutStack.
	}
	need := stackBytes(strs[:used], words[:nw], argv0, &aux)
	size := (need + 64<<10 + 2*mm.PageSize - 1) &^ (mm.PageSize - 1)
	top := uint64(mm.UserTop)
	base, e := s.Mem.Mmap(top-size, size, linux.PROT_READ|linux.PROT_WRITE,
		linux.MAP_PRIVATE|linux.MAP_ANONYMOUS|linux.MAP_FIXED|linux.MAP_STACK)
	if e != 0 {
		bootFail("no memory for the initial stack")
	}
	// Lay the stack out in kernel scratch memory, then copy it to the top of
	// the new mapping.
	imgPages := (need + mm.PageSize - 1) >> mm.PageShift
	imgPA := allocKernelPhys(fr, imgPages)
	img := kmem.Bytes(mm.DirectMapBase+uintptr(imgPA), int(imgPages<<mm.PageShift))
	sp, ok := layoutStack(img, top, strs[:used], words[:nw], argv0, &aux, random)
	if !ok || sp < base {
		bootFail("the initial stack does not fit")
	}
	n := top - sp
	if s.Mem.Prepare(sp, n, mm.Write) != 0 || !uaccess.Copy(uintptr(sp), kmem.Addr(&img[uint64(len(img))-n]), uintptr(n)) {
		bootFail("cannot write the initial stack")
	}
	// argv[0] for /proc/self/exe, before the scratch goes.
	var exeBuf [256]byte
	m := copy(exeBuf[:], strs[argv0.off:argv0.off+argv0.n])
	s.Init(exeBuf[:m], k.Image.end)
	s.Strace, s.SelfTest = p.strace, p.selftest
	for _, d := range p.mmio[:p.nmmio] {
		s.AddDevice(netcall.DeviceVirtioMMIO, d.irq, d.base, d.size)
	}
	s.SetNetParams(p.net[:p.nnet])
	s.ShutdownGrace = syscalls.DefaultShutdownGrace
	if p.shutdownGrace >= 0 {
		s.ShutdownGrace = int64(p.shutdownGrace) * 1_000_000_000
	}
	fr.Release(imgPA>>mm.PageShift, imgPages)
	fr.Release(scratchPA>>mm.PageShift, scratchPages)
	return sp
}

// hwcap2 is AT_HWCAP2: bit 1 says user code may use the FSGSBASE instructions.
func hwcap2(k *Kernel) uint64 {
	if cpuAt(k.CPU0).Features&featFSGSBase != 0 {
		return 2
	}
	return 0
}
