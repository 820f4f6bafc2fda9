package pci

import "unsafe"

// MSI-X message control bits (capability offset 2).
const (
	msixEnable   = 1 << 15
	msixFuncMask = 1 << 14
)

// MSI-X message address and data for a fixed, edge-triggered interrupt to one
// local APIC in physical destination mode (Intel SDM vol. 3, 11.11).
const msiAddrBase = 0xFEE00000

// EnableMSIX programs the first n entries of f's MSI-X table (at the kernel
// address table, where the caller mapped it uncached) to send vector to the
// local APIC apicID, unmasks them, enables MSI-X and disables INTx. The other
// entries stay masked. It returns false, changing nothing, when f has no MSI-X
// capability, n is out of range, or apicID does not fit the message address
// (above 255: that needs interrupt remapping).
func EnableMSIX(c Config, f *Func, table uintptr, n int, apicID uint32, vector uint8) bool {
	if f.MSIXCap == 0 || n < 1 || n > int(f.MSIXSize) || apicID > 255 {
		return false
	}
	ctl := c.Read16(f.MSIXCap + 2)
	// Enabled with the whole function masked while the entries change.
	c.Write16(f.MSIXCap+2, ctl|msixEnable|msixFuncMask)
	for i := 0; i < int(f.MSIXSize); i++ {
		e := table + uintptr(i)*16
		if i >= n {
			store32(e+12, load32(e+12)|1) // masked
			continue
		}
		store32(e+12, 1)
		store32(e+0, msiAddrBase|apicID<<12)
		store32(e+4, 0)
		store32(e+8, uint32(vector)) // fixed delivery, edge
		store32(e+12, 0)             // unmasked
	}
	cmd := c.Read16(RegCommand)
	c.Write16(RegCommand, cmd|CmdINTxDisable)
	c.Write16(f.MSIXCap+2, (ctl|msixEnable)&^msixFuncMask)
	return true
}

// EnableDevice turns on f's memory decoding and bus mastering (DMA), and its
// I/O decoding when it has an I/O BAR.
func EnableDevice(c Config, f *Func) {
	cmd := c.Read16(RegCommand) | CmdMemory | CmdBusMaster
	for i := range f.BARs {
		if f.BARs[i].Flags&BARIO != 0 && f.BARs[i].Size != 0 {
			cmd |= CmdIO
		}
	}
	c.Write16(RegCommand, cmd)
}

func load32(a uintptr) uint32     { return *(*uint32)(ptr(a)) }
func store32(a uintptr, v uint32) { *(*uint32)(ptr(a)) = v }

// ptr turns the kernel address of mapped registers into a pointer (see
// rt/internal/kmem.Pointer for why it goes through memory; not inlined, as
// drivers/acpi explains).
//
//go:noinline
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
