package kernel

import (
	"encoding/binary"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

// trampoline is the real-mode code an application processor starts in, copied
// to a page below 1 MiB whose number the start-up IPI carries (so CS = page<<8,
// IP = 0). It switches to 32-bit protected mode with a flat GDT of its own and
// jumps to apEntry32 in the image, with ESI = the AP start-up block. Written as bytes:
// Go's assembler has no 16-bit mode. rt/internal/kcheck decodes it in 16-bit
// mode and compares it with the instructions below.
var trampoline = [...]byte{
	0xFA,       // 0x00 cli
	0x8C, 0xC8, // 0x01 mov ax, cs
	0x8E, 0xD8, // 0x03 mov ds, ax
	0x66, 0x0F, 0x01, 0x16, 0x40, 0x00, // 0x05 lgdt [0x40] (32-bit base)
	0x0F, 0x20, 0xC0, // 0x0B mov eax, cr0
	0x66, 0x83, 0xC8, 0x01, // 0x0E or eax, 1 (PE)
	0x0F, 0x22, 0xC0, // 0x12 mov cr0, eax
	0x66, 0xBE, 0, 0, 0, 0, // 0x15 mov esi, apBoot (patched)
	0x66, 0xEA, 0, 0, 0, 0, 0x08, 0x00, // 0x1B jmp far 0x08:apEntry32 (patched)
	// 0x23: padding (HLT) to the GDT register image at 0x40.
	0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4,
	0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4, 0xF4,
	0x17, 0x00, 0, 0, 0, 0, // 0x40 GDTR: limit 23, base page+0x48 (patched)
	0, 0, // 0x46
	0, 0, 0, 0, 0, 0, 0, 0, // 0x48 null descriptor
	0xFF, 0xFF, 0x00, 0x00, 0x00, 0x9A, 0xCF, 0x00, // 0x50 selector 0x08: flat 32-bit code
	0xFF, 0xFF, 0x00, 0x00, 0x00, 0x92, 0xCF, 0x00, // 0x58 selector 0x10: flat data
}

// Patch offsets in trampoline.
const (
	trampApBoot  = 0x17
	trampEntry32 = 0x1D
	trampGDTBase = 0x42
	trampGDT     = 0x48
	// TrampolineCodeLen is how much of trampoline is instructions.
	TrampolineCodeLen = 0x23
)

// Trampoline returns the trampoline as written to a page at phys, for tests.
func Trampoline(phys, apBoot, entry32 uint32) []byte {
	b := trampoline
	patchTrampoline(b[:], phys, apBoot, entry32)
	return b[:]
}

func patchTrampoline(b []byte, phys, apBoot, entry32 uint32) {
	binary.LittleEndian.PutUint32(b[trampApBoot:], apBoot)
	binary.LittleEndian.PutUint32(b[trampEntry32:], entry32)
	binary.LittleEndian.PutUint32(b[trampGDTBase:], phys+trampGDT)
}

// writeTrampoline copies the trampoline to the page at kernel address dst
// (physical address phys) and patches in the addresses.
func writeTrampoline(dst uintptr, phys, apBoot, entry32 uint32) {
	b := kmem.Bytes(dst, len(trampoline))
	// A loop, not copy: Go 1.26's compiler fails (internal error in
	// disjointTypes) on a copy from this array into kernel memory.
	for i, v := range trampoline {
		b[i] = v
	}
	patchTrampoline(b, phys, apBoot, entry32)
}
