package syscalls

import (
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/linux"
	"github.com/unigo-dev/unigo/rt/internal/mm"
	"github.com/unigo-dev/unigo/rt/internal/sched"
)

// Devices for drivers. Drivers are goroutines (ARCHITECTURE.md, decision 6):
// the kernel finds the devices (virtio-mmio from the command line QEMU writes),
// and through private system calls (netcall) describes them, maps their
// registers into the program uncached, hands out pinned DMA memory with its
// physical address, and lets a driver wait for its device's interrupt. The
// kernel's share of an interrupt is to count it and wake the waiter: the
// driver acknowledges the device itself.

const maxDevices = 8

// irqKeyBase is the futex key (kernel half) a driver waits on for device i.
const irqKeyBase = 0xFFFF_FF00_0002_0000

type device struct {
	info   netcall.Device
	mapped uint64 // where its registers are mapped, 0 before SysDeviceMap
	irqs   uint64 // interrupts so far
}

// AddDevice records a device the kernel found; its index, or -1 when the
// table is full.
func (s *System) AddDevice(kind, irq uint32, phys, size uint64) int {
	for i := 0; i < s.ndev; i++ {
		if s.devices[i].info.Phys == phys {
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
	return ret(0, s.copyOut(buf, kmem.Addr(&d.info), 24))
}

func (s *System) deviceMap(i uint64) uint64 {
	d, e := s.device(i)
	if e != 0 {
		return neg(e)
	}
	if d.mapped == 0 {
		base := d.info.Phys &^ (mm.PageSize - 1)
		a, e := s.Mem.MapDevice(base, d.info.Phys+d.info.Size-base, true)
		if e != 0 {
			return neg(e)
		}
		d.mapped = a + d.info.Phys - base
	}
	return d.mapped
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
	return ret(a, s.copyOut(physp, kmem.Addr(&phys), 8))
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
