//go:build !unikernel

package pci

import (
	"encoding/binary"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// simFunc is one simulated function: its configuration bytes and, per BAR
// slot, which bits software may write (the size mask; the low type bits are
// read-only).
type simFunc struct {
	cfg [4096]byte
	rw  [6]uint32
	// decodingWrites counts BAR writes made while memory or I/O decoding was
	// on, which sizing must never do.
	decodingWrites int
}

type sim struct {
	funcs map[Addr]*simFunc
	ecam  bool
	t     *testing.T
}

func (s *sim) fn(c Config) *simFunc {
	if s.ecam {
		// The address must be the one ECAM gives for c.Addr with the test's
		// window at testECAM.
		want := uintptr(testECAM) + uintptr(c.Addr.Bus)<<20 + uintptr(c.Addr.Dev)<<15 + uintptr(c.Addr.Fn)<<12
		require.Equal(s.t, want, c.Base, "ECAM address of %v", c.Addr)
	} else {
		require.Zero(s.t, c.Base)
	}
	return s.funcs[c.Addr]
}

func (s *sim) Read32(c Config, off uint16) uint32 {
	require.Zero(s.t, off&3)
	f := s.fn(c)
	if f == nil {
		return 0xFFFFFFFF
	}
	return binary.LittleEndian.Uint32(f.cfg[off:])
}

func (s *sim) Write32(c Config, off uint16, v uint32) {
	f := s.fn(c)
	if f == nil {
		return
	}
	if off >= RegBAR0 && off < RegBAR0+24 {
		if binary.LittleEndian.Uint16(f.cfg[RegCommand:])&(CmdIO|CmdMemory) != 0 {
			f.decodingWrites++
		}
		i := (off - RegBAR0) / 4
		old := binary.LittleEndian.Uint32(f.cfg[off:])
		v = v&f.rw[i] | old&^f.rw[i]
	}
	binary.LittleEndian.PutUint32(f.cfg[off:], v)
}

func (s *sim) Write16(c Config, off uint16, v uint16) {
	require.Zero(s.t, off&1)
	if f := s.fn(c); f != nil {
		binary.LittleEndian.PutUint16(f.cfg[off:], v)
	}
}

const testECAM = 0x10000000

func install(t *testing.T, s *sim) {
	s.t = t
	hostSpace = s
	t.Cleanup(func() { hostSpace = nil })
}

func newFunc(vendor, device uint16, header uint8) *simFunc {
	f := &simFunc{}
	binary.LittleEndian.PutUint16(f.cfg[RegVendor:], vendor)
	binary.LittleEndian.PutUint16(f.cfg[RegDevice:], device)
	f.cfg[RegHeaderType] = header
	return f
}

// setCaps writes a capability list: each entry is {offset, id, next}.
func (f *simFunc) setCaps(first uint8, caps ...[3]uint8) {
	binary.LittleEndian.PutUint16(f.cfg[RegStatus:], StatusCapList)
	f.cfg[RegCapPtr] = first
	for _, c := range caps {
		f.cfg[c[0]], f.cfg[c[0]+1] = c[1], c[2]
	}
}

func (f *simFunc) setBAR(i int, v, rw uint32) {
	binary.LittleEndian.PutUint32(f.cfg[RegBAR0+4*i:], v)
	f.rw[i] = rw
}

func TestScanFindsFunctionsBehindBridges(t *testing.T) {
	for _, ecam := range []bool{true, false} {
		s := &sim{ecam: ecam, funcs: map[Addr]*simFunc{
			{0, 0, 0}: newFunc(0x8086, 0x29c0, 0),
			{0, 3, 0}: newFunc(0x1af4, 0x1041, 0),
			// A multi-function device: functions 0 and 2.
			{0, 5, 0}: newFunc(0x8086, 0x1111, headerMulti),
			{0, 5, 2}: newFunc(0x8086, 0x2222, 0),
			// Function 1 of a single-function device must not be probed.
			{0, 3, 1}: newFunc(0xdead, 0xbeef, 0),
			// A bridge to bus 2, whose bridge points back to bus 0 and to
			// itself: each bus is scanned once.
			{0, 7, 0}: newFunc(0x1b36, 0x000c, 1),
			{2, 0, 0}: newFunc(0x1af4, 0x1044, 0),
			{2, 1, 0}: newFunc(0x1b36, 0x000c, 1),
			{2, 2, 0}: newFunc(0x1b36, 0x000c, 1),
		}}
		s.funcs[Addr{0, 7, 0}].cfg[RegSecondary] = 2
		s.funcs[Addr{2, 1, 0}].cfg[RegSecondary] = 0
		s.funcs[Addr{2, 2, 0}].cfg[RegSecondary] = 2
		install(t, s)
		a := &Access{}
		if ecam {
			a = &Access{ECAM: testECAM, StartBus: 0, EndBus: 7}
		}
		var sc Scan
		sc.Start(0)
		var buses []uint8
		for {
			b, ok := sc.NextBus()
			if !ok {
				break
			}
			buses = append(buses, b)
			sc.Bus(a, b)
		}
		assert.Equal(t, []uint8{0, 2}, buses)
		var got []Addr
		for _, f := range sc.Funcs[:sc.N] {
			got = append(got, f.Addr)
		}
		assert.Equal(t, []Addr{{0, 0, 0}, {0, 3, 0}, {0, 5, 0}, {0, 5, 2}, {0, 7, 0}, {2, 0, 0}, {2, 1, 0}, {2, 2, 0}}, got)
		assert.Equal(t, uint16(0x1044), sc.Funcs[5].Device)
		assert.Equal(t, uint8(1), sc.Funcs[4].Header)
	}
}

func TestScanBusOutsideWindow(t *testing.T) {
	s := &sim{ecam: true, funcs: map[Addr]*simFunc{{0, 1, 0}: newFunc(0x1b36, 0x000c, 1)}}
	s.funcs[Addr{0, 1, 0}].cfg[RegSecondary] = 9
	install(t, s)
	a := &Access{ECAM: testECAM, StartBus: 0, EndBus: 3}
	var sc Scan
	sc.Start(0)
	for b, ok := sc.NextBus(); ok; b, ok = sc.NextBus() {
		sc.Bus(a, b)
	}
	assert.Equal(t, 1, sc.N)
	assert.Equal(t, 1, sc.SkippedBuses)
}

func TestBARs(t *testing.T) {
	f := newFunc(0x1af4, 0x1041, 0)
	binary.LittleEndian.PutUint16(f.cfg[RegCommand:], CmdIO|CmdMemory)
	f.setBAR(0, 0xc041, 0xFFFFFFE0)        // I/O, 32 ports at 0xc040
	f.setBAR(1, 0xfebd1000, 0xFFFFF000)    // 32-bit memory, 4 KiB
	f.setBAR(2, 0, 0)                      // not implemented
	f.setBAR(3, 0x0000000c, 0xFFFFC000)    // 64-bit prefetchable, 16 KiB at 0x8_0000_0000
	f.setBAR(4, 0x00000008, 0xFFFFFFFF)    // its upper half
	f.setBAR(5, 0x00000004|0x1000, 0xFFFF) // 64-bit in the last slot: malformed
	binary.LittleEndian.PutUint32(f.cfg[RegBAR0+16:], 8)
	install(t, &sim{funcs: map[Addr]*simFunc{{0, 4, 0}: f}})
	c := Config{Addr: Addr{0, 4, 0}}
	var fn Func
	Probe(c, &fn)
	assert.Equal(t, BAR{Phys: 0xc040, Size: 32, Flags: BARIO}, fn.BARs[0])
	assert.Equal(t, BAR{Phys: 0xfebd1000, Size: 4096}, fn.BARs[1])
	assert.Equal(t, BAR{}, fn.BARs[2])
	assert.False(t, fn.BARs[2].Assigned())
	assert.Equal(t, BAR{Phys: 0x8_0000_0000, Size: 16 << 10, Flags: BAR64 | BARPrefetch}, fn.BARs[3])
	assert.True(t, fn.BARs[3].Assigned())
	assert.Equal(t, BAR{Flags: BARUpper}, fn.BARs[4])
	assert.NotZero(t, fn.BARs[5].Flags&BARBad)
	assert.False(t, fn.BARs[5].Assigned())
	// Decoding was off while the BARs were written, and everything is as
	// before.
	assert.Zero(t, f.decodingWrites)
	assert.Equal(t, uint16(CmdIO|CmdMemory), binary.LittleEndian.Uint16(f.cfg[RegCommand:]))
	assert.Equal(t, uint32(0xc041), binary.LittleEndian.Uint32(f.cfg[RegBAR0:]))
	assert.Equal(t, uint32(8), binary.LittleEndian.Uint32(f.cfg[RegBAR0+16:]))

	// An unassigned 64-bit BAR: a size, no address.
	f.setBAR(3, 0x4, 0xFFFFC000)
	f.setBAR(4, 0, 0xFFFFFFFF)
	Probe(c, &fn)
	assert.Equal(t, uint64(16<<10), fn.BARs[3].Size)
	assert.False(t, fn.BARs[3].Assigned())
}

func TestFindCap(t *testing.T) {
	cases := []struct {
		name  string
		first uint8
		caps  [][3]uint8
		off   uint16
		r     CapResult
	}{
		{"found", 0x40, [][3]uint8{{0x40, CapVendor, 0x50}, {0x50, CapMSIX, 0}}, 0x50, CapFound},
		{"absent", 0x40, [][3]uint8{{0x40, CapVendor, 0x50}, {0x50, CapVendor, 0}}, 0, CapNotFound},
		{"low bits ignored", 0x43, [][3]uint8{{0x40, CapVendor, 0x53}, {0x50, CapMSIX, 0}}, 0x50, CapFound},
		{"loop", 0x40, [][3]uint8{{0x40, CapVendor, 0x50}, {0x50, CapVendor, 0x40}}, 0, CapMalformed},
		{"self loop", 0x40, [][3]uint8{{0x40, CapVendor, 0x40}}, 0, CapMalformed},
		{"into the header", 0x40, [][3]uint8{{0x40, CapVendor, 0x10}}, 0, CapMalformed},
		{"first into the header", 0x20, nil, 0, CapMalformed},
		{"last dword, low bits ignored", 0x40, [][3]uint8{{0x40, CapVendor, 0xFF}, {0xFC, CapMSIX, 0}}, 0xFC, CapFound},
		{"empty", 0, nil, 0, CapNotFound},
	}
	for _, tc := range cases {
		f := newFunc(0x1af4, 0x1041, 0)
		f.setCaps(tc.first, tc.caps...)
		install(t, &sim{funcs: map[Addr]*simFunc{{0, 1, 0}: f}})
		off, r := Config{Addr: Addr{0, 1, 0}}.FindCap(CapMSIX)
		assert.Equal(t, tc.r, r, tc.name)
		assert.Equal(t, tc.off, off, tc.name)
	}
	// Without the status bit there is no list, whatever the pointer says.
	f := newFunc(0x1af4, 0x1041, 0)
	f.cfg[RegCapPtr] = 0x40
	f.cfg[0x40] = CapMSIX
	install(t, &sim{funcs: map[Addr]*simFunc{{0, 1, 0}: f}})
	_, r := Config{Addr: Addr{0, 1, 0}}.FindCap(CapMSIX)
	assert.Equal(t, CapNotFound, r)
}

func TestMSIX(t *testing.T) {
	f := newFunc(0x1af4, 0x1041, 0)
	f.setCaps(0x40, [3]uint8{0x40, CapVendor, 0x98}, [3]uint8{0x98, CapMSIX, 0})
	binary.LittleEndian.PutUint16(f.cfg[0x98+2:], 3) // 4 entries
	binary.LittleEndian.PutUint32(f.cfg[0x98+4:], 0x2001)
	binary.LittleEndian.PutUint16(f.cfg[RegCommand:], CmdMemory)
	f.setBAR(1, 0xfebd0000, 0xFFFFF000)
	install(t, &sim{funcs: map[Addr]*simFunc{{0, 3, 0}: f}})
	c := Config{Addr: Addr{0, 3, 0}}
	var fn Func
	Probe(c, &fn)
	require.Equal(t, uint16(0x98), fn.MSIXCap)
	assert.Equal(t, uint16(4), fn.MSIXSize)
	assert.Equal(t, 1, fn.MSIXBAR())
	assert.Equal(t, uint64(0x2000), fn.MSIXOffset())
	assert.Equal(t, 64, fn.MSIXTableBytes())

	table := make([]uint32, 16)
	var pin runtime.Pinner
	pin.Pin(&table[0])
	defer pin.Unpin()
	for i := range table {
		table[i] = 0xAAAAAAAA
	}
	at := uintptr(unsafe.Pointer(&table[0]))
	assert.False(t, EnableMSIX(c, &fn, at, 4, 256, 0x61), "APIC IDs above 255 need remapping")
	assert.False(t, EnableMSIX(c, &fn, at, 5, 1, 0x61), "more entries than the table has")
	require.True(t, EnableMSIX(c, &fn, at, 3, 1, 0x61))
	for i := 0; i < 3; i++ {
		assert.Equal(t, []uint32{0xFEE01000, 0, 0x61, 0}, table[4*i:4*i+4], "entry %d", i)
	}
	assert.Equal(t, uint32(1), table[15]&1, "entry 3 stays masked")
	ctl := binary.LittleEndian.Uint16(f.cfg[0x98+2:])
	assert.Equal(t, uint16(msixEnable|3), ctl, "enabled, function not masked")
	EnableDevice(c, &fn)
	cmd := binary.LittleEndian.Uint16(f.cfg[RegCommand:])
	assert.Equal(t, uint16(CmdMemory|CmdBusMaster|CmdINTxDisable), cmd)

	var none Func
	assert.False(t, EnableMSIX(c, &none, at, 1, 0, 0x60), "no capability")
}

func TestNoSpaceFindsNothing(t *testing.T) {
	hostSpace = nil
	assert.False(t, PortIOPresent())
	var sc Scan
	sc.Start(0)
	b, _ := sc.NextBus()
	sc.Bus(&Access{}, b)
	assert.Zero(t, sc.N)
}

func TestPortAddr(t *testing.T) {
	c := Config{Addr: Addr{Bus: 2, Dev: 31, Fn: 7}}
	assert.Equal(t, uint32(0x8002_FF00|0x3c), portAddr(c, 0x3e))
	assert.Equal(t, 256, c.Size())
	assert.Equal(t, uint32(0xFFFFFFFF), c.Read32(0x100), "past the port I/O space")
	e, ok := (&Access{ECAM: testECAM, EndBus: 255}).Func(Addr{Bus: 1, Dev: 2, Fn: 3})
	require.True(t, ok)
	assert.Equal(t, uintptr(testECAM+1<<20+2<<15+3<<12), e.Base)
	assert.Equal(t, 4096, e.Size())
	_, ok = (&Access{}).Func(Addr{Dev: 32})
	assert.False(t, ok)
}
