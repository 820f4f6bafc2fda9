package kernel

import (
	"github.com/unigo-dev/unigo/drivers/pci"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/klog"
	"github.com/unigo-dev/unigo/rt/internal/mm"
)

// PCI (QEMU's q35 and pc). At boot the kernel enumerates the PCI functions
// (drivers/pci): through the ECAM window ACPI's MCFG describes (q35), else
// through configuration mechanism #1's ports when a host bridge answers there
// (pc), else not at all (microvm). Each virtio function (vendor 0x1af4) whose
// memory BARs the firmware assigned joins the device table (netcall.DevicePCI)
// with memory decoding and bus mastering on and MSI-X enabled: every entry of
// its table sends vector vecDevice+index to the boot CPU, the same vector the
// device table's other kinds use, so takePending wakes its driver the same way.
// One vector for all of a device's queues is enough for drivers that look at
// every queue when woken (drivers/virtio's), and costs no more vectors than a
// virtio-mmio device's one line. A function without MSI-X is skipped: INTx
// would need the DSDT's _PRT routing, which the kernel does not read.
//
// The ECAM window is mapped uncached one bus (1 MiB) at a time, as the scan
// reaches each bus, at ecamVA + bus<<20, and stays mapped: the driver's
// SysPCIConfig reads configuration space through it later.

// ecamVA is where the ECAM window is mapped: bus 0's space would start here.
const ecamVA = mm.MMIOBase + 1<<36

// virtioVendor is the PCI vendor ID of virtio devices.
const virtioVendor = 0x1af4

// findPCI enumerates PCI and adds the virtio functions to the device table.
func findPCI(k *Kernel, c *CPU) {
	var acc pci.Access
	in := &k.ACPI
	ecamPhys := uint64(0)
	switch {
	case in.HasMCFG && in.MCFG.Num > 0 && in.MCFG.Windows[0].Segment == 0:
		w := &in.MCFG.Windows[0]
		acc = pci.Access{ECAM: ecamVA, StartBus: w.StartBus, EndBus: w.EndBus}
		ecamPhys = w.Base
	case pci.PortIOPresent():
	default:
		return
	}
	k.PCIAccess = acc
	sc := &k.PCI
	sc.Start(acc.StartBus)
	for {
		bus, ok := sc.NextBus()
		if !ok {
			break
		}
		if acc.ECAM != 0 && bus >= acc.StartBus && bus <= acc.EndBus {
			for off := uint64(0); off < 1<<20; off += mm.PageSize {
				va := uint64(ecamVA) + uint64(bus)<<20 + off
				if !k.Sys.Mem.PT.Map(va, ecamPhys+uint64(bus)<<20+off, mm.PTEWrite|mm.PTEPCD|mm.PTENoExec|mm.PTEGlobal, &k.Sys.Mem.Frames) {
					bootFail("cannot map PCI configuration space")
				}
			}
		}
		sc.Bus(&acc, bus)
	}
	if sc.Dropped > 0 || sc.SkippedBuses > 0 {
		var l klog.Line
		l.S("unigo: pci: ").D(int64(sc.Dropped)).S(" functions and ").D(int64(sc.SkippedBuses)).
			S(" buses beyond what the kernel scans were left out").Out()
	}
	for i := 0; i < sc.N; i++ {
		if f := &sc.Funcs[i]; f.Vendor == virtioVendor && f.Header == 0 {
			addVirtioPCI(k, c, &acc, f)
		}
	}
}

