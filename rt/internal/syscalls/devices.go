package syscalls

import (
	"github.com/unigo-dev/unigo/drivers/pci"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Devices for drivers. Drivers are goroutines (ARCHITECTURE.md, decision 6):
// the kernel finds the devices (virtio-mmio from the command line QEMU writes
// or the DSDT; virtio PCI functions by enumerating PCI), and through private
// system calls (netcall) describes them, maps their registers (a virtio-mmio
// window, or a PCI function's memory BARs) into the program uncached, copies a
// PCI function's configuration space out, hands out pinned DMA memory with its
// physical address, and lets a driver wait for its device's interrupt. The
// kernel's share of an interrupt is to count it and wake the waiter: the
// driver acknowledges the device itself.
//
// A PCI function's driver gets its BARs, including the one that holds the
// MSI-X table the kernel programmed: it could redirect its interrupts. That
// gives it nothing it does not have already: the program is the only one, and
// a device it drives can write any physical memory by DMA.

const maxDevices = 8

// irqKeyBase is the futex key (kernel half) a driver waits on for device i.
const irqKeyBase = 0xFFFF_FF00_0002_0000

type device struct {
	info   netcall.Device
	mapped [6]uint64 // where its registers (or BAR n) are mapped, 0 before SysDeviceMap
	irqs   uint64    // interrupts so far
	cfg    pci.Config
}

// AddDevice records a device the kernel found; its index, or -1 when the
// table is full.
func (s *System) AddDevice(kind, irq uint32, phys, size uint64) int {
	for i := 0; i < s.ndev; i++ {
		if s.devices[i].info.Kind == kind && s.devices[i].info.Phys == phys {
			return i // listed twice (ACPI and the command line)
		}
	}
	if s.ndev == maxDevices {
		return -1
	}
	s.devices[s.ndev] = device{info: netcall.Device{Kind: kind, IRQ: irq, Phys: phys, Size: size}}
	s.ndev++
	return s.ndev - 1
}

// AddPCIDevice records a PCI function the kernel found and enabled, reached
// through cfg; its index, or -1 when the table is full.
func (s *System) AddPCIDevice(info *netcall.Device, cfg pci.Config) int {
	if s.ndev == maxDevices {
		return -1
	}
	s.devices[s.ndev] = device{info: *info, cfg: cfg}
	s.ndev++
	return s.ndev - 1
}

// SetDeviceIRQ sets the interrupt device i reports (a PCI function's vector,
// known once it has an index).
func (s *System) SetDeviceIRQ(i int, irq uint32) { s.devices[i].info.IRQ = irq }

// DeviceInfo is device i's record.
func (s *System) DeviceInfo(i int) *netcall.Device { return &s.devices[i].info }

// MaxDevices is the device table's size.
func (s *System) MaxDevices() int { return maxDevices }

// DeviceKind is device i's kind (netcall.DeviceVirtioMMIO, DevicePCI).
func (s *System) DeviceKind(i int) uint32 { return s.devices[i].info.Kind }

// Devices is how many devices there are; Device(i) describes one.
func (s *System) Devices() int { return s.ndev }

// DevicePhys is where device i's registers are.
func (s *System) DevicePhys(i int) uint64 { return s.devices[i].info.Phys }

// DeviceIRQ is device i's interrupt line.
func (s *System) DeviceIRQ(i int) uint32 { return s.devices[i].info.IRQ }

// DeviceInterrupt counts an interrupt of device i and wakes its driver.
func (s *System) DeviceInterrupt(i int) {
	s.devices[i].irqs++
	s.Sched.FutexWake(irqKeyBase+uint64(i)*4, 1<<30, linux.FUTEX_BITSET_ALL)
}

func (s *System) device(i uint64) (*device, linux.Errno) {
	if i >= uint64(s.ndev) {
		return nil, linux.ENODEV
	}
	return &s.devices[i], 0
}

func (s *System) deviceInfo(i, buf uint64) uint64 {
	d, e := s.device(i)
	if e != 0 {
		return neg(e)
	}
	return ret(0, s.copyOut(buf, kmem.Addr(&d.info), netcall.DeviceSize))
}

// deviceMap is SysDeviceMap(index, which).
func (s *System) deviceMap(i, which uint64) uint64 {
	d, e := s.device(i)
	if e != 0 {
		return neg(e)
	}
	phys, size := d.info.Phys, d.info.Size
	switch {
	case d.info.Kind == netcall.DevicePCI && which < 6:
		b := &d.info.PCI.BARs[which]
		if b.Phys == 0 || b.Size == 0 || b.Flags&(netcall.BARIO|netcall.BARUpper) != 0 {
			return neg(linux.EINVAL)
		}
		phys, size = b.Phys, b.Size
	case d.info.Kind == netcall.DevicePCI || which != 0:
		return neg(linux.EINVAL)
	}
	if d.mapped[which] == 0 {
		base := phys &^ (mm.PageSize - 1)
		a, e := s.Mem.MapDevice(base, phys+size-base, true)
		if e != 0 {
			return neg(e)
		}
		d.mapped[which] = a + phys - base
	}
	return d.mapped[which]
}

// pciConfig is SysPCIConfig(index, buf, len): the configuration space, read
// a dword at a time into a kernel buffer and copied out in pieces.
func (s *System) pciConfig(i, buf, n uint64) uint64 {
	d, e := s.device(i)
	if e != 0 {
		return neg(e)
	}
	if d.info.Kind != netcall.DevicePCI {
		return neg(linux.EINVAL)
	}
	n = min(n, uint64(d.cfg.Size()))
	var chunk [256]byte
	for off := uint64(0); off < n; off += uint64(len(chunk)) {
		m := min(n-off, uint64(len(chunk)))
		for j := uint64(0); j < m; j += 4 {
			v := d.cfg.Read32(uint16(off + j))
			chunk[j], chunk[j+1], chunk[j+2], chunk[j+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
		if e := s.copyOut(buf+off, kmem.Addr(&chunk[0]), m); e != 0 {
			return neg(e)
		}
	}
	return n
}

// dmaAlloc is SysDMAAlloc(size, *phys).
func (s *System) dmaAlloc(size, physp uint64) uint64 {
	n := (size + mm.PageSize - 1) >> mm.PageShift
	if n == 0 || n > 4096 {
		return neg(linux.EINVAL)
	}
	if e := s.Mem.Prepare(physp, 8, mm.Write); e != 0 {
		return neg(e)
	}
	pfn, ok := s.Mem.Frames.Alloc(n, 1, s.Mem.Frames.Floor())
	if !ok {
		return neg(linux.ENOMEM)
	}
	phys := pfn << mm.PageShift
	kmem.Zero(s.Mem.PT.DM+uintptr(phys), int(n<<mm.PageShift))
	a, e := s.Mem.MapDevice(phys, n<<mm.PageShift, false)
	if e != 0 {
		s.Mem.Frames.Release(pfn, n)
		return neg(e)
	}
	if s.ndma < maxDMA {
		s.dma[s.ndma] = dmaRange{phys, n << mm.PageShift}
		s.ndma++
	}
	return ret(a, s.copyOut(physp, kmem.Addr(&phys), 8))
}

// DMA memory and the queues in it that an exit waits for (SysQueueWatch).
const (
	maxDMA     = 64
	maxWatched = 4
)

type dmaRange struct{ phys, size uint64 }

// queueWatch is one watched queue: the physical addresses of its available
// and used indices.
type queueWatch struct{ avail, used uint64 }

// queueWatch is SysQueueWatch(avail, used).
func (s *System) queueWatch(avail, used uint64) uint64 {
	if !s.inDMA(avail) || !s.inDMA(used) {
		return neg(linux.EINVAL)
	}
	if s.nwatch == maxWatched {
		return neg(linux.ENOSPC)
	}
	s.watched[s.nwatch] = queueWatch{avail, used}
	s.nwatch++
	return 0
}

// inDMA says whether the 2-byte index at physical address a lies in memory
// SysDMAAlloc gave out, which the kernel reaches through the direct map.
func (s *System) inDMA(a uint64) bool {
	if a%2 != 0 {
		return false
	}
	for i := 0; i < s.ndma; i++ {
		if d := &s.dma[i]; a >= d.phys && a+2 <= d.phys+d.size {
			return true
		}
	}
	return false
}

// queuesPending says whether a watched queue holds buffers the device has
// not used yet. The device writes its used index while this reads it: an
// aligned 16-bit load sees the old value or the new one.
func (s *System) queuesPending() bool {
	dm := s.Mem.PT.DM
	for i := 0; i < s.nwatch; i++ {
		w := &s.watched[i]
		if *kmem.At[uint16](dm + uintptr(w.avail)) != *kmem.At[uint16](dm + uintptr(w.used)) {
			return true
		}
	}
	return false
}

// irqWait is SysIRQWait(index, seen).
func (s *System) irqWait(t *sched.Thread, i, seen uint64) uint64 {
	d, e := s.device(i)
	if e != 0 {
		return neg(e)
	}
	if d.irqs != seen {
		return d.irqs
	}
	s.Sched.Block(t, sched.WaitFutex, irqKeyBase+i*4, linux.FUTEX_BITSET_ALL, 0)
	return 0
}
