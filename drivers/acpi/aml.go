package acpi

// GED facts: the _HID of the Generic Event Device, and the event bits in its
// selector register (ESEL, the 32-bit register at offset 0 of its region).
const (
	GEDHID                = "ACPI0013"
	GEDMemHotplugEvent    = 1 << 0
	GEDPowerDownEvent     = 1 << 1 // ACPI_GED_PWR_DOWN_EVT: the power button
	GEDNVDIMMHotplugEvent = 1 << 2
)

// Region is an AML OperationRegion with constant offset and length.
type Region struct {
	Name  [4]byte
	Space uint8 // SpaceSystemMemory, SpaceSystemIO, ...
	Base  uint64
	Len   uint64
}

// Device is what [Scanner.FindDevice] learns of a Device in the DSDT: its name, the
// first interrupt and the first fixed 32-bit memory range of its _CRS, and its
// first OperationRegion.
type Device struct {
	Name [4]byte // the last NameSeg of the Device's name ("GED_")

	HasIRQ       bool
	IRQ          uint32 // an ISA IRQ (IRQ descriptor) or a GSI (Extended Interrupt)
	IRQEdge      bool
	IRQActiveLow bool

	HasMem  bool // a Memory32Fixed descriptor
	MemBase uint32
	MemLen  uint32

	HasRegion bool
	Region    Region
}

// maxDepth bounds the nesting of Scope and Device blocks the scanner follows;
// deeper blocks are skipped whole.
const maxDepth = 16

type frame struct {
	end    uint32 // offset just past the block
	device bool
	match  bool // its _HID is the one looked for
	dev    Device
}

// Scanner is the working memory of [Scanner.FindDevice] (about 1 KiB): the
// caller provides it, so the scan needs neither allocation nor a deep stack.
// Its zero value is ready to use.
type Scanner struct {
	win    [64]byte
	frames [maxDepth]frame
}

// amlReader reads a table a byte at a time through a 64-byte window.
type amlReader struct {
	mem  *Memory
	base uint64
	size uint32
	win  *[64]byte
	wOff uint32
	wLen uint32
	bad  bool // a read failed or went past the end
}

func (r *amlReader) at(off uint32) byte {
	if off >= r.size {
		r.bad = true
		return 0
	}
	if off < r.wOff || off >= r.wOff+r.wLen {
		n := r.size - off
		if n > uint32(len(r.win)) {
			n = uint32(len(r.win))
		}
		if !r.mem.Read(r.base+uint64(off), r.win[:n]) {
			r.bad = true
			r.wLen = 0
			return 0
		}
		r.wOff, r.wLen = off, n
	}
	return r.win[off-r.wOff]
}

func (r *amlReader) u16(off uint32) uint32 {
	return uint32(r.at(off)) | uint32(r.at(off+1))<<8
}

func (r *amlReader) u32(off uint32) uint32 { return r.u16(off) | r.u16(off+2)<<16 }

// pkgLength decodes the PkgLength at off: the offset just past the package
// (the length counts its own bytes) and the offset of what follows the
// encoding.
func (r *amlReader) pkgLength(off uint32) (end, next uint32) {
	lead := r.at(off)
	extra := uint32(lead >> 6)
	if extra == 0 {
		return off + uint32(lead&0x3F), off + 1
	}
	n := uint32(lead & 0x0F)
	for i := uint32(0); i < extra; i++ {
		n |= uint32(r.at(off+1+i)) << (4 + 8*i)
	}
	return off + n, off + 1 + extra
}

// nameString decodes the NameString at off: its last NameSeg (zero for the
// null name) and the offset after it.
func (r *amlReader) nameString(off uint32) (seg [4]byte, next uint32) {
	if c := r.at(off); c == '\\' {
		off++
	} else {
		for r.at(off) == '^' && !r.bad {
			off++
		}
	}
	count := uint32(1)
	switch r.at(off) {
	case 0x00: // NullName
		return seg, off + 1
	case 0x2E: // DualNamePrefix
		count, off = 2, off+1
	case 0x2F: // MultiNamePrefix SegCount
		count, off = uint32(r.at(off+1)), off+2
	}
	if count == 0 {
		return seg, off
	}
	last := off + 4*(count-1)
	for i := uint32(0); i < 4; i++ {
		seg[i] = r.at(last + i)
	}
	return seg, off + 4*count
}

