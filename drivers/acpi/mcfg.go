package acpi

// MaxECAM is how many ECAM windows an [MCFG] keeps.
const MaxECAM = 4

// ECAM is one PCI Express enhanced configuration window: function f of device
// d on bus b (StartBus <= b <= EndBus) has its 4 KiB of configuration space at
// Base + b<<20 + d<<15 + f<<12. Base is where bus 0's space would be, even when
// StartBus is not 0 (that is how the PCI Firmware specification defines it).
type ECAM struct {
	Base     uint64
	Segment  uint16 // PCI segment group
	StartBus uint8
	EndBus   uint8
}

// ConfigAddr returns the physical address of the configuration space of
// bus:dev.fn, and false when bus is outside the window.
func (e *ECAM) ConfigAddr(bus, dev, fn uint8) (uint64, bool) {
	if bus < e.StartBus || bus > e.EndBus || dev > 31 || fn > 7 {
		return 0, false
	}
	return e.Base + uint64(bus)<<20 + uint64(dev)<<15 + uint64(fn)<<12, true
}

// MCFG is the PCI Express memory-mapped configuration table ("MCFG").
type MCFG struct {
	Windows [MaxECAM]ECAM
	Num     int // windows stored
	Total   int // windows the table lists
	buf     [HeaderSize]byte
}

// ParseMCFG decodes the MCFG t.
func ParseMCFG(mem *Memory, t Table, m *MCFG) error {
	*m = MCFG{}
	t, err := ReadTable(mem, t.Addr, "MCFG", &m.buf)
	if err != nil {
		return err
	}
	const first = HeaderSize + 8 // 8 reserved bytes after the header
	if t.Length < first {
		return ErrLength
	}
	for off := uint64(first); off+16 <= uint64(t.Length); off += 16 {
		if !mem.Read(t.Addr+off, m.buf[:16]) {
			return ErrRead
		}
		if m.Num < MaxECAM {
			m.Windows[m.Num] = ECAM{Base: le64(m.buf[:]), Segment: le16(m.buf[8:]),
				StartBus: m.buf[10], EndBus: m.buf[11]}
			m.Num++
		}
		m.Total++
	}
	if (t.Length-first)%16 != 0 {
		return ErrMalformed
	}
	return nil
}
