#include "textflag.h"

// All routines: ABI0, arguments and results on the stack, no locals, callers are
// kernel Go code (through ABI wrappers) in rt/internal and drivers/. None touches
// memory other than its frame unless documented.

// func Inb(port uint16) uint8
TEXT ·Inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func Outb(port uint16, v uint8)
TEXT ·Outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AX
	OUTB
	RET

// func Inw(port uint16) uint16
TEXT ·Inw(SB),NOSPLIT,$0-10
	MOVW	port+0(FP), DX
	INW
	MOVW	AX, ret+8(FP)
	RET

// func Outw(port uint16, v uint16)
TEXT ·Outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	OUTW
	RET

// func Inl(port uint16) uint32
TEXT ·Inl(SB),NOSPLIT,$0-12
	MOVW	port+0(FP), DX
	INL
	MOVL	AX, ret+8(FP)
	RET

// func Outl(port uint16, v uint32)
TEXT ·Outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	OUTL
	RET

// func OutsbPort(port uint16, p uintptr, n uintptr)
// Uses SI, CX, DX; DF is clear in kernel context (SYSCALL's FMASK and the
// interrupt entry clear it).
TEXT ·OutsbPort(SB),NOSPLIT,$0-24
	MOVW	port+0(FP), DX
	MOVQ	p+8(FP), SI
	MOVQ	n+16(FP), CX
	REP; OUTSB
	RET

// func Rdmsr(msr uint32) uint64
TEXT ·Rdmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	RDMSR
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func Wrmsr(msr uint32, v uint64)
TEXT ·Wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func Cpuid(leaf, sub uint32) (a, b, c, d uint32)
TEXT ·Cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	sub+4(FP), CX
	CPUID
	MOVL	AX, a+8(FP)
	MOVL	BX, b+12(FP)
	MOVL	CX, c+16(FP)
	MOVL	DX, d+20(FP)
	RET

// func Rdtsc() uint64
TEXT ·Rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·ReadCR0(SB),NOSPLIT,$0-8
	MOVQ	CR0, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·WriteCR0(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR0
	RET

TEXT ·ReadCR2(SB),NOSPLIT,$0-8
	MOVQ	CR2, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·ReadCR3(SB),NOSPLIT,$0-8
	MOVQ	CR3, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·WriteCR3(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR3
	RET

TEXT ·ReadCR4(SB),NOSPLIT,$0-8
	MOVQ	CR4, AX
	MOVQ	AX, ret+0(FP)
	RET

TEXT ·WriteCR4(SB),NOSPLIT,$0-8
	MOVQ	v+0(FP), AX
	MOVQ	AX, CR4
	RET

// func Xgetbv(idx uint32) uint64
TEXT ·Xgetbv(SB),NOSPLIT,$0-16
	MOVL	idx+0(FP), CX
	BYTE $0x0F; BYTE $0x01; BYTE $0xD0 // XGETBV
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+8(FP)
	RET

// func Xsetbv(idx uint32, v uint64)
TEXT ·Xsetbv(SB),NOSPLIT,$0-16
	MOVL	idx+0(FP), CX
	MOVQ	v+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	BYTE $0x0F; BYTE $0x01; BYTE $0xD1 // XSETBV
	RET

// func Invlpg(addr uintptr)
TEXT ·Invlpg(SB),NOSPLIT,$0-8
	MOVQ	addr+0(FP), AX
	INVLPG	(AX)
	RET

// func Lgdt(p uintptr)
TEXT ·Lgdt(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	LGDT	(AX)
	RET

// func Lidt(p uintptr)
TEXT ·Lidt(SB),NOSPLIT,$0-8
	MOVQ	p+0(FP), AX
	LIDT	(AX)
	RET

// func Ltr(sel uint16)
TEXT ·Ltr(SB),NOSPLIT,$0-2
	MOVW	sel+0(FP), AX
	LTR	AX
	RET

// func Rdrand() (v uint64, ok bool)
TEXT ·Rdrand(SB),NOSPLIT,$0-9
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF0 // RDRAND AX; CF=1 on success
	SETCS	ok+8(FP)
	MOVQ	AX, v+0(FP)
	RET

// func Rdseed() (v uint64, ok bool)
TEXT ·Rdseed(SB),NOSPLIT,$0-9
	BYTE $0x48; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8 // RDSEED AX; CF=1 on success
	SETCS	ok+8(FP)
	MOVQ	AX, v+0(FP)
	RET

TEXT ·Pause(SB),NOSPLIT,$0-0
	PAUSE
	RET

TEXT ·Halt(SB),NOSPLIT,$0-0
	CLI
	HLT
	RET

TEXT ·WaitForInterrupt(SB),NOSPLIT,$0-0
	STI
	HLT
	CLI
	RET

TEXT ·Wbinvd(SB),NOSPLIT,$0-0
	WBINVD
	RET

// func Fxsave(area uintptr) — FXSAVE64 to the 16-byte aligned 512 bytes at
// area (the kernel reads MXCSR_MASK from it once at boot). Uses AX.
TEXT ·Fxsave(SB),NOSPLIT,$0-8
	MOVQ	area+0(FP), AX
	FXSAVE64	(AX)
	RET
