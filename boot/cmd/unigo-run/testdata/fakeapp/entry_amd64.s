#include "textflag.h"

// entry starts with pvh.EntrySignature: JMP +10 over "UNIGO-PVH\x00", then halts.
TEXT ·entry(SB), NOSPLIT|NOFRAME, $0
	BYTE $0xEB; BYTE $0x0A
	BYTE $'U'; BYTE $'N'; BYTE $'I'; BYTE $'G'; BYTE $'O'
	BYTE $'-'; BYTE $'P'; BYTE $'V'; BYTE $'H'; BYTE $0x00
loop:
	HLT
	JMP loop

// pvhMarker is a pvh.Marker: MarkerMagic, MarkerVersion 1, flags 0, the entry.
DATA ·pvhMarker+0(SB)/8, $"UNIGO\x00PV"
DATA ·pvhMarker+8(SB)/8, $"H-ENTRY\x00"
DATA ·pvhMarker+16(SB)/4, $1
DATA ·pvhMarker+20(SB)/4, $0
DATA ·pvhMarker+24(SB)/8, $·entry(SB)
GLOBL ·pvhMarker(SB), RODATA|NOPTR, $32

// func marker() uintptr
TEXT ·marker(SB), NOSPLIT|NOFRAME, $0-8
	LEAQ ·pvhMarker(SB), AX
	MOVQ AX, ret+0(FP)
	RET
