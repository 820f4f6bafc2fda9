package acpi

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// flat is guest-physical memory from 0 to len.
type flat []byte

// M is the Memory that reads m. The slice must stay alive while it is used:
// pinned, it never moves (the Go heap does not move objects).
func (m flat) M() *Memory {
	var mem Memory
	if len(m) > 0 {
		mem.Add(0, uintptr(unsafe.Pointer(&m[0])), uint64(len(m)))
	}
	pinned = append(pinned, m)
	return &mem
}

// pinned keeps every buffer a test Memory reads reachable until the test binary
// ends.
var pinned [][]byte

func newMem() flat { return make(flat, 0x200000) }

func fix(b []byte, at int) { // make b sum to zero by adjusting b[at]
	b[at] = 0
	var s byte
	for _, x := range b {
		s += x
	}
	b[at] = -s
}

// table builds a table with a valid header and checksum.
func table(sig string, rev byte, body []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	copy(b, sig)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	b[8] = rev
	copy(b[10:], "UNIGO ")
	fix(b, 9)
	return b
}

func rsdp1(rsdt uint32) []byte {
	b := make([]byte, 20)
	copy(b, "RSD PTR ")
	copy(b[9:], "TEST  ")
	binary.LittleEndian.PutUint32(b[16:], rsdt)
	fix(b, 8)
	return b
}

func rsdp2(rsdt uint32, xsdt uint64) []byte {
	b := make([]byte, 36)
	copy(b, "RSD PTR ")
	copy(b[9:], "TEST  ")
	b[15] = 2
	binary.LittleEndian.PutUint32(b[16:], rsdt)
	binary.LittleEndian.PutUint32(b[20:], 36)
	binary.LittleEndian.PutUint64(b[24:], xsdt)
	fix(b[:20], 8)
	fix(b, 32)
	return b
}

func rsdt(addrs ...uint32) []byte {
	var body []byte
	for _, a := range addrs {
		body = binary.LittleEndian.AppendUint32(body, a)
	}
	return table("RSDT", 1, body)
}

func xsdt(addrs ...uint64) []byte {
	var body []byte
	for _, a := range addrs {
		body = binary.LittleEndian.AppendUint64(body, a)
	}
	return table("XSDT", 1, body)
}

func TestFindRSDP(t *testing.T) {
	var r RSDP
	mem := newMem()
	require.ErrorIs(t, FindRSDP(mem.M(), 0, &r), ErrNoRSDP)
	require.ErrorIs(t, FindRSDP(flat(nil).M(), 0, &r), ErrNoRSDP) // nothing readable

	copy(mem[0xF0008:], rsdp1(0x1000)) // not on a 16-byte boundary
	require.ErrorIs(t, FindRSDP(mem.M(), 0, &r), ErrNoRSDP)

	bad := rsdp1(0x1000)
	bad[19]++
	copy(mem[0xE0000:], bad)
	copy(mem[0xFFFF0:], rsdp1(0x2000)) // the last slot; v1 is 20 bytes, so it ends past 1 MiB
	require.NoError(t, FindRSDP(mem.M(), 0, &r))
	require.EqualValues(t, 0xFFFF0, r.Addr)
	require.EqualValues(t, 0x2000, r.RSDTAddr)
	require.Zero(t, r.Revision)
	require.Zero(t, r.XSDTAddr)
	require.Equal(t, "TEST  ", string(r.OEMID[:]))

	// A v2 RSDP whose extended checksum is wrong is not taken.
	v2 := rsdp2(0x1000, 0x3000)
	v2[30]++
	copy(mem[0xE0010:], v2)
	require.NoError(t, FindRSDP(mem.M(), 0, &r))
	require.EqualValues(t, 0xFFFF0, r.Addr)
	copy(mem[0xE0010:], rsdp2(0x1000, 0x3000))
	require.NoError(t, FindRSDP(mem.M(), 0, &r))
	require.EqualValues(t, 0xE0010, r.Addr)
	require.EqualValues(t, 2, r.Revision)
	require.EqualValues(t, 0x3000, r.XSDTAddr)

	// The hint wins when it is valid, anywhere; an invalid one falls back.
	copy(mem[0x9000:], rsdp2(0, 0x4000))
	require.NoError(t, FindRSDP(mem.M(), 0x9000, &r))
	require.True(t, r.FromHint)
	require.EqualValues(t, 0x9000, r.Addr)
	require.NoError(t, FindRSDP(mem.M(), 0x9010, &r))
	require.False(t, r.FromHint)
	require.EqualValues(t, 0xE0010, r.Addr)
	require.NoError(t, FindRSDP(mem.M(), 0xFFFFFFFF0, &r)) // out of range
	require.EqualValues(t, 0xE0010, r.Addr)
}

