// Package image owns the post-link step that makes a unigo program bootable by
// PVH loaders (QEMU's -kernel, Firecracker): it adds the PVH entry ELF note that
// the Go linker cannot emit, as described by the contract in boot/pvh.
//
// It runs on the host, in the unigo-image tool (boot/cmd/unigo-image), never in
// the kernel. It reads a stock linux/amd64 Go executable, finds the entry through
// the [pvh.Marker] that rt's assembly leaves in read-only data, writes the 24-byte
// note into the zero padding of the ELF header page and turns the PT_GNU_STACK
// program header into the PT_NOTE that covers it. Nothing else in the file
// changes: no bytes move, and the number of program and section headers stays
// the same, so the result still runs (and debugs) as the ordinary executable it
// was.
package image

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/unigo-dev/unigo/boot/pvh"
)

// Errors Patch and WriteFile wrap (with detail, via %w); test with errors.Is.
var (
	// ErrNotELF: the input is not an ELF file, or its headers are malformed.
	ErrNotELF = errors.New("not an ELF file")
	// ErrNotAMD64: the ELF file is not 64-bit, little-endian x86-64.
	ErrNotAMD64 = errors.New("not a linux/amd64 executable")
	// ErrNotExec: the ELF file is not a fixed-address executable (ET_EXEC); a PIE
	// (ET_DYN) cannot be loaded by PVH loaders, which load at p_paddr.
	ErrNotExec = errors.New("not a fixed-address executable (ET_EXEC)")
	// ErrDynamic: the executable needs a dynamic loader (PT_INTERP or PT_DYNAMIC).
	ErrDynamic = errors.New("dynamically linked")
	// ErrNoKernel: no valid PVH entry marker, so the binary was not built with rt.
	ErrNoKernel = errors.New("the binary does not link github.com/unigo-dev/unigo/rt; build with -tags unikernel and import rt")
	// ErrManyKernels: more than one valid PVH entry marker.
	ErrManyKernels = errors.New("more than one PVH entry marker")
	// ErrEntryMismatch: the marker's entry disagrees with the symbol table, or the
	// binary already has a PVH note pointing somewhere else.
	ErrEntryMismatch = errors.New("conflicting PVH entry addresses")
	// ErrNoRoom: the ELF header page has no zero gap big enough for the note.
	ErrNoRoom = errors.New("no room for the PVH note in the ELF header page")
	// ErrNoStackHeader: there is no PT_GNU_STACK program header to turn into the
	// note's PT_NOTE.
	ErrNoStackHeader = errors.New("no PT_GNU_STACK program header to turn into the PVH note's PT_NOTE")
	// ErrAddress: a segment lies where the kernel cannot boot it (below 4 MiB,
	// above 4 GiB, or at a physical address other than its virtual one).
	ErrAddress = errors.New("segments outside the addresses a PVH kernel can boot from")
)

// fail wraps sentinel with a detail (what was found, and what to do about it).
func fail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// Patch returns a copy of the ELF file bytes with the PVH entry note added,
// and the entry address it points at. Input is never modified.
//
// A binary that already carries the same note is returned unchanged (as a copy),
// so patching is idempotent.
func Patch(elf []byte) (out []byte, entry uint64, err error) {
	out, entry, _, err = patch(elf)
	return out, entry, err
}

// patch is Patch that also says whether the output differs from the input, so
// WriteFile can leave an already patched file alone.
func patch(in []byte) (out []byte, entry uint64, changed bool, err error) {
	l, err := parse(in)
	if err != nil {
		return nil, 0, false, err
	}
	entry, err = l.kernelEntry()
	if err != nil {
		return nil, 0, false, err
	}
	if old, found, err := l.pvhNote(); err != nil {
		return nil, 0, false, err
	} else if found {
		if old != entry {
			return nil, 0, false, fail(ErrEntryMismatch,
				"the binary already has a PVH note with entry %#x, but its marker says %#x; relink it and run unigo-image on the fresh binary",
				old, entry)
		}
		return bytes.Clone(in), entry, false, nil
	}
	stack, err := l.stackHeader()
	if err != nil {
		return nil, 0, false, err
	}
	off, err := l.noteRoom()
	if err != nil {
		return nil, 0, false, err
	}

	out = bytes.Clone(in)
	copy(out[off:], noteBytes(entry))
	l.putProg(out, stack, l.noteProg(off))
	return out, entry, true, nil
}

// The note's offsets, for readers of this file: a 12-byte header (namesz, descsz,
// type), the name padded to 4 bytes, then the descriptor.
const (
	noteNameSize = len(pvh.NoteName) + 1 // with its NUL
	noteDescSize = 8
	noteAlign    = 4
)
