package virtio

import "fmt"

// PCIFunction is what the PCI bus package gives a virtio driver for one PCI
// function: its configuration space and its BARs mapped as register windows.
type PCIFunction interface {
	// ConfigSpace is the function's PCI configuration space (at least the
	// first 256 bytes).
	ConfigSpace() Registers
	// BAR maps base address register n (0 to 5) and returns its window.
	BAR(n int) (Registers, error)
}

// PCI configuration space offsets and virtio PCI capability types
// (virtio 1.2 §4.1.4).
const (
	pciVendorID     = 0x00
	pciDeviceID     = 0x02
	pciStatus       = 0x06
	pciSubsystemID  = 0x2e
	pciCapPtr       = 0x34
	pciStatusCaps   = 0x10
	pciCapVendor    = 0x09
	pciCapMSIX      = 0x11
	pciMSIXEnable   = 1 << 15
	PCIVendorVirtio = 0x1af4

	PCICapCommon = 1
	PCICapNotify = 2
	PCICapISR    = 3
	PCICapDevice = 4
	PCICapPCI    = 5
)

// Common configuration structure offsets (virtio 1.2 §4.1.4.3).
const (
	commonDevFeatSel = 0x00
	commonMSIXConfig = 0x10
	commonDevFeat    = 0x04
	commonDrvFeatSel = 0x08
	commonDrvFeat    = 0x0c
	commonNumQueues  = 0x12
	commonStatus     = 0x14
	commonConfigGen  = 0x15
	commonQueueSel   = 0x16
	commonQueueSize  = 0x18
	commonQueueMSIX  = 0x1a
	commonQueueEn    = 0x1c
	commonQueueNOff  = 0x1e
	commonQueueDesc  = 0x20
	commonQueueDrv   = 0x28
	commonQueueDev   = 0x30
	commonMinLen     = 0x38
)

// PCICap is one virtio vendor capability (struct virtio_pci_cap).
type PCICap struct {
	Type   uint8
	BAR    uint8
	ID     uint8
	Offset uint32
	Length uint32
	// NotifyMultiplier is notify_off_multiplier (notify capabilities only).
	NotifyMultiplier uint32
}

// noVector is VIRTIO_MSI_NO_VECTOR: no MSI-X vector, or the device's answer
// when it cannot use the vector written.
const noVector = 0xFFFF

// msixEnabled says whether cfg's capability list has an MSI-X capability with
// MSI-X enabled (the kernel enables it before the driver runs). A malformed
// list says no; PCICapabilities reports it.
func msixEnabled(cfg Registers) bool {
	if cfg.Read16(pciStatus)&pciStatusCaps == 0 {
		return false
	}
	ptr := uintptr(cfg.Read8(pciCapPtr)) &^ 3
	for n := 0; ptr >= 0x40 && ptr <= 0xfc && n < 48; n++ {
		if cfg.Read8(ptr) == pciCapMSIX {
			return cfg.Read16(ptr+2)&pciMSIXEnable != 0
		}
		ptr = uintptr(cfg.Read8(ptr+1)) &^ 3
	}
	return false
}

// PCICapabilities walks cfg's capability list and returns its virtio
// capabilities in list order. A malformed list (a pointer into the header, a
// capability running off the 256-byte space, a loop) is an error.
func PCICapabilities(cfg Registers) ([]PCICap, error) {
	if cfg.Read16(pciStatus)&pciStatusCaps == 0 {
		return nil, nil
	}
	var caps []PCICap
	ptr := uintptr(cfg.Read8(pciCapPtr)) &^ 3
	for n := 0; ptr != 0; n++ {
		if n >= 48 || ptr < 0x40 || ptr > 0xfc {
			return caps, fmt.Errorf("%w: capability pointer %#x", ErrPCICapability, ptr)
		}
		id := cfg.Read8(ptr)
		next := uintptr(cfg.Read8(ptr+1)) &^ 3
		if id == pciCapVendor {
			clen := uintptr(cfg.Read8(ptr + 2))
			if clen < 16 || ptr+clen > 0x100 {
				return caps, fmt.Errorf("%w: vendor capability at %#x has length %d", ErrPCICapability, ptr, clen)
			}
			c := PCICap{
				Type:   cfg.Read8(ptr + 3),
				BAR:    cfg.Read8(ptr + 4),
				ID:     cfg.Read8(ptr + 5),
				Offset: cfg.Read32(ptr + 8),
				Length: cfg.Read32(ptr + 12),
			}
			if c.Type == PCICapNotify {
				if clen < 20 {
					return caps, fmt.Errorf("%w: notify capability too short", ErrPCICapability)
				}
				c.NotifyMultiplier = cfg.Read32(ptr + 16)
			}
			caps = append(caps, c)
		}
		ptr = next
	}
	return caps, nil
}

