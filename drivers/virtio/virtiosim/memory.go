// Package virtiosim is a simulated virtio device for host tests of package
// virtio and of the device drivers built on it. It plays the hypervisor:
// guest-physical memory (Memory), a device (Device) that serves split
// virtqueues in its own goroutine from that memory, and the device's
// register windows as virtio-mmio version 2 (MMIO) or modern virtio-pci
// (PCI). Its ring code is written separately from package virtio's, from the
// specification, so the two check each other.
//
// Context: host tests only; it allocates freely and takes locks.
package virtiosim

import (
	"errors"
	"sort"
	"sync"
	"unsafe"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// Memory is simulated guest-physical memory: regions handed out by AllocDMA
// at increasing physical addresses, which the device reaches through Slice.
type Memory struct {
	mu      sync.RWMutex
	next    uint64
	regions []*Region
}

// Region is one DMA region.
type Region struct {
	b    []byte
	phys uint64
}

func (r *Region) Bytes() []byte { return r.b }
func (r *Region) Phys() uint64  { return r.phys }

// NewMemory returns an empty memory whose first region starts at 1 MiB.
func NewMemory() *Memory { return &Memory{next: 1 << 20} }

// AllocDMA implements virtio.Allocator. The slice's virtual address is
// 64-byte aligned, its physical address align-aligned.
func (m *Memory) AllocDMA(size, align uintptr) (virtio.DMA, error) {
	if size == 0 || align == 0 || align&(align-1) != 0 {
		return nil, errors.New("virtiosim: bad allocation")
	}
	backing := make([]uint64, (size+64)/8+1)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(backing)))
	skip := (64 - p%64) % 64
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(backing)), skip)), size)
	m.mu.Lock()
	defer m.mu.Unlock()
	phys := (m.next + uint64(align) - 1) &^ (uint64(align) - 1)
	m.next = phys + uint64(size) + 4096 // a gap, so overruns do not land in a neighbour
	r := &Region{b: b, phys: phys}
	m.regions = append(m.regions, r)
	return r, nil
}

// Alloc is AllocDMA for tests that want the concrete type.
func (m *Memory) Alloc(size uintptr) *Region {
	d, err := m.AllocDMA(size, 16)
	if err != nil {
		panic(err)
	}
	return d.(*Region)
}

// Slice is the device's view of n bytes at guest-physical address phys; ok
// is false when they are not all inside one region.
func (m *Memory) Slice(phys uint64, n uint64) (b []byte, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i := sort.Search(len(m.regions), func(i int) bool { return m.regions[i].phys > phys }) - 1
	if i < 0 {
		return nil, false
	}
	r := m.regions[i]
	off := phys - r.phys
	if off > uint64(len(r.b)) || n > uint64(len(r.b))-off {
		return nil, false
	}
	return r.b[off : off+n : off+n], true
}