// addVirtioPCI enables f with MSI-X to the boot CPU and adds it to the device
// table, or says why not.
func addVirtioPCI(k *Kernel, c *CPU, acc *pci.Access, f *pci.Func) {
	s := &k.Sys
	cfg, _ := acc.Func(f.Addr)
	pci.Probe(cfg, f)
	for b := range f.BARs {
		if bar := &f.BARs[b]; bar.Size != 0 && bar.Flags&pci.BARIO == 0 && !bar.Assigned() {
			skipPCI(f, "memory BAR ", b, " has no address (the firmware did not assign it)")
			return
		}
	}
	switch {
	case f.Caps == pci.CapMalformed:
		skipPCI(f, "its capability list is malformed", -1, "")
		return
	case f.MSIXCap == 0:
		skipPCI(f, "it has no MSI-X (INTx is not supported)", -1, "")
		return
	}
	tb := &f.BARs[f.MSIXBAR()]
	if !tb.Assigned() || tb.Flags&pci.BARIO != 0 || f.MSIXOffset()+uint64(f.MSIXTableBytes()) > tb.Size {
		skipPCI(f, "its MSI-X table is outside memory BAR ", f.MSIXBAR(), "")
		return
	}
	idx := s.Devices()
	if idx == s.MaxDevices() {
		skipPCI(f, "the device table is full", -1, "")
		return
	}
	vector := uint8(vecDevice + idx)
	// The table's pages, mapped uncached in a row.
	phys := tb.Phys + f.MSIXOffset()
	first := phys &^ (mm.PageSize - 1)
	va := mapMMIO(k, first)
	for p := first + mm.PageSize; p < phys+uint64(f.MSIXTableBytes()); p += mm.PageSize {
		mapMMIO(k, p)
	}
	if !pci.EnableMSIX(cfg, f, va+uintptr(phys-first), int(f.MSIXSize), c.APICID, vector) {
		skipPCI(f, "its MSI-X cannot reach the boot CPU (APIC ID above 255)", -1, "")
		return
	}
	pci.EnableDevice(cfg, f)
	info := netcall.Device{Kind: netcall.DevicePCI, IRQ: uint32(vector), Size: uint64(cfg.Size())}
	if acc.ECAM != 0 {
		info.Phys = uint64(k.ACPI.MCFG.Windows[0].Base) + uint64(cfg.Base-acc.ECAM)
	}
	p := &info.PCI
	p.Bus, p.Dev, p.Fn = f.Addr.Bus, f.Addr.Dev, f.Addr.Fn
	p.Vendor, p.DeviceID, p.Class = f.Vendor, f.Device, f.Class
	p.MSIXEntries = uint32(f.MSIXSize)
	for b := range f.BARs {
		p.BARs[b] = netcall.BAR{Phys: f.BARs[b].Phys, Size: f.BARs[b].Size, Flags: f.BARs[b].Flags}
	}
	s.AddPCIDevice(&info, cfg)
}

// skipPCI says why a virtio function gets no driver: why, then BAR n (n >=
// 0) and more.
func skipPCI(f *pci.Func, why string, n int, more string) {
	var l klog.Line
	pciID(pciName(l.S("unigo: pci: "), f.Addr.Bus, f.Addr.Dev, f.Addr.Fn).S(" "), f.Vendor, f.Device).
		S(" skipped: ").S(why)
	if n >= 0 {
		l.D(int64(n)).S(more)
	}
	l.Out()
}

// pciID appends vendor:device as lspci writes it.
func pciID(l *klog.Line, vendor, device uint16) *klog.Line {
	return hex2(hex2(hex2(hex2(l, uint8(vendor>>8)), uint8(vendor)).S(":"), uint8(device>>8)), uint8(device))
}

// pciName appends bus:device.function as lspci writes it (hex, two digits).
func pciName(l *klog.Line, bus, dev, fn uint8) *klog.Line {
	return hex2(hex2(l, bus).S(":"), dev).S(".").U(uint64(fn))
}

func hex2(l *klog.Line, v uint8) *klog.Line {
	const digits = "0123456789abcdef"
	return l.S(digits[v>>4 : v>>4+1]).S(digits[v&15 : v&15+1])
}

// logDevice describes device i for unigo.bootlog.
func logDevice(k *Kernel, i int) {
	s := &k.Sys
	var l klog.Line
	l.S("unigo: boot: device ").D(int64(i)).S(": ")
	d := s.DeviceInfo(i)
	if d.Kind != netcall.DevicePCI {
		l.S("virtio-mmio at ").X(d.Phys).S(", interrupt ").U(uint64(d.IRQ)).Out()
		return
	}
	p := &d.PCI
	pciID(pciName(l.S("PCI "), p.Bus, p.Dev, p.Fn).S(" "), p.Vendor, p.DeviceID).S(", MSI-X vector ").X(uint64(d.IRQ)).
		S(" (").U(uint64(p.MSIXEntries)).S(" entries), configuration through ")
	if d.Phys != 0 {
		l.S("ECAM")
	} else {
		l.S("ports")
	}
	for b := range p.BARs {
		if bar := &p.BARs[b]; bar.Size != 0 && bar.Flags&netcall.BARUpper == 0 {
			l.S(", BAR ").D(int64(b)).S(" ").X(bar.Phys).S("+").X(bar.Size)
		}
	}
	l.Out()
}
