package acpi

// How many of each MADT entry a [MADT] keeps.
const (
	MaxCPUs      = 64
	MaxIOAPICs   = 8
	MaxOverrides = 16
)

// CPU is a processor's local APIC (MADT entry type 0) or local x2APIC (type 9).
type CPU struct {
	UID           uint32 // ACPI processor UID (one byte in a type 0 entry)
	APICID        uint32
	Enabled       bool // usable now
	OnlineCapable bool // disabled, but may be brought online (ACPI 6.3)
	X2APIC        bool // from a type 9 entry
}

// IOAPIC is an I/O APIC (MADT entry type 1).
type IOAPIC struct {
	ID      uint8
	Addr    uint32
	GSIBase uint32 // the global system interrupt of its first input
}

// Override is an interrupt source override (MADT entry type 2): ISA IRQ
// Source arrives on global system interrupt GSI, with the polarity and trigger
// in Flags.
type Override struct {
	Bus    uint8 // 0, ISA
	Source uint8
	GSI    uint32
	Flags  uint16 // MPS INTI flags: Polarity and Trigger decode them
}

// Polarity and trigger values in MPS INTI flags (also used by NMI entries).
const (
	ConformsToBus = 0 // the bus's default: ISA is active high, edge
	ActiveHigh    = 1
	ActiveLow     = 3
	Edge          = 1
	Level         = 3
)

// Polarity returns bits 0-1 of the flags: ConformsToBus, ActiveHigh or ActiveLow.
func (o *Override) Polarity() uint8 { return uint8(o.Flags & 3) }

// Trigger returns bits 2-3 of the flags: ConformsToBus, Edge or Level.
func (o *Override) Trigger() uint8 { return uint8(o.Flags>>2) & 3 }

// MADT is the Multiple APIC Description Table ("APIC"). Each array holds the
// first entries of its kind; the Num fields count those stored, the Total
// fields all the table lists (Total - Num were dropped).
type MADT struct {
	// LocalAPICAddr is the local APICs' physical address: the table's 32-bit
	// field, or the 64-bit one of a local APIC address override (type 5).
	LocalAPICAddr uint64
	Flags         uint32 // bit 0 PCAT_COMPAT: dual 8259s are present

	CPUs    [MaxCPUs]CPU
	NumCPUs int
	// TotalCPUs counts every type 0 and type 9 entry, enabled or not.
	TotalCPUs int

	IOAPICs      [MaxIOAPICs]IOAPIC
	NumIOAPICs   int
	TotalIOAPICs int

	Overrides      [MaxOverrides]Override
	NumOverrides   int
	TotalOverrides int

	buf [HeaderSize]byte
}

// MADT flags.
const MADTPCATCompat = 1

// Local APIC flags in type 0 and type 9 entries.
const (
	lapicEnabled       = 1
	lapicOnlineCapable = 2
)

// ParseMADT decodes the MADT t (from [Root.Find]("APIC")): it re-reads and
// checks the table, then walks its entries. Entry types it does not keep (NMI
// sources, local APIC NMIs, GIC entries and the rest) are skipped by their
// length.
func ParseMADT(mem *Memory, t Table, m *MADT) error {
	*m = MADT{}
	t, err := ReadTable(mem, t.Addr, "APIC", &m.buf)
	if err != nil {
		return err
	}
	if t.Length < HeaderSize+8 {
		return ErrLength
	}
	if !mem.Read(t.Addr+HeaderSize, m.buf[:8]) {
		return ErrRead
	}
	m.LocalAPICAddr = uint64(le32(m.buf[:]))
	m.Flags = le32(m.buf[4:])
	end := t.Addr + uint64(t.Length)
	for p := t.Addr + HeaderSize + 8; p < end; {
		if end-p < 2 || !mem.Read(p, m.buf[:2]) {
			return ErrMalformed
		}
		typ, n := m.buf[0], uint64(m.buf[1])
		if n < 2 || n > end-p {
			return ErrMalformed
		}
		b := m.buf[:]
		if n > uint64(len(b)) { // no kept type is this long
			p += n
			continue
		}
		if !mem.Read(p, b[:n]) {
			return ErrRead
		}
		switch {
		case typ == 0 && n >= 8:
			m.addCPU(CPU{UID: uint32(b[2]), APICID: uint32(b[3]),
				Enabled: b[4]&lapicEnabled != 0, OnlineCapable: b[4]&lapicOnlineCapable != 0})
		case typ == 9 && n >= 16:
			f := le32(b[8:])
			m.addCPU(CPU{UID: le32(b[12:]), APICID: le32(b[4:]), X2APIC: true,
				Enabled: f&lapicEnabled != 0, OnlineCapable: f&lapicOnlineCapable != 0})
		case typ == 1 && n >= 12:
			if m.NumIOAPICs < MaxIOAPICs {
				m.IOAPICs[m.NumIOAPICs] = IOAPIC{ID: b[2], Addr: le32(b[4:]), GSIBase: le32(b[8:])}
				m.NumIOAPICs++
			}
			m.TotalIOAPICs++
		case typ == 2 && n >= 10:
			if m.NumOverrides < MaxOverrides {
				m.Overrides[m.NumOverrides] = Override{Bus: b[2], Source: b[3], GSI: le32(b[4:]), Flags: le16(b[8:])}
				m.NumOverrides++
			}
			m.TotalOverrides++
		case typ == 5 && n >= 12:
			m.LocalAPICAddr = le64(b[4:])
		case typ == 0 || typ == 9 || typ == 1 || typ == 2 || typ == 5:
			return ErrMalformed // shorter than its type requires
		}
		p += n
	}
	return nil
}

func (m *MADT) addCPU(c CPU) {
	if m.NumCPUs < MaxCPUs {
		m.CPUs[m.NumCPUs] = c
		m.NumCPUs++
	}
	m.TotalCPUs++
}

// IRQToGSI maps ISA IRQ irq to its global system interrupt and flags through
// the interrupt source overrides; without one, the GSI is the IRQ, edge and
// active high (flags 0, conforming to ISA).
func (m *MADT) IRQToGSI(irq uint8) (gsi uint32, flags uint16) {
	for i := 0; i < m.NumOverrides; i++ {
		if o := &m.Overrides[i]; o.Bus == 0 && o.Source == irq {
			return o.GSI, o.Flags
		}
	}
	return uint32(irq), 0
}

// IOAPICFor returns the I/O APIC that serves gsi: the one with the highest
// GSI base not above it. (The MADT does not say how many inputs each has; the
// caller checks the I/O APIC's version register.)
func (m *MADT) IOAPICFor(gsi uint32) (IOAPIC, bool) {
	best, found := IOAPIC{}, false
	for i := 0; i < m.NumIOAPICs; i++ {
		a := m.IOAPICs[i]
		if a.GSIBase <= gsi && (!found || a.GSIBase > best.GSIBase) {
			best, found = a, true
		}
	}
	return best, found
}
