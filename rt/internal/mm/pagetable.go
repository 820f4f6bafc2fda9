package mm

import "github.com/unigo-dev/unigo/rt/internal/kmem"

// Page-table entry bits.
const (
	PTEPresent  = 1 << 0
	PTEWrite    = 1 << 1
	PTEUser     = 1 << 2
	PTEPWT      = 1 << 3
	PTEPCD      = 1 << 4 // cache disable (MMIO)
	PTEAccessed = 1 << 5
	PTEDirty    = 1 << 6
	PTELarge    = 1 << 7 // PS: a 2 MiB page in a page directory
	PTEGlobal   = 1 << 8
	PTENoExec   = 1 << 63
	pteAddrMask = 0x000F_FFFF_FFFF_F000
)

// Memory layout of the kernel half. Every address here is supervisor-only.
const (
	// DirectMapBase maps all physical memory: physical address p is at
	// DirectMapBase+p (PML4 slot 273, as in Linux).
	DirectMapBase = 0xFFFF_8880_0000_0000
	// KernelStackBase is where kernel stacks are mapped, each below an unmapped
	// guard page (PML4 slot 402).
	KernelStackBase = 0xFFFF_C900_0000_0000
	// MMIOBase is where device registers are mapped uncached (PML4 slot 405).
	MMIOBase = 0xFFFF_CA80_0000_0000
)

// PageTable is a four-level x86-64 page table, reached through the direct map.
type PageTable struct {
	Root uint64  // physical address of the PML4
	DM   uintptr // address of physical 0 in the kernel's view (the direct map)
}

func (pt *PageTable) table(pa uint64) []uint64 {
	return kmem.Words(pt.DM+uintptr(pa), 512)
}

// Entry returns the kernel address of the page-table entry that maps va at the
// given level (1 = PT, 2 = PD, 3 = PDPT, 4 = PML4), creating missing tables with
// frames from fr when fr is not nil. ok is false when a table is missing and fr is
// nil, when a frame cannot be had, or when a large page maps va above that level
// (then large is true).
func (pt *PageTable) Entry(va uint64, level int, fr *Frames) (e uintptr, large, ok bool) {
	tab := pt.Root
	for l := 4; l > level; l-- {
		idx := (va >> (12 + 9*uint(l-1))) & 511
		t := pt.table(tab)
		pte := t[idx]
		if pte&PTEPresent == 0 {
			if fr == nil {
				return 0, false, false
			}
			pfn, got := fr.Alloc(1, 1, 0)
			if !got {
				return 0, false, false
			}
			kmem.Zero(pt.DM+uintptr(pfn<<PageShift), PageSize)
			// Intermediate entries grant everything; the leaf decides. User
			// access needs U at every level, and no kernel table sits under a
			// user entry because the halves never share a PML4 slot.
			flags := uint64(PTEPresent | PTEWrite)
			if va < DirectMapBase {
				flags |= PTEUser
			}
			pte = pfn<<PageShift | flags
			t[idx] = pte
		} else if pte&PTELarge != 0 {
			return 0, true, false
		}
		tab = pte & pteAddrMask
	}
	idx := (va >> (12 + 9*uint(level-1))) & 511
	return pt.DM + uintptr(tab) + uintptr(idx*8), false, true
}

// Map maps the 4 KiB page at va to physical address pa with flags (PTEPresent is
// added). It fails only when a page-table frame cannot be had.
func (pt *PageTable) Map(va, pa, flags uint64, fr *Frames) bool {
	e, _, ok := pt.Entry(va, 1, fr)
	if !ok {
		return false
	}
	*kmem.At[uint64](e) = pa&pteAddrMask | flags | PTEPresent
	return true
}

// MapLarge maps the 2 MiB page at va (aligned) to pa.
func (pt *PageTable) MapLarge(va, pa, flags uint64, fr *Frames) bool {
	e, _, ok := pt.Entry(va, 2, fr)
	if !ok {
		return false
	}
	*kmem.At[uint64](e) = pa&pteAddrMask | flags | PTEPresent | PTELarge
	return true
}

// Lookup returns the leaf entry for the 4 KiB page at va, or 0.
func (pt *PageTable) Lookup(va uint64) uint64 {
	e, _, ok := pt.Entry(va, 1, nil)
	if !ok {
		return 0
	}
	return *kmem.At[uint64](e)
}

// Unmap clears the entry for the 4 KiB page at va and returns what it held.
func (pt *PageTable) Unmap(va uint64) uint64 {
	e, _, ok := pt.Entry(va, 1, nil)
	if !ok {
		return 0
	}
	p := kmem.At[uint64](e)
	old := *p
	*p = 0
	return old
}

// PTEAddr is the physical address an entry points at.
func PTEAddr(pte uint64) uint64 { return pte & pteAddrMask }
