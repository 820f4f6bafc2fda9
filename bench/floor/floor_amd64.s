#include "textflag.h"

// func entry() — the PVH 32-bit entry: the signature boot/pvh requires, then
// OUT 0xF4 <- 1 and halt. (Encodes the same in 32-bit mode: no REX.)
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	BYTE $0xEB; BYTE $0x0A
	BYTE $'U'; BYTE $'N'; BYTE $'I'; BYTE $'G'; BYTE $'O'
	BYTE $'-'; BYTE $'P'; BYTE $'V'; BYTE $'H'; BYTE $0x00
	MOVL	$0xF4, DX
	MOVL	$1, AX
	OUTL
	HLT

DATA ·pvhMarker+0(SB)/8, $"UNIGO\x00PV"
DATA ·pvhMarker+8(SB)/8, $"H-ENTRY\x00"
DATA ·pvhMarker+16(SB)/4, $1
DATA ·pvhMarker+20(SB)/4, $0
DATA ·pvhMarker+24(SB)/8, $·entry(SB)
GLOBL ·pvhMarker(SB), RODATA, $32

// func marker() uintptr
TEXT ·marker(SB),NOSPLIT,$0-8
	LEAQ	·pvhMarker(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