// PCI is the modern virtio-pci transport.
type PCI struct {
	common, isr, device Registers
	notify              Registers
	notifyLen           uint32
	notifyMul           uint32
	notifyOff           []uintptr // per enabled queue
	deviceType          uint32
	numQueues           uint16
	caps                []PCICap
	// msix: the function has MSI-X enabled, so every queue and the
	// configuration change get MSI-X vector 0 (the kernel points all of
	// the function's table entries at the device's one interrupt vector).
	msix bool
}

// NewPCI finds the virtio structures of a PCI function through its vendor
// capabilities and maps the BARs that hold them. A function without the
// common configuration capability is a legacy-only device.
func NewPCI(f PCIFunction) (*PCI, error) {
	cfg := f.ConfigSpace()
	if v := cfg.Read16(pciVendorID); v != PCIVendorVirtio {
		return nil, fmt.Errorf("%w: PCI vendor %#x", ErrNoDevice, v)
	}
	p := &PCI{}
	switch id := cfg.Read16(pciDeviceID); {
	case id >= 0x1040 && id <= 0x107f:
		p.deviceType = uint32(id - 0x1040)
	case id >= 0x1000 && id <= 0x103f: // transitional: the type is the subsystem ID
		p.deviceType = uint32(cfg.Read16(pciSubsystemID))
	default:
		return nil, fmt.Errorf("%w: PCI device %#x", ErrNoDevice, id)
	}
	caps, err := PCICapabilities(cfg)
	if err != nil {
		return nil, err
	}
	p.caps = caps
	p.msix = msixEnabled(cfg)
	bars := map[uint8]Registers{}
	// The first capability of each type with a BAR in range wins
	// (virtio 1.2 §4.1.4: the driver uses the first one it can).
	found := map[uint8]PCICap{}
	for _, c := range caps {
		if c.BAR > 5 {
			continue
		}
		if _, ok := found[c.Type]; ok {
			continue
		}
		found[c.Type] = c
	}
	win := func(t uint8, minLen uint32) (Registers, PCICap, error) {
		c, ok := found[t]
		if !ok {
			return nil, c, nil
		}
		if c.Length < minLen {
			return nil, c, fmt.Errorf("%w: type %d structure of %d bytes", ErrPCICapability, t, c.Length)
		}
		r, ok := bars[c.BAR]
		if !ok {
			var err error
			if r, err = f.BAR(int(c.BAR)); err != nil {
				return nil, c, err
			}
			bars[c.BAR] = r
		}
		return window{r, uintptr(c.Offset)}, c, nil
	}
	if _, ok := found[PCICapCommon]; !ok {
		return nil, ErrLegacyDevice
	}
	if p.common, _, err = win(PCICapCommon, commonMinLen); err != nil {
		return nil, err
	}
	var nc PCICap
	if p.notify, nc, err = win(PCICapNotify, 2); err != nil {
		return nil, err
	}
	if p.isr, _, err = win(PCICapISR, 1); err != nil {
		return nil, err
	}
	if p.device, _, err = win(PCICapDevice, 0); err != nil {
		return nil, err
	}
	if p.notify == nil || p.isr == nil {
		return nil, fmt.Errorf("%w: notify or ISR capability missing", ErrPCICapability)
	}
	if p.device == nil {
		p.device = noConfig{}
	}
	p.notifyLen, p.notifyMul = nc.Length, nc.NotifyMultiplier
	p.numQueues = p.common.Read16(commonNumQueues)
	return p, nil
}

// noConfig is the configuration window of a device that has none.
type noConfig struct{}

func (noConfig) Read8(uintptr) uint8     { return 0 }
func (noConfig) Read16(uintptr) uint16   { return 0 }
func (noConfig) Read32(uintptr) uint32   { return 0 }
func (noConfig) Write8(uintptr, uint8)   {}
func (noConfig) Write16(uintptr, uint16) {}
func (noConfig) Write32(uintptr, uint32) {}

