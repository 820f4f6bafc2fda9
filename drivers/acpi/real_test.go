package acpi

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/pvh"
)

// regions is guest-physical memory made of a few captured ranges.
type regions []region

type region struct {
	base uint64
	data []byte
}

// M is the Memory that reads the regions.
func (m regions) M() *Memory {
	var mem Memory
	for _, r := range m {
		mem.Add(r.base, uintptr(unsafe.Pointer(&r.data[0])), uint64(len(r.data)))
		pinned = append(pinned, r.data)
	}
	return &mem
}

func loadDump(t *testing.T, name string, base uint64) region {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(z)
	require.NoError(t, err)
	return region{base, b}
}

func TestRealMicrovm(t *testing.T) {
	mem := regions{loadDump(t, "microvm-e0000.bin.gz", 0xE0000)}

	// The PVH start info qboot left in memory names the RSDP.
	var si pvh.StartInfo
	buf := make([]byte, binary.Size(si))
	require.True(t, mem.M().Read(0xF31E0, buf))
	require.NoError(t, binary.Read(bytes.NewReader(buf), binary.LittleEndian, &si))
	require.EqualValues(t, pvh.StartInfoMagic, si.Magic)
	require.EqualValues(t, 0xF34D0, si.RSDPPaddr)

	var in Info
	require.NoError(t, Parse(mem.M(), si.RSDPPaddr, &in))
	require.True(t, in.RSDP.FromHint)
	require.EqualValues(t, 0xF34D0, in.RSDP.Addr)
	require.EqualValues(t, 2, in.RSDP.Revision)
	require.Equal(t, "BOCHS ", string(in.RSDP.OEMID[:]))
	require.Zero(t, in.RSDP.RSDTAddr)

	// The scan finds the same RSDP, passing over qboot's stray signature.
	var r RSDP
	require.NoError(t, FindRSDP(mem.M(), 0, &r))
	require.False(t, r.FromHint)
	require.EqualValues(t, 0xF34D0, r.Addr)
	require.NoError(t, FindRSDP(mem.M(), 0xF31A4, &r)) // bad checksum there: falls back
	require.False(t, r.FromHint)
	require.EqualValues(t, 0xF34D0, r.Addr)

	require.True(t, in.Root.XSDT)
	require.EqualValues(t, 0xEFFC6, in.Root.Addr)
	require.Equal(t, 2, in.Root.Count)
	require.Equal(t, 0, in.Root.Invalid)
	_, ok := in.Root.Find("MCFG")
	require.False(t, ok)
	require.False(t, in.HasMCFG)

	require.True(t, in.HasMADT)
	m := &in.MADT
	require.EqualValues(t, 0xFEE00000, m.LocalAPICAddr)
	require.Equal(t, 4, m.NumCPUs)
	require.Equal(t, 4, m.TotalCPUs)
	for i := 0; i < 4; i++ {
		require.Equal(t, CPU{UID: uint32(i), APICID: uint32(i), Enabled: true}, m.CPUs[i])
	}
	require.EqualValues(t, MADTPCATCompat, m.Flags)
	require.Equal(t, 2, m.NumIOAPICs)
	require.Equal(t, IOAPIC{ID: 0, Addr: 0xFEC00000, GSIBase: 0}, m.IOAPICs[0])
	require.Equal(t, IOAPIC{ID: 1, Addr: 0xFEC10000, GSIBase: 24}, m.IOAPICs[1])
	require.Equal(t, 0, m.TotalOverrides)
	gsi, flags := m.IRQToGSI(9)
	require.EqualValues(t, 9, gsi)
	require.Zero(t, flags)
	io, ok := m.IOAPICFor(9)
	require.True(t, ok)
	require.EqualValues(t, 0xFEC00000, io.Addr)

	require.True(t, in.HasFADT)
	f := &in.FADT
	require.True(t, f.HardwareReduced())
	require.EqualValues(t, 0xEFD00, f.DSDT)
	require.False(t, f.PM1aEvent.Valid())
	require.False(t, f.PM1aControl.Valid())
	require.EqualValues(t, 5, f.Revision)
	require.EqualValues(t, FADTHWReducedACPI|FADTResetRegSup, f.Flags)
	require.Zero(t, f.SCIInterrupt)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 8, Addr: 0xFEA00202}, f.Reset)
	require.EqualValues(t, 0x42, f.ResetValue)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 8, Addr: 0xFEA00200}, f.SleepControl)
	require.Equal(t, GAS{Space: SpaceSystemMemory, BitWidth: 8, Addr: 0xFEA00201}, f.SleepStatus)

	require.True(t, in.HasDSDT)
	require.True(t, in.HasGED)
	require.Equal(t, Device{
		Name:   [4]byte{'G', 'E', 'D', '_'},
		HasIRQ: true, IRQ: 9, IRQEdge: true,
		HasRegion: true,
		Region:    Region{Name: [4]byte{'E', 'R', 'E', 'G'}, Space: SpaceSystemMemory, Base: 0xFEA00000, Len: 4},
	}, in.GED)

	// Other devices of the same DSDT: string and EISAID _HIDs, IRQ descriptors.
	var d Device
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0C0C", &d))
	require.Equal(t, Device{Name: [4]byte{'P', 'W', 'R', 'B'}}, d)
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0501", &d))
	require.Equal(t, Device{Name: [4]byte{'C', 'O', 'M', '1'}, HasIRQ: true, IRQ: 4, IRQEdge: true}, d)
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0B00", &d))
	require.Equal(t, Device{Name: [4]byte{'R', 'T', 'C', '_'}, HasIRQ: true, IRQ: 8, IRQEdge: true}, d)
	require.ErrorIs(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0A08", &d), ErrNotFound)
}

