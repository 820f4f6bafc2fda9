package kcheck

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// abi0Suffix is what the Go linker appends to the .symtab name of an ABI0
// (assembly calling convention) function.
const abi0Suffix = ".abi0"

// function is one STT_FUNC symbol of the image, with its code.
type function struct {
	name  string
	start uint64
	end   uint64 // start + .symtab size: the checker trusts this size
	code  []byte // the bytes of [start, end)
}

// String names a function the way violation details refer to it.
func (f *function) String() string { return f.name }

// where formats an address inside f as "name+0xoff", the form go tool objdump
// and kernel fault reports use.
func (f *function) where(pc uint64) string {
	return fmt.Sprintf("%s+%#x", f.name, pc-f.start)
}

// image is the part of a linked ELF the checker reads: its functions and its
// allocated sections (for jump tables).
type image struct {
	funcs    []*function // sorted by start; no two share a start
	byName   map[string][]*function
	sections []*elf.Section // SHF_ALLOC sections with file contents
	data     map[*elf.Section][]byte
}

// loadImage reads the function symbols and their code from an x86-64 ELF.
func loadImage(path string) (*image, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: not an x86-64 ELF64 file", path)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: reading .symtab: %w", path, err)
	}
	img := &image{byName: map[string][]*function{}, data: map[*elf.Section][]byte{}}
	// Read every loaded section now (the file is closed on return): code, and
	// the read-only data that holds jump tables.
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type != elf.SHT_PROGBITS {
			continue
		}
		d, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("%s: section %s: %w", path, s.Name, err)
		}
		img.sections = append(img.sections, s)
		img.data[s] = d
	}
	byStart := map[uint64]*function{}
	for _, s := range syms {
		// Zero-sized symbols (runtime.text, runtime.etext) mark places, not code.
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 {
			continue
		}
		if prev, ok := byStart[s.Value]; ok {
			// Aliases: keep the larger extent under the first name seen, so
			// address lookups stay unambiguous; the alias name still resolves.
			prev.end = max(prev.end, s.Value+s.Size)
			img.byName[s.Name] = append(img.byName[s.Name], prev)
			continue
		}
		fn := &function{name: s.Name, start: s.Value, end: s.Value + s.Size}
		byStart[s.Value] = fn
		img.funcs = append(img.funcs, fn)
		img.byName[s.Name] = append(img.byName[s.Name], fn)
	}
	if len(img.funcs) == 0 {
		return nil, fmt.Errorf("%s: no function symbols in .symtab (stripped binary?)", path)
	}
	sort.Slice(img.funcs, func(i, j int) bool { return img.funcs[i].start < img.funcs[j].start })
	for _, fn := range img.funcs {
		code, err := img.read(fn.start, int(fn.end-fn.start))
		if err != nil {
			return nil, fmt.Errorf("%s: code of %s: %w", path, fn.name, err)
		}
		fn.code = code
	}
	return img, nil
}

// read returns n bytes of the loaded image at virtual address addr.
func (img *image) read(addr uint64, n int) ([]byte, error) {
	for _, s := range img.sections {
		if addr < s.Addr || addr+uint64(n) > s.Addr+s.Size {
			continue
		}
		d := img.data[s]
		off := addr - s.Addr
		return d[off : off+uint64(n)], nil
	}
	return nil, fmt.Errorf("address %#x+%d is not in any loaded section", addr, n)
}

// containing returns the function whose extent contains addr, or nil.
func (img *image) containing(addr uint64) *function {
	i := sort.Search(len(img.funcs), func(i int) bool { return img.funcs[i].end > addr })
	if i < len(img.funcs) && img.funcs[i].start <= addr {
		return img.funcs[i]
	}
	return nil
}

// at returns the function that starts exactly at addr, or nil.
func (img *image) at(addr uint64) *function {
	if fn := img.containing(addr); fn != nil && fn.start == addr {
		return fn
	}
	return nil
}

// resolve finds the functions an entry name denotes. A name given without
// the ABI0 suffix also matches the ABI0 symbol, so "pkg.trap" finds
// "pkg.trap.abi0"; when both an ABIInternal and an ABI0 symbol exist (one is
// the other's ABI wrapper) both are returned and both are checked.
func (img *image) resolve(name string) ([]*function, error) {
	var out []*function
	for _, n := range []string{name, name + abi0Suffix} {
		if strings.HasSuffix(name, abi0Suffix) && n != name {
			continue
		}
		fns := img.byName[n]
		if len(fns) > 1 {
			return nil, fmt.Errorf("entry %q: symbol %q is defined %d times", name, n, len(fns))
		}
		out = append(out, fns...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("entry %q: no such function in .symtab", name)
	}
	return out, nil
}
