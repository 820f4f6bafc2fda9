package pci

// BAR is one decoded base address register.
type BAR struct {
	Phys  uint64 // the address the firmware assigned (0: none)
	Size  uint64 // 0: the register is not implemented
	Flags uint32
}

// BAR flags.
const (
	BARIO       = 1 << 0 // an I/O port range, not memory
	BAR64       = 1 << 1 // a 64-bit memory BAR (it uses the next slot too)
	BARPrefetch = 1 << 2
	// BARUpper: this slot is the upper half of the 64-bit BAR before it.
	BARUpper = 1 << 3
	// BARBad: a 64-bit BAR in the last slot, which has no upper half.
	BARBad = 1 << 4
)

// Assigned says whether the BAR exists and has an address.
func (b *BAR) Assigned() bool { return b.Size != 0 && b.Phys != 0 && b.Flags&BARBad == 0 }

// Func is one function a scan found.
type Func struct {
	Addr      Addr
	Vendor    uint16
	Device    uint16
	SubVendor uint16
	Subsystem uint16
	// Class is the class code, subclass and programming interface
	// (configuration bytes 0x0B, 0x0A, 0x09) as one number.
	Class uint32
	// Header is the header type without the multi-function bit: 0 for an
	// ordinary function, 1 for a PCI-to-PCI bridge.
	Header uint8
	// Filled in by Probe:
	BARs [6]BAR
	// MSIXCap is the offset of the MSI-X capability (0: none); MSIXSize the
	// entries in its table; MSIXTable the table's BAR (low 3 bits) and its
	// offset in that BAR (the rest), as the capability gives them.
	MSIXCap   uint16
	MSIXSize  uint16
	MSIXTable uint32
	// Caps is CapMalformed when the capability list is malformed (the
	// function is then treated as having none).
	Caps CapResult
}

// MSIXBAR and MSIXOffset locate the MSI-X table.
func (f *Func) MSIXBAR() int        { return int(f.MSIXTable & 7) }
func (f *Func) MSIXOffset() uint64  { return uint64(f.MSIXTable &^ 7) }
func (f *Func) MSIXTableBytes() int { return int(f.MSIXSize) * 16 }

// MaxFuncs bounds the functions a Scan keeps, maxBuses the buses it visits.
const (
	MaxFuncs = 32
	maxBuses = 32
)

// Scan enumerates functions, bus by bus, without recursion: Start with the
// root bus, then, while NextBus gives one, have its configuration space
// reachable (map it) and call Bus.
type Scan struct {
	Funcs [MaxFuncs]Func
	N     int
	// Dropped counts functions found beyond MaxFuncs, SkippedBuses buses
	// beyond maxBuses or outside the access's window.
	Dropped      int
	SkippedBuses int
	queue        [maxBuses]uint8
	nq, next     int
	seen         [4]uint64 // buses queued so far, a bit each
}

// Start begins a scan at bus root.
func (s *Scan) Start(root uint8) {
	*s = Scan{}
	s.add(root)
}

func (s *Scan) add(bus uint8) {
	if s.seen[bus/64]&(1<<(bus%64)) != 0 {
		return
	}
	s.seen[bus/64] |= 1 << (bus % 64)
	if s.nq == maxBuses {
		s.SkippedBuses++
		return
	}
	s.queue[s.nq] = bus
	s.nq++
}

// NextBus is the next bus to scan, or false when there is none left.
func (s *Scan) NextBus() (uint8, bool) {
	if s.next == s.nq {
		return 0, false
	}
	s.next++
	return s.queue[s.next-1], true
}

