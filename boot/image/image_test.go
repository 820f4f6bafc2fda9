package image_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/image"
	"github.com/unigo-dev/unigo/boot/pvh"
)

func TestPatch(t *testing.T) {
	t.Parallel()
	for name, fixture := range map[string]*build{"plain": fakeKernel, "stripped": fakeKernelStripped} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := fixture.bytes(t)
			orig := bytes.Clone(in)

			out, entry, err := image.Patch(in)
			require.NoError(t, err)
			require.Equal(t, orig, in, "Patch modified its input")
			require.Len(t, out, len(in))

			wantEntry := markerEntry(t, in)
			assert.Equal(t, wantEntry, entry)
			sig := fileOffset(t, in, entry)
			assert.Equal(t, pvh.EntrySignature, string(in[sig:sig+uint64(pvh.EntrySignatureLen)]))
			if name == "plain" {
				assert.Equal(t, symbolValue(t, in, "main.pvhEntry.abi0"), entry)
			}

			before, after := parseELF(t, in), parseELF(t, out)
			require.Len(t, after.Progs, len(before.Progs))
			require.Len(t, after.Sections, len(before.Sections))
			stack := progIndex(before, elf.PT_GNU_STACK)
			require.GreaterOrEqual(t, stack, 0)
			assert.Equal(t, -1, progIndex(after, elf.PT_GNU_STACK), "PT_GNU_STACK survived")
			assert.Equal(t, countProgs(before, elf.PT_NOTE)+1, countProgs(after, elf.PT_NOTE))

			// The note takes GNU_STACK's slot and sits in the first gap after the
			// header tables, which was zeros.
			note := after.Progs[stack].ProgHeader
			off := (headerTablesEnd(in) + 3) &^ 3
			assert.Equal(t, elf.ProgHeader{
				Type: elf.PT_NOTE, Flags: elf.PF_R,
				Off: off, Vaddr: 0x400000 + off, Paddr: 0x400000 + off,
				Filesz: pvh.NoteSize, Memsz: pvh.NoteSize, Align: 4,
			}, note)
			assert.Less(t, off+pvh.NoteSize, uint64(4096))
			assert.Equal(t, make([]byte, pvh.NoteSize), in[off:off+pvh.NoteSize])
			assert.Equal(t, wantNote(entry), out[off:off+pvh.NoteSize])

			// Nothing else changed.
			ph := phoff(in) + uint64(stack)*56
			for i := range in {
				inNote := uint64(i) >= off && uint64(i) < off+pvh.NoteSize
				inProg := uint64(i) >= ph && uint64(i) < ph+56
				if !inNote && !inProg && in[i] != out[i] {
					t.Fatalf("byte %#x changed from %#x to %#x", i, in[i], out[i])
				}
			}

			// Patching again changes nothing, and patching is deterministic.
			again, againEntry, err := image.Patch(out)
			require.NoError(t, err)
			assert.Equal(t, entry, againEntry)
			assert.True(t, bytes.Equal(out, again), "patching an image changed it")
			twice, _, err := image.Patch(in)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(out, twice), "two patches of the same input differ")
		})
	}
}

// wantNote is the PVH note, spelled out independently of the package.
func wantNote(entry uint64) []byte {
	b := []byte{4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0}
	return binary.LittleEndian.AppendUint64(b, entry)
}

func countProgs(f *elf.File, typ elf.ProgType) int {
	n := 0
	for _, p := range f.Progs {
		if p.Type == typ {
			n++
		}
	}
	return n
}

// symbolValue returns the value of the named symbol.
func symbolValue(t *testing.T, data []byte, name string) uint64 {
	t.Helper()
	syms, err := parseELF(t, data).Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}

// refusal is an input Patch and WriteFile must refuse, and the error they give.
type refusal struct {
	name  string
	input func(t *testing.T) []byte
	err   error
	says  string // a part of the message
}

