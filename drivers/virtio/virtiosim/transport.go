package virtiosim

import (
	"encoding/binary"
	"errors"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// MMIO is the device's virtio-mmio register window (virtio.Registers).
type MMIO struct {
	d *Device
	// Magic and Version are what the identification registers read;
	// NewMMIO sets 0x74726976 and 2.
	Magic, Version uint32
}

// NewMMIO returns d's virtio-mmio window.
func NewMMIO(d *Device) *MMIO {
	d.init()
	return &MMIO{d: d, Magic: virtio.MMIOMagic, Version: 2}
}

func (m *MMIO) Read32(off uintptr) uint32 {
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= 0x100 {
		return d.configRead(off-0x100, 4)
	}
	q := d.sel()
	switch off {
	case 0x000:
		return m.Magic
	case 0x004:
		return m.Version
	case 0x008:
		return d.Type
	case 0x00c:
		return 0x554d4551
	case 0x010:
		return d.devFeatures()
	case 0x034:
		if q != nil {
			return uint32(q.max)
		}
	case 0x044:
		if q != nil && q.ready {
			return 1
		}
	case 0x060:
		return d.isr.Load()
	case 0x070:
		return uint32(d.status)
	case 0x0fc:
		return d.configGen
	}
	return 0
}

func (m *MMIO) Write32(off uintptr, v uint32) {
	d := m.d
	if off == 0x050 {
		d.notify(v)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.sel()
	setLo := func(p *uint64) { *p = *p&^0xffffffff | uint64(v) }
	setHi := func(p *uint64) { *p = *p&0xffffffff | uint64(v)<<32 }
	switch off {
	case 0x014:
		d.devSel = v
	case 0x020:
		d.setDrvFeatures(v)
	case 0x024:
		d.drvSel = v
	case 0x030:
		d.queueSel = v
	case 0x064:
		d.isr.And(^v)
	case 0x070:
		d.setStatus(uint8(v))
	}
	if q == nil {
		return
	}
	switch off {
	case 0x038:
		q.size = uint16(v)
	case 0x044:
		q.ready = v == 1
	case 0x080:
		setLo(&q.desc)
	case 0x084:
		setHi(&q.desc)
	case 0x090:
		setLo(&q.driver)
	case 0x094:
		setHi(&q.driver)
	case 0x0a0:
		setLo(&q.device)
	case 0x0a4:
		setHi(&q.device)
	}
}

func (m *MMIO) Read8(off uintptr) uint8 {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	if off >= 0x100 {
		return uint8(m.d.configRead(off-0x100, 1))
	}
	return 0
}

func (m *MMIO) Read16(off uintptr) uint16 {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	if off >= 0x100 {
		return uint16(m.d.configRead(off-0x100, 2))
	}
	return 0
}

func (m *MMIO) Write8(uintptr, uint8)   {}
func (m *MMIO) Write16(uintptr, uint16) {}

// PCI layout of the simulated function: everything in BAR 0.
const (
	pciCommonOff = 0x0000
	pciISROff    = 0x1000
	pciDeviceOff = 0x2000
	pciNotifyOff = 0x3000
	pciNotifyMul = 4
)

// PCI is the device as a modern virtio-pci function (virtio.PCIFunction).
// Cfg is its configuration space; tests may edit it before NewPCI.
type PCI struct {
	d   *Device
	Cfg []byte
	bar *pciBAR
}

// EnableMSIX adds an MSI-X capability, enabled, to p's configuration space,
// as the kernel leaves a function it hands to a driver. With refuse, the
// device answers NO_VECTOR (0xFFFF) to every vector the driver sets, as one
// that cannot allocate them does.
func (p *PCI) EnableMSIX(refuse bool) {
	le := binary.LittleEndian
	p.Cfg[0x79] = 0x90 // the device capability, last in the list, now links to it
	p.Cfg[0x90], p.Cfg[0x91] = 0x11, 0
	le.PutUint16(p.Cfg[0x92:], 1<<15|uint16(len(p.d.queues)))
	p.d.mu.Lock()
	p.d.msixRefuse = refuse
	p.d.mu.Unlock()
}

// Vectors are the MSI-X vectors the driver gave the configuration change and
// each queue (0xFFFF: none).
func (p *PCI) Vectors() (config uint16, queues []uint16) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	for _, q := range p.d.queues {
		queues = append(queues, q.msix)
	}
	return p.d.configMSIX, queues
}

// NewPCI returns d as a PCI function with common, notify, ISR and device
// capabilities, all in BAR 0.
func NewPCI(d *Device) *PCI {
	d.init()
	c := make([]byte, 256)
	le := binary.LittleEndian
	le.PutUint16(c[0x00:], virtio.PCIVendorVirtio)
	le.PutUint16(c[0x02:], uint16(0x1040+d.Type))
	le.PutUint16(c[0x06:], 0x10)
	le.PutUint16(c[0x2c:], virtio.PCIVendorVirtio)
	le.PutUint16(c[0x2e:], uint16(d.Type))
	c[0x34] = 0x40
	cap := func(at, next, length, typ byte, off, size uint32) {
		c[at], c[at+1], c[at+2], c[at+3], c[at+4] = 0x09, next, length, typ, 0
		le.PutUint32(c[at+8:], off)
		le.PutUint32(c[at+12:], size)
	}
	cap(0x40, 0x50, 16, virtio.PCICapCommon, pciCommonOff, 0x3c)
	cap(0x50, 0x68, 20, virtio.PCICapNotify, pciNotifyOff, uint32(d.NumQueues)*pciNotifyMul)
	le.PutUint32(c[0x50+16:], pciNotifyMul)
	cap(0x68, 0x78, 16, virtio.PCICapISR, pciISROff, 4)
	cap(0x78, 0x00, 16, virtio.PCICapDevice, pciDeviceOff, uint32(len(d.Config)))
	return &PCI{d: d, Cfg: c, bar: &pciBAR{d: d}}
}

func (p *PCI) ConfigSpace() virtio.Registers { return cfgSpace{p} }

func (p *PCI) BAR(n int) (virtio.Registers, error) {
	if n != 0 {
		return nil, errors.New("virtiosim: only BAR 0 is implemented")
	}
	return p.bar, nil
}

type cfgSpace struct{ p *PCI }

func (c cfgSpace) get(off uintptr, n int) uint32 {
	var v uint32
	for i := n - 1; i >= 0; i-- {
		v <<= 8
		if int(off)+i < len(c.p.Cfg) {
			v |= uint32(c.p.Cfg[int(off)+i])
		}
	}
	return v
}
func (c cfgSpace) Read8(off uintptr) uint8   { return uint8(c.get(off, 1)) }
func (c cfgSpace) Read16(off uintptr) uint16 { return uint16(c.get(off, 2)) }
func (c cfgSpace) Read32(off uintptr) uint32 { return c.get(off, 4) }
func (cfgSpace) Write8(uintptr, uint8)       {}
func (cfgSpace) Write16(uintptr, uint16)     {}
func (cfgSpace) Write32(uintptr, uint32)     {}

// pciBAR decodes BAR 0: common configuration, ISR, device configuration and
// notification addresses.
type pciBAR struct{ d *Device }

func (b *pciBAR) read(off uintptr, n int) uint32 {
	d := b.d
	if off >= pciISROff && off < pciDeviceOff {
		return d.isr.Swap(0) // reading the ISR clears it
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= pciDeviceOff && off < pciNotifyOff {
		return d.configRead(off-pciDeviceOff, n)
	}
	q := d.sel()
	switch off {
	case 0x00:
		return d.devSel
	case 0x04:
		return d.devFeatures()
	case 0x08:
		return d.drvSel
	case 0x10:
		return uint32(d.configMSIX)
	case 0x12:
		return uint32(len(d.queues))
	case 0x14:
		return uint32(d.status)
	case 0x15:
		return d.configGen & 0xff
	case 0x16:
		return d.queueSel
	}
	if q == nil {
		return 0
	}
	switch off {
	case 0x18:
		return uint32(q.size)
	case 0x1a:
		return uint32(q.msix)
	case 0x1c:
		if q.ready {
			return 1
		}
	case 0x1e:
		return d.queueSel // queue_notify_off: one slot per queue
	case 0x20, 0x24:
		return uint32(q.desc >> (8 * (off - 0x20)))
	case 0x28, 0x2c:
		return uint32(q.driver >> (8 * (off - 0x28)))
	case 0x30, 0x34:
		return uint32(q.device >> (8 * (off - 0x30)))
	}
	return 0
}

func (b *pciBAR) write(off uintptr, v uint32) {
	d := b.d
	if off >= pciNotifyOff {
		slot := uint32((off - pciNotifyOff) / pciNotifyMul)
		if slot == v { // the driver must write the queue index
			d.notify(v)
		} else {
			d.BadChains.Add(1)
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.sel()
	set := func(p *uint64, hi bool) {
		if hi {
			*p = *p&0xffffffff | uint64(v)<<32
		} else {
			*p = *p&^0xffffffff | uint64(v)
		}
	}
	switch off {
	case 0x00:
		d.devSel = v
	case 0x08:
		d.drvSel = v
	case 0x0c:
		d.setDrvFeatures(v)
	case 0x10:
		d.configMSIX = d.vector(v)
	case 0x14:
		d.setStatus(uint8(v))
	case 0x16:
		d.queueSel = v
	}
	if q == nil {
		return
	}
	switch off {
	case 0x18:
		q.size = uint16(v)
	case 0x1a:
		q.msix = d.vector(v)
	case 0x1c:
		q.ready = v == 1
	case 0x20, 0x24:
		set(&q.desc, off == 0x24)
	case 0x28, 0x2c:
		set(&q.driver, off == 0x2c)
	case 0x30, 0x34:
		set(&q.device, off == 0x34)
	}
}

func (b *pciBAR) Read8(off uintptr) uint8       { return uint8(b.read(off, 1)) }
func (b *pciBAR) Read16(off uintptr) uint16     { return uint16(b.read(off, 2)) }
func (b *pciBAR) Read32(off uintptr) uint32     { return b.read(off, 4) }
func (b *pciBAR) Write8(off uintptr, v uint8)   { b.write(off, uint32(v)) }
func (b *pciBAR) Write16(off uintptr, v uint16) { b.write(off, uint32(v)) }
func (b *pciBAR) Write32(off uintptr, v uint32) { b.write(off, v) }
