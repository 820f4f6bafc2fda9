// Package pci finds PCI functions and prepares them for their drivers: it reads
// and writes configuration space, enumerates bus 0 and the buses behind
// PCI-to-PCI bridges, decodes and sizes base address registers (BARs), walks
// capability lists, and programs MSI-X.
//
// Context: kernel context (boot, and system calls that read a function's
// configuration space for its driver) as well as host tests. It allocates
// nothing, takes no locks, does not recurse, makes no indirect calls, and calls
// nothing but its own helpers and, in the unikernel build, internal/x86's port
// I/O. It owns no state: results go into structs the caller passes (a [Scan]
// is large enough that it belongs in kernel memory, not on a small stack), and
// it maps nothing: the caller maps the ECAM window and the pages of an MSI-X
// table and passes their kernel addresses.
//
// # Configuration access
//
// Two mechanisms, chosen by the caller through [Access]:
//
//   - ECAM (PCI Express enhanced configuration access): the function's 4 KiB
//     of configuration space is memory, at the window's base + bus<<20 +
//     device<<15 + function<<12; ACPI's MCFG says where the window is (QEMU's
//     q35 has one). The caller maps each bus's megabyte uncached before it is
//     scanned ([Scan.NextBus] says which).
//   - Configuration mechanism #1, port I/O: the address (enable bit, bus,
//     device, function, dword offset) goes to port 0xCF8 and the data moves
//     through 0xCFC to 0xCFF. QEMU's pc (i440FX) has only this, and only the
//     first 256 bytes. The two port accesses are not atomic: the caller must
//     serialize them (the kernel lock does).
//
// The accesses themselves (a load or store of the right width, or the two port
// accesses) are the only code that differs between the unikernel build
// (config_unikernel.go) and host builds, where a simulated configuration space
// that host tests install stands in for the hardware (config_host.go).
// Everything above them is the same code in both.
//
// # Enumeration
//
// [Scan] probes device 0 to 31 of each bus it is given, function 0 first and
// functions 1 to 7 only when function 0's header type says multi-function. A
// vendor ID of 0xFFFF means nothing answered. A PCI-to-PCI bridge (header type
// 1) adds its secondary bus, as the firmware numbered it, to the buses still to
// scan; each bus is scanned at most once, so a bridge that names an earlier bus
// cannot make the scan loop. The kernel scans from bus 0 (or the MCFG's first
// bus); it does not renumber buses or assign BARs: SeaBIOS does both on q35 and
// pc, and a function whose BAR it left unassigned is reported as such.
//
// # BARs
//
// A BAR is sized the classic way: write all ones, read back which address bits
// stick, restore. While that happens the function's memory and I/O decoding is
// off (the command register), so the half-written BAR never decodes an address
// that belongs to something else; the command register is restored after. A
// 64-bit memory BAR takes two slots (the second is flagged [BARUpper]); one in
// the last slot has no upper half and is flagged [BARBad].
//
// # MSI-X
//
// [EnableMSIX] points table entries at one local APIC (message address
// 0xFEE00000 | APIC ID<<12: physical destination; message data = the vector,
// fixed delivery, edge-triggered), unmasks them, enables MSI-X and disables the
// legacy INTx line; [EnableDevice] turns on memory decoding and bus mastering.
// The entries are programmed while the whole function is masked (the MSI-X
// function mask), so the device never sends a half-written message.
package pci

// Configuration-space offsets (type 0 and 1 headers) and bits.
const (
	RegVendor     = 0x00
	RegDevice     = 0x02
	RegCommand    = 0x04
	RegStatus     = 0x06
	RegRevision   = 0x08 // revision, then programming interface, subclass, class
	RegHeaderType = 0x0e
	RegBAR0       = 0x10
	RegSubVendor  = 0x2c
	RegSubsystem  = 0x2e
	RegCapPtr     = 0x34
	RegSecondary  = 0x19 // type 1: secondary bus number
	RegIntLine    = 0x3c

	CmdIO          = 1 << 0
	CmdMemory      = 1 << 1
	CmdBusMaster   = 1 << 2
	CmdINTxDisable = 1 << 10

	StatusCapList = 1 << 4

	headerMulti = 0x80
)

// Capability IDs.
const (
	CapMSI    = 0x05
	CapVendor = 0x09
	CapPCIe   = 0x10
	CapMSIX   = 0x11
)

// Addr names a function: bus, device (0 to 31), function (0 to 7).
type Addr struct {
	Bus, Dev, Fn uint8
}

