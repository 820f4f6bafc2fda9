#include "textflag.h"
#include "kernel_amd64.h"

// The PVH boot path, from the loader's 32-bit jump to the first Go function.
//
// pvhEntry runs in 32-bit protected mode with paging off, so it is written in
// instructions whose Go amd64 encoding decodes identically in 32-bit mode: no
// REX prefixes (32-bit operands, registers AX..DI only), no RIP-relative operands
// except the one LEAL whose 32-bit meaning (an absolute displacement) is used on
// purpose, and CALL rel32 / Jcc / JMP, which are position-relative in both modes.
// rt/internal/kernel's entry32 test decodes this function in 32-bit mode and
// compares it with the intended instruction list.
//
// Register use in pvhEntry: BX = start_info (from the loader), SI keeps it,
// BP = run-time address of the instruction after the CALL, DI = boot32 block,
// BX then holds the page-table base; AX, CX, DX are scratch. The entry TSC and
// start_info are kept in the boot32 block for boot64.

// func pvhEntry()  — never called from Go; the PVH loader jumps here.
TEXT ·pvhEntry(SB),NOSPLIT|NOFRAME,$0
	// pvh.EntrySignature: a jump over a ten-byte tag.
	BYTE $0xEB; BYTE $0x0A
	BYTE $'U'; BYTE $'N'; BYTE $'I'; BYTE $'G'; BYTE $'O'
	BYTE $'-'; BYTE $'P'; BYTE $'V'; BYTE $'H'; BYTE $0x00
	CLI
	CLD
	MOVL	BX, SI
	// BP = address of the POP: our own position, to locate boot32 (below).
	// ESP is undefined under PVH and the CALL needs 4 bytes of stack: use
	// the 16 bytes below the image base (4 MiB, which boot/image checks),
	// RAM that no PVH loader uses for its own tables.
	MOVL	$0x3FFFF0, SP
	BYTE $0xE8; BYTE $0x00; BYTE $0x00; BYTE $0x00; BYTE $0x00 // CALL next instruction
	POPQ	BP
	// In 32-bit mode, LEAL sym(IP) (8D 3D disp32) loads disp32 itself, which
	// the linker computed as sym - (end of this instruction); the instruction
	// ends 7 bytes after BP (POP 1 + LEA 6), so DI = disp + BP + 7 = boot32.
	LEAL	·boot32(SB), DI
	ADDL	BP, DI
	ADDL	$7, DI
	// Entry TSC for the boot log: first thing the kernel measures.
	RDTSC
	MOVL	AX, B32_TSC(DI)
	MOVL	DX, (B32_TSC+4)(DI)
	MOVL	SI, B32_START(DI)
	// Now a real stack: the top of the boot stack.
	MOVL	B32_STACK(DI), SP

	// Long mode needs CPUID 0x80000001 EDX.LM (bit 29).
	MOVL	$0x80000000, AX
	CPUID
	CMPL	AX, $0x80000001
	JCS	nolong
	MOVL	$0x80000001, AX
	CPUID
	BTL	$29, DX
	JCC	nolong
	MOVL	DX, B32_EXTFEAT(DI)

	// Page tables: PML4 -> PDPT -> four page directories of 2 MiB pages, an
	// identity map of the first 4 GiB. They live in bss (zero), page-aligned.
	MOVL	B32_PT(DI), BX
	ADDL	$4095, BX
	ANDL	$~4095, BX
	// PML4[0] = PDPT | present | writable
	LEAL	4096(BX), AX
	ORL	$3, AX
	MOVL	AX, (BX)
	// PDPT[0..3] = PD[i] | 3
	XORL	CX, CX
pdpt:
	MOVL	CX, AX
	SHLL	$12, AX
	LEAL	8192(BX)(AX*1), AX
	ORL	$3, AX
	MOVL	AX, 4096(BX)(CX*8)
	INCL	CX
	CMPL	CX, $4
	JNE	pdpt
	// PD entries: 2048 of them, entry i maps i*2 MiB (present|writable|large);
	// every address is below 4 GiB, so the high halves stay zero.
	XORL	CX, CX
pde:
	MOVL	CX, AX
	SHLL	$21, AX
	ORL	$0x83, AX
	MOVL	AX, 8192(BX)(CX*8)
	INCL	CX
	CMPL	CX, $2048
	JNE	pde

	// CR4.PAE, CR3, EFER.LME (+NXE when CPUID 0x80000001 EDX bit 20), CR0.PG|WP.
	MOVQ	CR4, AX
	ORL	$0x20, AX
	MOVQ	AX, CR4
	MOVQ	BX, CR3
	MOVL	$0xC0000080, CX
	RDMSR
	ORL	$0x100, AX
	MOVL	B32_EXTFEAT(DI), DX
	ANDL	$0x100000, DX
	SHRL	$9, DX
	ORL	DX, AX
	XORL	DX, DX
	WRMSR
	MOVQ	CR0, AX
	ORL	$0x80010001, AX
	MOVQ	AX, CR0

	// Compatibility mode now. Load the boot GDT (its base is boot32 itself,
	// patched in at run time) and far-return into the 64-bit code segment.
	MOVL	DI, (B32_GDTR+2)(DI)
	LEAL	B32_GDTR(DI), AX
	LGDT	(AX)
	MOVL	B32_BOOT64(DI), AX
	PUSHQ	$KCODE
	PUSHQ	AX
	RETFL

