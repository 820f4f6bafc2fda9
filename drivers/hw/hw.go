// Package hw gives drivers their devices: it lists the devices the kernel found,
// maps their registers (a virtio-mmio window, or a PCI function's BARs), reads a
// PCI function's configuration space, allocates DMA memory and waits for
// interrupts, all through the kernel's private system calls
// (netstack/netcall), and offers them as the drivers/virtio interfaces
// (Registers, PCIFunction, Allocator, Interrupt).
//
// Context: goroutines (drivers are ordinary Go code, ARCHITECTURE.md decision 6).
// Only in the unikernel build does the kernel answer these calls; elsewhere
// Devices finds nothing.
package hw

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/netstack/netcall"
)

// Device is one device the kernel found.
type Device struct {
	Index int
	netcall.Device
}

// Devices lists the devices the kernel found (none outside the unikernel).
func Devices() []Device {
	var out []Device
	for i := 0; ; i++ {
		var d netcall.Device
		if _, _, e := syscall.RawSyscall(netcall.SysDevice, uintptr(i), uintptr(unsafe.Pointer(&d)), 0); e != 0 {
			return out
		}
		out = append(out, Device{Index: i, Device: d})
	}
}

// MMIO is a device's register window, mapped uncached. Every access is one
// load or store of the requested width, as device registers need.
type MMIO struct {
	base unsafe.Pointer
	size uintptr
}

// Map maps d's registers (a virtio-mmio device).
func Map(d Device) (*MMIO, error) {
	if d.Kind != netcall.DeviceVirtioMMIO {
		return nil, fmt.Errorf("hw: device %d is not a virtio-mmio device", d.Index)
	}
	return mapWindow(d, 0, d.Size)
}

func mapWindow(d Device, which int, size uint64) (*MMIO, error) {
	a, _, e := syscall.RawSyscall(netcall.SysDeviceMap, uintptr(d.Index), uintptr(which), 0)
	if e != 0 {
		return nil, fmt.Errorf("hw: mapping device %d's registers (%d): %w", d.Index, which, e)
	}
	return &MMIO{base: ptr(a), size: uintptr(size)}, nil
}

// PCIFunction is a PCI function the kernel found and enabled (memory
// decoding, bus mastering, MSI-X to the device's interrupt), as the virtio PCI
// transport takes it.
type PCIFunction struct {
	d   Device
	cfg configSpace
}

// OpenPCI reads d's configuration space (its first 256 bytes, as they are
// now).
func OpenPCI(d Device) (*PCIFunction, error) {
	if d.Kind != netcall.DevicePCI {
		return nil, fmt.Errorf("hw: device %d is not a PCI function", d.Index)
	}
	f := &PCIFunction{d: d}
	n, _, e := syscall.RawSyscall(netcall.SysPCIConfig, uintptr(d.Index), uintptr(unsafe.Pointer(&f.cfg[0])), uintptr(len(f.cfg)))
	if e != 0 {
		return nil, fmt.Errorf("hw: reading device %d's configuration space: %w", d.Index, e)
	}
	if n != uintptr(len(f.cfg)) {
		return nil, fmt.Errorf("hw: device %d's configuration space: %d bytes", d.Index, n)
	}
	return f, nil
}

// ConfigSpace is the configuration space as OpenPCI read it; writes are
// ignored (the kernel did the enabling a driver would write).
func (f *PCIFunction) ConfigSpace() virtio.Registers { return &f.cfg }

// BAR maps memory BAR n.
func (f *PCIFunction) BAR(n int) (virtio.Registers, error) {
	if n < 0 || n >= len(f.d.PCI.BARs) {
		return nil, fmt.Errorf("hw: BAR %d: there are 6", n)
	}
	return mapWindow(f.d, n, f.d.PCI.BARs[n].Size)
}

var _ virtio.PCIFunction = (*PCIFunction)(nil)

// configSpace is a copy of configuration space.
type configSpace [256]byte

func (c *configSpace) get(off uintptr, n uintptr) uint32 {
	if off+n > uintptr(len(c)) {
		return 0xFFFFFFFF
	}
	var v uint32
	for i := n; i > 0; i-- {
		v = v<<8 | uint32(c[off+i-1])
	}
	return v
}

