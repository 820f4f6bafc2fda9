package image

import (
	"cmp"
	"debug/elf"
	"encoding/binary"
	"slices"

	"github.com/unigo-dev/unigo/boot/pvh"
)

// headerPage is the part of the file the note may go in: the first page, which
// the first PT_LOAD maps along with the ELF header, so the note is loaded too.
const headerPage = 4096

// noteBytes encodes the PVH entry note.
func noteBytes(entry uint64) []byte {
	b := make([]byte, 0, pvh.NoteSize)
	b = binary.LittleEndian.AppendUint32(b, uint32(noteNameSize))
	b = binary.LittleEndian.AppendUint32(b, noteDescSize)
	b = binary.LittleEndian.AppendUint32(b, pvh.NoteTypePhys32Entry)
	b = append(b, pvh.NoteName...)
	b = append(b, 0) // name's NUL; "Xen\0" is already 4-byte aligned
	b = binary.LittleEndian.AppendUint64(b, entry)
	return b
}

// noteProg is the PT_NOTE program header covering a note at file offset off.
// The header page is mapped by the first PT_LOAD at offset 0, so its address is
// the image base plus off.
func (l *layout) noteProg(off uint64) elf.Prog64 {
	base := l.firstLoad().Vaddr
	return elf.Prog64{
		Type:   uint32(elf.PT_NOTE),
		Flags:  uint32(elf.PF_R),
		Off:    off,
		Vaddr:  base + off,
		Paddr:  base + off,
		Filesz: pvh.NoteSize,
		Memsz:  pvh.NoteSize,
		Align:  noteAlign,
	}
}

// pvhNote returns the entry of a PVH entry note already in a PT_NOTE segment.
func (l *layout) pvhNote() (entry uint64, found bool, err error) {
	for _, p := range l.f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		for n := range notes(l.segment(p), p.Align) {
			if n.typ != pvh.NoteTypePhys32Entry || string(n.name) != pvh.NoteName+"\x00" {
				continue
			}
			switch len(n.desc) {
			case 8:
				return binary.LittleEndian.Uint64(n.desc), true, nil
			case 4:
				return uint64(binary.LittleEndian.Uint32(n.desc)), true, nil
			}
			return 0, false, fail(ErrEntryMismatch, "the binary already has a PVH entry note with a %d-byte descriptor; relink it and run unigo-image on the fresh binary", len(n.desc))
		}
	}
	return 0, false, nil
}

// note is one entry of a note segment.
type note struct {
	typ        uint32
	name, desc []byte
}

// notes iterates over the notes in seg, stopping at the first malformed one.
// Names and descriptors are padded to the segment's alignment: 4 as a rule, 8
// for segments that say so (GNU property notes).
func notes(seg []byte, align uint64) func(yield func(note) bool) {
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	return func(yield func(note) bool) {
		for len(seg) >= 12 {
			namesz := uint64(binary.LittleEndian.Uint32(seg[0:]))
			descsz := uint64(binary.LittleEndian.Uint32(seg[4:]))
			typ := binary.LittleEndian.Uint32(seg[8:])
			descOff := alignUp(12+namesz, pad)
			end := alignUp(descOff+descsz, pad)
			if descOff+descsz > uint64(len(seg)) {
				return
			}
			if !yield(note{typ: typ, name: seg[12 : 12+namesz], desc: seg[descOff : descOff+descsz]}) {
				return
			}
			seg = seg[min(end, uint64(len(seg))):]
		}
	}
}

func alignUp(n, a uint64) uint64 {
	return (n + a - 1) &^ (a - 1)
}

// span is a half-open range of file offsets.
type span struct{ start, end uint64 }

// noteRoom returns the file offset for the note: the start (4-byte aligned) of
// the first gap in the header page that lies between everything the file
// declares there and holds nothing but zeros.
//
// Bytes no header or section accounts for are padding only if they are zero;
// anything else is data we do not understand, so a gap with any nonzero byte in
// it is left alone rather than partly overwritten.
func (l *layout) noteRoom() (uint64, error) {
	first := l.firstLoad()
	if first == nil || first.Off != 0 {
		return 0, fail(ErrNoRoom, "the first PT_LOAD does not map the header page (file offset 0); link with the Go linker")
	}
	limit := min(uint64(headerPage), first.Filesz, uint64(len(l.data)))

	start := uint64(0)
	for _, used := range l.usedSpans() {
		if off, ok := l.zeroGap(start, min(used.start, limit)); ok {
			return off, nil
		}
		start = max(start, used.end)
	}
	if off, ok := l.zeroGap(start, limit); ok {
		return off, nil
	}
	return 0, fail(ErrNoRoom, "no all-zero gap of %d bytes in the first %#x bytes besides the ELF header, header tables, sections and segments; link with the Go linker, which leaves one",
		pvh.NoteSize, limit)
}

// zeroGap returns where the note goes in the gap [start, end), if it fits there
// aligned and the gap is all zeros.
func (l *layout) zeroGap(start, end uint64) (uint64, bool) {
	off := alignUp(start, noteAlign)
	if start >= end || off+pvh.NoteSize > end {
		return 0, false
	}
	if slices.ContainsFunc(l.data[start:end], func(b byte) bool { return b != 0 }) {
		return 0, false
	}
	return off, true
}

// usedSpans lists, sorted by start, every file range the ELF file declares: the
// ELF header, the program and section header tables (Go puts the section
// headers right after the program headers, inside the header page), each
// section's bytes and each segment's bytes except PT_LOAD's, which are the
// containers the note goes into rather than contents to avoid.
func (l *layout) usedSpans() []span {
	h := l.hdr
	used := []span{
		{0, max(uint64(h.Ehsize), 64)},
		{h.Phoff, h.Phoff + uint64(len(l.f.Progs))*uint64(h.Phentsize)},
	}
	if len(l.f.Sections) > 0 {
		used = append(used, span{h.Shoff, h.Shoff + uint64(len(l.f.Sections))*uint64(h.Shentsize)})
	}
	for _, s := range l.f.Sections {
		if s.Type != elf.SHT_NOBITS && s.FileSize > 0 {
			used = append(used, span{s.Offset, s.Offset + s.FileSize})
		}
	}
	for _, p := range l.f.Progs {
		if p.Type != elf.PT_LOAD && p.Filesz > 0 {
			used = append(used, span{p.Off, p.Off + p.Filesz})
		}
	}
	slices.SortFunc(used, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	return used
}
