package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// pkg prefixes body with its PkgLength.
func pkg(body []byte) []byte {
	switch n := len(body); {
	case n+1 <= 0x3F:
		return append([]byte{byte(n + 1)}, body...)
	case n+2 <= 0xFFF:
		t := n + 2
		return append([]byte{0x40 | byte(t&0xF), byte(t >> 4)}, body...)
	default:
		t := n + 3
		return append([]byte{0x80 | byte(t&0xF), byte(t >> 4), byte(t >> 12)}, body...)
	}
}

func amlScope(name string, body ...[]byte) []byte {
	return cat([]byte{0x10}, pkg(cat([]byte(name), cat(body...))))
}
func amlDevice(name string, body ...[]byte) []byte {
	return cat([]byte{0x5B, 0x82}, pkg(cat([]byte(name), cat(body...))))
}
func amlNameStr(name, v string) []byte {
	return cat([]byte{0x08}, []byte(name), []byte{0x0D}, []byte(v), []byte{0})
}
func amlNameRaw(name string, v ...byte) []byte { return cat([]byte{0x08}, []byte(name), v) }
func amlBuffer(data ...byte) []byte {
	return cat([]byte{0x11}, pkg(cat([]byte{0x0A, byte(len(data))}, data)))
}
func amlMethod(name string, body ...byte) []byte {
	return cat([]byte{0x14}, pkg(cat([]byte(name), []byte{0}, body)))
}

func dsdt(body ...[]byte) []byte { return table("DSDT", 2, cat(body...)) }

func findIn(t *testing.T, tbl []byte, hid string) (Device, error) {
	t.Helper()
	mem := newMem()
	copy(mem[0x1000:], tbl)
	var s Scanner
	var d Device
	err := s.FindDevice(mem.M(), Table{Addr: 0x1000}, hid, &d)
	return d, err
}

func TestFindDevice(t *testing.T) {
	ged := amlDevice("GED_",
		amlNameStr("_UID", "GED"),
		amlMethod("_EVT", make([]byte, 80)...), // long enough for a two-byte PkgLength
		amlNameStr("_HID", "ACPI0013"),
		amlNameRaw("_CRS", amlBuffer(0x89, 6, 0, 0x05, 1, 24, 0, 0, 0, 0x79, 0)...),
		[]byte{0x5B, 0x80}, []byte("EREG"), []byte{0x00, 0x0E, 0, 0, 0xA0, 0xFE, 1, 0, 0, 0, 0x0B, 0x00, 0x01},
		[]byte{0x5B, 0x80}, []byte("SECD"), []byte{0x01, 0x0A, 0x10, 0x01}, // a second region: ignored
		[]byte{0x5B, 0x81}, pkg(cat([]byte("EREG"), []byte{0x03, 'E', 'S', 'E', 'L', 0x20})),
	)
	tbl := dsdt(
		amlScope("\\_GPE", []byte{0x70, 0x0A, 0x01, 0x60}, amlDevice("FAKE", amlNameStr("_HID", "ACPI0013"))), // Store: unknown, ends the scope
		amlNameRaw("_S5_", 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00),
		amlScope("\\_SB_",
			amlDevice("OUTR",
				amlNameRaw("_HID", 0x0C, 0x41, 0xD0, 0x0A, 0x08), // EISAID("PNP0A08")
				ged,
				amlNameRaw("_CRS", amlBuffer(0x23, 0x00, 0x02, 0x08, 0x86, 9, 0, 1, 0, 0, 0xC0, 0xFE, 0, 0x10, 0, 0, 0x79, 0)...),
			),
			amlDevice("PWRB", amlNameStr("_HID", "PNP0C0C"), amlNameRaw("_UID", 0x00)),
		),
	)

	d, err := findIn(t, tbl, GEDHID)
	require.NoError(t, err)
	require.Equal(t, Device{
		Name:   [4]byte{'G', 'E', 'D', '_'},
		HasIRQ: true, IRQ: 24, IRQEdge: false, IRQActiveLow: true,
		HasRegion: true,
		Region:    Region{Name: [4]byte{'E', 'R', 'E', 'G'}, Space: SpaceSystemMemory, Base: 0x1_FEA0_0000, Len: 0x100},
	}, d)

	d, err = findIn(t, tbl, "PNP0A08") // the outer device: its own _CRS, not the GED's
	require.NoError(t, err)
	require.Equal(t, Device{
		Name:   [4]byte{'O', 'U', 'T', 'R'},
		HasIRQ: true, IRQ: 9, IRQEdge: false, IRQActiveLow: true,
		HasMem: true, MemBase: 0xFEC00000, MemLen: 0x1000,
	}, d)

	d, err = findIn(t, tbl, "PNP0C0C")
	require.NoError(t, err)
	require.Equal(t, [4]byte{'P', 'W', 'R', 'B'}, d.Name)

	for _, hid := range []string{"ACPI001", "ACPI00130", "PNP0A0", "pnp0a08", "QEMU0002", ""} {
		_, err = findIn(t, tbl, hid)
		require.ErrorIs(t, err, ErrNotFound, hid)
	}

	bad := append([]byte(nil), tbl...)
	bad[HeaderSize]++
	_, err = findIn(t, bad, GEDHID)
	require.ErrorIs(t, err, ErrChecksum)
	_, err = findIn(t, table("FACP", 1, tbl[HeaderSize:]), GEDHID)
	require.ErrorIs(t, err, ErrSignature)
	d, err = findIn(t, table("SSDT", 1, tbl[HeaderSize:]), GEDHID)
	require.NoError(t, err)
}