func TestRealQ35(t *testing.T) {
	mem := regions{loadDump(t, "q35-e0000.bin.gz", 0xE0000), loadDump(t, "q35-ffe0000.bin.gz", 0xFFE0000)}
	var in Info
	require.NoError(t, Parse(mem.M(), 0, &in))
	require.False(t, in.RSDP.FromHint)
	require.EqualValues(t, 0xF59E0, in.RSDP.Addr)
	require.EqualValues(t, 0, in.RSDP.Revision)
	require.False(t, in.Root.XSDT)
	require.EqualValues(t, 0xFFE2387, in.Root.Addr)
	require.Equal(t, 5, in.Root.Count)

	for _, sig := range []string{"FACP", "APIC", "HPET", "MCFG", "WAET"} {
		_, ok := in.Root.Find(sig)
		require.True(t, ok, sig)
	}

	m := &in.MADT
	require.True(t, in.HasMADT)
	require.EqualValues(t, 0xFEE00000, m.LocalAPICAddr)
	require.Equal(t, 4, m.NumCPUs)
	for i := 0; i < 4; i++ {
		require.Equal(t, CPU{UID: uint32(i), APICID: uint32(i), Enabled: true}, m.CPUs[i])
	}
	require.Equal(t, 1, m.NumIOAPICs)
	require.Equal(t, IOAPIC{ID: 0, Addr: 0xFEC00000, GSIBase: 0}, m.IOAPICs[0])
	require.Equal(t, []Override{
		{Source: 0, GSI: 2, Flags: 0},
		{Source: 5, GSI: 5, Flags: 0xD},
		{Source: 9, GSI: 9, Flags: 0xD},
		{Source: 10, GSI: 10, Flags: 0xD},
		{Source: 11, GSI: 11, Flags: 0xD},
	}, m.Overrides[:m.NumOverrides])
	require.EqualValues(t, ActiveHigh, m.Overrides[2].Polarity())
	require.EqualValues(t, Level, m.Overrides[2].Trigger())
	gsi, _ := m.IRQToGSI(0) // the PIT
	require.EqualValues(t, 2, gsi)

	require.True(t, in.HasMCFG)
	require.Equal(t, 1, in.MCFG.Total)
	require.Equal(t, ECAM{Base: 0xB0000000, Segment: 0, StartBus: 0, EndBus: 255}, in.MCFG.Windows[0])
	a, ok := in.MCFG.Windows[0].ConfigAddr(0, 31, 0) // the ICH9 LPC bridge
	require.True(t, ok)
	require.EqualValues(t, 0xB00F8000, a)

	f := &in.FADT
	require.True(t, in.HasFADT)
	require.False(t, f.HardwareReduced())
	require.Zero(t, f.Flags&FADTPowerButton) // the power button is the fixed PWRBTN event
	require.EqualValues(t, 9, f.SCIInterrupt)
	require.EqualValues(t, 0xB2, f.SMICommand)
	require.EqualValues(t, 2, f.ACPIEnable)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 32, Addr: 0x600}, f.PM1aEvent)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 16, Addr: 0x602}, f.PM1aEnable())
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 16, Addr: 0x604}, f.PM1aControl)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 32, Addr: 0x608}, f.PMTimer)
	require.False(t, f.PM1bEvent.Valid())
	require.EqualValues(t, 4, f.PM1EventLen)
	require.Equal(t, GAS{Space: SpaceSystemIO, BitWidth: 8, Addr: 0xCF9}, f.Reset)
	require.EqualValues(t, 0x0F, f.ResetValue)
	require.EqualValues(t, 0xFFE0040, f.DSDT)
	require.EqualValues(t, 0xFFE0000, f.FACS)

	require.True(t, in.HasDSDT)
	require.EqualValues(t, 8487, in.DSDT.Length)
	require.False(t, in.HasGED)
	var d Device // the PCIe host bridge, _HID EISAID("PNP0A08")
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0A08", &d))
	require.Equal(t, [4]byte{'P', 'C', 'I', '0'}, d.Name)
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0103", &d)) // deep in \_SB.PCI0
	require.Equal(t, Device{Name: [4]byte{'H', 'P', 'E', 'T'}, HasMem: true, MemBase: 0xFED00000, MemLen: 0x400,
		HasRegion: true, Region: Region{Name: [4]byte{'H', 'P', 'T', 'M'}, Space: SpaceSystemMemory, Base: 0xFED00000, Len: 0x400}}, d)
	require.NoError(t, in.Scanner.FindDevice(mem.M(), in.DSDT, "PNP0B00", &d))
	require.Equal(t, Device{Name: [4]byte{'R', 'T', 'C', '_'}, HasIRQ: true, IRQ: 8, IRQEdge: true}, d)
}
