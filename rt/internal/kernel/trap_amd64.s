#include "textflag.h"
#include "kernel_amd64.h"

// SAVE_GPRS pushes the general registers so that, with what is above them on
// the stack (FSBase, vector, error, hardware frame), they form a Frame at SP.
#define SAVE_GPRS \
	PUSHQ	AX; PUSHQ	BX; PUSHQ	CX; PUSHQ	DX; \
	PUSHQ	SI; PUSHQ	DI; PUSHQ	BP; PUSHQ	R8; \
	PUSHQ	R9; PUSHQ	R10; PUSHQ	R11; PUSHQ	R12; \
	PUSHQ	R13; PUSHQ	R14; PUSHQ	R15

// RESTORE_GPRS loads every general register from the Frame at SP except RAX,
// RCX and R11, which the two return paths load themselves.
#define RESTORE_GPRS \
	MOVQ	F_R15(SP), R15; \
	MOVQ	F_R14(SP), R14; \
	MOVQ	F_R13(SP), R13; \
	MOVQ	F_R12(SP), R12; \
	MOVQ	F_R10(SP), R10; \
	MOVQ	F_R9(SP), R9; \
	MOVQ	F_R8(SP), R8; \
	MOVQ	F_RBP(SP), BP; \
	MOVQ	F_RDI(SP), DI; \
	MOVQ	F_RSI(SP), SI; \
	MOVQ	F_RDX(SP), DX; \
	MOVQ	F_RBX(SP), BX

// Kernel entry and exit: SYSCALL, exceptions and interrupts from ring 3, the few
// things that can happen in ring 0 (an interrupt while idle, a fault in a user
// access routine, a kernel bug), and the return to ring 3.
//
// On entry from ring 3 the user's registers go into the Frame at the top of this
// CPU's kernel stack (sched.Frame layout, offsets in kernel_amd64.h): the CPU
// pushes SS..RIP there for exceptions and interrupts (TSS.RSP0 points at the
// stack top), syscallEntry builds the same by hand. Then the user's FP/vector
// state goes to the running thread's XSAVE area and the kernel's Go code runs:
// FS points at this CPU's kernel TLS (the ABI wrappers reload R14 from FS:-8),
// R14 at the kernel g whose bounds describe the kernel stack, X15 is zero. BP
// still holds the user's value, which backtraces stop at: it is not on the
// kernel stack. trap may switch threads by rewriting the Frame and
// CPU_XSAVE; exitToUser restores whatever they then say.
//
// Interrupts stay disabled in kernel context (interrupt gates, SYSCALL's FMASK),
// except in idleWait.

// func syscallEntry() — IA32_LSTAR. RCX = user RIP, R11 = user RFLAGS, RSP = user
// stack; GS base is the user's until SWAPGS.
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	SWAPGS
	MOVQ	SP, CPU_USERRSP(GS)
	MOVQ	CPU_KSTACK(GS), SP
	PUSHQ	$UDATA
	PUSHQ	CPU_USERRSP(GS)
	PUSHQ	R11
	PUSHQ	$UCODE
	PUSHQ	CX
	PUSHQ	$0
	PUSHQ	$VEC_SYSCALL
	JMP	userEntry<>(SB)

// intrCommon is where every IDT stub (vectors_amd64.s) jumps after pushing an
// error code (0 when the CPU pushed none) and its vector.
// Stack: vector, error, RIP, CS, RFLAGS, RSP, SS.
TEXT ·intrCommon(SB),NOSPLIT|NOFRAME,$0
	TESTB	$3, 24(SP)
	JZ	fromKernel
	SWAPGS
	JMP	userEntry<>(SB)
fromKernel:
	CMPQ	0(SP), $32
	JAE	kernelIRQ
	// An exception in ring 0. A page fault or #GP in one of the user-access
	// instructions (package uaccess) is the program's bad pointer: resume at
	// the routine's failure return, which reports EFAULT.
	PUSHQ	AX
	MOVQ	24(SP), AX
	CMPQ	AX, CPU_COPYINSN(GS)
	JEQ	fixup
	CMPQ	AX, CPU_COPYTAIL(GS)
	JEQ	fixup
	CMPQ	AX, CPU_LOADINSN(GS)
	JEQ	fixup
	POPQ	AX
	JMP	kernelFault<>(SB)
fixup:
	MOVQ	CPU_FAULTRET(GS), AX
	MOVQ	AX, 24(SP)
	POPQ	AX
	ADDQ	$16, SP
	IRETQ
kernelIRQ:
	// An interrupt that ended idleWait's HLT: note it and go back; the idle
	// loop looks at what is pending.
	PUSHQ	AX
	PUSHQ	CX
	PUSHQ	DX
	MOVQ	24(SP), AX
	CALL	noteIRQ<>(SB)
	POPQ	DX
	POPQ	CX
	POPQ	AX
	ADDQ	$16, SP
	IRETQ

