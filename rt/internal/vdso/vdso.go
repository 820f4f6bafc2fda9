// Package vdso is the program's fast path to the clock: a minimal vDSO (an ELF
// shared-object image the Go runtime's vDSO parser accepts, found through
// AT_SYSINFO_EHDR) whose __vdso_clock_gettime and __vdso_gettimeofday are the
// ring-3 routines in this package, and the data page they read (Data), which the
// kernel keeps current.
//
// Context: Build and Publish run in kernel context at boot (no allocation; they
// write into pages the kernel provides). The routines in vdso_amd64.s run in ring
// 3, in the program's threads, called by the Go runtime with the C ABI; they
// read only the data page and fall back to the clock_gettime system call for
// clocks they do not serve.
//
// The image holds no code: the symbols point into the program's own text, where
// this package's routines are linked, which the runtime computes as load offset
// plus st_value with wrapping arithmetic.
package vdso

import (
	"sync/atomic"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

// User addresses of the data page and the image (one page each, read-only).
const (
	DataAddr  = 0x7FFF_F000_0000
	ImageAddr = 0x7FFF_F000_1000
)

// Data is the data page: monotonic ns = ((rdtsc - TSC0) * Mult) >> 32, realtime =
// monotonic + RealOffset. Seq is odd while the kernel rewrites it (a seqlock).
type Data struct {
	Seq        uint32
	_          uint32
	TSC0       uint64
	Mult       uint64
	RealOffset int64
}

// Offsets in Data, for vdso_amd64.s (vdso_test.go checks them).
const (
	offSeq     = 0
	offTSC0    = 8
	offMult    = 16
	offRealOff = 24
)

// Publish writes new clock parameters into the data page at the kernel address d.
func Publish(d uintptr, tsc0, mult uint64, realOffset int64) {
	p := kmem.At[Data](d)
	atomic.AddUint32(&p.Seq, 1)
	atomic.StoreUint64(&p.TSC0, tsc0)
	atomic.StoreUint64(&p.Mult, mult)
	atomic.StoreInt64(&p.RealOffset, realOffset)
	atomic.AddUint32(&p.Seq, 1)
}

func clockGettime()
func gettimeofday()

// funcs returns the entry addresses of the two routines (ABI0, the C ABI's
// registers are read directly).
func funcs() (clock, tod uintptr)

// Symbol names and the version they carry, as the runtime looks them up.
const (
	symClock    = "__vdso_clock_gettime"
	symTOD      = "__vdso_gettimeofday"
	version     = "LINUX_2.6"
	soname      = "linux-vdso.so.1"
	versionHash = 0x3ae75f6 // ELF hash of "LINUX_2.6"
)

// ELF constants.
const (
	ptLoad    = 1
	ptDynamic = 2
	dtNull    = 0
	dtHash    = 4
	dtStrtab  = 5
	dtSymtab  = 6
	dtStrsz   = 10
	dtSyment  = 11
	dtSoname  = 14
	dtVersym  = 0x6ffffff0
	dtVerdef  = 0x6ffffffc
	dtVerdefN = 0x6ffffffd
)

// Layout of the image (all offsets from its start; vaddr = offset).
const (
	offPhdr   = 64
	offDyn    = 0x100
	offSymtab = 0x200 // 3 symbols * 24
	offHash   = 0x260 // nbucket, nchain, bucket[1], chain[3]
	offVersym = 0x280 // 3 * uint16
	offVerdef = 0x2A0 // 2 * (verdef 20 + verdaux 8)
	offStrtab = 0x300
	// Size is the image size.
	Size = 0x400
)

// Build writes the vDSO image into the Size bytes of kernel memory at img, for
// mapping at ImageAddr.
func Build(img uintptr) {
	clock, tod := funcs()
	BuildFor(img, ImageAddr, clock, tod)
}

// BuildFor writes the image for a given load address and routine addresses
// (tests build it at other addresses).
func BuildFor(img uintptr, load uint64, clock, tod uintptr) {
	b := kmem.Bytes(img, Size)
	clear(b)
	// String table: "\0" name... offsets fixed by order.
	str := b[offStrtab:]
	n := 1
	nameClock := n
	n += copy(str[n:], symClock) + 1
	nameTOD := n
	n += copy(str[n:], symTOD) + 1
	nameVersion := n
	n += copy(str[n:], version) + 1
	nameSoname := n
	n += copy(str[n:], soname) + 1
	strsz := n

	// ELF header.
	copy(b[0:], "\x7fELF\x02\x01\x01")
	le16(b[16:], 3)  // ET_DYN
	le16(b[18:], 62) // EM_X86_64
	le32(b[20:], 1)
	le64(b[32:], offPhdr)
	le16(b[52:], 64) // e_ehsize
	le16(b[54:], 56) // e_phentsize
	le16(b[56:], 2)  // e_phnum
	le16(b[58:], 64) // e_shentsize (no sections)

	// PT_LOAD covering the image; PT_DYNAMIC.
	ph := b[offPhdr:]
	le32(ph[0:], ptLoad)
	le32(ph[4:], 5) // R+X
	le64(ph[32:], Size)
	le64(ph[40:], Size)
	le64(ph[48:], 0x1000)
	ph = b[offPhdr+56:]
	le32(ph[0:], ptDynamic)
	le32(ph[4:], 4)
	le64(ph[8:], offDyn)
	le64(ph[16:], offDyn)
	le64(ph[24:], offDyn)
	le64(ph[32:], 16*11)
	le64(ph[40:], 16*11)
	le64(ph[48:], 8)

	dyn := b[offDyn:]
	i := 0
	for _, d := range [...][2]uint64{
		{dtHash, offHash}, {dtStrtab, offStrtab}, {dtSymtab, offSymtab}, {dtStrsz, uint64(strsz)},
		{dtSyment, 24}, {dtSoname, uint64(nameSoname)}, {dtVersym, offVersym}, {dtVerdef, offVerdef},
		{dtVerdefN, 2}, {dtNull, 0},
	} {
		le64(dyn[i:], d[0])
		le64(dyn[i+8:], d[1])
		i += 16
	}

	// Symbols 1 and 2: global functions whose value, added to the load address,
	// wraps around to the routine in the program's text.
	for k, s := range [2]struct {
		name int
		addr uintptr
	}{{nameClock, clock}, {nameTOD, tod}} {
		sym := b[offSymtab+24*(k+1):]
		le32(sym[0:], uint32(s.name))
		sym[4] = 1<<4 | 2 // STB_GLOBAL, STT_FUNC
		le16(sym[6:], 1)  // any defined section
		le64(sym[8:], uint64(s.addr)-load)
		le64(sym[16:], 64)
	}

	// SysV hash with one bucket: bucket[0] = 2, chain[2] = 1, chain[1] = 0.
	h := b[offHash:]
	le32(h[0:], 1)
	le32(h[4:], 3)
	le32(h[8:], 2)
	le32(h[12+4*1:], 0)
	le32(h[12+4*2:], 1)

	// Versions: index 1 is the file itself, index 2 is LINUX_2.6.
	vs := b[offVersym:]
	le16(vs[2:], 2)
	le16(vs[4:], 2)
	vd := b[offVerdef:]
	verdef(vd, 1, 1, elfHash(soname), 28, nameSoname)
	verdef(vd[28:], 0, 2, versionHash, 0, nameVersion)
}

// verdef writes an Elf64_Verdef with its one Elf64_Verdaux.
func verdef(b []byte, flags, ndx uint16, hash uint32, next uint32, name int) {
	le16(b[0:], 1) // vd_version
	le16(b[2:], flags)
	le16(b[4:], ndx)
	le16(b[6:], 1) // vd_cnt
	le32(b[8:], hash)
	le32(b[12:], 20) // vd_aux: the verdaux follows
	le32(b[16:], next)
	le32(b[20:], uint32(name)) // vda_name
	le32(b[24:], 0)            // vda_next
}

func elfHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s); i++ {
		h = h<<4 + uint32(s[i])
		if g := h & 0xf0000000; g != 0 {
			h ^= g >> 24
		}
		h &^= 0xf0000000
	}
	return h
}

func le16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }

func le32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func le64(b []byte, v uint64) {
	le32(b, uint32(v))
	le32(b[4:], uint32(v>>32))
}
