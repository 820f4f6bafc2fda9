// Package ioapic drives I/O APICs: the interrupt controllers that turn a
// device's interrupt line (a global system interrupt, GSI, numbered as ACPI's
// MADT does) into a message to a local APIC, with a vector.
//
// Context: kernel context only. No state of its own: the caller keeps each
// IOAPIC's register window (mapped uncached) and GSI base, as an IOAPIC value,
// in kernel memory. May call nothing but its own register accesses.
package ioapic

import "unsafe"

// IOAPIC is one I/O APIC as the kernel reaches it.
type IOAPIC struct {
	MMIO    uintptr // kernel address of its registers (IOREGSEL at 0, IOWIN at 0x10)
	GSIBase uint32  // the GSI of its first input
	Inputs  uint32  // how many inputs it has (Init reads it)
}

// Register indexes and redirection-entry bits.
const (
	regVersion  = 0x01
	regRedirect = 0x10 // entry n: low half at 0x10+2n, high half at 0x11+2n

	// ActiveLow and Level describe the line (ACPI's interrupt flags say
	// which); the default is edge-triggered, active high.
	ActiveLow = 1 << 13
	Level     = 1 << 15
	masked    = 1 << 16
)

func (a *IOAPIC) read(reg uint32) uint32 {
	*(*uint32)(ptr(a.MMIO)) = reg
	return *(*uint32)(ptr(a.MMIO + 0x10))
}

func (a *IOAPIC) write(reg, v uint32) {
	*(*uint32)(ptr(a.MMIO)) = reg
	*(*uint32)(ptr(a.MMIO + 0x10)) = v
}

// Init reads how many inputs the IOAPIC has and masks them all: only the
// interrupts the kernel routes (Route) reach a CPU.
func (a *IOAPIC) Init() {
	a.Inputs = a.read(regVersion)>>16&0xFF + 1
	for i := uint32(0); i < a.Inputs; i++ {
		a.write(regRedirect+2*i, masked)
	}
}

// Has says whether gsi is one of this IOAPIC's inputs.
func (a *IOAPIC) Has(gsi uint32) bool { return gsi >= a.GSIBase && gsi-a.GSIBase < a.Inputs }

// Route sends gsi to the local APIC apicID as vector (fixed delivery, physical
// destination), with the line's polarity and trigger mode in flags, unmasked.
func (a *IOAPIC) Route(gsi uint32, vector uint8, apicID uint32, flags uint32) {
	n := gsi - a.GSIBase
	a.write(regRedirect+2*n, masked) // masked while it changes
	a.write(regRedirect+2*n+1, apicID<<24)
	a.write(regRedirect+2*n, uint32(vector)|flags&(ActiveLow|Level))
}

// Mask stops gsi from interrupting.
func (a *IOAPIC) Mask(gsi uint32) {
	n := gsi - a.GSIBase
	a.write(regRedirect+2*n, a.read(regRedirect+2*n)|masked)
}

// ptr turns the kernel address of device registers into a pointer (see
// rt/internal/kmem.Pointer for why it goes through memory).
func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
