package acpi

// Address spaces of a [GAS] (and of an AML OperationRegion).
const (
	SpaceSystemMemory = 0
	SpaceSystemIO     = 1
	SpacePCIConfig    = 2
)

// GAS is a Generic Address Structure: a register in an address space.
type GAS struct {
	Space      uint8 // SpaceSystemMemory, SpaceSystemIO, ...
	BitWidth   uint8
	BitOffset  uint8
	AccessSize uint8 // 0 undefined, 1 byte, 2 word, 3 dword, 4 qword
	Addr       uint64
}

// Valid reports whether g names a register (address not 0).
func (g GAS) Valid() bool { return g.Addr != 0 }

func gasAt(b []byte) GAS {
	return GAS{Space: b[0], BitWidth: b[1], BitOffset: b[2], AccessSize: b[3], Addr: le64(b[4:])}
}

// FADT flag bits ([FADT.Flags]).
const (
	FADTWBINVD         = 1 << 0
	FADTPowerButton    = 1 << 4 // set: the power button is a control method device, not the fixed PWRBTN
	FADTResetRegSup    = 1 << 10
	FADTHWReducedACPI  = 1 << 20
	FADTLowPowerS0Idle = 1 << 21
)

// PM1 register bits.
const (
	PM1PowerButton      = 1 << 8 // PWRBTN_STS in PM1 status, PWRBTN_EN in PM1 enable
	PM1ControlSCIEnable = 1 << 0 // SCI_EN in PM1 control: ACPI mode is on
	PM1ControlSleepEn   = 1 << 13
)

// FADT is the Fixed ACPI Description Table ("FACP"), the fields a kernel uses.
// Register blocks are given as [GAS]: the 64-bit X_ field when the table has
// it and it is not zero, else the 32-bit port field as a SystemIO GAS (zero
// when absent).
type FADT struct {
	Revision uint8
	Length   uint32
	Flags    uint32

	DSDT uint64 // X_DSDT when present and not zero, else DSDT
	FACS uint64 // X_FIRMWARE_CTRL likewise, else FIRMWARE_CTRL

	SCIInterrupt uint16 // the SCI's ISA IRQ (or GSI, on a machine without 8259s)
	SMICommand   uint32 // port; 0 when the machine is always in ACPI mode
	ACPIEnable   uint8  // written to SMICommand to switch to ACPI mode
	ACPIDisable  uint8

	PM1aEvent, PM1bEvent     GAS // status register, then enable register
	PM1aControl, PM1bControl GAS
	PMTimer                  GAS
	PM1EventLen              uint8 // bytes of a PM1 event block (status + enable)
	PM1ControlLen            uint8

	IAPCBootArch uint16 // bit 0 legacy devices, bit 1 8042, bit 4 no CMOS RTC...

	Reset      GAS // reset register (valid when Flags has FADTResetRegSup)
	ResetValue uint8

	SleepControl, SleepStatus GAS // hardware-reduced sleep registers (ACPI 5)

	buf [276]byte
}

// HardwareReduced reports the HW_REDUCED_ACPI flag: no PM1 blocks, no SCI, no
// fixed events; events come through GPIO or the Generic Event Device.
func (f *FADT) HardwareReduced() bool { return f.Flags&FADTHWReducedACPI != 0 }

// PM1aEnable returns the PM1a enable register: the second half of the PM1a
// event block.
func (f *FADT) PM1aEnable() GAS {
	g := f.PM1aEvent
	if g.Valid() {
		g.Addr += uint64(f.PM1EventLen / 2)
		if g.BitWidth != 0 {
			g.BitWidth /= 2
		}
	}
	return g
}

// IAPC_BOOT_ARCH bits.
const (
	BootArchLegacyDevices = 1 << 0
	BootArch8042          = 1 << 1
	BootArchNoVGA         = 1 << 2
	BootArchNoMSI         = 1 << 3
	BootArchNoCMOSRTC     = 1 << 5
)

// ParseFADT decodes the FADT t. Fields beyond the table's length (older
// revisions are shorter) read as zero.
func ParseFADT(mem *Memory, t Table, f *FADT) error {
	*f = FADT{}
	t, err := readTable(mem, t.Addr, f.buf[:])
	if err != nil {
		return err
	}
	if !t.Is("FACP") {
		return ErrSignature
	}
	if t.Length < 116 { // through Flags: ACPI 1.0's table
		return ErrLength
	}
	n := t.Length
	if n > uint32(len(f.buf)) {
		n = uint32(len(f.buf))
	}
	b := f.buf[:]
	if !mem.Read(t.Addr, b[:n]) {
		return ErrRead
	}
	clear(b[n:])
	f.Revision, f.Length = t.Revision, t.Length
	f.FACS = uint64(le32(b[36:]))
	f.DSDT = uint64(le32(b[40:]))
	f.SCIInterrupt = le16(b[46:])
	f.SMICommand = le32(b[48:])
	f.ACPIEnable, f.ACPIDisable = b[52], b[53]
	f.PM1aEvent = portGAS(le32(b[56:]), b[88])
	f.PM1bEvent = portGAS(le32(b[60:]), b[88])
	f.PM1aControl = portGAS(le32(b[64:]), b[89])
	f.PM1bControl = portGAS(le32(b[68:]), b[89])
	f.PMTimer = portGAS(le32(b[76:]), b[91])
	f.PM1EventLen, f.PM1ControlLen = b[88], b[89]
	f.IAPCBootArch = le16(b[109:])
	f.Flags = le32(b[112:])
	if t.Length >= 129 {
		f.Reset = gasAt(b[116:])
		f.ResetValue = b[128]
	}
	if t.Length >= 140 {
		if x := le64(b[132:]); x != 0 {
			f.FACS = x
		}
	}
	if t.Length >= 148 {
		if x := le64(b[140:]); x != 0 {
			f.DSDT = x
		}
	}
	xgas(b, t.Length, 148, &f.PM1aEvent)
	xgas(b, t.Length, 160, &f.PM1bEvent)
	xgas(b, t.Length, 172, &f.PM1aControl)
	xgas(b, t.Length, 184, &f.PM1bControl)
	xgas(b, t.Length, 208, &f.PMTimer)
	xgas(b, t.Length, 244, &f.SleepControl)
	xgas(b, t.Length, 256, &f.SleepStatus)
	return nil
}

// xgas replaces *g by the GAS at off when the table reaches that far and the
// GAS there is not zero.
func xgas(b []byte, length, off uint32, g *GAS) {
	if length >= off+12 {
		if x := gasAt(b[off:]); x.Valid() {
			*g = x
		}
	}
}

func portGAS(port uint32, length uint8) GAS {
	if port == 0 {
		return GAS{}
	}
	return GAS{Space: SpaceSystemIO, BitWidth: length * 8, Addr: uint64(port)}
}
