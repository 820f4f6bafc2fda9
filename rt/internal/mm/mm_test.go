package mm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// machine is physical memory for a test: an aligned byte slice whose offsets are
// physical addresses, so the page-table code walks real tables.
type machine struct {
	ram    []byte
	bitmap []uint64
	vmas   []byte
	m      Memory
}

func newMachine(t *testing.T, frames uint64) *machine {
	t.Helper()
	mc := &machine{
		ram:    make([]byte, (frames+1)*PageSize),
		bitmap: make([]uint64, frames/64+1),
		vmas:   make([]byte, VMABytes),
	}
	base := uintptr(unsafe.Pointer(&mc.ram[0]))
	dm := (base + PageSize - 1) &^ (PageSize - 1)
	mc.m.Frames.Init(uintptr(unsafe.Pointer(&mc.bitmap[0])), frames)
	mc.m.Frames.AddFree(1, frames-1) // frame 0 stays in use, like real page 0
	mc.m.Frames.SetFloor(8)
	root, ok := mc.m.Frames.Alloc(1, 1, 0)
	require.True(t, ok)
	mc.m.PT = PageTable{Root: root << PageShift, DM: dm}
	kmem.Zero(dm+uintptr(root<<PageShift), PageSize)
	mc.m.Init(uintptr(unsafe.Pointer(&mc.vmas[0])), 0x7F00_0000_0000)
	return mc
}

// page returns the bytes of the user page at va through its frame, or nil.
func (mc *machine) page(va uint64) []byte {
	pte := mc.m.PT.Lookup(va)
	if pte&PTEPresent == 0 {
		return nil
	}
	return kmem.Bytes(mc.m.PT.DM+uintptr(PTEAddr(pte)), PageSize)
}

func TestFramesAllocFree(t *testing.T) {
	mc := newMachine(t, 256)
	f := &mc.m.Frames
	free := f.Free()
	a, ok := f.Alloc(1, 1, 0)
	require.True(t, ok)
	b, ok := f.Alloc(1, 1, 0)
	require.True(t, ok)
	assert.NotEqual(t, a, b)
	assert.Equal(t, free-2, f.Free())
	run, ok := f.Alloc(16, 16, 0)
	require.True(t, ok)
	assert.Zero(t, run%16, "run is aligned")
	f.Release(a, 1)
	f.Release(run, 16)
	assert.Equal(t, free-1, f.Free())
	assert.Panics(t, func() { f.Release(a, 1) }, "a double free is a kernel bug")
}

func TestPromisesKeepTheFloor(t *testing.T) {
	mc := newMachine(t, 128)
	f := &mc.m.Frames
	avail := f.Avail()
	assert.False(t, f.Promise(uint64(avail)), "the floor stays out of reach")
	require.True(t, f.Promise(uint64(avail-8)))
	assert.Equal(t, int64(8), f.Avail())
	// Page tables may still dip below the floor.
	_, ok := f.Alloc(1, 1, 0)
	assert.True(t, ok)
	// A promised frame is always there.
	pfn, ok := f.TakePromised()
	require.True(t, ok)
	f.ReturnPromised(pfn)
	f.Unpromise(uint64(avail - 8))
}

func TestPageTable(t *testing.T) {
	mc := newMachine(t, 64)
	pt := &mc.m.PT
	require.True(t, pt.Map(0x4000_1000, 0x7000, PTEWrite|PTEUser, &mc.m.Frames))
	pte := pt.Lookup(0x4000_1000)
	assert.Equal(t, uint64(0x7000), PTEAddr(pte))
	assert.NotZero(t, pte&PTEWrite)
	assert.Zero(t, pt.Lookup(0x4000_2000))
	assert.Equal(t, pte, pt.Unmap(0x4000_1000))
	assert.Zero(t, pt.Lookup(0x4000_1000))

	require.True(t, pt.MapLarge(DirectMapBase+0x20_0000, 0x20_0000, PTEWrite, &mc.m.Frames))
	_, large, ok := pt.Entry(DirectMapBase+0x20_1000, 1, nil)
	assert.False(t, ok)
	assert.True(t, large, "a 2 MiB page stops the walk")
}

