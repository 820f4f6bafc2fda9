package mm

import (
	"math/bits"

	"github.com/unigo-dev/unigo/rt/internal/kmem"
)

// PageSize is the size of a frame and of a user page.
const PageSize = 4096

// PageShift is log2(PageSize).
const PageShift = 12

// Frames is the physical frame allocator: a bitmap with one bit per 4 KiB frame
// (set = free), plus the accounting of promised frames.
//
// Every frame is in one of three states: allocated; free and promised to a
// commitment (a user mapping's untouched page); free and available. Avail counts
// the last kind. Commitments may not take Avail below Floor; page tables and
// kernel objects may, so that a fully committed machine can still map the pages
// it promised.
type Frames struct {
	bitmap  uintptr // kernel address of the bitmap
	nframes uint64
	free    uint64 // free frames, promised or not
	avail   int64  // free frames not promised
	floor   int64  // frames commitments must leave available
	hint    uint64 // bitmap word to start the next search at
}

// Init sets up an allocator for frames [0, nframes) with its bitmap at the kernel
// address bitmap (BitmapBytes(nframes) bytes). All frames start allocated; the
// boot code frees the RAM it finds.
func (f *Frames) Init(bitmap uintptr, nframes uint64) {
	f.bitmap = bitmap
	f.nframes = nframes
	f.free, f.avail, f.floor, f.hint = 0, 0, 0, 0
	kmem.Zero(bitmap, int(BitmapBytes(nframes)))
}

// Rebase moves the allocator's view of its bitmap to a new kernel address (boot:
// from the identity map to the direct map).
func (f *Frames) Rebase(bitmap uintptr) { f.bitmap = bitmap }

// BitmapBytes is the bitmap size for nframes frames (whole 64-bit words).
func BitmapBytes(nframes uint64) uint64 { return (nframes + 63) / 64 * 8 }

// SetFloor sets how many frames commitments must leave for page tables and kernel
// objects.
func (f *Frames) SetFloor(n int64) { f.floor = n }

// Floor is the number of frames commitments must leave.
func (f *Frames) Floor() int64 { return f.floor }

func (f *Frames) words() []uint64 { return kmem.Words(f.bitmap, int((f.nframes+63)/64)) }

// AddFree marks frames [pfn, pfn+n) free and available (boot: RAM from the memory
// map, minus what is in use).
func (f *Frames) AddFree(pfn, n uint64) {
	w := f.words()
	for i := pfn; i < pfn+n && i < f.nframes; i++ {
		if w[i/64]&(1<<(i%64)) == 0 {
			w[i/64] |= 1 << (i % 64)
			f.free++
			f.avail++
		}
	}
}

// Free is the number of free frames; Avail the free frames not promised.
func (f *Frames) Free() uint64 { return f.free }

// Avail is the number of free frames not promised to a commitment.
func (f *Frames) Avail() int64 { return f.avail }

// Total is the number of frames the allocator covers.
func (f *Frames) Total() uint64 { return f.nframes }

// Promise reserves n frames for a commitment. It fails, changing nothing, when that
// would leave fewer than Floor frames available.
func (f *Frames) Promise(n uint64) bool {
	if f.avail-int64(n) < f.floor {
		return false
	}
	f.avail -= int64(n)
	return true
}

// Unpromise gives back n promised frames.
func (f *Frames) Unpromise(n uint64) { f.avail += int64(n) }

// TakePromised allocates a frame for a commitment made earlier; it cannot fail
// while every commitment is backed, and reports false only if that invariant broke.
func (f *Frames) TakePromised() (pfn uint64, ok bool) {
	return f.take(1, 1)
}

// ReturnPromised frees a frame whose page stays committed (MADV_DONTNEED).
func (f *Frames) ReturnPromised(pfn uint64) { f.release(pfn, 1) }

// Alloc allocates n contiguous frames aligned to align frames for the kernel (page
// tables, stacks, thread records), outside any commitment. minAvail is how many
// available frames must remain afterwards: 0 for page tables, which may use the
// floor; Floor/2 or so for objects a program can multiply, such as threads.
func (f *Frames) Alloc(n, align uint64, minAvail int64) (pfn uint64, ok bool) {
	if f.avail-int64(n) < minAvail {
		return 0, false
	}
	pfn, ok = f.take(n, align)
	if ok {
		f.avail -= int64(n)
	}
	return pfn, ok
}

// Release frees n kernel frames from Alloc.
func (f *Frames) Release(pfn, n uint64) {
	f.release(pfn, n)
	f.avail += int64(n)
}

func (f *Frames) release(pfn, n uint64) {
	w := f.words()
	for i := pfn; i < pfn+n; i++ {
		if w[i/64]&(1<<(i%64)) != 0 {
			kernelBug("mm: frame freed twice", i<<PageShift)
		}
		w[i/64] |= 1 << (i % 64)
	}
	f.free += n
	if pfn/64 < f.hint {
		f.hint = pfn / 64
	}
}

// take finds and clears n free bits, the first aligned to align (a power of two).
func (f *Frames) take(n, align uint64) (uint64, bool) {
	if n == 0 || f.free < n {
		return 0, false
	}
	w := f.words()
	if n == 1 {
		for k := uint64(0); k < uint64(len(w)); k++ {
			i := (f.hint + k) % uint64(len(w))
			if w[i] != 0 {
				b := uint64(bits.TrailingZeros64(w[i]))
				w[i] &^= 1 << b
				f.free--
				f.hint = i
				return i*64 + b, true
			}
		}
		return 0, false
	}
	// Runs: first fit, from the bottom (boot-time and rare), skipping whole
	// words of allocated frames.
	run := uint64(0)
	for i := uint64(0); i < f.nframes; {
		if i%64 == 0 && w[i/64] == 0 {
			run = 0
			i += 64
			continue
		}
		if run == 0 && i%align != 0 {
			i++
			continue
		}
		if w[i/64]&(1<<(i%64)) == 0 {
			run = 0
			i++
			continue
		}
		run++
		i++
		if run == n {
			start := i - n
			for j := start; j < i; j++ {
				w[j/64] &^= 1 << (j % 64)
			}
			f.free -= n
			return start, true
		}
	}
	return 0, false
}
