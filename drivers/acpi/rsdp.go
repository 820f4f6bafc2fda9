package acpi

// The area the BIOS leaves the RSDP in, searched on 16-byte boundaries.
const (
	BIOSAreaStart = 0xE0000
	BIOSAreaEnd   = 0x100000
)

// RSDP is the Root System Description Pointer.
type RSDP struct {
	Addr     uint64 // where it was found
	FromHint bool   // found at the address the caller gave, not by the scan
	Revision uint8  // 0 for ACPI 1.0 (RSDT only), 2 and up for XSDT
	OEMID    [6]byte
	RSDTAddr uint32
	XSDTAddr uint64 // 0 when Revision < 2
	buf      [64]byte
}

func (r *RSDP) reset() {
	r.Addr, r.FromHint, r.Revision, r.OEMID, r.RSDTAddr, r.XSDTAddr = 0, false, 0, [6]byte{}, 0, 0
}

// rsdpAt checks for a valid RSDP at addr: signature, the 20-byte checksum, and
// for revision 2 and later the length and the extended checksum.
// It fills r, through r.buf.
func rsdpAt(mem *Memory, addr uint64, r *RSDP) bool {
	buf := &r.buf
	r.reset()
	if !mem.Read(addr, buf[:20]) || string(buf[:8]) != "RSD PTR " {
		return false
	}
	var s uint8
	for _, b := range buf[:20] {
		s += b
	}
	if s != 0 {
		return false
	}
	r.Addr = addr
	r.Revision = buf[15]
	copy(r.OEMID[:], buf[9:15])
	r.RSDTAddr = le32(buf[16:])
	if r.Revision < 2 {
		return true
	}
	if !mem.Read(addr+20, buf[20:36]) {
		return false
	}
	n := le32(buf[20:])
	if n < 36 || n > uint32(len(buf)) || !mem.Read(addr+36, buf[36:n]) {
		return false
	}
	s = 0
	for _, b := range buf[:n] {
		s += b
	}
	if s != 0 {
		return false
	}
	r.XSDTAddr = le64(buf[24:])
	return true
}

// FindRSDP finds the RSDP: at hint when hint is not 0 and a valid RSDP is
// there (PVH loaders pass one in hvm_start_info.rsdp_paddr), else by scanning
// [BIOSAreaStart, BIOSAreaEnd) on 16-byte boundaries for "RSD PTR " with valid
// checksums. The EBDA is not searched.
func FindRSDP(mem *Memory, hint uint64, r *RSDP) error {
	if hint != 0 && rsdpAt(mem, hint, r) {
		r.FromHint = true
		return nil
	}
	for a := uint64(BIOSAreaStart); a < BIOSAreaEnd; a += 16 {
		if !mem.Read(a, r.buf[:8]) || string(r.buf[:8]) != "RSD PTR " {
			continue
		}
		if rsdpAt(mem, a, r) {
			return nil
		}
	}
	r.reset()
	return ErrNoRSDP
}

// MaxTables is how many tables a [Root] keeps.
const MaxTables = 32

// Root is the RSDT or XSDT and the tables it lists.
type Root struct {
	XSDT   bool   // the entries are the XSDT's 64-bit ones
	Addr   uint64 // the RSDT's or XSDT's address
	Tables [MaxTables]Table
	Count  int // entries in Tables
	// Entries is how many entries the root lists. Those beyond MaxTables, and
	// those whose table is unreadable or fails its checksum, are not in
	// Tables; Invalid counts the latter.
	Entries int
	Invalid int
	buf     [HeaderSize]byte
}

// ReadRoot reads the root table the RSDP names, the XSDT when there is a valid
// one and otherwise the RSDT, and the header of every table it lists.
func ReadRoot(mem *Memory, rsdp *RSDP, root *Root) error {
	root.XSDT, root.Addr, root.Count, root.Entries, root.Invalid = false, 0, 0, 0, 0
	var t Table
	err := ErrNoRootSDT
	if rsdp.Revision >= 2 && rsdp.XSDTAddr != 0 {
		t, err = readTable(mem, rsdp.XSDTAddr, root.buf[:])
		if err == nil && !t.Is("XSDT") {
			err = ErrSignature
		}
		root.XSDT = err == nil
	}
	if err != nil && rsdp.RSDTAddr != 0 {
		t, err = readTable(mem, uint64(rsdp.RSDTAddr), root.buf[:])
		if err == nil && !t.Is("RSDT") {
			err = ErrSignature
		}
	}
	if err != nil {
		return err
	}
	root.Addr = t.Addr
	size := uint64(4)
	if root.XSDT {
		size = 8
	}
	n := uint64(t.Length-HeaderSize) / size
	root.Entries = int(n)
	for i := uint64(0); i < n; i++ {
		if !mem.Read(t.Addr+HeaderSize+i*size, root.buf[:size]) {
			return ErrRead
		}
		a := uint64(le32(root.buf[:]))
		if root.XSDT {
			a = le64(root.buf[:])
		}
		e, err := readTable(mem, a, root.buf[:])
		if err != nil {
			root.Invalid++
			continue
		}
		if root.Count < MaxTables {
			root.Tables[root.Count] = e
			root.Count++
		}
	}
	return nil
}

// Find returns the first listed table with signature sig ("APIC", "FACP",
// "MCFG", ...).
func (root *Root) Find(sig string) (Table, bool) {
	for i := 0; i < root.Count; i++ {
		if root.Tables[i].Is(sig) {
			return root.Tables[i], true
		}
	}
	return Table{}, false
}