nolong:
	// No long mode: say so on COM1 and stop through the debug-exit device.
	LEAL	B32_MSG(DI), SI
	MOVL	$0x3F8, DX
msg:
	MOVB	(SI), AX
	CMPB	AX, $0
	JEQ	msgdone
	OUTB
	INCL	SI
	JMP	msg
msgdone:
	MOVL	$0xF4, DX
	MOVL	$127, AX
	OUTL
	HLT
	JMP	msgdone

// boot64 runs in 64-bit mode on the identity map, interrupts off. It sets up
// what Go code needs — a stack, SSE, a g in R14 with sane stack bounds, FS
// pointing at a TLS block whose -8 slot holds that g (ABI wrappers reload R14
// from there), X15 = 0 — and calls kmain, which never returns.
TEXT ·boot64(SB),NOSPLIT|NOFRAME,$0
	LOAD_KERNEL_SEGMENTS
	// Upper halves of registers are undefined after the mode switch.
	LEAQ	·boot32(SB), DI
	MOVL	B32_START(DI), SI
	LEAQ	·bootStack+BOOT_STACK_SIZE(SB), SP

	ENABLE_SSE

	// FS base = &bootTLS + 8 (IA32_FS_BASE); bootTLS[0] = &bootG.
	LEAQ	·bootTLS+8(SB), AX
	SET_FS_BASE
	LEAQ	·bootG(SB), R14
	XORPS	X15, X15

	// kmain(startInfo, entryTSC)
	SUBQ	$16, SP
	MOVQ	SI, 0(SP)
	MOVQ	B32_TSC(DI), AX
	MOVQ	AX, 8(SP)
	CALL	·kmain(SB)
	// kmain does not return; if it did, stop.
	CALL	·haltForever(SB)

// The boot32 block: GDT, GDTR, and the addresses 32-bit code cannot compute.
// Writable (NOPTR data): pvhEntry patches the GDTR base and saves values.
DATA ·boot32+0(SB)/8, $0                    // null descriptor
DATA ·boot32+8(SB)/8, $0                    // (unused)
DATA ·boot32+16(SB)/8, $0x00AF9A000000FFFF  // KCODE: 64-bit code, DPL 0
DATA ·boot32+24(SB)/8, $0x00CF92000000FFFF  // KDATA: data, DPL 0
DATA ·boot32+B32_GDTR(SB)/2, $31            // GDTR limit; base patched
DATA ·boot32+B32_BOOT64(SB)/8, $·boot64(SB)
DATA ·boot32+B32_PT(SB)/8, $·bootPageTables(SB)
DATA ·boot32+B32_STACK(SB)/8, $·bootStack+BOOT_STACK_SIZE(SB)
DATA ·boot32+B32_MSG+0(SB)/8, $"unigo: t"
DATA ·boot32+B32_MSG+8(SB)/8, $"his CPU "
DATA ·boot32+B32_MSG+16(SB)/8, $"has no 6"
DATA ·boot32+B32_MSG+24(SB)/8, $"4-bit lo"
DATA ·boot32+B32_MSG+32(SB)/8, $"ng mode\n"
GLOBL ·boot32(SB), NOPTR, $B32_SIZE

// Boot page tables (6 pages + slack for alignment) and the boot stack: bss.
GLOBL ·bootPageTables(SB), NOPTR, $(7*4096)
GLOBL ·bootStack(SB), NOPTR, $BOOT_STACK_SIZE

// The boot g: stack.lo, stack.hi, stackguard0, stackguard1; m (at 48) stays 0,
// so anything that would enter the scheduler faults at once.
DATA ·bootG+0(SB)/8, $·bootStack(SB)
DATA ·bootG+8(SB)/8, $·bootStack+BOOT_STACK_SIZE(SB)
DATA ·bootG+16(SB)/8, $·bootStack+STACK_GUARD(SB)
DATA ·bootG+24(SB)/8, $·bootStack+STACK_GUARD(SB)
GLOBL ·bootG(SB), NOPTR, $KG_SIZE

DATA ·bootTLS+0(SB)/8, $·bootG(SB)
GLOBL ·bootTLS(SB), NOPTR, $16

// The marker boot/image looks for (layout: boot/pvh.Marker).
DATA ·pvhMarker+0(SB)/8, $"UNIGO\x00PV"
DATA ·pvhMarker+8(SB)/8, $"H-ENTRY\x00"
DATA ·pvhMarker+16(SB)/4, $1
DATA ·pvhMarker+20(SB)/4, $0
DATA ·pvhMarker+24(SB)/8, $·pvhEntry(SB)
GLOBL ·pvhMarker(SB), RODATA, $32

// func haltForever()
TEXT ·haltForever(SB),NOSPLIT|NOFRAME,$0
	CLI
halt:
	HLT
	JMP	halt

// func markerAddr() uintptr — keeps the marker linked.
TEXT ·markerAddr(SB),NOSPLIT,$0-8
	LEAQ	·pvhMarker(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func bootBSSEnd() uintptr — the end of the boot code's uninitialized data
// (page tables, stack), which the 32-bit entry and kmain use where the loader
// put it: the part of the image's bss mapImage keeps at its physical address.
TEXT ·bootBSSEnd(SB),NOSPLIT,$0-8
	LEAQ	·bootStack+BOOT_STACK_SIZE(SB), AX
	LEAQ	·bootPageTables+(7*4096)(SB), CX
	CMPQ	CX, AX
	JLS	done
	MOVQ	CX, AX
done:
	MOVQ	AX, ret+0(FP)
	RET
