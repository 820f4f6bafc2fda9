// Package pvh is the PVH boot contract between a unigo image and whatever boots it
// (QEMU's -kernel, Firecracker, Cloud Hypervisor, and unigo's own image tool).
//
// It owns no code that runs: only the numbers and layouts both sides must agree on.
// It is imported by host tools (boot/image) and by the kernel (rt/internal/kernel),
// so everything here is constants and plain struct layouts, usable from kernel
// context (no allocation, no package state).
//
// # The entry
//
// A PVH loader reads an ELF note of type [NoteTypePhys32Entry] named "Xen" whose
// 8-byte descriptor is the physical address of a 32-bit entry point. It loads the
// PT_LOAD segments at their physical addresses (p_paddr, equal to p_vaddr in a Go
// executable), zero-fills each segment's memsz beyond filesz, and jumps to the entry
// in 32-bit protected mode with paging off, flat CS/DS/ES/SS, interrupts disabled,
// and EBX holding the physical address of a [StartInfo].
//
// The Go linker cannot emit that note, so boot/image writes it after linking into
// the zero padding of the ELF header page, and rewrites the PT_GNU_STACK program
// header into the PT_NOTE that covers it.
//
// # The marker
//
// The image tool finds the entry through a [Marker] that rt's assembly places in
// read-only data: [MarkerMagic], a layout version, and the entry's address. The
// marker survives `-ldflags=-s -w`, which strips the symbol table. The first
// [EntrySignatureLen] bytes at the entry are [EntrySignature], so a stray copy of
// the magic (in the image tool's own binary, say) is never taken for a kernel.
package pvh

// The image's place in memory: its segments must lie in [MinImageBase,
// MaxImageEnd), at physical = virtual addresses. The Go linker's default base is
// MinImageBase. The kernel's 32-bit entry borrows the 16 bytes below it as a
// stack before it knows where its own is, and its boot page tables map only the
// first 4 GiB.
const (
	MinImageBase = 0x400000
	MaxImageEnd  = 1 << 32
)

// NoteName is the owner name of the PVH entry note ("Xen", NUL-terminated in the file).
const NoteName = "Xen"

// NoteTypePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the note's descriptor is the
// 32-bit physical entry address, stored in 8 bytes.
const NoteTypePhys32Entry = 18

// NoteSize is the size in bytes of the whole note: 12-byte header, "Xen\0",
// 8-byte descriptor.
const NoteSize = 12 + 4 + 8

// StartInfoMagic is hvm_start_info.magic.
const StartInfoMagic = 0x336ec578

// StartInfo is struct hvm_start_info, as the loader leaves it in memory.
// Version 0 ends at RSDPPaddr; version 1 adds the memory map.
type StartInfo struct {
	Magic         uint32
	Version       uint32
	Flags         uint32
	NrModules     uint32
	ModlistPaddr  uint64
	CmdlinePaddr  uint64
	RSDPPaddr     uint64
	MemmapPaddr   uint64 // version >= 1
	MemmapEntries uint32 // version >= 1
	Reserved      uint32
}

// MemmapEntry is struct hvm_memmap_table_entry.
type MemmapEntry struct {
	Addr     uint64
	Size     uint64
	Type     uint32
	Reserved uint32
}

// Memory map entry types (the E820 numbering).
const (
	MemRAM      = 1
	MemReserved = 2
	MemACPI     = 3
	MemNVS      = 4
	MemUnusable = 5
)

// MarkerMagic opens the marker. 16 bytes, NUL-padded.
const MarkerMagic = "UNIGO\x00PVH-ENTRY\x00"

// MarkerVersion is the layout version of [Marker] this package describes.
const MarkerVersion = 1

// Marker is the record rt's assembly places in read-only data (16-byte magic,
// version, flags, entry address), 32 bytes in all, little-endian.
type Marker struct {
	Magic   [16]byte
	Version uint32
	Flags   uint32
	Entry   uint64 // physical (= virtual) address of the 32-bit entry
}

// MarkerSize is the size of [Marker] in the file.
const MarkerSize = 32

// EntrySignature is what the 32-bit entry starts with:
//
//	JMP +10            (EB 0A), over the ten bytes that follow
//	"UNIGO-PVH\x00"    (a tag a disassembler shows as data)
//
// It encodes identically in 32- and 64-bit mode.
const EntrySignature = "\xEB\x0AUNIGO-PVH\x00"

// EntrySignatureLen is len(EntrySignature).
const EntrySignatureLen = len(EntrySignature)
