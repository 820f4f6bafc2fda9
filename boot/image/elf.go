package image

import (
	"github.com/unigo-dev/unigo/boot/pvh"

	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// layout is a parsed linux/amd64 executable: debug/elf's view of it plus the raw
// header fields debug/elf does not keep (where the header tables sit), which the
// note placement and the program header rewrite need.
type layout struct {
	data []byte
	f    *elf.File
	hdr  elf.Header64
}

// elfMagic opens every ELF file.
const elfMagic = "\x7fELF"

// prog64Size is the size of an ELF64 program header, the only size we rewrite.
const prog64Size = 56

// parse checks that data is a static linux/amd64 executable and parses it.
// The checks run from the most basic up, so the error names the first problem.
func parse(data []byte) (*layout, error) {
	if !bytes.HasPrefix(data, []byte(elfMagic)) {
		return nil, fail(ErrNotELF, "it starts with %q, not %q; pass the binary go build wrote", head(data), elfMagic)
	}
	if len(data) < elf.EI_NIDENT {
		return nil, fail(ErrNotELF, "truncated ELF header (%d bytes)", len(data))
	}
	if c := elf.Class(data[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return nil, fail(ErrNotAMD64, "ELF class is %v, not ELFCLASS64; build with GOOS=linux GOARCH=amd64", c)
	}
	if d := elf.Data(data[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, fail(ErrNotAMD64, "ELF data encoding is %v, not little-endian; build with GOOS=linux GOARCH=amd64", d)
	}

	l := &layout{data: data}
	if _, err := binary.Decode(data, binary.LittleEndian, &l.hdr); err != nil {
		return nil, fail(ErrNotELF, "truncated ELF header (%d bytes)", len(data))
	}
	if m := elf.Machine(l.hdr.Machine); m != elf.EM_X86_64 {
		return nil, fail(ErrNotAMD64, "machine is %v, not EM_X86_64; build with GOOS=linux GOARCH=amd64", m)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fail(ErrNotELF, "malformed ELF file: %v", err)
	}
	l.f = f

	if err := l.checkStatic(); err != nil {
		return nil, err
	}
	if err := l.checkBounds(); err != nil {
		return nil, err
	}
	return l, nil
}

// head is the start of data, for saying what a non-ELF file looks like.
func head(data []byte) []byte {
	return data[:min(len(data), len(elfMagic))]
}

// checkStatic refuses what a PVH loader cannot run: code that must be relocated
// (PIE) or needs a dynamic loader, neither of which exists before the kernel.
func (l *layout) checkStatic() error {
	switch t := l.f.Type; t {
	case elf.ET_EXEC:
	case elf.ET_DYN:
		return fail(ErrNotExec, "ELF type is ET_DYN (a position-independent executable); build without -buildmode=pie")
	default:
		return fail(ErrNotExec, "ELF type is %v; pass a linked executable", t)
	}
	for _, p := range l.f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fail(ErrDynamic, "it has a %v program header; build with CGO_ENABLED=0 and the internal linker (no -linkmode=external)", p.Type)
		}
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Vaddr < pvh.MinImageBase || p.Memsz > pvh.MaxImageEnd || p.Vaddr > pvh.MaxImageEnd-p.Memsz || p.Paddr != p.Vaddr {
			return fail(ErrAddress, "a segment is at %#x..%#x (physical %#x); the kernel needs physical = virtual addresses between %#x and %#x: link at the Go linker's default address (no -ldflags=-T)",
				p.Vaddr, p.Vaddr+p.Memsz, p.Paddr, pvh.MinImageBase, uint64(pvh.MaxImageEnd))
		}
	}
	return nil
}

// checkBounds makes sure every table and segment this package reads or writes
// lies inside the file, so later code can slice without checking.
func (l *layout) checkBounds() error {
	if l.hdr.Phentsize != prog64Size {
		return fail(ErrNotELF, "program header size is %d, not %d", l.hdr.Phentsize, prog64Size)
	}
	if !l.inFile(l.hdr.Phoff, uint64(len(l.f.Progs))*prog64Size) {
		return fail(ErrNotELF, "the program header table reaches past the end of the file")
	}
	for i, p := range l.f.Progs {
		if !l.inFile(p.Off, p.Filesz) {
			return fail(ErrNotELF, "program header %d (%v) reaches past the end of the file", i, p.Type)
		}
	}
	return nil
}

// inFile says whether [off, off+size) lies inside the file, without overflowing.
func (l *layout) inFile(off, size uint64) bool {
	n := uint64(len(l.data))
	return off <= n && size <= n-off
}

// segment returns the file bytes of p (checked by checkBounds).
func (l *layout) segment(p *elf.Prog) []byte {
	return l.data[p.Off : p.Off+p.Filesz]
}

// firstLoad returns the first PT_LOAD program header, or nil.
func (l *layout) firstLoad() *elf.Prog {
	for _, p := range l.f.Progs {
		if p.Type == elf.PT_LOAD {
			return p
		}
	}
	return nil
}

// stackHeader returns the index of the PT_GNU_STACK program header. Go emits it
// only to say the stack is not executable, which means nothing to a PVH loader
// and to a kernel that sets up its own page tables, so it is free to reuse.
func (l *layout) stackHeader() (int, error) {
	for i, p := range l.f.Progs {
		if p.Type == elf.PT_GNU_STACK {
			return i, nil
		}
	}
	return 0, fail(ErrNoStackHeader, "the file has %d program headers and none to spare; link with the Go linker, which always emits PT_GNU_STACK", len(l.f.Progs))
}

// putProg writes program header i of out.
func (l *layout) putProg(out []byte, i int, p elf.Prog64) {
	off := l.hdr.Phoff + uint64(i)*prog64Size
	if _, err := binary.Encode(out[off:off+prog64Size], binary.LittleEndian, p); err != nil {
		// checkBounds guarantees the room, so this is a bug in this package.
		panic(fmt.Sprintf("image: encoding program header %d: %v", i, err))
	}
}
