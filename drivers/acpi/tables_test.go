package acpi

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func le32b(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func lapic(uid, id, flags byte) []byte { return []byte{0, 8, uid, id, flags, 0, 0, 0} }
func x2apic(id, flags, uid uint32) []byte {
	return cat([]byte{9, 16, 0, 0}, le32b(id), le32b(flags), le32b(uid))
}
func ioapic(id byte, addr, gsi uint32) []byte {
	return cat([]byte{1, 12, id, 0}, le32b(addr), le32b(gsi))
}
func iso(src byte, gsi uint32, flags uint16) []byte {
	return cat([]byte{2, 10, 0, src}, le32b(gsi), binary.LittleEndian.AppendUint16(nil, flags))
}

func madt(entries ...[]byte) []byte {
	return table("APIC", 5, cat(le32b(0xFEE00000), le32b(1), cat(entries...)))
}

func parseMADT(t *testing.T, b []byte) (*MADT, error) {
	t.Helper()
	mem := newMem()
	copy(mem[0x1000:], b)
	m := new(MADT)
	return m, ParseMADT(mem.M(), Table{Addr: 0x1000}, m)
}

func TestMADT(t *testing.T) {
	m, err := parseMADT(t, madt(
		lapic(0, 0, 1), lapic(1, 2, 0), lapic(2, 4, 2),
		[]byte{4, 6, 0xFF, 5, 0, 1}, // local APIC NMI: skipped
		x2apic(300, 1, 7),
		ioapic(3, 0xFEC00000, 0), ioapic(4, 0xFEC10000, 24),
		iso(0, 2, 0), iso(9, 9, 0xD),
		[]byte{3, 8, 0, 0, 0, 0, 0, 0}, // NMI source: skipped
		cat([]byte{5, 12, 0, 0}, binary.LittleEndian.AppendUint64(nil, 0x1_FEE0_0000)),
		make([]byte, 40), // an unknown, long entry: type 0x80 below
	))
	require.Error(t, err) // the zeroed 40 bytes start with type 0, length 0
	require.ErrorIs(t, err, ErrMalformed)

	long := make([]byte, 40)
	long[0], long[1] = 0x0B, 40 // a GICC-like entry, longer than the scratch buffer
	m, err = parseMADT(t, madt(
		lapic(0, 0, 1), lapic(1, 2, 0), lapic(2, 4, 2),
		[]byte{4, 6, 0xFF, 5, 0, 1},
		x2apic(300, 1, 7),
		ioapic(3, 0xFEC00000, 0), ioapic(4, 0xFEC10000, 24),
		iso(0, 2, 0), iso(9, 9, 0xD),
		[]byte{3, 8, 0, 0, 0, 0, 0, 0},
		long,
		cat([]byte{5, 12, 0, 0}, binary.LittleEndian.AppendUint64(nil, 0x1_FEE0_0000)),
	))
	require.NoError(t, err)
	require.EqualValues(t, 0x1_FEE0_0000, m.LocalAPICAddr)
	require.EqualValues(t, MADTPCATCompat, m.Flags)
	require.Equal(t, []CPU{
		{UID: 0, APICID: 0, Enabled: true},
		{UID: 1, APICID: 2},
		{UID: 2, APICID: 4, OnlineCapable: true},
		{UID: 7, APICID: 300, Enabled: true, X2APIC: true},
	}, m.CPUs[:m.NumCPUs])
	require.Equal(t, []IOAPIC{{3, 0xFEC00000, 0}, {4, 0xFEC10000, 24}}, m.IOAPICs[:m.NumIOAPICs])
	require.Equal(t, []Override{{Source: 0, GSI: 2}, {Source: 9, GSI: 9, Flags: 0xD}}, m.Overrides[:m.NumOverrides])
	gsi, fl := m.IRQToGSI(9)
	require.EqualValues(t, 9, gsi)
	require.EqualValues(t, 0xD, fl)
	gsi, fl = m.IRQToGSI(4)
	require.EqualValues(t, 4, gsi)
	require.Zero(t, fl)
	a, ok := m.IOAPICFor(30)
	require.True(t, ok)
	require.EqualValues(t, 4, a.ID)
	a, ok = m.IOAPICFor(23)
	require.True(t, ok)
	require.EqualValues(t, 3, a.ID)
	m.NumIOAPICs = 0
	_, ok = m.IOAPICFor(0)
	require.False(t, ok)
}

func TestMADTTooMany(t *testing.T) {
	var e [][]byte
	for i := 0; i < MaxCPUs+6; i++ {
		e = append(e, lapic(byte(i), byte(i), 1))
	}
	for i := 0; i < MaxIOAPICs+2; i++ {
		e = append(e, ioapic(byte(i), 0xFEC00000+uint32(i)<<12, uint32(i)*24))
	}
	for i := 0; i < MaxOverrides+4; i++ {
		e = append(e, iso(byte(i), uint32(i), 0))
	}
	m, err := parseMADT(t, madt(e...))
	require.NoError(t, err)
	require.Equal(t, MaxCPUs, m.NumCPUs)
	require.Equal(t, MaxCPUs+6, m.TotalCPUs)
	require.EqualValues(t, MaxCPUs-1, m.CPUs[MaxCPUs-1].APICID)
	require.Equal(t, MaxIOAPICs, m.NumIOAPICs)
	require.Equal(t, MaxIOAPICs+2, m.TotalIOAPICs)
	require.Equal(t, MaxOverrides, m.NumOverrides)
	require.Equal(t, MaxOverrides+4, m.TotalOverrides)
}

func TestMADTBad(t *testing.T) {
	good := madt(lapic(0, 0, 1), ioapic(0, 0xFEC00000, 0))

	b := append([]byte(nil), good...)
	b[len(b)-1]++
	_, err := parseMADT(t, b)
	require.ErrorIs(t, err, ErrChecksum)

	_, err = parseMADT(t, table("APIX", 1, good[HeaderSize:]))
	require.ErrorIs(t, err, ErrSignature)

	_, err = parseMADT(t, table("APIC", 1, []byte{0, 0, 0xE0, 0xFE})) // no flags field
	require.ErrorIs(t, err, ErrLength)

	_, err = parseMADT(t, madt(lapic(0, 0, 1), []byte{1, 12, 0, 0})) // entry runs past the end
	require.ErrorIs(t, err, ErrMalformed)

	_, err = parseMADT(t, madt(lapic(0, 0, 1), []byte{0, 4, 0, 0})) // local APIC entry too short
	require.ErrorIs(t, err, ErrMalformed)

	_, err = parseMADT(t, madt([]byte{7})) // half an entry header
	require.ErrorIs(t, err, ErrMalformed)

	// Truncated: the table says it is longer than readable memory.
	mem := newMem()
	off := len(mem) - len(good) + 4
	copy(mem[off:], good)
	var m MADT
	require.ErrorIs(t, ParseMADT(mem.M(), Table{Addr: uint64(off)}, &m), ErrRead)
}

func TestMCFG(t *testing.T) {
	win := func(base uint64, seg uint16, start, end byte) []byte {
		b := binary.LittleEndian.AppendUint64(nil, base)
		b = binary.LittleEndian.AppendUint16(b, seg)
		return append(b, start, end, 0, 0, 0, 0)
	}
	var ws [][]byte
	ws = append(ws, make([]byte, 8)) // reserved
	for i := 0; i < MaxECAM+1; i++ {
		ws = append(ws, win(0xB0000000+uint64(i)<<28, uint16(i), 0, 0xFF))
	}
	mem := newMem()
	copy(mem[0x1000:], table("MCFG", 1, cat(ws...)))
	var m MCFG
	require.NoError(t, ParseMCFG(mem.M(), Table{Addr: 0x1000}, &m))
	require.Equal(t, MaxECAM, m.Num)
	require.Equal(t, MaxECAM+1, m.Total)
	require.Equal(t, ECAM{Base: 0xC0000000, Segment: 1, StartBus: 0, EndBus: 0xFF}, m.Windows[1])

	e := ECAM{Base: 0xE0000000, StartBus: 0x10, EndBus: 0x1F}
	a, ok := e.ConfigAddr(0x11, 2, 3)
	require.True(t, ok)
	require.EqualValues(t, 0xE0000000+0x11<<20+2<<15+3<<12, a)
	_, ok = e.ConfigAddr(0x20, 0, 0)
	require.False(t, ok)
	_, ok = e.ConfigAddr(0x10, 32, 0)
	require.False(t, ok)

	copy(mem[0x2000:], table("MCFG", 1, cat(make([]byte, 8), win(0xB0000000, 0, 0, 0xFF), []byte{1, 2, 3})))
	require.ErrorIs(t, ParseMCFG(mem.M(), Table{Addr: 0x2000}, &m), ErrMalformed)
	require.Equal(t, 1, m.Num) // what was whole is kept
	copy(mem[0x3000:], table("MCFG", 1, []byte{0, 0}))
	require.ErrorIs(t, ParseMCFG(mem.M(), Table{Addr: 0x3000}, &m), ErrLength)
	mem[0x1000+HeaderSize]++
	require.ErrorIs(t, ParseMCFG(mem.M(), Table{Addr: 0x1000}, &m), ErrChecksum)
}

func gas(space, width byte, addr uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{space, width, 0, 0}, addr)
}