func TestEISAID(t *testing.T) {
	v, ok := eisaID("PNP0501")
	require.True(t, ok)
	require.EqualValues(t, 0x0105D041, v)
	v, ok = eisaID("PNP0A08")
	require.True(t, ok)
	require.EqualValues(t, 0x080AD041, v)
	for _, s := range []string{"ACPI0013", "PNP050", "pnp0501", "PNP05G1", "1NP0501"} {
		_, ok = eisaID(s)
		require.False(t, ok, s)
	}
}

func TestPkgLength(t *testing.T) {
	for _, n := range []int{0, 10, 61, 62, 63, 64, 200, 4000, 4093, 4094, 70000} {
		b := pkg(make([]byte, n))
		mem := newMem()
		copy(mem, b)
		r := amlReader{mem: mem.M(), size: uint32(len(b)), win: new([64]byte)}
		end, next := r.pkgLength(0)
		require.False(t, r.bad)
		require.EqualValues(t, len(b), end, n)
		require.EqualValues(t, len(b)-n, next, n)
	}
}

// The scanner must never panic nor loop on damaged AML: every prefix and every
// single-byte change of the real microvm and q35 DSDTs, checksum fixed up.
func TestFindDeviceDamaged(t *testing.T) {
	for _, c := range []struct {
		dumps  regions
		dsdt   uint64
		stride int
	}{
		{regions{loadDump(t, "microvm-e0000.bin.gz", 0xE0000)}, 0xEFD00, 1},
		{regions{loadDump(t, "q35-ffe0000.bin.gz", 0xFFE0000)}, 0xFFE0040, 29},
	} {
		var hdr [HeaderSize]byte
		tb, err := ReadTable(c.dumps.M(), c.dsdt, "DSDT", &hdr)
		require.NoError(t, err)
		orig := make([]byte, tb.Length)
		require.True(t, c.dumps.M().Read(c.dsdt, orig))
		var s Scanner
		var d Device
		mem := make(flat, 0x1000+len(orig)+64)
		m := mem.M()
		try := func(b []byte) {
			fixed := table("DSDT", 2, b[HeaderSize:])
			clear(mem)
			copy(mem[0x1000:], fixed)
			_ = s.FindDevice(m, Table{Addr: 0x1000}, GEDHID, &d)
		}
		for n := HeaderSize; n < len(orig); n += c.stride {
			try(orig[:n])
		}
		b := append([]byte(nil), orig...)
		for i := HeaderSize; i < len(b); i += c.stride {
			for _, v := range []byte{0x00, 0x5B, 0x82, 0xFF, 0x7F, 0xC0, b[i] ^ 0x40} {
				old := b[i]
				b[i] = v
				try(b)
				b[i] = old
			}
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	mem := regions{loadDump(t, "microvm-e0000.bin.gz", 0xE0000)}.M()
	in := new(Info)
	require.NoError(t, Parse(mem, 0xF34D0, in))
	require.Zero(t, testing.AllocsPerRun(20, func() { _ = Parse(mem, 0, in) }))
	q := regions{loadDump(t, "q35-e0000.bin.gz", 0xE0000), loadDump(t, "q35-ffe0000.bin.gz", 0xFFE0000)}.M()
	require.NoError(t, Parse(q, 0, in))
	require.Zero(t, testing.AllocsPerRun(20, func() { _ = Parse(q, 0, in) }))
	var d Device
	require.Zero(t, testing.AllocsPerRun(20, func() { _ = in.Scanner.FindDevice(q, in.DSDT, "PNP0103", &d) }))
}
