//go:build unikernel

package pci

import "github.com/unigo-dev/unigo/internal/x86"

// The hardware accesses (see the package comment). Through ECAM each is one
// load or store of its width on the uncached mapping; through ports, the
// address goes to 0xCF8 and the data through 0xCFC + the byte offset.

const (
	portAddress = 0xCF8
	portData    = 0xCFC
)

func read32(c Config, off uint16) uint32 {
	if c.Base != 0 {
		return *(*uint32)(ptr(c.Base + uintptr(off)))
	}
	x86.Outl(portAddress, portAddr(c, off))
	return x86.Inl(portData)
}

func write32(c Config, off uint16, v uint32) {
	if c.Base != 0 {
		*(*uint32)(ptr(c.Base + uintptr(off))) = v
		return
	}
	x86.Outl(portAddress, portAddr(c, off))
	x86.Outl(portData, v)
}

func write16(c Config, off uint16, v uint16) {
	if c.Base != 0 {
		*(*uint16)(ptr(c.Base + uintptr(off))) = v
		return
	}
	x86.Outl(portAddress, portAddr(c, off))
	x86.Outw(portData+(off&2), v)
}