// Access says how to reach configuration space.
type Access struct {
	// ECAM is the kernel address at which bus 0's configuration space would
	// start (bus b at ECAM + b<<20), or 0 for port I/O. Only buses from
	// StartBus to EndBus exist in the window.
	ECAM             uintptr
	StartBus, EndBus uint8
}

// Config reaches one function's configuration space.
type Config struct {
	// Base is the kernel address of the function's 4 KiB (ECAM), or 0 for
	// port I/O.
	Base uintptr
	Addr Addr
}

// Func returns the configuration space of the function at a, and false when
// a's bus is outside the ECAM window or its device or function number is out
// of range.
func (a *Access) Func(f Addr) (Config, bool) {
	if f.Dev > 31 || f.Fn > 7 {
		return Config{}, false
	}
	if a.ECAM == 0 {
		return Config{Addr: f}, true
	}
	if f.Bus < a.StartBus || f.Bus > a.EndBus {
		return Config{}, false
	}
	return Config{Base: a.ECAM + uintptr(f.Bus)<<20 + uintptr(f.Dev)<<15 + uintptr(f.Fn)<<12, Addr: f}, true
}

// Size is how many bytes of configuration space the function has through
// this access: 4096 through ECAM, 256 through port I/O.
func (c Config) Size() int {
	if c.Base != 0 {
		return 4096
	}
	return 256
}

// Read32 reads the dword at off (rounded down to a multiple of 4). Offsets
// past Size read as all ones, as absent registers do.
func (c Config) Read32(off uint16) uint32 {
	off &^= 3
	if int(off) >= c.Size() {
		return 0xFFFFFFFF
	}
	return read32(c, off)
}

// Read16 reads the word at off (rounded down to a multiple of 2).
func (c Config) Read16(off uint16) uint16 {
	return uint16(c.Read32(off) >> (8 * (off & 2)))
}

// Read8 reads the byte at off.
func (c Config) Read8(off uint16) uint8 {
	return uint8(c.Read32(off) >> (8 * (off & 3)))
}

// Write32 writes the dword at off (rounded down to a multiple of 4).
func (c Config) Write32(off uint16, v uint32) {
	off &^= 3
	if int(off) < c.Size() {
		write32(c, off, v)
	}
}

// Write16 writes the word at off (rounded down to a multiple of 2) alone: a
// dword write would also write its neighbour, and registers such as the
// status word clear bits written as ones.
func (c Config) Write16(off uint16, v uint16) {
	off &^= 1
	if int(off) < c.Size() {
		write16(c, off, v)
	}
}

// portAddr is the configuration mechanism #1 address of dword off of c.
func portAddr(c Config, off uint16) uint32 {
	return 1<<31 | uint32(c.Addr.Bus)<<16 | uint32(c.Addr.Dev&31)<<11 | uint32(c.Addr.Fn&7)<<8 | uint32(off&0xFC)
}

// Present says whether a function answers at c (its vendor ID is not 0xFFFF;
// 0 is not a valid vendor either).
func (c Config) Present() bool {
	v := c.Read16(RegVendor)
	return v != 0xFFFF && v != 0
}

// CapResult is what a capability search found.
type CapResult uint8

const (
	CapFound CapResult = iota
	CapNotFound
	// CapMalformed: the list points into the header or past the 256-byte
	// space, or has more entries than fit (a loop).
	CapMalformed
)

// maxCaps bounds a capability walk: 48 capabilities of 4 bytes fill the 192
// bytes after the header, so a longer list loops.
const maxCaps = 48

// FindCap returns the offset of the first capability with the given ID in c's
// list (the standard list in the first 256 bytes).
func (c Config) FindCap(id uint8) (uint16, CapResult) {
	if c.Read16(RegStatus)&StatusCapList == 0 {
		return 0, CapNotFound
	}
	p := uint16(c.Read8(RegCapPtr)) &^ 3
	for n := 0; p != 0; n++ {
		if n == maxCaps || p < 0x40 || p > 0xFC {
			return 0, CapMalformed
		}
		hdr := c.Read16(p)
		if uint8(hdr) == id {
			return p, CapFound
		}
		p = uint16(hdr>>8) &^ 3
	}
	return 0, CapNotFound
}

// PortIOPresent says whether configuration mechanism #1 reaches a host bridge:
// something answers at 0:0.0 through the ports. On a machine without the
// mechanism the data port reads as all ones.
func PortIOPresent() bool {
	c := Config{}
	return c.Present()
}