// integer decodes a constant integer (ZeroOp, OneOp, OnesOp, or a Byte, Word,
// DWord or QWord prefix) at off.
func (r *amlReader) integer(off uint32) (v uint64, next uint32, ok bool) {
	var n uint32
	switch r.at(off) {
	case 0x00:
		return 0, off + 1, true
	case 0x01:
		return 1, off + 1, true
	case 0xFF:
		return ^uint64(0), off + 1, true
	case 0x0A:
		n = 1
	case 0x0B:
		n = 2
	case 0x0C:
		n = 4
	case 0x0E:
		n = 8
	default:
		return 0, off, false
	}
	for i := uint32(0); i < n; i++ {
		v |= uint64(r.at(off+1+i)) << (8 * i)
	}
	return v, off + 1 + n, !r.bad
}

// FindDevice scans the DSDT (or an SSDT) t for the first Device whose _HID is
// hid, given as a string ("ACPI0013") which also matches the EISA ID integer
// encoding of a seven-character ID ("PNP0A08"), and fills d from it. It
// returns ErrNotFound when there is none.
func (s *Scanner) FindDevice(mem *Memory, t Table, hid string, d *Device) error {
	return s.FindNthDevice(mem, t, hid, 0, d)
}

// FindNthDevice is FindDevice for the nth (from 0) Device whose _HID is hid,
// in the order the devices end in the table: QEMU's microvm lists one
// "LNRO0005" (virtio-mmio) device per transport.
func (s *Scanner) FindNthDevice(mem *Memory, t Table, hid string, nth int, d *Device) error {
	*d = Device{}
	t, err := readTable(mem, t.Addr, s.win[:HeaderSize])
	if err != nil {
		return err
	}
	if !t.Is("DSDT") && !t.Is("SSDT") {
		return ErrSignature
	}
	eisa, isEISA := eisaID(hid)
	r := amlReader{mem: mem, base: t.Addr, size: t.Length, win: &s.win}
	depth := 0
	pos := uint32(HeaderSize)
	for {
		end := t.Length
		if depth > 0 {
			end = s.frames[depth-1].end
		}
		if pos >= end || r.bad {
			if r.bad && depth == 0 {
				return ErrMalformed
			}
			if depth == 0 {
				return ErrNotFound
			}
			f := &s.frames[depth-1]
			depth--
			r.bad = false
			pos = f.end
			if f.device && f.match {
				if nth == 0 {
					*d = f.dev
					return nil
				}
				nth--
			}
			continue
		}
		var cur *frame // the innermost Device, if the innermost block is one
		if depth > 0 && s.frames[depth-1].device {
			cur = &s.frames[depth-1]
		}
		op := r.at(pos)
		next := end // unknown terms end the block
		switch op {
		case 0x10, 0x14, 0xA0, 0xA1, 0xA2: // Scope, Method, If, Else, While
			bodyEnd, after := r.pkgLength(pos + 1)
			if bodyEnd > end || bodyEnd <= pos {
				break
			}
			next = bodyEnd
			if op == 0x10 && depth < maxDepth {
				_, body := r.nameString(after)
				s.frames[depth] = frame{end: bodyEnd}
				depth++
				next = body
			}
		case 0x5B:
			switch r.at(pos + 1) {
			case 0x82: // Device
				bodyEnd, after := r.pkgLength(pos + 2)
				if bodyEnd > end || bodyEnd <= pos {
					break
				}
				next = bodyEnd
				if depth < maxDepth {
					name, body := r.nameString(after)
					s.frames[depth] = frame{end: bodyEnd, device: true}
					s.frames[depth].dev.Name = name
					depth++
					next = body
				}
			case 0x80: // OperationRegion NameString RegionSpace RegionOffset RegionLen
				name, p := r.nameString(pos + 2)
				space := r.at(p)
				base, p, ok1 := r.integer(p + 1)
				n, p, ok2 := r.integer(p)
				if !ok1 || !ok2 {
					break
				}
				next = p
				if cur != nil && !cur.dev.HasRegion {
					cur.dev.HasRegion = true
					cur.dev.Region = Region{Name: name, Space: space, Base: base, Len: n}
				}
			case 0x81, 0x83, 0x84, 0x85, 0x86, 0x87: // Field, Processor, PowerRes, ThermalZone, IndexField, BankField
				bodyEnd, _ := r.pkgLength(pos + 2)
				if bodyEnd > end || bodyEnd <= pos {
					break
				}
				next = bodyEnd
			case 0x01: // Mutex NameString SyncFlags
				_, p := r.nameString(pos + 2)
				next = p + 1
			case 0x02: // Event NameString
				_, next = r.nameString(pos + 2)
			}
		case 0x08: // Name NameString DataRefObject
			name, p := r.nameString(pos + 1)
			dataEnd, ok := r.skipData(p, end)
			if !ok {
				break
			}
			next = dataEnd
			if cur == nil {
				break
			}
			switch name {
			case [4]byte{'_', 'H', 'I', 'D'}:
				cur.match = r.hidIs(p, hid, eisa, isEISA)
			case [4]byte{'_', 'C', 'R', 'S'}:
				if r.at(p) == 0x11 {
					r.resources(p, dataEnd, &cur.dev)
				}
			}
		case 0x15: // External NameString ObjectType ArgumentCount
			_, p := r.nameString(pos + 1)
			next = p + 2
		case 0x06: // Alias NameString NameString
			_, p := r.nameString(pos + 1)
			_, next = r.nameString(p)
		}
		if next > end {
			next = end
		}
		pos = next
	}
}

