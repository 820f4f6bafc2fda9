// Package acpi reads the firmware's ACPI tables: it finds the RSDP, walks the
// RSDT or XSDT, and decodes the few tables a unikernel acts on: the MADT (CPUs,
// I/O APICs, interrupt source overrides), the MCFG (PCI Express ECAM windows),
// the FADT (hardware-reduced flag, SCI, PM1 blocks, DSDT, reset register), and,
// in the DSDT, the devices it needs from AML, above all QEMU's Generic Event
// Device (see [Scanner.FindDevice] and [GEDPowerDownEvent]).
//
// It owns no hardware and no state: every function reads guest-physical memory
// only through the [Memory] the caller passes, and writes only into the result
// struct the caller passes. Nothing is ever written to the tables.
//
// Context: kernel context (boot, before the Go runtime runs) as well as host
// tests. It allocates nothing, takes no locks, does not recurse, and calls
// nothing but [Memory.Read] and its own helpers. Results live in fixed-size
// arrays inside the caller's structs; whatever does not fit is counted, not
// stored. Those structs carry a scratch buffer that Read fills, so they should
// live in kernel-owned memory (a global) rather than on a small stack. Errors
// are the package's [Error] values, never built at run time.
//
// # The DSDT scanner is not an interpreter
//
// [Scanner.FindDevice] walks the AML byte encodings of the DSDT far enough to see the
// shape QEMU emits: Scope and Device blocks (by their PkgLength), Name objects
// with constant data, OperationRegion with constant offset and length, and it
// skips Method, Field, If and the like whole. It evaluates nothing. A term it
// does not know ends the walk of the enclosing scope only (the scanner jumps to
// that scope's end), so an unusual construct costs at most the rest of one
// block.
//
// # QEMU's Generic Event Device (microvm)
//
// QEMU's microvm is hardware-reduced: no PM1 blocks, no SCI. Its power button
// is the Generic Event Device, in the DSDT as \_SB.GED_ with _HID "ACPI0013",
// a _CRS holding one Extended Interrupt descriptor (QEMU 7.2: GSI 9, edge,
// active high, on the first I/O APIC; microvm's MADT has no source overrides),
// and OperationRegion EREG in SystemMemory at 0xFEA00000, length 4, whose
// DWord field ESEL is the event selector (testdata has the real tables).
//
// What the device does, read in QEMU's hw/acpi/generic_event_device.c
// (acpi_ged_send_event, ged_evt_read, ged_evt_write; a snapshot of QEMU's
// repository, not the v7.2.0 tag itself: the addresses and values here were
// checked against the real 7.2 tables in testdata instead): an event ORs its bit into
// the selector (memory hotplug 1, power down [GEDPowerDownEvent] = 2, NVDIMM
// hotplug 4) and pulses the interrupt (qemu_irq_pulse: an edge, nothing stays
// asserted). A 4-byte read of ESEL returns the selector and clears it to zero:
// the read is the acknowledgement. Writes to ESEL are ignored, so there is
// nothing to write back; accesses other than 4 bytes wide are invalid. A guest
// therefore handles the interrupt with one 32-bit load from the EREG base,
// acts on every bit set, and sends the I/O APIC EOI as for any edge interrupt.
// Events that arrive between pulses accumulate in the selector until that read.
// (The FADT's sleep control, sleep status and reset registers are a second GED
// region, at 0xFEA00200 on QEMU 7.2: writing SLP_TYP 5 with SLP_EN, the byte
// 0x34, to sleep control powers off; writing the FADT's reset value, 0x42, to
// the reset register resets.)
//
// # PC machines (pc, q35)
//
// There the power button is the PM1 fixed event PWRBTN: the FADT gives the
// PM1a event block (status, then enable, each [FADT.PM1EventLen]/2 bytes) and
// control block, and the SCI. The guest enables PWRBTN_EN, and if SCI_EN is
// clear in PM1 control it writes [FADT.ACPIEnable] to the SMI command port
// first; on the SCI it reads PM1 status and writes PWRBTN_STS back (write one
// to clear). See [PM1PowerButton] and [PM1ControlSCIEnable].
package acpi

// Memory is guest-physical memory as the caller reaches it: up to four windows,
// each a physical range and the address where the caller sees it (the kernel's
// identity or direct map; a test's byte slice). A concrete type, not an
// interface: the kernel parses in kernel context, where an indirect call is not
// allowed (ARCHITECTURE.md, decision 5).
type Memory struct {
	win [4]window
	n   int
}

type window struct {
	phys, size uint64
	addr       uintptr
}

