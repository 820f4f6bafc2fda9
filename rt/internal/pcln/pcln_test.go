package pcln

import (
	"debug/elf"
	"os"
	"reflect"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func target() int { return 42 }

// The test binary is a Go program too: find its own pclntab in its file image
// and check names against the runtime's.
func TestLookupAgreesWithRuntime(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(exe)
	require.NoError(t, err)
	defer f.Close()
	sec := f.Section(".gopclntab")
	require.NotNil(t, sec)
	ro := f.Section(".rodata")
	// Search the segment the way the kernel does: from the start of read-only
	// data, not from the section we already know.
	var seg *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr <= sec.Addr && sec.Addr < p.Vaddr+p.Memsz {
			seg = p
		}
	}
	require.NotNil(t, seg)
	start := uintptr(seg.Vaddr)
	if ro != nil && ro.Addr > seg.Vaddr {
		start = uintptr(ro.Addr)
	}
	tab, ok := Find(start, uintptr(seg.Vaddr+seg.Memsz))
	require.True(t, ok)
	assert.Equal(t, uintptr(sec.Addr), tab.hdr, "found the real header")

	pc := reflect.ValueOf(target).Pointer()
	name := runtime.FuncForPC(pc).Name()
	require.True(t, tab.SetText(pc, name))
	for _, fn := range []any{target, TestLookupAgreesWithRuntime, os.Executable, elf.Open} {
		pc := reflect.ValueOf(fn).Pointer()
		got, off, ok := tab.Lookup(pc + 3)
		require.True(t, ok)
		assert.Equal(t, runtime.FuncForPC(pc).Name(), string(got))
		assert.Equal(t, uintptr(3), off)
	}
	_, _, ok = tab.Lookup(uintptr(unsafe.Pointer(&tab)))
	assert.False(t, ok, "a stack address is not code")
}