// skipData returns the offset after the constant data object at off (integer,
// string, Buffer, Package, VarPackage), and false for anything else.
func (r *amlReader) skipData(off, limit uint32) (uint32, bool) {
	if _, next, ok := r.integer(off); ok {
		return next, true
	}
	switch r.at(off) {
	case 0x0D: // String: ASCII bytes and a NUL
		for p := off + 1; p < limit; p++ {
			if r.at(p) == 0 {
				return p + 1, !r.bad
			}
		}
		return 0, false
	case 0x11, 0x12, 0x13: // Buffer, Package, VarPackage
		end, _ := r.pkgLength(off + 1)
		return end, !r.bad && end > off && end <= limit
	case 0x5B:
		if r.at(off+1) == 0x30 { // Revision
			return off + 2, true
		}
	}
	return 0, false
}

// hidIs reports whether the _HID value at off is hid.
func (r *amlReader) hidIs(off uint32, hid string, eisa uint32, isEISA bool) bool {
	if r.at(off) == 0x0D {
		for i := 0; i < len(hid); i++ {
			if r.at(off+1+uint32(i)) != hid[i] {
				return false
			}
		}
		return r.at(off+1+uint32(len(hid))) == 0
	}
	v, _, ok := r.integer(off)
	return ok && isEISA && v == uint64(eisa)
}

// eisaID compresses a seven-character ID (three letters, four hex digits) the
// way AML's EISAID() does: 5 bits a letter, then the digits, stored so that the
// little-endian DWord's bytes read in that order.
func eisaID(s string) (uint32, bool) {
	if len(s) != 7 {
		return 0, false
	}
	var l [3]uint32
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return 0, false
		}
		l[i] = uint32(s[i] - 0x40)
	}
	var h uint32
	for i := 3; i < 7; i++ {
		c := s[i]
		var d uint32
		switch {
		case c >= '0' && c <= '9':
			d = uint32(c - '0')
		case c >= 'A' && c <= 'F':
			d = uint32(c-'A') + 10
		default:
			return 0, false
		}
		h = h<<4 | d
	}
	b0 := l[0]<<2 | l[1]>>3
	b1 := (l[1]&7)<<5 | l[2]
	return b0 | b1<<8 | (h>>8)<<16 | (h&0xFF)<<24, true
}

// resources decodes the resource template in the Buffer at off (which ends at
// end): the first IRQ or Extended Interrupt descriptor and the first
// Memory32Fixed descriptor go into d.
func (r *amlReader) resources(off, end uint32, d *Device) {
	_, p := r.pkgLength(off + 1)
	_, p, ok := r.integer(p) // BufferSize
	if !ok {
		return
	}
	for p < end && !r.bad {
		tag := r.at(p)
		if tag&0x80 == 0 { // small descriptor
			typ, n := (tag>>3)&0x0F, uint32(tag&7)
			if typ == 0x0F { // End Tag
				return
			}
			if typ == 0x04 && n >= 2 && !d.HasIRQ { // IRQ: mask, optional flags
				mask := r.u16(p + 1)
				for i := uint32(0); i < 16; i++ {
					if mask&(1<<i) != 0 {
						d.HasIRQ, d.IRQ, d.IRQEdge, d.IRQActiveLow = true, i, true, false
						if n >= 3 {
							fl := r.at(p + 3)
							d.IRQEdge, d.IRQActiveLow = fl&1 != 0, fl&8 != 0
						}
						break
					}
				}
			}
			p += 1 + n
			continue
		}
		n := r.u16(p + 1)
		switch {
		case tag == 0x89 && n >= 6 && !d.HasIRQ: // Extended Interrupt
			fl := r.at(p + 3)
			if r.at(p+4) >= 1 {
				d.HasIRQ, d.IRQ = true, r.u32(p+5)
				d.IRQEdge, d.IRQActiveLow = fl&2 != 0, fl&4 != 0
			}
		case tag == 0x86 && n >= 9 && !d.HasMem: // Memory32Fixed
			d.HasMem, d.MemBase, d.MemLen = true, r.u32(p+4), r.u32(p+8)
		}
		p += 3 + n
	}
}