// Add makes [phys, phys+size) readable at addr. false: no room for another
// window.
func (m *Memory) Add(phys uint64, addr uintptr, size uint64) bool {
	if m.n == len(m.win) {
		return false
	}
	m.win[m.n] = window{phys: phys, size: size, addr: addr}
	m.n++
	return true
}

// Read fills all of dst from phys onward, or reports false when any of it is
// outside the windows.
func (m *Memory) Read(phys uint64, dst []byte) bool {
	for i := 0; i < m.n; i++ {
		w := &m.win[i]
		if phys >= w.phys && phys-w.phys <= w.size && uint64(len(dst)) <= w.size-(phys-w.phys) {
			copy(dst, bytesAt(w.addr+uintptr(phys-w.phys), len(dst)))
			return true
		}
	}
	return false
}

// Error is the package's error type: a small number, so that returning one
// builds nothing at run time.
type Error uint8

// errNotFound is ErrNotFound's value, for comparisons by type assertion (an
// interface comparison calls the runtime, which kernel context may not).
const errNotFound Error = 6

// The errors the package returns.
var (
	ErrNoRSDP    error = Error(1)    // no RSDP at the hint nor in 0xE0000-0xFFFFF
	ErrRead      error = Error(2)    // Memory.Read failed: the table runs out of memory
	ErrChecksum  error = Error(3)    // a table's bytes do not sum to zero
	ErrSignature error = Error(4)    // a table has not the signature it was looked up by
	ErrLength    error = Error(5)    // a length field is too small or absurdly large
	ErrNotFound  error = errNotFound // no such table, or no such device in the DSDT
	ErrMalformed error = Error(7)    // an entry runs past its table's end
	ErrNoRootSDT error = Error(8)    // the RSDP names neither an RSDT nor an XSDT that is valid
)

func (e Error) Error() string {
	switch e {
	case 1:
		return "acpi: no RSDP found"
	case 2:
		return "acpi: table lies outside readable memory"
	case 3:
		return "acpi: bad checksum"
	case 4:
		return "acpi: wrong table signature"
	case 5:
		return "acpi: bad table length"
	case 6:
		return "acpi: not found"
	case 7:
		return "acpi: malformed table entry"
	case 8:
		return "acpi: no valid RSDT or XSDT"
	}
	return "acpi: unknown error"
}

// HeaderSize is the size of the common table header (signature, length,
// revision, checksum, OEM fields, creator fields).
const HeaderSize = 36

// maxTableLen bounds a table's length field; a larger one is taken as garbage.
const maxTableLen = 1 << 24

// Table is a table the root table lists, as its header describes it.
type Table struct {
	Signature [4]byte
	Addr      uint64
	Length    uint32
	Revision  uint8
}

// Is reports whether t's signature is sig (four characters).
func (t *Table) Is(sig string) bool {
	return len(sig) == 4 && t.Signature[0] == sig[0] && t.Signature[1] == sig[1] &&
		t.Signature[2] == sig[2] && t.Signature[3] == sig[3]
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

// sum adds length bytes from addr, reading through buf.
func sum(mem *Memory, addr uint64, length uint32, buf []byte) (uint8, bool) {
	var s uint8
	for length > 0 {
		n := uint32(len(buf))
		if n > length {
			n = length
		}
		if !mem.Read(addr, buf[:n]) {
			return 0, false
		}
		for _, b := range buf[:n] {
			s += b
		}
		addr += uint64(n)
		length -= n
	}
	return s, true
}

// readTable reads and checks the header at addr: its length is sane, the whole
// table is readable, and its bytes sum to zero. buf must hold HeaderSize bytes.
func readTable(mem *Memory, addr uint64, buf []byte) (Table, error) {
	var t Table
	t.Addr = addr
	if addr == 0 || !mem.Read(addr, buf[:HeaderSize]) {
		return t, ErrRead
	}
	copy(t.Signature[:], buf[:4])
	t.Length = le32(buf[4:])
	t.Revision = buf[8]
	if t.Length < HeaderSize || t.Length > maxTableLen {
		return t, ErrLength
	}
	s, ok := sum(mem, addr, t.Length, buf)
	if !ok {
		return t, ErrRead
	}
	if s != 0 {
		return t, ErrChecksum
	}
	return t, nil
}

// ReadTable reads and checks the table at addr (length and checksum) and, if
// sig is not empty, its signature. It is how tables the root does not list
// are reached (the DSDT, from [FADT.DSDT]).
func ReadTable(mem *Memory, addr uint64, sig string, buf *[HeaderSize]byte) (Table, error) {
	t, err := readTable(mem, addr, buf[:])
	if err != nil {
		return t, err
	}
	if sig != "" && !t.Is(sig) {
		return t, ErrSignature
	}
	return t, nil
}