func TestReservationCostsNothing(t *testing.T) {
	mc := newMachine(t, 256)
	avail := mc.m.Frames.Avail()
	// The Go runtime reserves far more address space than the machine has.
	addr, e := mc.m.Mmap(0, 512<<20, linux.PROT_NONE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS)
	require.Zero(t, e)
	assert.Equal(t, avail, mc.m.Frames.Avail())
	assert.Equal(t, BadAccess, mc.m.Fault(addr+12345, Read))
}

func TestCommitBeyondRAMIsENOMEM(t *testing.T) {
	mc := newMachine(t, 256)
	// A reservation, then committed over it (as the Go runtime grows its heap):
	// all of it does not fit in 1 MiB of RAM, a piece does.
	base, e := mc.m.Mmap(0, 1<<20, linux.PROT_NONE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS)
	require.Zero(t, e)
	_, e = mc.m.Mmap(base, 1<<20, linux.PROT_READ|linux.PROT_WRITE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS|linux.MAP_FIXED)
	assert.Equal(t, linux.ENOMEM, e, "1 MiB does not fit in 1 MiB of RAM")
	assert.Equal(t, BadAccess, mc.m.Fault(base, Read), "and the failed commit left the reservation alone")
	got, e := mc.m.Mmap(base, 64<<10, linux.PROT_READ|linux.PROT_WRITE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS|linux.MAP_FIXED)
	require.Zero(t, e)
	assert.Equal(t, base, got)
	committed, _ := mc.m.Stats()
	assert.Equal(t, uint64(16), committed)
}

func TestDemandZeroAndReuse(t *testing.T) {
	mc := newMachine(t, 256)
	const size = 128 << 10
	addr, e := mc.m.Mmap(0xc000000000, size, linux.PROT_NONE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS)
	require.Zero(t, e)
	assert.Equal(t, uint64(0xc000000000), addr, "a free hint is honoured")
	// Committed over the reservation, as the Go runtime commits heap.
	_, e = mc.m.Mmap(addr, size, linux.PROT_READ|linux.PROT_WRITE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS|linux.MAP_FIXED)
	require.Zero(t, e)
	assert.Nil(t, mc.page(addr), "nothing is present before the first touch")
	// Touch a neighbour first so that the page tables exist; then one fault
	// costs exactly one frame.
	require.Equal(t, Mapped, mc.m.Fault(addr+PageSize, Read))
	free := mc.m.Frames.Free()
	require.Equal(t, Mapped, mc.m.Fault(addr+100, Write))
	p := mc.page(addr)
	require.NotNil(t, p)
	assert.Equal(t, make([]byte, PageSize), p, "a new page is zero")
	assert.Equal(t, free-1, mc.m.Frames.Free())
	p[0] = 0xAA

	// MADV_DONTNEED gives the frame back; the next touch reads zero again.
	require.Zero(t, mc.m.Madvise(addr, 2*PageSize, linux.MADV_DONTNEED))
	assert.Equal(t, free+1, mc.m.Frames.Free(), "both pages' frames are back")
	require.Equal(t, Mapped, mc.m.Fault(addr, Read))
	assert.Equal(t, byte(0), mc.page(addr)[0])

	// munmap returns frames and the commitment: the space can be committed again.
	avail := mc.m.Frames.Avail()
	require.Zero(t, mc.m.Munmap(addr, size))
	assert.Equal(t, avail+size/PageSize, mc.m.Frames.Avail())
	assert.Equal(t, BadAddress, mc.m.Fault(addr, Read))
	_, e = mc.m.Mmap(0, size, linux.PROT_READ|linux.PROT_WRITE, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS)
	assert.Zero(t, e)
}

