#include "textflag.h"

// pvhEntry begins with pvh.EntrySignature: JMP +10 over "UNIGO-PVH\x00".
TEXT ·pvhEntry(SB), NOSPLIT|NOFRAME, $0
	BYTE $0xEB; BYTE $0x0A
	BYTE $'U'; BYTE $'N'; BYTE $'I'; BYTE $'G'; BYTE $'O'
	BYTE $'-'; BYTE $'P'; BYTE $'V'; BYTE $'H'; BYTE $0x00
halt:
	HLT
	JMP halt

// pvhMarker is laid out as pvh.Marker: MarkerMagic, version 1, flags 0, entry.
DATA ·pvhMarker+0(SB)/8, $"UNIGO\x00PV"
DATA ·pvhMarker+8(SB)/8, $"H-ENTRY\x00"
DATA ·pvhMarker+16(SB)/4, $1
DATA ·pvhMarker+20(SB)/4, $0
DATA ·pvhMarker+24(SB)/8, $·pvhEntry(SB)
GLOBL ·pvhMarker(SB), RODATA|NOPTR, $32

// func markerAddr() uintptr
TEXT ·markerAddr(SB), NOSPLIT|NOFRAME, $0-8
	LEAQ ·pvhMarker(SB), AX
	MOVQ AX, ret+0(FP)
	RET