// paranoidEntry is for the IST vectors (NMI, #DF, #MC), which can arrive at any
// instruction, including the few where GS still holds the user's base in ring 0.
// The user's GS base is never a kernel address (bit 63 clear), so RDMSR says
// which it is. All three are fatal: report and stop.
TEXT ·paranoidEntry(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	PUSHQ	CX
	PUSHQ	DX
	MOVL	$0xC0000101, CX
	RDMSR
	BTL	$31, DX
	JCS	kgs
	SWAPGS
kgs:
	POPQ	DX
	POPQ	CX
	POPQ	AX
	JMP	kernelFault<>(SB)

// userEntry saves the rest of the Frame (the hardware part and vector are on the
// stack already, at the top of the kernel stack), the FS base and the FP state,
// then calls trap(cpu, frame) and returns through exitToUser.
TEXT userEntry<>(SB),NOSPLIT|NOFRAME,$0
	CLD
	PUSHQ	$0 // FSBase, below
	SAVE_GPRS
	// Interrupts are acknowledged here, in one place, whatever mode they hit.
	MOVQ	F_VECTOR(SP), AX
	CMPQ	AX, $32
	JCS	saved
	CMPQ	AX, $VEC_SYSCALL
	JEQ	saved
	CALL	noteIRQ<>(SB)
saved:
	CALL	readFS<>(SB)
	MOVQ	AX, F_FSBASE(SP)
	MOVQ	CPU_XSAVE(GS), DI
	CALL	fpSave<>(SB)
	MOVQ	CPU_KERNELFS(GS), AX
	CALL	writeFS<>(SB)
	MOVQ	CPU_KERNELFS(GS), AX
	MOVQ	-8(AX), R14
	XORPS	X15, X15
	MOVQ	SP, BX
	MOVQ	CPU_SELF(GS), AX
	SUBQ	$24, SP
	MOVQ	AX, 0(SP)
	MOVQ	BX, 8(SP)
	CALL	·trap(SB)
	ADDQ	$24, SP
	JMP	·exitToUser(SB)

// func exitToUser() — restores the Frame at SP (the top of this CPU's kernel
// stack) and returns to ring 3: SYSRET for a thread that entered by SYSCALL and
// whose RIP is canonical, IRETQ otherwise. CS, SS and the privileged RFLAGS bits
// are forced to user values whatever the Frame says, so no Frame can return to
// ring 0 or with IOPL raised. Also the first entry into user mode (kmain).
TEXT ·exitToUser(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_XSAVE(GS), DI
	CALL	fpRestore<>(SB)
	MOVQ	F_FSBASE(SP), AX
	CALL	writeFS<>(SB)
	MOVQ	$UCODE, F_CS(SP)
	MOVQ	$UDATA, F_SS(SP)
	MOVQ	F_RFLAGS(SP), AX
	ANDQ	$RFLAGS_USER, AX
	ORQ	$RFLAGS_FORCE, AX
	MOVQ	AX, F_RFLAGS(SP)
	CMPQ	F_VECTOR(SP), $VEC_SYSCALL
	JNE	iret
	MOVQ	F_RIP(SP), AX
	SHRQ	$47, AX
	JNZ	iret
	JMP	sysret
iret:
	RESTORE_GPRS
	MOVQ	F_R11(SP), R11
	MOVQ	F_RCX(SP), CX
	MOVQ	F_RAX(SP), AX
	LEAQ	F_RIP(SP), SP
	SWAPGS
	IRETQ
sysret:
	// SYSRET takes RIP from RCX and RFLAGS from R11: their user values are
	// clobbered, as SYSCALL's ABI allows.
	RESTORE_GPRS
	MOVQ	F_RIP(SP), CX
	MOVQ	F_RFLAGS(SP), R11
	MOVQ	F_RAX(SP), AX
	MOVQ	F_RSP(SP), SP
	SWAPGS
	BYTE $0x48; BYTE $0x0F; BYTE $0x07 // SYSRETQ

// kernelFault: an exception in ring 0 that no fixup covers, or an IST vector.
// Stack: vector, error, hardware frame. Builds a Frame below it, moves to the
// panic stack (kernel stack overflows end up here too) with the panic TLS and g,
// and calls kernelFault(cpu, frame), which reports and stops.
TEXT kernelFault<>(SB),NOSPLIT|NOFRAME,$0
	CLD
	PUSHQ	$0
	SAVE_GPRS
	MOVQ	SP, BX
	MOVQ	CPU_PANICSTACK(GS), SP
	MOVQ	CPU_PANICFS(GS), AX
	CALL	writeFS<>(SB)
	MOVQ	CPU_PANICFS(GS), AX
	MOVQ	-8(AX), R14
	XORPS	X15, X15
	MOVQ	CPU_SELF(GS), AX
	SUBQ	$24, SP
	MOVQ	AX, 0(SP)
	MOVQ	BX, 8(SP)
	CALL	·kernelFault(SB)
stop:
	CLI
	HLT
	JMP	stop

// noteIRQ records vector AX as pending for this CPU and acknowledges it at the
// local APIC (not for the spurious vector or the masked 8259's range, which are
// not in service). Uses AX, CX, DX.
TEXT noteIRQ<>(SB),NOSPLIT|NOFRAME,$0
	CMPQ	AX, $VEC_SPURIOUS
	JEQ	done
	MOVQ	AX, CX
	SHRQ	$6, CX
	ANDL	$63, AX
	MOVQ	CPU_SELF(GS), DX
	LEAQ	CPU_PENDING(DX)(CX*8), DX
	BTSQ	AX, (DX)
	SHLQ	$6, CX
	ORQ	CX, AX
	CMPQ	AX, $VEC_PIC_FIRST
	JCS	eoi
	CMPQ	AX, $VEC_PIC_LAST
	JLS	done
eoi:
	MOVQ	CPU_FEATURES(GS), AX
	TESTQ	$FEAT_X2APIC, AX
	JZ	xapic
	MOVL	$0x80B, CX
	XORL	AX, AX
	XORL	DX, DX
	WRMSR
	RET
xapic:
	MOVQ	CPU_APICBASE(GS), DX
	MOVL	$0, 0xB0(DX)
done:
	RET

// readFS returns the FS base in AX (RDFSBASE when CR4.FSGSBASE is on, the MSR
// otherwise). Uses AX, CX, DX.
TEXT readFS<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_FEATURES(GS), AX
	TESTQ	$FEAT_FSGSBASE, AX
	JZ	msr
	BYTE $0xF3; BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0xC0 // RDFSBASE AX
	RET
msr:
	MOVL	$0xC0000100, CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	RET

// writeFS sets the FS base to AX. Uses AX, CX, DX.
TEXT writeFS<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	AX, DX
	MOVQ	CPU_FEATURES(GS), CX
	TESTQ	$FEAT_FSGSBASE, CX
	JZ	msr
	BYTE $0xF3; BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0xD2 // WRFSBASE DX
	RET
msr:
	MOVL	$0xC0000100, CX
	SHRQ	$32, DX
	WRMSR
	RET

// fpSave saves the FP/SSE/AVX state to the 64-byte aligned area at DI:
// XSAVEOPT64, XSAVE64 or FXSAVE64, whichever the CPU has. Uses AX, DX.
TEXT fpSave<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_FEATURES(GS), AX
	TESTQ	$FEAT_XSAVEOPT, AX
	JNZ	opt
	TESTQ	$FEAT_XSAVE, AX
	JNZ	plain
	BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0x07 // FXSAVE64 (DI)
	RET
plain:
	MOVL	$-1, AX
	MOVL	$-1, DX
	BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0x27 // XSAVE64 (DI)
	RET
opt:
	MOVL	$-1, AX
	MOVL	$-1, DX
	BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0x37 // XSAVEOPT64 (DI)
	RET

// fpRestore loads the FP state from the area at DI. Uses AX, DX.
TEXT fpRestore<>(SB),NOSPLIT|NOFRAME,$0
	MOVQ	CPU_FEATURES(GS), AX
	TESTQ	$FEAT_XSAVE, AX
	JNZ	x
	BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0x0F // FXRSTOR64 (DI)
	RET
x:
	MOVL	$-1, AX
	MOVL	$-1, DX
	BYTE $0x48; BYTE $0x0F; BYTE $0xAE; BYTE $0x2F // XRSTOR64 (DI)
	RET

// func idleWait()
// Enables interrupts and halts until one arrives; kernelIRQ notes it. STI's
// one-instruction shadow covers the HLT, so an interrupt already pending cannot
// slip in between and leave the CPU halted.
TEXT ·idleWait(SB),NOSPLIT,$0-0
	STI
	HLT
	CLI
	RET

// func enterUser(kstackFrame uintptr) — first return to ring 3 from kmain: runs
// exitToUser on the Frame at kstackFrame (the top of the kernel stack).
TEXT ·enterUser(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ	kstackFrame+0(FP), SP
	JMP	·exitToUser(SB)

// func loadGS(base uintptr) — sets the kernel GS base (IA32_GS_BASE; the user's
// starts at 0 in IA32_KERNEL_GS_BASE and SWAPGS trades them).
TEXT ·loadGS(SB),NOSPLIT,$0-8
	MOVQ	base+0(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	MOVL	$0xC0000101, CX
	WRMSR
	XORL	AX, AX
	XORL	DX, DX
	MOVL	$0xC0000102, CX
	WRMSR
	RET

// func haltForeverPC() uintptr — an address whose function name is known, to
// anchor the symbol table (pcln.Table.SetText).
TEXT ·haltForeverPC(SB),NOSPLIT,$0-8
	LEAQ	·haltForever(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func entryPCs() (syscall, stubs uintptr) — the SYSCALL entry and the address
// of vectorTable, the stubs' addresses by vector.
TEXT ·entryPCs(SB),NOSPLIT,$0-16
	LEAQ	·syscallEntry(SB), AX
	MOVQ	AX, syscall+0(FP)
	LEAQ	·vectorTable(SB), AX
	MOVQ	AX, stubs+8(FP)
	RET
