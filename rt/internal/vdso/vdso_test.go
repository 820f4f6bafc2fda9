package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func build(t *testing.T, load uint64, clock, tod uintptr) []byte {
	buf := make([]byte, Size)
	BuildFor(uintptr(unsafe.Pointer(&buf[0])), load, clock, tod)
	return buf
}

func TestImageIsAnELFWithTheSymbols(t *testing.T) {
	const load = ImageAddr
	img := build(t, load, 0x47_1234, 0x47_5678)
	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, elf.ET_DYN, f.Type)
	assert.Equal(t, elf.EM_X86_64, f.Machine)
	require.Len(t, f.Progs, 2)
	assert.Equal(t, elf.PT_LOAD, f.Progs[0].Type)
	assert.Equal(t, elf.PT_DYNAMIC, f.Progs[1].Type)
}

// lookup follows the Go runtime's vDSO parser (runtime/vdso_linux.go): load
// offset from the first PT_LOAD, the dynamic table, the SysV hash chain for the
// symbol's hash, and the version index of LINUX_2.6.
func lookup(t *testing.T, img []byte, base uint64, name string, symHash uint32) (uint64, bool) {
	le := binary.LittleEndian
	phoff := le.Uint64(img[32:])
	var loadOffset uint64
	var dyn uint64
	for i := uint64(0); i < uint64(le.Uint16(img[56:])); i++ {
		p := img[phoff+i*56:]
		switch le.Uint32(p) {
		case 1:
			loadOffset = base + le.Uint64(p[8:]) - le.Uint64(p[16:])
		case 2:
			dyn = le.Uint64(p[8:])
		}
	}
	var strtab, symtab, hash, versym, verdef uint64
	for d := dyn; ; d += 16 {
		tag, val := le.Uint64(img[d:]), le.Uint64(img[d+8:])
		if tag == 0 {
			break
		}
		switch tag {
		case 5:
			strtab = val
		case 6:
			symtab = val
		case 4:
			hash = val
		case 0x6ffffff0:
			versym = val
		case 0x6ffffffc:
			verdef = val
		}
	}
	cstr := func(off uint64) string {
		end := bytes.IndexByte(img[strtab+off:], 0)
		return string(img[strtab+off : strtab+off+uint64(end)])
	}
	// The runtime's vdsoFindVersion.
	version := int32(-1)
	for def := verdef; ; {
		flags := le.Uint16(img[def+2:])
		if flags&1 == 0 && le.Uint32(img[def+8:]) == 0x3ae75f6 {
			aux := def + uint64(le.Uint32(img[def+12:]))
			if cstr(uint64(le.Uint32(img[aux:]))) == "LINUX_2.6" {
				version = int32(le.Uint16(img[def+4:]) & 0x7fff)
			}
		}
		next := le.Uint32(img[def+16:])
		if next == 0 {
			break
		}
		def += uint64(next)
	}
	require.Equal(t, int32(2), version)
	nbucket := le.Uint32(img[hash:])
	chain := func(i uint32) uint32 { return le.Uint32(img[hash+8+4*uint64(nbucket)+4*uint64(i):]) }
	for i := le.Uint32(img[hash+8+4*uint64(symHash%nbucket):]); i != 0; i = chain(i) {
		sym := img[symtab+24*uint64(i):]
		if sym[4]&0xf != 2 || sym[4]>>4 != 1 || le.Uint16(sym[6:]) == 0 {
			continue
		}
		if cstr(uint64(le.Uint32(sym))) != name {
			continue
		}
		if int32(le.Uint16(img[versym+2*uint64(i):])&0x7fff) != version {
			continue
		}
		return loadOffset + le.Uint64(sym[8:]), true
	}
	return 0, false
}

func TestRuntimeFindsTheRoutines(t *testing.T) {
	const load = ImageAddr
	img := build(t, load, 0x47_1234, 0x47_5678)
	// The hashes the runtime's vdsoSymbolKeys carry.
	addr, ok := lookup(t, img, load, "__vdso_clock_gettime", 0xd35ec75)
	require.True(t, ok)
	assert.Equal(t, uint64(0x47_1234), addr, "the symbol wraps around to the routine in the program's text")
	addr, ok = lookup(t, img, load, "__vdso_gettimeofday", 0x315ca59)
	require.True(t, ok)
	assert.Equal(t, uint64(0x47_5678), addr)
	_, ok = lookup(t, img, load, "__vdso_getrandom", 0x25425d)
	assert.False(t, ok, "no getrandom: the runtime falls back to the system call")
	assert.Equal(t, uint32(versionHash), elfHash(version))
}

func TestDataLayout(t *testing.T) {
	var d Data
	assert.Equal(t, uintptr(offSeq), unsafe.Offsetof(d.Seq))
	assert.Equal(t, uintptr(offTSC0), unsafe.Offsetof(d.TSC0))
	assert.Equal(t, uintptr(offMult), unsafe.Offsetof(d.Mult))
	assert.Equal(t, uintptr(offRealOff), unsafe.Offsetof(d.RealOffset))
	page := make([]byte, 4096)
	Publish(uintptr(unsafe.Pointer(&page[0])), 7, 9, -3)
	p := (*Data)(unsafe.Pointer(&page[0]))
	assert.Equal(t, uint32(2), p.Seq, "even: stable")
	assert.Equal(t, Data{Seq: 2, TSC0: 7, Mult: 9, RealOffset: -3}, *p)
}

func TestAssemblyUsesTheDataPage(t *testing.T) {
	src, err := os.ReadFile("vdso_amd64.s")
	require.NoError(t, err)
	for _, line := range strings.Split(string(src), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "#define" {
			v, err := strconv.ParseUint(f[2], 0, 64)
			if err != nil {
				continue
			}
			switch f[1] {
			case "DATA":
				assert.Equal(t, uint64(DataAddr), v)
			case "OFF_TSC0":
				assert.Equal(t, uint64(offTSC0), v)
			case "OFF_MULT":
				assert.Equal(t, uint64(offMult), v)
			case "OFF_REAL":
				assert.Equal(t, uint64(offRealOff), v)
			}
		}
	}
}
