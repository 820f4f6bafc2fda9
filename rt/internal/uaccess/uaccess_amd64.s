#include "textflag.h"

// Both routines call one-instruction bodies (copyWordsInsn, copyBytesInsn,
// loadInsn) with AX = 1. A page fault or #GP inside a body is resumed by the
// kernel's trap code at faultRet, which returns with AX = 0 to the same caller.
// Bodies and faultRet use only the registers named; callers are Go code in
// rt/internal/syscalls and rt/internal/kernel.

// func Copy(dst, src, n uintptr) bool
//
// Eight bytes a step, then the 0 to 7 left. Under TCG every iteration of a
// REP string instruction is a separate trip through translated code, so
// MOVSB alone made a 64 KiB read from a ring cost about 330 us, and this
// about 120 to 150 (docs/perf.md); with ERMS hardware either is fast. DX
// holds the byte count across the first body; a fault there skips the
// second (AX is 0).
TEXT ·Copy(SB),NOSPLIT,$0-25
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), DX
	MOVQ	DX, CX
	SHRQ	$3, CX
	MOVL	$1, AX
	CALL	·copyWordsInsn(SB)
	TESTL	AX, AX
	JZ	done
	MOVQ	DX, CX
	ANDQ	$7, CX
	CALL	·copyBytesInsn(SB)
done:
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

// copyWordsInsn: DI, SI, CX (a count of 8-byte words) as REP MOVSQ wants them.
TEXT ·copyWordsInsn(SB),NOSPLIT|NOFRAME,$0
	REP; MOVSQ
	RET

// copyBytesInsn: DI, SI, CX (a count of bytes) as REP MOVSB wants them.
TEXT ·copyBytesInsn(SB),NOSPLIT|NOFRAME,$0
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

// func Sites() (copyWords, copyBytes, load, faultRet uintptr)
TEXT ·Sites(SB),NOSPLIT,$0-32
	LEAQ	·copyWordsInsn(SB), AX
	MOVQ	AX, copyWords+0(FP)
	LEAQ	·copyBytesInsn(SB), AX
	MOVQ	AX, copyBytes+8(FP)
	LEAQ	·loadInsn(SB), AX
	MOVQ	AX, load+16(FP)
	LEAQ	·faultRet(SB), AX
	MOVQ	AX, faultRet+24(FP)
	RET