func TestReadRoot(t *testing.T) {
	mem := newMem()
	copy(mem[0x10000:], table("APIC", 1, make([]byte, 8)))
	copy(mem[0x11000:], table("FACP", 1, make([]byte, 80)))
	copy(mem[0x12000:], table("HPET", 1, make([]byte, 20)))
	copy(mem[0x20000:], rsdt(0x10000, 0x11000))
	copy(mem[0x21000:], xsdt(0x10000, 0x11000, 0x12000))

	var root Root
	var r RSDP

	t.Run("RSDT", func(t *testing.T) {
		copy(mem[0xE0000:], rsdp1(0x20000))
		require.NoError(t, FindRSDP(mem.M(), 0, &r))
		require.NoError(t, ReadRoot(mem.M(), &r, &root))
		require.False(t, root.XSDT)
		require.EqualValues(t, 0x20000, root.Addr)
		require.Equal(t, 2, root.Count)
		tb, ok := root.Find("FACP")
		require.True(t, ok)
		require.Equal(t, Table{Signature: [4]byte{'F', 'A', 'C', 'P'}, Addr: 0x11000, Length: HeaderSize + 80, Revision: 1}, tb)
		_, ok = root.Find("HPET")
		require.False(t, ok)
		_, ok = root.Find("MCFG")
		require.False(t, ok)
	})
	t.Run("XSDT preferred", func(t *testing.T) {
		copy(mem[0xE0000:], rsdp2(0x20000, 0x21000))
		require.NoError(t, FindRSDP(mem.M(), 0, &r))
		require.NoError(t, ReadRoot(mem.M(), &r, &root))
		require.True(t, root.XSDT)
		require.Equal(t, 3, root.Count)
		_, ok := root.Find("HPET")
		require.True(t, ok)
	})
	t.Run("bad XSDT falls back to RSDT", func(t *testing.T) {
		mem[0x21000+HeaderSize]++
		defer func() { mem[0x21000+HeaderSize]-- }()
		require.NoError(t, ReadRoot(mem.M(), &r, &root))
		require.False(t, root.XSDT)
		require.Equal(t, 2, root.Count)
	})
	t.Run("no valid root", func(t *testing.T) {
		bad := r
		bad.RSDTAddr, bad.XSDTAddr = 0x12000, 0 // an HPET is no RSDT
		require.ErrorIs(t, ReadRoot(mem.M(), &bad, &root), ErrSignature)
		bad.RSDTAddr = 0x200000 - 40 // 256 bytes long: runs off the end of memory
		copy(mem[bad.RSDTAddr:], "RSDT\x00\x01\x00\x00")
		require.ErrorIs(t, ReadRoot(mem.M(), &bad, &root), ErrRead)
		bad.RSDTAddr = 0
		require.ErrorIs(t, ReadRoot(mem.M(), &bad, &root), ErrNoRootSDT)
		mem[0x20000+HeaderSize]++
		require.ErrorIs(t, ReadRoot(mem.M(), &RSDP{RSDTAddr: 0x20000}, &root), ErrChecksum)
		mem[0x20000+HeaderSize]--
		binary.LittleEndian.PutUint32(mem[0x30004:], 10) // shorter than a header
		copy(mem[0x30000:], "RSDT")
		require.ErrorIs(t, ReadRoot(mem.M(), &RSDP{RSDTAddr: 0x30000}, &root), ErrLength)
	})
	t.Run("bad, missing and truncated entries", func(t *testing.T) {
		copy(mem[0x13000:], table("SSDT", 1, nil))
		mem[0x13000+20]++ // checksum broken
		copy(mem[0x22000:], rsdt(0x13000, 0, 0x10000, 0x1FFFF0, 0x7FFFFFFF))
		require.NoError(t, ReadRoot(mem.M(), &RSDP{RSDTAddr: 0x22000}, &root))
		require.Equal(t, 5, root.Entries)
		require.Equal(t, 4, root.Invalid)
		require.Equal(t, 1, root.Count)
		require.True(t, root.Tables[0].Is("APIC"))
	})
	t.Run("too many", func(t *testing.T) {
		addrs := make([]uint64, MaxTables+5)
		for i := range addrs {
			addrs[i] = 0x10000
		}
		copy(mem[0x23000:], xsdt(addrs...))
		require.NoError(t, ReadRoot(mem.M(), &RSDP{Revision: 2, XSDTAddr: 0x23000}, &root))
		require.True(t, root.XSDT)
		require.Equal(t, MaxTables, root.Count)
		require.Equal(t, MaxTables+5, root.Entries)
		require.Zero(t, root.Invalid)
	})
}

func TestReadTable(t *testing.T) {
	mem := newMem()
	copy(mem[0x1000:], table("DSDT", 2, []byte{1, 2, 3}))
	var buf [HeaderSize]byte
	tb, err := ReadTable(mem.M(), 0x1000, "DSDT", &buf)
	require.NoError(t, err)
	require.EqualValues(t, HeaderSize+3, tb.Length)
	_, err = ReadTable(mem.M(), 0x1000, "SSDT", &buf)
	require.ErrorIs(t, err, ErrSignature)
	_, err = ReadTable(mem.M(), 0, "", &buf)
	require.ErrorIs(t, err, ErrRead)
	binary.LittleEndian.PutUint32(mem[0x1004:], maxTableLen+1)
	_, err = ReadTable(mem.M(), 0x1000, "", &buf)
	require.ErrorIs(t, err, ErrLength)
}

func TestErrorStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range []error{ErrNoRSDP, ErrRead, ErrChecksum, ErrSignature, ErrLength, ErrNotFound, ErrMalformed, ErrNoRootSDT} {
		require.NotContains(t, e.Error(), "unknown")
		require.False(t, seen[e.Error()])
		seen[e.Error()] = true
	}
	require.Contains(t, Error(200).Error(), "unknown")
}