func TestFixedReplacesAndNoReplace(t *testing.T) {
	mc := newMachine(t, 256)
	anon := uint32(linux.MAP_PRIVATE | linux.MAP_ANONYMOUS)
	rw := uint32(linux.PROT_READ | linux.PROT_WRITE)
	a, e := mc.m.Mmap(0x10_0000_0000, 16*PageSize, rw, anon)
	require.Zero(t, e)
	require.Equal(t, Mapped, mc.m.Fault(a+4*PageSize, Write))
	mc.page(a + 4*PageSize)[0] = 1
	_, e = mc.m.Mmap(a+4*PageSize, PageSize, rw, anon|linux.MAP_FIXED_NOREPLACE)
	assert.Equal(t, linux.EEXIST, e)
	_, e = mc.m.Mmap(a+4*PageSize, PageSize, rw, anon|linux.MAP_FIXED)
	require.Zero(t, e)
	assert.Nil(t, mc.page(a+4*PageSize), "MAP_FIXED replaced the old page")
	_, e = mc.m.Mmap(a+1, PageSize, rw, anon|linux.MAP_FIXED)
	assert.Equal(t, linux.EINVAL, e)
	// A taken hint falls back to a free range.
	b, e := mc.m.Mmap(a, PageSize, rw, anon)
	require.Zero(t, e)
	assert.NotEqual(t, a, b)
}

func TestMprotect(t *testing.T) {
	mc := newMachine(t, 256)
	anon := uint32(linux.MAP_PRIVATE | linux.MAP_ANONYMOUS)
	a, e := mc.m.Mmap(0, 8*PageSize, linux.PROT_READ|linux.PROT_WRITE, anon|linux.MAP_POPULATE)
	require.Zero(t, e)
	require.Equal(t, Mapped, mc.m.Fault(a, Write))
	mc.page(a)[7] = 7
	require.Zero(t, mc.m.Mprotect(a, PageSize, linux.PROT_READ))
	assert.Equal(t, BadAccess, mc.m.Fault(a, Write))
	assert.Equal(t, Mapped, mc.m.Fault(a, Read))
	assert.Equal(t, byte(7), mc.page(a)[7], "contents survive")
	require.Zero(t, mc.m.Mprotect(a, PageSize, linux.PROT_NONE))
	assert.Equal(t, BadAccess, mc.m.Fault(a, Read))
	assert.Zero(t, mc.m.PT.Lookup(a)&PTEUser, "a PROT_NONE page is not reachable from ring 3")
	require.Zero(t, mc.m.Mprotect(a, PageSize, linux.PROT_READ|linux.PROT_WRITE))
	assert.Equal(t, byte(7), mc.page(a)[7])
	assert.Equal(t, linux.EACCES, mc.m.Mprotect(a, PageSize, linux.PROT_WRITE|linux.PROT_EXEC), "W^X")
	assert.Equal(t, linux.ENOMEM, mc.m.Mprotect(a, 64*PageSize, linux.PROT_READ), "unmapped tail")
	require.Zero(t, mc.m.Mprotect(a+2*PageSize, PageSize, linux.PROT_READ))
	require.Zero(t, mc.m.Mprotect(a, PageSize, linux.PROT_READ|linux.PROT_WRITE))
	assert.Len(t, mc.m.Mappings(), 3, "split into three")
	require.Zero(t, mc.m.Mprotect(a, 8*PageSize, linux.PROT_READ|linux.PROT_WRITE))
	assert.Len(t, mc.m.Mappings(), 1, "equal neighbours merge back")
}

func TestWXAndBadArgs(t *testing.T) {
	mc := newMachine(t, 64)
	anon := uint32(linux.MAP_PRIVATE | linux.MAP_ANONYMOUS)
	_, e := mc.m.Mmap(0, PageSize, linux.PROT_WRITE|linux.PROT_EXEC, anon)
	assert.Equal(t, linux.EACCES, e)
	_, e = mc.m.Mmap(0, 0, linux.PROT_READ, anon)
	assert.Equal(t, linux.EINVAL, e)
	_, e = mc.m.Mmap(0, PageSize, linux.PROT_READ, linux.MAP_PRIVATE)
	assert.Equal(t, linux.ENODEV, e, "no files")
	_, e = mc.m.Mmap(0, PageSize, linux.PROT_READ, linux.MAP_ANONYMOUS)
	assert.Equal(t, linux.EINVAL, e, "neither shared nor private")
	assert.Equal(t, linux.EINVAL, mc.m.Munmap(0x1001, PageSize))
	assert.Equal(t, linux.EINVAL, mc.m.Madvise(0x10000, PageSize, 12345))
	assert.Equal(t, linux.ENOMEM, mc.m.Madvise(0x10000, PageSize, linux.MADV_DONTNEED), "unmapped")
}

