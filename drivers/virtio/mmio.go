package virtio

import "fmt"

// virtio-mmio register offsets (virtio 1.2 §4.2.2).
const (
	mmioMagic          = 0x000
	mmioVersion        = 0x004
	mmioDeviceID       = 0x008
	mmioVendorID       = 0x00c
	mmioDeviceFeatures = 0x010
	mmioDeviceFeatSel  = 0x014
	mmioDriverFeatures = 0x020
	mmioDriverFeatSel  = 0x024
	mmioQueueSel       = 0x030
	mmioQueueNumMax    = 0x034
	mmioQueueNum       = 0x038
	mmioQueueReady     = 0x044
	mmioQueueNotify    = 0x050
	mmioIntStatus      = 0x060
	mmioIntAck         = 0x064
	mmioStatus         = 0x070
	mmioQueueDescLow   = 0x080
	mmioQueueDescHigh  = 0x084
	mmioQueueDrvLow    = 0x090
	mmioQueueDrvHigh   = 0x094
	mmioQueueDevLow    = 0x0a0
	mmioQueueDevHigh   = 0x0a4
	mmioConfigGen      = 0x0fc
	mmioConfig         = 0x100

	// MMIOMagic is "virt" read as a little-endian word.
	MMIOMagic = 0x74726976
)

// MMIO is the virtio-mmio transport, version 2 (virtio 1.x) only.
type MMIO struct {
	r      Registers
	device uint32
	vendor uint32
}

// NewMMIO checks the window r for a virtio-mmio version 2 device. A window
// with the magic but device ID 0 is an empty slot (ErrNoDevice); version 1
// is the legacy interface (ErrLegacyDevice).
func NewMMIO(r Registers) (*MMIO, error) {
	if m := r.Read32(mmioMagic); m != MMIOMagic {
		return nil, fmt.Errorf("%w: magic %#x", ErrNoDevice, m)
	}
	switch v := r.Read32(mmioVersion); v {
	case 2:
	case 1:
		return nil, ErrLegacyDevice
	default:
		return nil, fmt.Errorf("virtio: unknown virtio-mmio version %d", v)
	}
	id := r.Read32(mmioDeviceID)
	if id == 0 {
		return nil, ErrNoDevice
	}
	return &MMIO{r: r, device: id, vendor: r.Read32(mmioVendorID)}, nil
}

func (m *MMIO) DeviceType() uint32 { return m.device }

// VendorID is the device's vendor ID register.
func (m *MMIO) VendorID() uint32 { return m.vendor }

func (m *MMIO) Status() uint8            { return uint8(m.r.Read32(mmioStatus)) }
func (m *MMIO) SetStatus(s uint8)        { m.r.Write32(mmioStatus, uint32(s)) }
func (m *MMIO) Notify(i uint16)          { m.r.Write32(mmioQueueNotify, uint32(i)) }
func (m *MMIO) Config() Registers        { return window{m.r, mmioConfig} }
func (m *MMIO) ConfigGeneration() uint32 { return m.r.Read32(mmioConfigGen) }

func (m *MMIO) DeviceFeatures() uint64 {
	m.r.Write32(mmioDeviceFeatSel, 0)
	lo := m.r.Read32(mmioDeviceFeatures)
	m.r.Write32(mmioDeviceFeatSel, 1)
	hi := m.r.Read32(mmioDeviceFeatures)
	return uint64(hi)<<32 | uint64(lo)
}

func (m *MMIO) SetDriverFeatures(f uint64) {
	m.r.Write32(mmioDriverFeatSel, 0)
	m.r.Write32(mmioDriverFeatures, uint32(f))
	m.r.Write32(mmioDriverFeatSel, 1)
	m.r.Write32(mmioDriverFeatures, uint32(f>>32))
}

func (m *MMIO) QueueMax(i uint16) uint16 {
	m.r.Write32(mmioQueueSel, uint32(i))
	return uint16(min(m.r.Read32(mmioQueueNumMax), MaxQueueSize))
}

func (m *MMIO) EnableQueue(i, size uint16, desc, driver, device uint64) error {
	m.r.Write32(mmioQueueSel, uint32(i))
	if m.r.Read32(mmioQueueReady) != 0 {
		return ErrQueueInUse
	}
	if max := m.r.Read32(mmioQueueNumMax); max == 0 || uint32(size) > max {
		return ErrNoQueue
	}
	m.r.Write32(mmioQueueNum, uint32(size))
	m.r.Write32(mmioQueueDescLow, uint32(desc))
	m.r.Write32(mmioQueueDescHigh, uint32(desc>>32))
	m.r.Write32(mmioQueueDrvLow, uint32(driver))
	m.r.Write32(mmioQueueDrvHigh, uint32(driver>>32))
	m.r.Write32(mmioQueueDevLow, uint32(device))
	m.r.Write32(mmioQueueDevHigh, uint32(device>>32))
	m.r.Write32(mmioQueueReady, 1)
	return nil
}

func (m *MMIO) AckInterrupt() uint8 {
	s := m.r.Read32(mmioIntStatus)
	if s != 0 {
		m.r.Write32(mmioIntAck, s)
	}
	return uint8(s)
}
