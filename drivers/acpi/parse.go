package acpi

// Info is everything [Parse] reads. At about 4 KiB it is too big for a kernel
// stack: keep it in a global.
type Info struct {
	RSDP RSDP
	Root Root

	HasMADT bool
	MADT    MADT
	HasFADT bool
	FADT    FADT
	HasMCFG bool
	MCFG    MCFG

	HasDSDT bool
	DSDT    Table // from the FADT
	HasGED  bool
	GED     Device // the Generic Event Device, when the DSDT has one

	Scanner Scanner
}

// Parse finds the RSDP (at rsdpHint first, see [FindRSDP]), reads the root
// table, and decodes the MADT, FADT and MCFG and the DSDT's Generic Event
// Device, each when present. It fails only when no RSDP or root table is
// found; otherwise it returns the first error a present table gave (the Has
// field of that table stays false) after trying all the others.
func Parse(mem *Memory, rsdpHint uint64, in *Info) error {
	in.HasMADT, in.HasFADT, in.HasMCFG, in.HasDSDT, in.HasGED = false, false, false, false, false
	if err := FindRSDP(mem, rsdpHint, &in.RSDP); err != nil {
		return err
	}
	if err := ReadRoot(mem, &in.RSDP, &in.Root); err != nil {
		return err
	}
	var first error
	keep := func(err error) bool {
		if err != nil && first == nil {
			first = err
		}
		return err == nil
	}
	if t, ok := in.Root.Find("APIC"); ok {
		in.HasMADT = keep(ParseMADT(mem, t, &in.MADT))
	}
	if t, ok := in.Root.Find("MCFG"); ok {
		in.HasMCFG = keep(ParseMCFG(mem, t, &in.MCFG))
	}
	if t, ok := in.Root.Find("FACP"); ok {
		in.HasFADT = keep(ParseFADT(mem, t, &in.FADT))
	}
	if in.HasFADT && in.FADT.DSDT != 0 {
		var err error
		in.DSDT, err = readTable(mem, in.FADT.DSDT, in.Scanner.win[:HeaderSize])
		if err == nil && !in.DSDT.Is("DSDT") {
			err = ErrSignature
		}
		in.HasDSDT = keep(err)
	}
	if in.HasDSDT {
		err := in.Scanner.FindDevice(mem, in.DSDT, GEDHID, &in.GED)
		if e, ok := err.(Error); ok && e == errNotFound {
			err = nil
		} else {
			in.HasGED = err == nil
		}
		keep(err)
	}
	return first
}
