package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/unigo-dev/unigo/boot/pvh"
)

// marker is a valid pvh.Marker found in the file.
type marker struct {
	off   uint64 // file offset of the record
	entry uint64 // virtual address of the entry
}

// kernelEntry finds the binary's single valid marker, cross-checks it against the
// symbol table when there is one, and returns the physical entry address.
//
// The marker, not the symbol table, is the source of truth because it survives
// -ldflags=-s -w.
func (l *layout) kernelEntry() (uint64, error) {
	found, rejected := l.markers()
	switch {
	case len(found) == 0 && rejected == "":
		return 0, fmt.Errorf("no PVH entry marker in its read-only data: %w", ErrNoKernel)
	case len(found) == 0:
		return 0, fmt.Errorf("no valid PVH entry marker in its read-only data (%s): %w", rejected, ErrNoKernel)
	case len(found) > 1:
		offs := make([]string, len(found))
		for i, m := range found {
			offs[i] = fmt.Sprintf("%#x", m.off)
		}
		return 0, fail(ErrManyKernels, "valid markers at file offsets %s; an image has exactly one kernel, so link a single copy of rt",
			strings.Join(offs, ", "))
	}
	m := found[0]
	if err := l.checkEntrySymbol(m.entry); err != nil {
		return 0, err
	}
	return l.physical(m.entry), nil
}

// physical converts the address of code to the physical address the loader puts
// it at (the same in a Go executable, whose p_paddr equals p_vaddr).
func (l *layout) physical(addr uint64) uint64 {
	text := l.execLoadAt(addr)
	return addr - text.Vaddr + text.Paddr
}

// markers scans the file ranges of the non-executable PT_LOAD segments (where
// rodata lives) for pvh.MarkerMagic and returns the hits that validate. rejected
// describes the first hit that did not, for the error message: a stray copy of the
// magic (a string constant in some program, say) is not a kernel.
func (l *layout) markers() (found []marker, rejected string) {
	magic := []byte(pvh.MarkerMagic)
	for _, p := range l.f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X != 0 {
			continue
		}
		seg := l.segment(p)
		for next := 0; ; {
			n := bytes.Index(seg[next:], magic)
			if n < 0 {
				break
			}
			i := next + n
			next = i + 1
			off := p.Off + uint64(i)
			entry, err := l.validMarker(seg[i:])
			if err != nil {
				if rejected == "" {
					rejected = fmt.Sprintf("ignored the magic at file offset %#x: %v", off, err)
				}
				continue
			}
			found = append(found, marker{off: off, entry: entry})
		}
	}
	return found, rejected
}

// validMarker decodes the marker at the start of b and returns its entry if the
// record is complete, of the version this package reads, and points at code that
// starts with pvh.EntrySignature.
func (l *layout) validMarker(b []byte) (uint64, error) {
	var m pvh.Marker
	if len(b) < pvh.MarkerSize {
		return 0, errors.New("the record is cut off by the end of the segment")
	}
	if _, err := binary.Decode(b[:pvh.MarkerSize], binary.LittleEndian, &m); err != nil {
		return 0, err
	}
	if m.Version != pvh.MarkerVersion {
		return 0, fmt.Errorf("layout version %d, but this unigo-image reads version %d; use the unigo-image of the same unigo version as rt",
			m.Version, pvh.MarkerVersion)
	}
	text := l.execLoadAt(m.Entry)
	if text == nil {
		return 0, fmt.Errorf("entry %#x is not in an executable segment", m.Entry)
	}
	off := text.Off + (m.Entry - text.Vaddr)
	if !bytes.HasPrefix(l.data[off:text.Off+text.Filesz], []byte(pvh.EntrySignature)) {
		return 0, fmt.Errorf("the code at entry %#x does not start with the PVH entry signature", m.Entry)
	}
	if phys := l.physical(m.Entry); phys >= 1<<32 {
		return 0, fmt.Errorf("the entry's physical address %#x is above 4 GiB, out of reach of a 32-bit entry", phys)
	}
	return m.Entry, nil
}

// execLoadAt returns the executable PT_LOAD whose file bytes hold addr, or nil.
func (l *layout) execLoadAt(addr uint64) *elf.Prog {
	for _, p := range l.f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr-p.Vaddr < p.Filesz {
			return p
		}
	}
	return nil
}

// Symbol-name suffixes of the kernel's entry. The assembly body is ABI0; when Go
// code takes its address, the linker adds an ABIInternal wrapper under the plain
// name and calls the body NAME.abi0 in the symbol table.
const (
	entrySymbol     = ".pvhEntry"
	entrySymbolABI0 = entrySymbol + ".abi0"
)

// checkEntrySymbol cross-checks the marker against the symbol table, when the
// binary has one: a marker that points anywhere but the kernel's pvhEntry is a
// build problem worth stopping for. Stripped binaries pass unchecked.
func (l *layout) checkEntrySymbol(entry uint64) error {
	syms, err := l.f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		return nil
	}
	if err != nil {
		return fail(ErrNotELF, "malformed symbol table: %v", err)
	}
	bodies := entryBodies(syms)
	if len(bodies) == 0 {
		return nil
	}
	var seen []string
	for name, addr := range bodies {
		if addr == entry {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%s at %#x", name, addr))
	}
	slices.Sort(seen)
	return fail(ErrEntryMismatch, "the marker points at %#x but the symbol table has %s; rebuild, and if it persists report a bug in rt",
		entry, strings.Join(seen, ", "))
}

// entryBodies maps each "PKG.pvhEntry" in syms to the address of its body: the
// .abi0 symbol when there is one (the plain name is then only the wrapper).
func entryBodies(syms []elf.Symbol) map[string]uint64 {
	bodies := map[string]uint64{}
	abi0 := map[string]bool{}
	for _, s := range syms {
		switch {
		case strings.HasSuffix(s.Name, entrySymbolABI0):
			name := strings.TrimSuffix(s.Name, ".abi0")
			bodies[name], abi0[name] = s.Value, true
		case strings.HasSuffix(s.Name, entrySymbol) && !abi0[s.Name]:
			bodies[s.Name] = s.Value
		}
	}
	return bodies
}