func fadtBody(n int) []byte {
	b := make([]byte, n-HeaderSize)
	put32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[off-HeaderSize:], v) }
	put32(36, 0x7000)             // FACS
	put32(40, 0x8000)             // DSDT
	b[46-HeaderSize] = 9          // SCI
	put32(48, 0xB2)               // SMI_CMD
	b[52-HeaderSize] = 0xF1       // ACPI_ENABLE
	put32(56, 0x600)              // PM1a_EVT_BLK
	put32(64, 0x604)              // PM1a_CNT_BLK
	put32(76, 0x608)              // PM_TMR_BLK
	b[88-HeaderSize] = 4          // PM1_EVT_LEN
	b[89-HeaderSize] = 2          // PM1_CNT_LEN
	b[91-HeaderSize] = 4          // PM_TMR_LEN
	put32(112, FADTResetRegSup|1) // Flags
	if n >= 129 {
		copy(b[116-HeaderSize:], gas(SpaceSystemIO, 8, 0xCF9))
		b[128-HeaderSize] = 6
	}
	return b
}

func TestFADT(t *testing.T) {
	mem := newMem()
	var f FADT

	// ACPI 1.0: 116 bytes, ports only.
	copy(mem[0x1000:], table("FACP", 1, fadtBody(116)))
	require.NoError(t, ParseFADT(mem.M(), Table{Addr: 0x1000}, &f))
	require.EqualValues(t, 0x8000, f.DSDT)
	require.EqualValues(t, 0x7000, f.FACS)
	require.EqualValues(t, 9, f.SCIInterrupt)
	require.EqualValues(t, 0xB2, f.SMICommand)
	require.EqualValues(t, 0xF1, f.ACPIEnable)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 32, Addr: 0x600}, f.PM1aEvent)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 16, Addr: 0x602}, f.PM1aEnable())
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 16, Addr: 0x604}, f.PM1aControl)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 32, Addr: 0x608}, f.PMTimer)
	require.False(t, f.PM1bEvent.Valid())
	require.False(t, f.PM1bControl.Valid())
	require.False(t, f.Reset.Valid()) // not in a 1.0 table
	require.False(t, f.HardwareReduced())

	// ACPI 6: X_ fields override the 32-bit ones when not zero.
	body := fadtBody(276)
	put64 := func(off int, v uint64) { binary.LittleEndian.PutUint64(body[off-HeaderSize:], v) }
	put64(132, 0) // X_FIRMWARE_CTRL zero: FIRMWARE_CTRL stays
	put64(140, 0x1_0000_8000)
	copy(body[148-HeaderSize:], gas(SpaceSystemMemory, 32, 0xFE000600))
	copy(body[244-HeaderSize:], gas(SpaceSystemMemory, 8, 0xFEA00200))
	copy(body[256-HeaderSize:], gas(SpaceSystemMemory, 8, 0xFEA00201))
	binary.LittleEndian.PutUint32(body[112-HeaderSize:], FADTHWReducedACPI)
	copy(mem[0x2000:], table("FACP", 6, body))
	require.NoError(t, ParseFADT(mem.M(), Table{Addr: 0x2000}, &f))
	require.EqualValues(t, 6, f.Revision)
	require.True(t, f.HardwareReduced())
	require.EqualValues(t, 0x7000, f.FACS)
	require.EqualValues(t, 0x1_0000_8000, f.DSDT)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 32, Addr: 0xFE000600}, f.PM1aEvent)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 16, Addr: 0x604}, f.PM1aControl) // X_ zero
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 8, Addr: 0xCF9}, f.Reset)
	require.EqualValues(t, 6, f.ResetValue)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 8, Addr: 0xFEA00200}, f.SleepControl)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 8, Addr: 0xFEA00201}, f.SleepStatus)

	// Longer than this package knows: the rest is ignored.
	copy(mem[0x3000:], table("FACP", 6, append(fadtBody(276), make([]byte, 100)...)))
	require.NoError(t, ParseFADT(mem.M(), Table{Addr: 0x3000}, &f))
	require.EqualValues(t, 376, f.Length)

	copy(mem[0x4000:], table("FACP", 1, fadtBody(116)[:100-HeaderSize]))
	require.ErrorIs(t, ParseFADT(mem.M(), Table{Addr: 0x4000}, &f), ErrLength)
	copy(mem[0x5000:], table("FACX", 1, fadtBody(116)))
	require.ErrorIs(t, ParseFADT(mem.M(), Table{Addr: 0x5000}, &f), ErrSignature)
	mem[0x1000+50]++
	require.ErrorIs(t, ParseFADT(mem.M(), Table{Addr: 0x1000}, &f), ErrChecksum)
}
