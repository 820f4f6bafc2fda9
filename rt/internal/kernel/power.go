package kernel

import (
	"github.com/unigo-dev/unigo/drivers/acpi"
	"github.com/unigo-dev/unigo/drivers/ioapic"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/mm"
)

// The power button. On QEMU's microvm (and any hardware-reduced ACPI machine
// with one) the button is an event of the Generic Event Device: QEMU sets a bit
// in its event selector (ESEL, the first word of the GED's register region) and
// pulses the GED's interrupt line. The kernel routes that line through the
// IOAPIC to vecGED on the boot CPU; when it fires, reading ESEL returns the
// events and clears them, and a power-down event is handed to the system call
// layer (syscalls.System.PowerButton), which tells the program.
//
// Machines with the ACPI fixed power button (pc, q35: PM1 status and an SCI)
// are not handled.

// vecGED is the GED's interrupt vector.
const vecGED = 0x50

// maxIOAPICs bounds the IOAPICs the kernel drives.
const maxIOAPICs = 8

// setupPowerButton finds the GED in the ACPI tables, maps its registers and the
// IOAPICs, and routes its interrupt to this (the boot) CPU. Without a GED the
// power button does nothing and the runner's grace period ends the VM.
func setupPowerButton(k *Kernel, c *CPU) {
	in := &k.ACPI
	if !in.HasMADT {
		return
	}
	for i := 0; i < in.MADT.NumIOAPICs && k.NIOAPIC < maxIOAPICs; i++ {
		m := in.MADT.IOAPICs[i]
		a := &k.IOAPICs[k.NIOAPIC]
		a.MMIO = mapMMIO(k, uint64(m.Addr))
		a.GSIBase = m.GSIBase
		a.Init()
		k.NIOAPIC++
	}
	g := &in.GED
	if !in.HasGED || !g.HasIRQ || !g.HasRegion || g.Region.Space != acpi.SpaceSystemMemory || g.Region.Len < 4 {
		return
	}
	for i := 0; i < k.NIOAPIC; i++ {
		a := &k.IOAPICs[i]
		if !a.Has(g.IRQ) {
			continue
		}
		k.GEDSel = mapMMIO(k, g.Region.Base) + uintptr(g.Region.Base&(mm.PageSize-1))
		flags := uint32(0)
		if g.IRQActiveLow {
			flags |= ioapic.ActiveLow
		}
		if !g.IRQEdge {
			flags |= ioapic.Level
		}
		a.Route(g.IRQ, vecGED, c.APICID, flags)
		return
	}
}

// vecDevice is the first device vector: device i interrupts on vecDevice+i.
const vecDevice = 0x60

// routeDevices sends each device's interrupt line to the boot CPU, where
// takePending counts it for the device's driver (syscalls.DeviceInterrupt).
// The lines are edge-triggered: virtio raises its line when it has something
// new, and the driver acknowledges the device before it looks for more.
func routeDevices(k *Kernel, c *CPU) {
	s := &k.Sys
	for i := 0; i < s.Devices(); i++ {
		if s.DeviceKind(i) != netcall.DeviceVirtioMMIO {
			continue // PCI functions interrupt through MSI-X (pci.go)
		}
		gsi := s.DeviceIRQ(i)
		routed := false
		for j := 0; j < k.NIOAPIC && !routed; j++ {
			if a := &k.IOAPICs[j]; a.Has(gsi) {
				a.Route(gsi, uint8(vecDevice+i), c.APICID, 0)
				routed = true
			}
		}
		if !routed {
			var l klog.Line
			l.S("unigo: no IOAPIC input for device ").D(int64(i)).S("'s interrupt ").U(uint64(gsi)).Out()
		}
	}
}

// gedEvent reads and clears the GED's pending events (vecGED fired).
func gedEvent(k *Kernel) {
	if k.GEDSel == 0 {
		return
	}
	if *kmem.At[uint32](k.GEDSel)&acpi.GEDPowerDownEvent != 0 {
		k.Sys.PowerButton(k.Sys.Clock.Now())
	}
}

// mapMMIO maps the page of device registers holding phys, uncached, in the
// kernel's MMIO area, and returns its kernel address (page-aligned).
func mapMMIO(k *Kernel, phys uint64) uintptr {
	if k.mmioNext == 0 {
		k.mmioNext = mm.MMIOBase + mm.PageSize // the local APIC has the first page
	}
	va := k.mmioNext
	if !k.Sys.Mem.PT.Map(uint64(va), phys&^(mm.PageSize-1), mm.PTEWrite|mm.PTEPCD|mm.PTENoExec|mm.PTEGlobal, &k.Sys.Mem.Frames) {
		bootFail("cannot map device registers")
	}
	k.mmioNext += mm.PageSize
	return va
}
