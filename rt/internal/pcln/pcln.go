// Package pcln names code addresses from the program's own pclntab, the table the
// Go linker puts in every binary (stripped ones included) for tracebacks.
//
// Context: kernel context, on the fault-report path, so it reads the table in
// place and allocates nothing: names are returned as slices of the table itself.
// It relies on the Go 1.20+ layout of pcHeader, functab and _func
// (runtime/symtab.go); Find refuses any other.
package pcln

import (
	"encoding/binary"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

const magic = 0xFFFFFFF1 // abi.Go120PCLnTabMagic

// Table is a found pclntab.
type Table struct {
	hdr      uintptr // the pcHeader
	nfunc    int
	names    uintptr // funcnametab
	pclntab  uintptr // pclntable: functab entries, then the _func records
	text     uintptr // moduledata.text: where entry offsets count from
	textSize uintptr
}

// Find looks for the pclntab in the read-only data at [start, end) (a loaded
// segment), checking the header fields that fix the layout.
func Find(start, end uintptr) (Table, bool) {
	for p := (start + 7) &^ 7; p+72 <= end; p += 8 {
		b := kmem.Bytes(p, 72)
		if binary.LittleEndian.Uint32(b) != magic || b[4] != 0 || b[5] != 0 || b[6] != 1 || b[7] != 8 {
			continue
		}
		nfunc := binary.LittleEndian.Uint64(b[8:])
		nameOff := binary.LittleEndian.Uint64(b[32:])
		pclnOff := binary.LittleEndian.Uint64(b[64:])
		if nfunc == 0 || nfunc > 1<<22 || uintptr(nameOff) >= end-p || uintptr(pclnOff) >= end-p {
			continue
		}
		return Table{hdr: p, nfunc: int(nfunc), names: p + uintptr(nameOff), pclntab: p + uintptr(pclnOff)}, true
	}
	return Table{}, false
}

// SetText tells the table where the text starts: the address of a function whose
// name is known, as the kernel sees it from assembly, fixes the base.
func (t *Table) SetText(fn uintptr, name string) bool {
	for i := 0; i < t.nfunc; i++ {
		entry, n := t.fn(i)
		if string(n) == name {
			t.text = fn - uintptr(entry)
			last, _ := t.entry(t.nfunc)
			t.textSize = uintptr(last)
			return true
		}
	}
	return false
}

func (t *Table) entry(i int) (entryoff, funcoff uint32) {
	b := kmem.Bytes(t.pclntab+uintptr(i)*8, 8)
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
}

// fn returns the entry offset and name of function i.
func (t *Table) fn(i int) (uint32, []byte) {
	_, off := t.entry(i)
	f := kmem.Bytes(t.pclntab+uintptr(off), 8)
	entry := binary.LittleEndian.Uint32(f)
	nameOff := int32(binary.LittleEndian.Uint32(f[4:]))
	return entry, cstring(t.names + uintptr(nameOff))
}

func cstring(p uintptr) []byte {
	n := 0
	for n < 4096 && *kmem.At[byte](p + uintptr(n)) != 0 {
		n++
	}
	return kmem.Bytes(p, n)
}

// Lookup returns the name of the function holding pc and pc's offset in it.
func (t *Table) Lookup(pc uintptr) (name []byte, off uintptr, ok bool) {
	if t.text == 0 || pc < t.text || pc-t.text >= t.textSize {
		return nil, 0, false
	}
	x := uint32(pc - t.text)
	lo, hi := 0, t.nfunc
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if e, _ := t.entry(mid); e <= x {
			lo = mid
		} else {
			hi = mid
		}
	}
	entry, n := t.fn(lo)
	return n, uintptr(x - entry), true
}

// Text returns the text base and size the table covers.
func (t *Table) Text() (uintptr, uintptr) { return t.text, t.textSize }

// HasFunc says whether the program has a function of this exact name (the
// linker drops functions nothing calls).
func (t *Table) HasFunc(name string) bool {
	want := kmem.StringBytes(name)
	for i := 0; i < t.nfunc; i++ {
		_, off := t.entry(i)
		nameOff := int32(binary.LittleEndian.Uint32(kmem.Bytes(t.pclntab+uintptr(off)+4, 4)))
		// Most names differ in their first byte: only those that match it
		// are measured whole.
		p := t.names + uintptr(nameOff)
		if *kmem.At[byte](p) == want[0] && string(cstring(p)) == name {
			return true
		}
	}
	return false
}