// Bus probes every device and function of bus and records what answers;
// bridges queue their secondary buses.
func (s *Scan) Bus(a *Access, bus uint8) {
	if _, ok := a.Func(Addr{Bus: bus}); !ok {
		s.SkippedBuses++
		return
	}
	for dev := uint8(0); dev < 32; dev++ {
		c, _ := a.Func(Addr{Bus: bus, Dev: dev})
		if !c.Present() {
			continue
		}
		nfn := uint8(1)
		if c.Read8(RegHeaderType)&headerMulti != 0 {
			nfn = 8
		}
		for fn := uint8(0); fn < nfn; fn++ {
			c, _ := a.Func(Addr{Bus: bus, Dev: dev, Fn: fn})
			if c.Present() {
				s.record(c)
			}
		}
	}
}

// record notes the function at c.
func (s *Scan) record(c Config) {
	hdr := c.Read8(RegHeaderType) &^ headerMulti
	if hdr == 1 {
		if sec := c.Read8(RegSecondary); sec > c.Addr.Bus {
			s.add(sec)
		}
	}
	if s.N == MaxFuncs {
		s.Dropped++
		return
	}
	id := c.Read32(RegVendor)
	sub := c.Read32(RegSubVendor)
	f := &s.Funcs[s.N]
	s.N++
	*f = Func{
		Addr:   c.Addr,
		Vendor: uint16(id), Device: uint16(id >> 16),
		Class:  c.Read32(RegRevision) >> 8,
		Header: hdr,
	}
	if hdr == 0 {
		f.SubVendor, f.Subsystem = uint16(sub), uint16(sub>>16)
	}
}

// Probe sizes f's BARs and finds its MSI-X capability (type 0 headers only;
// a bridge's are left empty).
func Probe(c Config, f *Func) {
	if f.Header != 0 {
		return
	}
	sizeBARs(c, &f.BARs)
	off, r := c.FindCap(CapMSIX)
	f.Caps = r
	if r != CapFound {
		return
	}
	f.MSIXCap = off
	f.MSIXSize = c.Read16(off+2)&0x7FF + 1
	f.MSIXTable = c.Read32(off + 4)
}

// sizeBARs decodes and sizes the six BARs of a type 0 header with decoding
// off, then restores the command register.
func sizeBARs(c Config, bars *[6]BAR) {
	cmd := c.Read16(RegCommand)
	c.Write16(RegCommand, cmd&^(CmdIO|CmdMemory))
	for i := 0; i < 6; i++ {
		off := uint16(RegBAR0 + 4*i)
		lo, loMask := sizeOne(c, off)
		b := &bars[i]
		*b = BAR{}
		switch {
		case lo&1 != 0:
			b.Flags = BARIO
			b.Phys = uint64(lo &^ 3)
			m := loMask &^ 3
			if m != 0 {
				if m&0xFFFF0000 == 0 {
					m |= 0xFFFF0000 // a 16-bit I/O decoder
				}
				b.Size = uint64(^m + 1)
			}
		case lo&6 == 4: // 64-bit memory
			b.Flags = BAR64 | lo&8>>1
			if i == 5 {
				b.Flags |= BARBad
				continue
			}
			hi, hiMask := sizeOne(c, off+4)
			b.Phys = uint64(hi)<<32 | uint64(lo&^0xF)
			m := uint64(hiMask)<<32 | uint64(loMask&^0xF)
			if m != 0 {
				b.Size = ^m + 1
			}
			i++
			bars[i] = BAR{Flags: BARUpper}
		default: // 32-bit memory (types 0 and the old below-1-MiB type 2)
			b.Flags = lo & 8 >> 1
			b.Phys = uint64(lo &^ 0xF)
			if m := loMask &^ 0xF; m != 0 {
				b.Size = uint64(^m + 1)
			}
		}
	}
	c.Write16(RegCommand, cmd)
}

// sizeOne reads the BAR dword at off, writes all ones, reads what stuck and
// writes the original back.
func sizeOne(c Config, off uint16) (orig, mask uint32) {
	orig = c.Read32(off)
	c.Write32(off, 0xFFFFFFFF)
	mask = c.Read32(off)
	c.Write32(off, orig)
	return orig, mask
}