var refusals = []refusal{
	{"text file", func(*testing.T) []byte { return []byte("#!/bin/sh\necho hello\n") }, image.ErrNotELF, "not an ELF file"},
	{"empty file", func(*testing.T) []byte { return nil }, image.ErrNotELF, "not an ELF file"},
	{"truncated header", func(t *testing.T) []byte { return fakeKernel.bytes(t)[:40] }, image.ErrNotELF, "truncated"},
	{"arm64", helloARM64.bytes, image.ErrNotAMD64, "GOARCH=amd64"},
	{"32-bit class", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		data[elf.EI_CLASS] = byte(elf.ELFCLASS32)
		return data
	}, image.ErrNotAMD64, "ELFCLASS32"},
	{"big-endian", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		data[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
		return data
	}, image.ErrNotAMD64, "little-endian"},
	{"PIE", fakeKernelPIE.bytes, image.ErrNotExec, "-buildmode=pie"},
	{"physical != virtual", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		i := progIndex(parseELF(t, data), elf.PT_LOAD)
		binary.LittleEndian.PutUint64(data[phoff(data)+uint64(i)*56+24:], 0x1000000) // p_paddr
		return data
	}, image.ErrAddress, "physical"},
	{"below 4 MiB", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		i := progIndex(parseELF(t, data), elf.PT_LOAD)
		binary.LittleEndian.PutUint64(data[phoff(data)+uint64(i)*56+16:], 0x100000) // p_vaddr
		binary.LittleEndian.PutUint64(data[phoff(data)+uint64(i)*56+24:], 0x100000) // p_paddr
		return data
	}, image.ErrAddress, "-ldflags=-T"},
	{"PT_INTERP", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		setProgType(data, progIndex(parseELF(t, data), elf.PT_PHDR), elf.PT_INTERP)
		return data
	}, image.ErrDynamic, "PT_INTERP"},
	{"PT_DYNAMIC", func(t *testing.T) []byte {
		data := fakeKernelStripped.bytes(t)
		setProgType(data, progIndex(parseELF(t, data), elf.PT_NOTE), elf.PT_DYNAMIC)
		return data
	}, image.ErrDynamic, "PT_DYNAMIC"},
	{"no marker", hello.bytes, image.ErrNoKernel, "import rt"},
	{"entry without signature", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		data[fileOffset(t, data, markerEntry(t, data))+2] = 'X'
		return data
	}, image.ErrNoKernel, "signature"},
	{"marker version", func(t *testing.T) []byte {
		data := fakeKernelStripped.bytes(t)
		data[markerOffset(t, data)+16] = 2
		return data
	}, image.ErrNoKernel, "version 2"},
	{"entry outside code", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		m := markerOffset(t, data)
		binary.LittleEndian.PutUint64(data[m+24:], 0x400000+uint64(m))
		return data
	}, image.ErrNoKernel, "not in an executable segment"},
	{"two markers", func(t *testing.T) []byte {
		data := fakeKernelStripped.bytes(t)
		m := markerOffset(t, data)
		copy(data[m+64:], data[m:m+pvh.MarkerSize])
		return data
	}, image.ErrManyKernels, "exactly one kernel"},
	{"symbol mismatch", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		moveSymbol(t, data, "main.pvhEntry.abi0", 16)
		return data
	}, image.ErrEntryMismatch, "main.pvhEntry at"},
	{"other PVH note", func(t *testing.T) []byte {
		data, entry, err := image.Patch(fakeKernel.bytes(t))
		require.NoError(t, err)
		note := bytes.Index(data, wantNote(entry))
		binary.LittleEndian.PutUint64(data[note+16:], entry+1)
		return data
	}, image.ErrEntryMismatch, "already has a PVH note"},
	{"no PT_GNU_STACK", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		setProgType(data, progIndex(parseELF(t, data), elf.PT_GNU_STACK), elf.PT_NULL)
		return data
	}, image.ErrNoStackHeader, "PT_GNU_STACK"},
	{"no room", func(t *testing.T) []byte {
		data := fakeKernel.bytes(t)
		fillGaps(t, data, headerTablesEnd(data), 4096)
		return data
	}, image.ErrNoRoom, "header page"},
	{"stray byte in the gap", func(t *testing.T) []byte {
		// A gap holding anything but zeros may be data nothing declares: it is
		// not used, not even its zero part.
		data := fakeKernelStripped.bytes(t)
		data[firstSectionOffset(t, data)-1] = 1
		return data
	}, image.ErrNoRoom, "header page"},
}

