package kernel

import (
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/poweroff"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// exceptionNames names vectors 0..31 for the report.
const exceptionNames = "#DE divide error\x00#DB debug\x00NMI\x00#BP breakpoint\x00#OF overflow\x00" +
	"#BR bound range\x00#UD invalid opcode\x00#NM device not available\x00#DF double fault\x00" +
	"coprocessor overrun\x00#TS invalid TSS\x00#NP segment not present\x00#SS stack fault\x00" +
	"#GP general protection\x00#PF page fault\x00reserved\x00#MF x87 error\x00#AC alignment check\x00" +
	"#MC machine check\x00#XM SIMD error\x00#VE virtualization\x00#CP control protection\x00"

func exceptionName(v uint64) string {
	s := exceptionNames
	for i := uint64(0); i < v; i++ {
		j := 0
		for j < len(s) && s[j] != 0 {
			j++
		}
		if j >= len(s) {
			return "exception"
		}
		s = s[j+1:]
	}
	for j := 0; j < len(s); j++ {
		if s[j] == 0 {
			return s[:j]
		}
	}
	return "exception"
}

// kernelFault reports an exception in ring 0 (a kernel bug: a bad pointer, a
// failed bounds check reaching a nil m, a stack overflow, an NMI or machine
// check) with the registers, the faulting instruction symbolized from the
// image's own pclntab, and a frame-pointer backtrace; then it stops the VM with
// the kernel-fault status. It runs on the panic stack (trap_amd64.s).
func kernelFault(c *CPU, f *sched.Frame) {
	var l klog.Line
	l.S("unigo: kernel fault: ").S(exceptionName(f.Vector)).S(" (vector ").U(f.Vector).S(", error ").X(f.Error).S(")").Out()
	if f.Vector == vecPF {
		l.S("unigo: fault address ").X(x86.ReadCR2()).Out()
	}
	k := kernelAt(c.Kernel)
	findSymbols(k)
	l.S("unigo: rip ").X(f.RIP).S(" ")
	symbol(&l, k, f.RIP)
	l.Out()
	regs(&l, "rax", f.RAX, "rbx", f.RBX, "rcx", f.RCX, "rdx", f.RDX)
	regs(&l, "rsi", f.RSI, "rdi", f.RDI, "rbp", f.RBP, "rsp", f.RSP)
	regs(&l, "r8 ", f.R8, "r9 ", f.R9, "r10", f.R10, "r11", f.R11)
	regs(&l, "r12", f.R12, "r13", f.R13, "r14", f.R14, "r15", f.R15)
	regs(&l, "cs ", f.CS, "rfl", f.RFLAGS, "ss ", f.SS, "cr3", x86.ReadCR3())
	backtrace(&l, k, c, uintptr(f.RBP))
	poweroff.KernelFault()
}

func regs(l *klog.Line, a string, av uint64, b string, bv uint64, c string, cv uint64, d string, dv uint64) {
	l.S("unigo:   ").S(a).S(" ").X(av).Pad(32).S(b).S(" ").X(bv).Pad(56).S(c).S(" ").X(cv).Pad(80).S(d).S(" ").X(dv).Out()
}

// symbol appends name+offset for pc, when the symbol table knows it.
func symbol(l *klog.Line, k *Kernel, pc uint64) {
	if name, off, ok := k.Sym.Lookup(uintptr(pc)); ok {
		l.B(name).S("+").X(uint64(off))
		return
	}
	l.S("?")
}

// backtrace walks the frame-pointer chain on the kernel stack: at bp, the caller's
// bp and then the return address. It stops at bp 0 (the entry code's), outside
// the stack, or after 32 frames.
func backtrace(l *klog.Line, k *Kernel, c *CPU, bp uintptr) {
	lo, hi := c.KStackLow, c.KStackTop
	for i := 0; i < 32 && bp >= lo && bp+16 <= hi && bp&7 == 0; i++ {
		ret := *kmem.At[uint64](bp + 8)
		l.S("unigo:   called from ").X(ret).S(" ")
		symbol(l, k, ret)
		l.Out()
		bp = *kmem.At[uintptr](bp)
	}
}
