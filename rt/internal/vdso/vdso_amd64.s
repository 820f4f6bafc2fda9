#include "textflag.h"

// Ring-3 routines of the vDSO, called by the Go runtime with the C ABI (the
// runtime's vdsoCall: DI, SI arguments, AX result, on the g0 stack). They use no
// stack and only caller-saved registers: AX, CX, DX, SI, DI, R8, R9, R10, R11.

#define DATA 0x7FFFF0000000
#define OFF_SEQ 0
#define OFF_TSC0 8
#define OFF_MULT 16
#define OFF_REAL 24
#define SYS_clock_gettime 228

// NOW: AX = monotonic ns, R9 = realtime offset, under the data page's seqlock.
// Uses AX, DX, R8, R9, R10; once per function (it defines the label retry).
#define NOW \
	MOVQ	$DATA, R8; \
retry: \
	MOVL	OFF_SEQ(R8), R10; \
	TESTL	$1, R10; \
	JNZ	retry; \
	LFENCE; \
	RDTSC; \
	SHLQ	$32, DX; \
	ORQ	DX, AX; \
	SUBQ	OFF_TSC0(R8), AX; \
	MULQ	OFF_MULT(R8); \
	SHRQ	$32, AX; \
	SHLQ	$32, DX; \
	ORQ	DX, AX; \
	MOVQ	OFF_REAL(R8), R9; \
	CMPL	OFF_SEQ(R8), R10; \
	JNE	retry

// int __vdso_clock_gettime(clockid_t DI, struct timespec *SI)
TEXT ·clockGettime(SB),NOSPLIT|NOFRAME,$0
	MOVL	$1, R11
	CMPL	DI, $0 // CLOCK_REALTIME
	JEQ	now
	CMPL	DI, $5 // CLOCK_REALTIME_COARSE
	JEQ	now
	XORL	R11, R11
	CMPL	DI, $1 // CLOCK_MONOTONIC
	JEQ	now
	CMPL	DI, $4 // CLOCK_MONOTONIC_RAW
	JEQ	now
	CMPL	DI, $6 // CLOCK_MONOTONIC_COARSE
	JEQ	now
	CMPL	DI, $7 // CLOCK_BOOTTIME
	JEQ	now
	MOVL	$SYS_clock_gettime, AX
	SYSCALL
	RET
now:
	NOW
	TESTL	R11, R11
	JZ	split
	ADDQ	R9, AX
split:
	XORL	DX, DX
	MOVQ	$1000000000, CX
	DIVQ	CX
	MOVQ	AX, 0(SI)
	MOVQ	DX, 8(SI)
	XORL	AX, AX
	RET

// int __vdso_gettimeofday(struct timeval *DI, struct timezone *SI)
TEXT ·gettimeofday(SB),NOSPLIT|NOFRAME,$0
	TESTQ	SI, SI
	JZ	notz
	MOVQ	$0, 0(SI)
notz:
	TESTQ	DI, DI
	JZ	done
	NOW
	ADDQ	R9, AX
	XORL	DX, DX
	MOVQ	$1000, CX
	DIVQ	CX
	XORL	DX, DX
	MOVQ	$1000000, CX
	DIVQ	CX
	MOVQ	AX, 0(DI)
	MOVQ	DX, 8(DI)
done:
	XORL	AX, AX
	RET

// func funcs() (clock, tod uintptr)
TEXT ·funcs(SB),NOSPLIT,$0-16
	LEAQ	·clockGettime(SB), AX
	MOVQ	AX, clock+0(FP)
	LEAQ	·gettimeofday(SB), AX
	MOVQ	AX, tod+8(FP)
	RET
