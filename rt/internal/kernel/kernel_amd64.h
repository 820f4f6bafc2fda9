// Layout constants shared by the kernel's assembly and its Go code. The Go side
// declares the same values (layout.go); layout_test.go checks they agree.

// GDT selectors: Linux's layout, so that SYSCALL/SYSRET find kernel and user
// segments where STAR says and user code sees CS 0x33 and SS 0x2b as on Linux.
#define KCODE 0x10
#define KDATA 0x18
#define UCODE32 0x23
#define UDATA 0x2B
#define UCODE 0x33
#define TSSSEL 0x38

// The boot32 block (boot_amd64.s).
#define B32_GDTR 32
#define B32_BOOT64 40
#define B32_PT 48
#define B32_STACK 56
#define B32_TSC 64
#define B32_START 72
#define B32_EXTFEAT 76
#define B32_MSG 80
#define B32_SIZE 128

#define BOOT_STACK_SIZE 65536
// Go's stack guard on linux/amd64: stackguard0 sits this far above stack.lo.
#define STACK_GUARD 928
#define KG_SIZE 64

// Per-CPU block (CPU in layout.go), reached through GS in kernel context.
#define CPU_SELF 0
#define CPU_KSTACK 8
#define CPU_USERRSP 16
#define CPU_XSAVE 24
#define CPU_KERNELFS 32
#define CPU_PANICFS 40
#define CPU_FEATURES 48
#define CPU_PENDING 56
#define CPU_APICBASE 88
#define CPU_PANICSTACK 96
#define CPU_COPYINSN 104
#define CPU_LOADINSN 112
#define CPU_FAULTRET 120
#define CPU_COPYTAIL 128

// CPU_FEATURES bits.
#define FEAT_XSAVE 1
#define FEAT_XSAVEOPT 2
#define FEAT_FSGSBASE 4
#define FEAT_X2APIC 8

// Frame (sched.Frame) offsets.
#define F_R15 0
#define F_R14 8
#define F_R13 16
#define F_R12 24
#define F_R11 32
#define F_R10 40
#define F_R9 48
#define F_R8 56
#define F_RBP 64
#define F_RDI 72
#define F_RSI 80
#define F_RDX 88
#define F_RCX 96
#define F_RBX 104
#define F_RAX 112
#define F_FSBASE 120
#define F_VECTOR 128
#define F_ERROR 136
#define F_RIP 144
#define F_CS 152
#define F_RFLAGS 160
#define F_RSP 168
#define F_SS 176
#define FRAME_SIZE 184

#define VEC_SYSCALL 256
// Vectors that need no LAPIC EOI: the masked 8259's spurious range and the
// LAPIC spurious vector.
#define VEC_PIC_FIRST 0x70
#define VEC_PIC_LAST 0x7F
#define VEC_SPURIOUS 0xFF

// RFLAGS bits a user frame may carry into IRETQ/SYSRET: CF PF AF ZF SF TF DF OF
// AC ID, plus IF and the reserved bit 1, which are forced on.
#define RFLAGS_USER 0x240DD5
#define RFLAGS_FORCE 0x202

// The AP start-up block (apBlock in smp.go).
#define AP_CR3 0
#define AP_EFER 8
#define AP_GDTR 16
#define AP_ENTRY64 24
#define AP_STACK 32
#define AP_FS 40
#define AP_G 48
#define AP_CPU 56
#define AP_ALIVE 64
#define AP_STACK32 96
#define AP_SIZE 96

// ENABLE_SSE lets Go code run on a CPU fresh from the mode switch: CR0.EM off,
// CR0.MP on, CR4.OSFXSR and OSXMMEXCPT on, then FNINIT. Uses AX.
#define ENABLE_SSE \
	MOVQ	CR0, AX; \
	ANDQ	$~4, AX; \
	ORQ	$2, AX; \
	MOVQ	AX, CR0; \
	MOVQ	CR4, AX; \
	ORQ	$0x600, AX; \
	MOVQ	AX, CR4; \
	BYTE $0xDB; BYTE $0xE3

// SET_FS_BASE sets IA32_FS_BASE to AX. Uses AX, CX, DX.
#define SET_FS_BASE \
	MOVQ	AX, DX; \
	SHRQ	$32, DX; \
	MOVL	$0xC0000100, CX; \
	WRMSR

// LOAD_KERNEL_SEGMENTS puts the kernel's data selector in DS, ES and SS and the
// null selector in FS and GS (their bases are set through MSRs), after the far
// jump into 64-bit mode. Uses AX.
#define LOAD_KERNEL_SEGMENTS \
	MOVL	$KDATA, AX; \
	MOVW	AX, DS; \
	MOVW	AX, ES; \
	MOVW	AX, SS; \
	XORL	AX, AX; \
	MOVW	AX, FS; \
	MOVW	AX, GS