// moveSymbol adds delta to the value of the named symbol in data's .symtab.
func moveSymbol(t *testing.T, data []byte, name string, delta uint64) {
	t.Helper()
	f := parseELF(t, data)
	syms, err := f.Symbols()
	require.NoError(t, err)
	symtab := f.Section(".symtab")
	for i, s := range syms {
		if s.Name == name {
			// Symbols skips the null symbol 0; st_value is at offset 8 of an Elf64_Sym.
			off := symtab.Offset + uint64(i+1)*24 + 8
			binary.LittleEndian.PutUint64(data[off:], s.Value+delta)
			return
		}
	}
	t.Fatalf("no symbol %s", name)
}

// fillGaps sets every byte in [start, end) that no section holds to 0xff.
func fillGaps(t *testing.T, data []byte, start, end uint64) {
	t.Helper()
	sections := parseELF(t, data).Sections
next:
	for i := start; i < end; i++ {
		for _, s := range sections {
			if s.Type != elf.SHT_NOBITS && i >= s.Offset && i < s.Offset+s.FileSize {
				continue next
			}
		}
		data[i] = 0xff
	}
}

// firstSectionOffset is the file offset of the first section with file bytes.
func firstSectionOffset(t *testing.T, data []byte) uint64 {
	t.Helper()
	first := uint64(len(data))
	for _, s := range parseELF(t, data).Sections {
		if s.Type != elf.SHT_NOBITS && s.FileSize > 0 {
			first = min(first, s.Offset)
		}
	}
	return first
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			in := r.input(t)
			orig := bytes.Clone(in)

			out, entry, err := image.Patch(in)
			require.ErrorIs(t, err, r.err)
			t.Log(err)
			assert.Contains(t, err.Error(), r.says)
			assert.Nil(t, out)
			assert.Zero(t, entry)
			assert.Equal(t, orig, in, "Patch modified its input")

			// WriteFile refuses too, in place or not, and touches nothing.
			dir := t.TempDir()
			src := filepath.Join(dir, "kernel")
			require.NoError(t, os.WriteFile(src, in, 0o751))
			require.NoError(t, os.Chmod(src, 0o751))
			for _, dst := range []string{src, filepath.Join(dir, "out")} {
				_, err := image.WriteFile(src, dst)
				require.ErrorIs(t, err, r.err)
				assertFile(t, src, orig, 0o751)
				assertDir(t, dir, "kernel")
			}
		})
	}
}

// A copy of the magic that does not validate (a string constant in some
// program, say) is passed over, and the real marker still found.
func TestStrayMagicIgnored(t *testing.T) {
	t.Parallel()
	in := fakeKernelStripped.bytes(t)
	want, wantEntry := patched(t, in)
	m := markerOffset(t, in)
	for _, data := range [][]byte{in, want} {
		copy(data[m-64:], pvh.MarkerMagic+"\x00\x00\x00\x00") // version 0
	}

	out, entry, err := image.Patch(in)
	require.NoError(t, err)
	assert.Equal(t, wantEntry, entry)
	assert.True(t, bytes.Equal(want, out))
}

// The image tool refers to pvh.MarkerMagic; whatever of it lands in the tool's
// own binary is no kernel.
func TestToolIsNoKernel(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the host-built tool is not a linux/amd64 binary")
	}
	_, _, err := image.Patch(tool.bytes(t))
	require.ErrorIs(t, err, image.ErrNoKernel)
}

// assertFile checks path's content and permission bits.
func assertFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "%s has the wrong content", path)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, perm, info.Mode().Perm(), "%s has the wrong mode", path)
}

// assertDir checks that dir holds exactly the named entries (so no temporary
// file was left behind).
func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, names, got)
}
