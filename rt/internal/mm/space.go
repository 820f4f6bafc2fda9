package mm

import (
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
)

// User address space bounds.
const (
	// UserMin is the lowest address a mapping may use (Linux's mmap_min_addr),
	// so that page 0 and its neighbours are never mapped.
	UserMin = 0x10000
	// UserTop is the end of user space (Linux's TASK_SIZE for 4-level paging).
	UserTop = 0x7FFF_FFFF_F000
)

// Kinds of mapping.
const (
	// Anon is anonymous memory: demand-zero pages, committed while accounted.
	Anon = 0
	// Fixed is memory backed by frames the kernel chose when mapping it (the
	// image, the vDSO and its data page): present from the start, never freed.
	Fixed = 1
)

// VMA is one mapping: [Start, End) with one protection.
type VMA struct {
	Start, End uint64
	Prot       uint32 // PROT_* bits
	Kind       uint8
	// Accounted: the pages are committed (promised frames) now; otherwise
	// each page takes a frame when first touched. See the package doc.
	Accounted bool
	_         [2]byte
	Phys      uint64 // Fixed: physical address of Start
}

// Memory is the one address space and the memory behind it.
type Memory struct {
	Frames Frames
	PT     PageTable
	// MmapTop is where mmap without an address starts looking, downwards.
	MmapTop uint64
	// TLB is the kernel address of the machine's tlb.State, which removals
	// and permission changes use to reach the other CPUs; 0: one CPU.
	TLB uintptr

	vmas      uintptr // kernel address of a [vmaCap]VMA array, sorted by Start
	n, vmaCap int
	committed uint64 // pages committed by accounted mappings
	resident  uint64 // anonymous pages present
}

// VMABytes is the kernel memory Init needs for the mapping table.
const VMABytes = 64 << 10

// Init sets up an empty address space whose mapping table lives at vmas
// (VMABytes bytes of kernel memory). Frames and PT must be set up already.
func (m *Memory) Init(vmas uintptr, mmapTop uint64) {
	m.vmas = vmas
	m.vmaCap = VMABytes / 32
	m.n = 0
	m.MmapTop = mmapTop
	m.committed, m.resident = 0, 0
}

// Stats reports committed and resident anonymous memory in pages.
func (m *Memory) Stats() (committed, resident uint64) { return m.committed, m.resident }

func (m *Memory) list() []VMA {
	return unsafeVMAs(m.vmas, m.vmaCap)[:m.n]
}

// Mappings returns the current mappings, sorted (a view, valid until the next
// change).
func (m *Memory) Mappings() []VMA { return m.list() }