func TestPrepare(t *testing.T) {
	mc := newMachine(t, 256)
	anon := uint32(linux.MAP_PRIVATE | linux.MAP_ANONYMOUS)
	a, e := mc.m.Mmap(0, 4*PageSize, linux.PROT_READ, anon)
	require.Zero(t, e)
	assert.Zero(t, mc.m.Prepare(a+10, 3*PageSize, Read), "read-only memory can be read")
	assert.NotNil(t, mc.page(a+3*PageSize), "and is now present")
	assert.Equal(t, linux.EFAULT, mc.m.Prepare(a, 10, Write))
	assert.Equal(t, linux.EFAULT, mc.m.Prepare(a+3*PageSize, 2*PageSize, Read), "runs past the end")
	assert.Equal(t, linux.EFAULT, mc.m.Prepare(0, 8, Read), "page 0")
	assert.Equal(t, linux.EFAULT, mc.m.Prepare(DirectMapBase, 8, Read), "kernel memory")
	assert.Equal(t, linux.EFAULT, mc.m.Prepare(^uint64(0)-4, 8, Read), "wraps around")
}

func TestFixedMappings(t *testing.T) {
	mc := newMachine(t, 64)
	require.Zero(t, mc.m.MapFixed(0x40_0000, 0x40_3000, 0x8000, linux.PROT_READ|linux.PROT_EXEC))
	pte := mc.m.PT.Lookup(0x40_2000)
	assert.Equal(t, uint64(0xA000), PTEAddr(pte))
	assert.Zero(t, pte&PTEWrite)
	assert.Zero(t, pte&PTENoExec)
	assert.Equal(t, linux.EINVAL, mc.m.Munmap(0x40_0000, PageSize), "the image stays")
	assert.Equal(t, BadAccess, mc.m.Fault(0x40_1000, Write))
	_, e := mc.m.Mmap(0x40_0000, PageSize, linux.PROT_READ, linux.MAP_PRIVATE|linux.MAP_ANONYMOUS|linux.MAP_FIXED)
	assert.Equal(t, linux.EINVAL, e, "nor can it be mapped over")
}

func TestSparseMappingsAreChargedWhenTouched(t *testing.T) {
	mc := newMachine(t, 256)
	anon := uint32(linux.MAP_PRIVATE | linux.MAP_ANONYMOUS)
	rw := uint32(linux.PROT_READ | linux.PROT_WRITE)
	avail := mc.m.Frames.Avail()
	// Like the runtime's arena index: far larger than what it will touch.
	a, e := mc.m.Mmap(0, 128*PageSize, rw, anon)
	require.Zero(t, e)
	assert.Equal(t, avail, mc.m.Frames.Avail(), "nothing is charged up front")
	require.Equal(t, Mapped, mc.m.Fault(a+5*PageSize, Write))
	assert.Less(t, mc.m.Frames.Avail(), avail, "a touched page takes a frame")
	_, e = mc.m.Mmap(0, 1<<30, rw, anon)
	assert.Zero(t, e, "untouched, even a mapping larger than memory costs nothing")
	// Touching beyond memory ends in OutOfMemory, not a hang or a kernel bug.
	b, e := mc.m.Mmap(0, uint64(mc.m.Frames.Avail())*PageSize, rw, anon)
	require.Zero(t, e)
	got := Mapped
	for va := b; got == Mapped; va += PageSize {
		got = mc.m.Fault(va, Write)
	}
	assert.Equal(t, OutOfMemory, got)
	require.Zero(t, mc.m.Munmap(b, uint64(1)<<20))
	assert.Equal(t, Mapped, mc.m.Fault(a+6*PageSize, Write), "munmap gave the frames back")
}
