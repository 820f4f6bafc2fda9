#include "textflag.h"
#include "kernel_amd64.h"

// Application processor start-up, after the real-mode trampoline
// (trampoline.go) has switched to 32-bit protected mode.

// apEntry32 — jumped to by the trampoline in 32-bit protected mode, paging off,
// CS = the trampoline's flat code segment, ESI = apBoot (the start-up block,
// identity-addressed: the image sits at physical = virtual below 4 GiB), ESP =
// the top of the trampoline page. Like pvhEntry it uses only instructions that
// decode the same in 32-bit mode (rt/internal/kcheck checks it): it loads flat
// data segments, turns on PAE and the kernel's own page tables (which map this
// code at its address), long mode and paging, loads the boot GDT and
// far-returns into apEntry64. AX, CX, DX are scratch.
TEXT ·apEntry32(SB),NOSPLIT|NOFRAME,$0
	MOVL	$0x10, AX
	MOVW	AX, DS
	MOVW	AX, ES
	MOVW	AX, SS
	LEAL	AP_STACK32(SI), SP
	MOVQ	CR4, AX
	ORL	$0x20, AX
	MOVQ	AX, CR4
	MOVL	AP_CR3(SI), AX
	MOVQ	AX, CR3
	MOVL	$0xC0000080, CX
	MOVL	AP_EFER(SI), AX
	XORL	DX, DX
	WRMSR
	MOVQ	CR0, AX
	ORL	$0x80010001, AX
	MOVQ	AX, CR0
	MOVL	AP_GDTR(SI), AX
	LGDT	(AX)
	MOVL	AP_ENTRY64(SI), AX
	PUSHQ	$KCODE
	PUSHQ	AX
	RETFL

// apEntry64 — 64-bit mode on the kernel's page tables, interrupts off. Sets up
// what Go code needs from the start-up block (stack, SSE, FS at the CPU's
// kernel TLS, R14 its kernel g, X15 = 0) and calls apMain(cpu), which never
// returns.
TEXT ·apEntry64(SB),NOSPLIT|NOFRAME,$0
	LOAD_KERNEL_SEGMENTS
	LEAQ	·apBoot(SB), SI
	MOVQ	AP_STACK(SI), SP
	ENABLE_SSE
	MOVQ	AP_FS(SI), AX
	SET_FS_BASE
	MOVQ	AP_G(SI), R14
	XORPS	X15, X15
	MOVQ	AP_CPU(SI), AX
	SUBQ	$8, SP
	MOVQ	AX, 0(SP)
	CALL	·apMain(SB)
	CALL	·haltForever(SB)

DATA ·apBoot+AP_ENTRY64(SB)/8, $·apEntry64(SB)
GLOBL ·apBoot(SB), NOPTR, $AP_SIZE

// func apBootAddr() uintptr
TEXT ·apBootAddr(SB),NOSPLIT,$0-8
	LEAQ	·apBoot(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func apEntry32Addr() uintptr
TEXT ·apEntry32Addr(SB),NOSPLIT,$0-8
	LEAQ	·apEntry32(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func boot32GDTR() uintptr — the boot GDT's register image, whose base
// pvhEntry filled in.
TEXT ·boot32GDTR(SB),NOSPLIT,$0-8
	LEAQ	·boot32+B32_GDTR(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