func (c *configSpace) Read8(off uintptr) uint8   { return uint8(c.get(off, 1)) }
func (c *configSpace) Read16(off uintptr) uint16 { return uint16(c.get(off, 2)) }
func (c *configSpace) Read32(off uintptr) uint32 { return c.get(off, 4) }
func (*configSpace) Write8(uintptr, uint8)       {}
func (*configSpace) Write16(uintptr, uint16)     {}
func (*configSpace) Write32(uintptr, uint32)     {}

func (m *MMIO) at(off, n uintptr) unsafe.Pointer {
	if off+n > m.size || off%n != 0 {
		panic(fmt.Sprintf("hw: register access at %#x (%d bytes) outside or misaligned in a %#x-byte window", off, n, m.size))
	}
	return unsafe.Add(m.base, off)
}

func (m *MMIO) Read8(off uintptr) uint8   { return *(*uint8)(m.at(off, 1)) }
func (m *MMIO) Read16(off uintptr) uint16 { return *(*uint16)(m.at(off, 2)) }
func (m *MMIO) Read32(off uintptr) uint32 { return atomic.LoadUint32((*uint32)(m.at(off, 4))) }
func (m *MMIO) Write8(off uintptr, v uint8) {
	*(*uint8)(m.at(off, 1)) = v
}
func (m *MMIO) Write16(off uintptr, v uint16) {
	*(*uint16)(m.at(off, 2)) = v
}
func (m *MMIO) Write32(off uintptr, v uint32) { atomic.StoreUint32((*uint32)(m.at(off, 4)), v) }

var _ virtio.Registers = (*MMIO)(nil)

// region is a piece of DMA memory.
type region struct {
	b    []byte
	phys uint64
}

func (r region) Bytes() []byte { return r.b }
func (r region) Phys() uint64  { return r.phys }

// DMA hands out DMA memory from pinned chunks the kernel allocates, a bump
// allocator: drivers allocate their rings and buffers once and keep them.
type DMA struct {
	mu    sync.Mutex
	chunk []byte
	phys  uint64
	used  uintptr
}

const chunkSize = 1 << 20

// AllocDMA returns size bytes, zeroed, physically contiguous, at a physical
// address that is a multiple of align.
func (a *DMA) AllocDMA(size, align uintptr) (virtio.DMA, error) {
	if align == 0 || align&(align-1) != 0 || align > 4096 {
		return nil, fmt.Errorf("hw: DMA alignment %d: want a power of two up to 4096", align)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if size > chunkSize {
		b, phys, err := alloc(size)
		if err != nil {
			return nil, err
		}
		return region{b, phys}, nil
	}
	off := (a.used + align - 1) &^ (align - 1)
	if a.chunk == nil || off+size > uintptr(len(a.chunk)) {
		b, phys, err := alloc(chunkSize)
		if err != nil {
			return nil, err
		}
		a.chunk, a.phys, off = b, phys, 0
	}
	a.used = off + size
	return region{a.chunk[off : off+size : off+size], a.phys + uint64(off)}, nil
}

func alloc(size uintptr) ([]byte, uint64, error) {
	var phys uint64
	a, _, e := syscall.Syscall(netcall.SysDMAAlloc, size, uintptr(unsafe.Pointer(&phys)), 0)
	if e != 0 {
		return nil, 0, fmt.Errorf("hw: allocating %d bytes of DMA memory: %w", size, e)
	}
	return unsafe.Slice((*byte)(ptr(a)), size), phys, nil
}

// IRQ waits for one device's interrupts.
type IRQ struct {
	index int
	seen  uint64
}

// NewIRQ is the interrupt of d.
func NewIRQ(d Device) *IRQ { return &IRQ{index: d.Index} }

// ErrNoDevice is returned when the kernel does not know the device.
var ErrNoDevice = errors.New("hw: no such device")

// Wait blocks until the device has interrupted since the last Wait returned.
func (q *IRQ) Wait() error {
	for {
		n, _, e := syscall.Syscall(netcall.SysIRQWait, uintptr(q.index), uintptr(q.seen), 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.ENODEV:
			return ErrNoDevice
		case e != 0:
			return fmt.Errorf("hw: waiting for device %d's interrupt: %w", q.index, e)
		case uint64(n) != q.seen && n != 0:
			q.seen = uint64(n)
			return nil
		}
	}
}

// ptr turns the address of memory the kernel mapped for the driver (device
// registers, pinned DMA memory: never the Go heap) into a pointer. Through
// memory, so vet's unsafeptr check stays meaningful elsewhere; not inlined, as
// drivers/acpi explains.
//
//go:noinline
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
