#include "textflag.h"

// Both routines call a one-instruction body (copyInsn, loadInsn) with AX = 1. A
// page fault or #GP inside a body is resumed by the kernel's trap code at
// faultRet, which returns with AX = 0 to the same caller. Bodies and faultRet
// use only the registers named; callers are Go code in rt/internal/syscalls.

// func Copy(dst, src, n uintptr) bool
TEXT ·Copy(SB),NOSPLIT,$0-25
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
	MOVL	$1, AX
	CALL	·copyInsn(SB)
	MOVB	AX, ret+24(FP)
	RET

// func Load32(addr uintptr) (v uint32, ok bool)
TEXT ·Load32(SB),NOSPLIT,$0-13
	MOVQ	addr+0(FP), SI
	XORL	DX, DX
	MOVL	$1, AX
	CALL	·loadInsn(SB)
	MOVL	DX, v+8(FP)
	MOVB	AX, ok+12(FP)
	RET

// copyInsn: DI, SI, CX as REP MOVSB wants them.
TEXT ·copyInsn(SB),NOSPLIT|NOFRAME,$0
	REP; MOVSB
	RET

// loadInsn: DX = *(uint32*)SI.
TEXT ·loadInsn(SB),NOSPLIT|NOFRAME,$0
	MOVL	(SI), DX
	RET

// faultRet: the trap code's resume point for a fault in either body.
TEXT ·faultRet(SB),NOSPLIT|NOFRAME,$0
	XORL	AX, AX
	RET

// func Sites() (copyInsn, loadInsn, faultRet uintptr)
TEXT ·Sites(SB),NOSPLIT,$0-24
	LEAQ	·copyInsn(SB), AX
	MOVQ	AX, copyInsn+0(FP)
	LEAQ	·loadInsn(SB), AX
	MOVQ	AX, loadInsn+8(FP)
	LEAQ	·faultRet(SB), AX
	MOVQ	AX, faultRet+16(FP)
	RET
