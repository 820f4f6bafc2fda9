//go:build !unikernel

package pci

// Outside the unikernel there is no configuration space to reach: host tests
// install a simulated one (space), and without one every function is absent
// (all ones), so a scan finds nothing.

// space is a simulated configuration space, for host tests.
type space interface {
	Read32(c Config, off uint16) uint32
	Write32(c Config, off uint16, v uint32)
	Write16(c Config, off uint16, v uint16)
}

var hostSpace space

func read32(c Config, off uint16) uint32 {
	if hostSpace == nil {
		return 0xFFFFFFFF
	}
	return hostSpace.Read32(c, off)
}

func write32(c Config, off uint16, v uint32) {
	if hostSpace != nil {
		hostSpace.Write32(c, off, v)
	}
}

func write16(c Config, off uint16, v uint16) {
	if hostSpace != nil {
		hostSpace.Write16(c, off, v)
	}
}