// find returns the index of the first mapping with End > addr (n if none).
func (m *Memory) find(addr uint64) int {
	v := m.list()
	lo, hi := 0, len(v)
	for lo < hi {
		mid := (lo + hi) / 2
		if v[mid].End <= addr {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Lookup returns the mapping holding addr.
func (m *Memory) Lookup(addr uint64) (VMA, bool) {
	i := m.find(addr)
	v := m.list()
	if i < len(v) && v[i].Start <= addr {
		return v[i], true
	}
	return VMA{}, false
}

func (m *Memory) insertAt(i int, x VMA) bool {
	if m.n == m.vmaCap {
		return false
	}
	all := unsafeVMAs(m.vmas, m.vmaCap)
	copy(all[i+1:m.n+1], all[i:m.n])
	all[i] = x
	m.n++
	return true
}

func (m *Memory) removeAt(i int) {
	all := unsafeVMAs(m.vmas, m.vmaCap)
	copy(all[i:m.n-1], all[i+1:m.n])
	m.n--
}

// split makes addr a mapping boundary if it falls inside a mapping.
func (m *Memory) split(addr uint64) bool {
	i := m.find(addr)
	v := m.list()
	if i == len(v) || v[i].Start >= addr {
		return true
	}
	hi := v[i]
	hi.Start = addr
	if hi.Kind == Fixed {
		hi.Phys += addr - v[i].Start
	}
	if !m.insertAt(i+1, hi) {
		return false
	}
	m.list()[i].End = addr
	return true
}

// merge joins equal adjacent anonymous mappings from the one before index i to
// the first that starts at or after end.
func (m *Memory) merge(i int, end uint64) {
	j := max(i-1, 0)
	for j+1 < m.n {
		v := m.list()
		a, b := v[j], v[j+1]
		if a.Start > end {
			break
		}
		if a.End == b.Start && a.Kind == Anon && b.Kind == Anon && a.Prot == b.Prot && a.Accounted == b.Accounted {
			v[j].End = b.End
			m.removeAt(j + 1)
			continue
		}
		j++
	}
}

func pages(start, end uint64) uint64 { return (end - start) >> PageShift }

// pteFlags is the leaf entry for a page of a mapping with protection prot.
func pteFlags(prot uint32) uint64 {
	f := uint64(PTEUser)
	if prot&linux.PROT_WRITE != 0 {
		f |= PTEWrite
	}
	if prot&linux.PROT_EXEC == 0 {
		f |= PTENoExec
	}
	return f
}

// MapFixed maps [start, end) to physical memory at phys, present at once: the
// image's segments, the vDSO and its data page (boot only).
func (m *Memory) MapFixed(start, end, phys uint64, prot uint32) linux.Errno {
	if start&(PageSize-1) != 0 || end&(PageSize-1) != 0 || start >= end {
		return linux.EINVAL
	}
	i := m.find(start)
	if v := m.list(); i < len(v) && v[i].Start < end {
		return linux.EEXIST
	}
	if !m.insertAt(i, VMA{Start: start, End: end, Prot: prot, Kind: Fixed, Phys: phys}) {
		return linux.ENOMEM
	}
	for va := start; va < end; va += PageSize {
		if !m.PT.Map(va, phys+(va-start), pteFlags(prot), &m.Frames) {
			return linux.ENOMEM
		}
	}
	return 0
}

// MapZero makes [start, end) zero-filled memory, read-write, its pages made
// and charged as they are first touched: the part of the image's bss the boot
// does not need where the loader put it (see kernel.mapImage).
func (m *Memory) MapZero(start, end uint64) linux.Errno {
	if start&(PageSize-1) != 0 || end&(PageSize-1) != 0 || start >= end || !m.free(start, end) {
		return linux.EINVAL
	}
	i := m.find(start)
	if !m.insertAt(i, VMA{Start: start, End: end, Prot: linux.PROT_READ | linux.PROT_WRITE, Kind: Anon}) {
		return linux.ENOMEM
	}
	return 0
}

// MapDevice maps size bytes of physical memory at phys (device registers, or DMA
// memory the kernel allocated) read-write and never executable, at an address
// it chooses below MmapTop, and returns it. Uncached for registers. Like the
// image, the mapping cannot be unmapped or changed.
func (m *Memory) MapDevice(phys, size uint64, uncached bool) (uint64, linux.Errno) {
	size = (size + PageSize - 1) &^ (PageSize - 1)
	if size == 0 || phys&(PageSize-1) != 0 {
		return 0, linux.EINVAL
	}
	start, ok := m.findFree(size)
	if !ok {
		return 0, linux.ENOMEM
	}
	if !m.insertAt(m.find(start), VMA{Start: start, End: start + size, Prot: linux.PROT_READ | linux.PROT_WRITE, Kind: Fixed, Phys: phys}) {
		return 0, linux.ENOMEM
	}
	flags := pteFlags(linux.PROT_READ | linux.PROT_WRITE)
	if uncached {
		flags |= PTEPCD
	}
	for off := uint64(0); off < size; off += PageSize {
		if !m.PT.Map(start+off, phys+off, flags, &m.Frames) {
			return 0, linux.ENOMEM
		}
	}
	return start, 0
}

// Mmap implements mmap(2) for anonymous memory.
func (m *Memory) Mmap(addr, length uint64, prot, flags uint32) (uint64, linux.Errno) {
	if length == 0 || prot&^(linux.PROT_READ|linux.PROT_WRITE|linux.PROT_EXEC) != 0 {
		return 0, linux.EINVAL
	}
	if prot&linux.PROT_WRITE != 0 && prot&linux.PROT_EXEC != 0 {
		return 0, linux.EACCES // W^X
	}
	switch flags & linux.MAP_TYPE {
	case linux.MAP_SHARED, linux.MAP_PRIVATE, linux.MAP_SHARED_VALIDATE:
	default:
		return 0, linux.EINVAL
	}
	if flags&linux.MAP_ANONYMOUS == 0 {
		return 0, linux.ENODEV // no files to map
	}
	size := (length + PageSize - 1) &^ (PageSize - 1)
	if size < length || size > UserTop {
		return 0, linux.ENOMEM
	}
	fixed := flags&(linux.MAP_FIXED|linux.MAP_FIXED_NOREPLACE) != 0
	if fixed {
		if addr&(PageSize-1) != 0 {
			return 0, linux.EINVAL
		}
		if addr < UserMin || addr+size > UserTop || addr+size < addr {
			return 0, linux.ENOMEM
		}
		if flags&linux.MAP_FIXED_NOREPLACE != 0 && flags&linux.MAP_FIXED == 0 && !m.free(addr, addr+size) {
			return 0, linux.EEXIST
		}
	} else {
		addr &^= PageSize - 1
		if addr < UserMin || addr+size > UserTop || addr+size < addr || !m.free(addr, addr+size) {
			var ok bool
			if addr, ok = m.findFree(size); !ok {
				return 0, linux.ENOMEM
			}
		}
	}
	// Committed now: memory placed over the program's own reservation
	// (MAP_FIXED, how the Go runtime commits heap), or that it asks to have at
	// once (MAP_POPULATE). Other mappings are charged page by page as they are
	// touched: the runtime's metadata tables are large and sparse.
	accounted := prot != linux.PROT_NONE && (fixed || flags&linux.MAP_POPULATE != 0)
	if accounted && !m.Frames.Promise(pages(addr, addr+size)) {
		return 0, linux.ENOMEM
	}
	if fixed {
		// Replacing: the old mappings in the range go, as with munmap. The
		// promise above was made first, so a failed mmap leaves them alone.
		if e := m.unmap(addr, addr+size); e != 0 {
			if accounted {
				m.Frames.Unpromise(pages(addr, addr+size))
			}
			return 0, e
		}
	}
	i := m.find(addr)
	if !m.insertAt(i, VMA{Start: addr, End: addr + size, Prot: prot, Kind: Anon, Accounted: accounted}) {
		if accounted {
			m.Frames.Unpromise(pages(addr, addr+size))
		}
		return 0, linux.ENOMEM
	}
	if accounted {
		m.committed += pages(addr, addr+size)
	}
	m.merge(i, addr+size)
	if flags&linux.MAP_POPULATE != 0 && accounted {
		for va := addr; va < addr+size; va += PageSize {
			if !m.populate(va, prot, true) {
				break // linux.MAP_POPULATE is advice: the pages come on first touch
			}
		}
	}
	return addr, 0
}

// free says whether [start, end) holds no mapping.
func (m *Memory) free(start, end uint64) bool {
	i := m.find(start)
	v := m.list()
	return i == len(v) || v[i].Start >= end
}

// findFree finds the highest free range of size bytes below MmapTop.
func (m *Memory) findFree(size uint64) (uint64, bool) {
	top := m.MmapTop
	v := m.list()
	for i := len(v) - 1; i >= -1; i-- {
		lo := uint64(UserMin)
		if i >= 0 {
			lo = v[i].End
		}
		if i >= 0 && v[i].Start >= top {
			continue
		}
		if top >= lo+size && top-size >= lo {
			return top - size, true
		}
		if i >= 0 && v[i].Start < top {
			top = v[i].Start
		}
	}
	return 0, false
}

// Munmap implements munmap(2).
func (m *Memory) Munmap(addr, length uint64) linux.Errno {
	if addr&(PageSize-1) != 0 || length == 0 {
		return linux.EINVAL
	}
	end := (addr + length + PageSize - 1) &^ (PageSize - 1)
	if end > UserTop || end < addr {
		return linux.EINVAL
	}
	return m.unmap(addr, end)
}

// unmap removes every mapping in [start, end), freeing anonymous frames and
// commitments. Fixed mappings (the image) cannot be unmapped.
func (m *Memory) unmap(start, end uint64) linux.Errno {
	for _, v := range m.list()[m.find(start):] {
		if v.Start >= end {
			break
		}
		if v.Kind == Fixed {
			return linux.EINVAL
		}
	}
	if !m.split(start) || !m.split(end) {
		return linux.ENOMEM
	}
	i := m.find(start)
	for i < m.n {
		v := m.list()[i]
		if v.Start >= end {
			break
		}
		m.dropPages(v.Start, v.End, v.Accounted)
		if v.Accounted {
			n := pages(v.Start, v.End)
			m.Frames.Unpromise(n)
			m.committed -= n
		}
		m.removeAt(i)
	}
	return 0
}

// dropPages unmaps the present anonymous pages in [start, end) and frees their
// frames. Frames of an accounted mapping stay promised to it (the caller drops
// the promise if the mapping goes); others become available again. Frames are
// freed in batches, each after the other CPUs have dropped their cached
// translations: until then a stale entry could still reach the frame.
func (m *Memory) dropPages(start, end uint64, accounted bool) {
	var batch [64]uint64
	n := 0
	for va := start; va < end; va += PageSize {
		pte := m.PT.Unmap(va)
		if pte&PTEPresent == 0 {
			continue
		}
		flushPage(va)
		m.resident--
		batch[n] = PTEAddr(pte) >> PageShift
		n++
		if n == len(batch) {
			m.release(batch[:n], accounted)
			n = 0
		}
	}
	m.release(batch[:n], accounted)
}

// release frees the frames of unmapped pages once no CPU can reach them.
func (m *Memory) release(pfns []uint64, accounted bool) {
	if len(pfns) == 0 {
		return
	}
	shootdown(m)
	for _, pfn := range pfns {
		if accounted {
			m.Frames.ReturnPromised(pfn)
		} else {
			m.Frames.Release(pfn, 1)
		}
	}
}

// Mprotect implements mprotect(2).
func (m *Memory) Mprotect(addr, length uint64, prot uint32) linux.Errno {
	if addr&(PageSize-1) != 0 || prot&^(linux.PROT_READ|linux.PROT_WRITE|linux.PROT_EXEC) != 0 {
		return linux.EINVAL
	}
	if prot&linux.PROT_WRITE != 0 && prot&linux.PROT_EXEC != 0 {
		return linux.EACCES
	}
	end := (addr + length + PageSize - 1) &^ (PageSize - 1)
	if end < addr || end > UserTop {
		return linux.ENOMEM
	}
	if length == 0 {
		return 0
	}
	// The whole range must be mapped, and not fixed.
	need := uint64(0)
	at := addr
	for _, v := range m.list()[m.find(addr):] {
		if v.Start > at || at >= end {
			break
		}
		if v.Kind == Fixed {
			return linux.EACCES
		}
		hi := min(v.End, end)
		// Giving access to a reservation commits it, as an mmap over it would.
		if !v.Accounted && v.Prot == linux.PROT_NONE && prot != linux.PROT_NONE {
			need += pages(at, hi)
		}
		at = hi
	}
	if at < end {
		return linux.ENOMEM
	}
	if need > 0 && !m.Frames.Promise(need) {
		return linux.ENOMEM
	}
	if !m.split(addr) || !m.split(end) {
		if need > 0 {
			m.Frames.Unpromise(need)
		}
		return linux.ENOMEM
	}
	m.committed += need
	i := m.find(addr)
	changed := false
	for j := i; j < m.n; j++ {
		v := &m.list()[j]
		if v.Start >= end {
			break
		}
		if v.Prot == linux.PROT_NONE && prot != linux.PROT_NONE && !v.Accounted {
			v.Accounted = true
		}
		v.Prot = prot
		// Present pages keep their contents; linux.PROT_NONE ones stay present
		// but supervisor-only, so ring 3 faults on them.
		flags := pteFlags(prot)
		if prot == linux.PROT_NONE {
			flags &^= PTEUser
		}
		for va := v.Start; va < v.End; va += PageSize {
			e, _, ok := m.PT.Entry(va, 1, nil)
			if !ok {
				continue
			}
			p := kmem.At[uint64](e)
			if *p&PTEPresent != 0 {
				*p = PTEAddr(*p) | flags | PTEPresent
				flushPage(va)
				changed = true
			}
		}
	}
	if changed {
		shootdown(m) // a permission taken away must be gone everywhere
	}
	m.merge(i, end)
	return 0
}

// Madvise implements madvise(2).
func (m *Memory) Madvise(addr, length uint64, advice int) linux.Errno {
	if addr&(PageSize-1) != 0 {
		return linux.EINVAL
	}
	end := (addr + length + PageSize - 1) &^ (PageSize - 1)
	if end < addr {
		return linux.EINVAL
	}
	switch advice {
	case linux.MADV_NORMAL, linux.MADV_RANDOM, linux.MADV_SEQUENTIAL, linux.MADV_WILLNEED,
		linux.MADV_HUGEPAGE, linux.MADV_NOHUGEPAGE, linux.MADV_COLLAPSE, linux.MADV_DONTDUMP, linux.MADV_DODUMP:
		return m.mapped(addr, end)
	case linux.MADV_DONTNEED, linux.MADV_FREE:
	default:
		return linux.EINVAL
	}
	if e := m.mapped(addr, end); e != 0 {
		return e
	}
	for _, v := range m.list()[m.find(addr):] {
		if v.Start >= end {
			break
		}
		if v.Kind == Fixed {
			return linux.EINVAL
		}
	}
	for _, v := range m.list()[m.find(addr):] {
		if v.Start >= end {
			break
		}
		m.dropPages(max(v.Start, addr), min(v.End, end), v.Accounted)
	}
	return 0
}

// mapped says whether every page of [start, end) is mapped (linux.ENOMEM if not).
func (m *Memory) mapped(start, end uint64) linux.Errno {
	at := start
	for _, v := range m.list()[m.find(start):] {
		if v.Start > at || at >= end {
			break
		}
		at = v.End
	}
	if at < end {
		return linux.ENOMEM
	}
	return 0
}

// populate gives the page at va a zeroed frame: one promised to the mapping if
// it is accounted (always there), otherwise one of the available frames, down to
// half the floor. false means no frame or no page table could be had.
func (m *Memory) populate(va uint64, prot uint32, accounted bool) bool {
	if pte := m.PT.Lookup(va); pte&PTEPresent != 0 {
		return true
	}
	var pfn uint64
	var ok bool
	if accounted {
		if pfn, ok = m.Frames.TakePromised(); !ok {
			kernelBug("mm: a committed page found no frame", va)
		}
	} else if pfn, ok = m.Frames.Alloc(1, 1, m.Frames.floor/2); !ok {
		return false
	}
	kmem.Zero(m.PT.DM+uintptr(pfn<<PageShift), PageSize)
	if !m.PT.Map(va, pfn<<PageShift, pteFlags(prot), &m.Frames) {
		if accounted {
			m.Frames.ReturnPromised(pfn)
		} else {
			m.Frames.Release(pfn, 1)
		}
		return false
	}
	m.resident++
	return true
}

// FaultResult says how a user page fault ended.
type FaultResult int

const (
	// Mapped: the page is now present; retry the access.
	Mapped FaultResult = iota
	// BadAddress: no mapping holds the address (SIGSEGV, SEGV_MAPERR).
	BadAddress
	// BadAccess: the mapping forbids the access (SIGSEGV, SEGV_ACCERR).
	BadAccess
	// OutOfMemory: no frame for the page (of a mapping charged as it is
	// touched) or for a page table.
	OutOfMemory
)

// Access kinds for Fault and Prepare.
const (
	Read  = 0
	Write = 1
	Exec  = 2
)

// Fault handles a page fault at addr for an access of the given kind.
func (m *Memory) Fault(addr uint64, access int) FaultResult {
	v, ok := m.Lookup(addr)
	if !ok || addr >= UserTop {
		return BadAddress
	}
	if !allows(v.Prot, access) {
		return BadAccess
	}
	va := addr &^ (PageSize - 1)
	if pte := m.PT.Lookup(va); pte&PTEPresent != 0 {
		// Present and allowed: another CPU mapped it first, or a stale TLB
		// entry; flush and retry.
		flushPage(va)
		return Mapped
	}
	if v.Kind != Anon {
		return BadAccess
	}
	if !m.populate(va, v.Prot, v.Accounted) {
		return OutOfMemory
	}
	return Mapped
}

func allows(prot uint32, access int) bool {
	switch access {
	case Write:
		return prot&linux.PROT_WRITE != 0
	case Exec:
		return prot&linux.PROT_EXEC != 0
	}
	return prot&(linux.PROT_READ|linux.PROT_WRITE|linux.PROT_EXEC) != 0
}

// Prepare makes [addr, addr+n) ready for the kernel to read (or write) on the
// program's behalf: every page mapped with the right access and present. It
// returns linux.EFAULT for any address the program could not use that way itself.
func (m *Memory) Prepare(addr, n uint64, access int) linux.Errno {
	if n == 0 {
		return 0
	}
	end := addr + n
	if end < addr || end > UserTop || addr < UserMin {
		return linux.EFAULT
	}
	for va := addr &^ (PageSize - 1); va < end; va += PageSize {
		pte := m.PT.Lookup(va)
		if pte&PTEPresent != 0 && pte&PTEUser != 0 && (access != Write || pte&PTEWrite != 0) {
			continue
		}
		switch m.Fault(va, access) {
		case Mapped:
		case OutOfMemory:
			return linux.ENOMEM
		default:
			return linux.EFAULT
		}
	}
	return 0
}