// MSIX says whether the function has MSI-X enabled, so that queues get
// vectors.
func (p *PCI) MSIX() bool { return p.msix }

// Capabilities are the virtio capabilities found, for logs.
func (p *PCI) Capabilities() []PCICap { return p.caps }

// NumQueues is the number of queues the device has.
func (p *PCI) NumQueues() uint16 { return p.numQueues }

func (p *PCI) DeviceType() uint32       { return p.deviceType }
func (p *PCI) Status() uint8            { return p.common.Read8(commonStatus) }
func (p *PCI) SetStatus(s uint8)        { p.common.Write8(commonStatus, s) }
func (p *PCI) Config() Registers        { return p.device }
func (p *PCI) ConfigGeneration() uint32 { return uint32(p.common.Read8(commonConfigGen)) }

// AckInterrupt reads the ISR status, which clears it.
func (p *PCI) AckInterrupt() uint8 { return p.isr.Read8(0) }

func (p *PCI) DeviceFeatures() uint64 {
	p.common.Write32(commonDevFeatSel, 0)
	lo := p.common.Read32(commonDevFeat)
	p.common.Write32(commonDevFeatSel, 1)
	hi := p.common.Read32(commonDevFeat)
	return uint64(hi)<<32 | uint64(lo)
}

func (p *PCI) SetDriverFeatures(f uint64) {
	p.common.Write32(commonDrvFeatSel, 0)
	p.common.Write32(commonDrvFeat, uint32(f))
	p.common.Write32(commonDrvFeatSel, 1)
	p.common.Write32(commonDrvFeat, uint32(f>>32))
}

func (p *PCI) QueueMax(i uint16) uint16 {
	if i >= p.numQueues {
		return 0
	}
	p.common.Write16(commonQueueSel, i)
	return min(p.common.Read16(commonQueueSize), MaxQueueSize)
}

func (p *PCI) EnableQueue(i, size uint16, desc, driver, device uint64) error {
	if i >= p.numQueues {
		return ErrNoQueue
	}
	p.common.Write16(commonQueueSel, i)
	if p.common.Read16(commonQueueEn) != 0 {
		return ErrQueueInUse
	}
	if max := p.common.Read16(commonQueueSize); max == 0 || size > max {
		return ErrNoQueue
	}
	off := uint64(p.common.Read16(commonQueueNOff)) * uint64(p.notifyMul)
	if off+2 > uint64(p.notifyLen) {
		return fmt.Errorf("%w: queue %d notify offset %#x outside the notify structure", ErrPCICapability, i, off)
	}
	p.common.Write16(commonQueueSize, size)
	if p.msix {
		// Vector 0 for the queue and for configuration changes; the device
		// answers NO_VECTOR when it cannot use it (virtio 1.2 §4.1.5.1.2).
		p.common.Write16(commonMSIXConfig, 0)
		if v := p.common.Read16(commonMSIXConfig); v == noVector {
			return fmt.Errorf("%w: configuration vector", ErrMSIXVector)
		}
		p.common.Write16(commonQueueMSIX, 0)
		if v := p.common.Read16(commonQueueMSIX); v == noVector {
			return fmt.Errorf("%w: queue %d", ErrMSIXVector, i)
		}
	}
	write64(p.common, commonQueueDesc, desc)
	write64(p.common, commonQueueDrv, driver)
	write64(p.common, commonQueueDev, device)
	p.common.Write16(commonQueueEn, 1)
	for len(p.notifyOff) <= int(i) {
		p.notifyOff = append(p.notifyOff, 0)
	}
	p.notifyOff[i] = uintptr(off)
	return nil
}

// write64 writes a 64-bit common-configuration field as two 32-bit halves,
// low first (virtio 1.2 §4.1.3.1 allows it).
func write64(r Registers, off uintptr, v uint64) {
	r.Write32(off, uint32(v))
	r.Write32(off+4, uint32(v>>32))
}

// Notify writes the queue index to the queue's notification address.
func (p *PCI) Notify(i uint16) {
	if int(i) < len(p.notifyOff) {
		p.notify.Write16(p.notifyOff[i], i)
	}
}
