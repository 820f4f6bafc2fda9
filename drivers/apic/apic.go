// Package apic drives the CPU's local APIC: enabling it (x2APIC through MSRs when
// the CPU has it, xAPIC through memory-mapped registers otherwise), its one-shot
// timer (TSC-deadline mode when offered). End-of-interrupt is written by the
// kernel's interrupt entry code (rt/internal/kernel/trap_amd64.s, noteIRQ), in one
// place for every interrupt.
//
// Context: kernel context only. No state of its own: the caller keeps the mode
// and the register base in its per-CPU block and passes them in as an APIC value.
// The IOAPIC and MSI-X come with device interrupts.
package apic

import "github.com/unigo-dev/unigo/internal/x86"

// APIC is one CPU's local APIC as the kernel reaches it.
type APIC struct {
	X2       bool    // x2APIC mode: registers are MSRs 0x800+reg/16
	MMIO     uintptr // xAPIC mode: kernel address of the 4 KiB register page
	Deadline bool    // the timer runs in TSC-deadline mode
}

// Register offsets (xAPIC layout; the x2APIC MSR is 0x800 + offset/16).
const (
	regID      = 0x20
	regSVR     = 0xF0
	regLVTTmr  = 0x320
	regInitCnt = 0x380
	regCurCnt  = 0x390
	regDivide  = 0x3E0
)

const (
	msrAPICBase    = 0x1B
	msrTSCDeadline = 0x6E0
	baseEnable     = 1 << 11
	baseX2         = 1 << 10
	lvtMasked      = 1 << 16
	lvtTSCDeadline = 2 << 17
	svrEnable      = 1 << 8
	// PhysBase is where the xAPIC registers are, unless firmware moved them.
	PhysBase = 0xFEE00000
)

// Features reports what CPUID offers: x2APIC and the TSC-deadline timer.
func Features() (x2, deadline bool) {
	_, _, c, _ := x86.Cpuid(1, 0)
	return c&(1<<21) != 0, c&(1<<24) != 0
}

func (a *APIC) read(reg uint32) uint32 {
	if a.X2 {
		return uint32(x86.Rdmsr(0x800 + reg/16))
	}
	return *(*uint32)(ptr(a.MMIO + uintptr(reg)))
}

func (a *APIC) write(reg, v uint32) {
	if a.X2 {
		x86.Wrmsr(0x800+reg/16, uint64(v))
		return
	}
	*(*uint32)(ptr(a.MMIO + uintptr(reg))) = v
}

// Enable turns the APIC on (in x2APIC mode if a.X2) with spurious vector
// spurious and the timer masked on vector timer.
func (a *APIC) Enable(spurious, timer uint8) {
	base := x86.Rdmsr(msrAPICBase) | baseEnable
	if a.X2 {
		base |= baseX2
	}
	x86.Wrmsr(msrAPICBase, base)
	a.write(regSVR, svrEnable|uint32(spurious))
	mode := uint32(0) // one-shot
	if a.Deadline {
		mode = lvtTSCDeadline
	}
	a.write(regDivide, 0xB) // divide by 1
	a.write(regLVTTmr, mode|uint32(timer))
}

// ID is this CPU's APIC ID.
func (a *APIC) ID() uint32 {
	if a.X2 {
		return a.read(regID)
	}
	return a.read(regID) >> 24
}

// ArmDeadline makes the timer fire when the TSC reaches tsc (TSC-deadline mode);
// 0 disarms it.
func (a *APIC) ArmDeadline(tsc uint64) { x86.Wrmsr(msrTSCDeadline, tsc) }

// ArmCount makes the one-shot timer fire after count APIC timer ticks; 0 disarms.
func (a *APIC) ArmCount(count uint32) { a.write(regInitCnt, count) }

// Count reads the one-shot timer's current count.
func (a *APIC) Count() uint32 { return a.read(regCurCnt) }

// Interrupt command register: the xAPIC's low and high halves, the x2APIC's
// one 64-bit MSR.
const (
	regICRLow     = 0x300
	regICRHigh    = 0x310
	msrICR        = 0x830
	icrPending    = 1 << 12
	icrInit       = 5 << 8
	icrStartup    = 6 << 8
	icrAssert     = 1 << 14
	icrLevel      = 1 << 15
	icrDeassert   = 0
	xapicDestBits = 24
)

// sendICR writes the interrupt command register. In xAPIC mode the destination
// goes in the high half first (the write to the low half sends) and the send
// is complete when the delivery-status bit clears.
func (a *APIC) sendICR(dest uint32, low uint32) {
	if a.X2 {
		x86.Wrmsr(msrICR, uint64(dest)<<32|uint64(low))
		return
	}
	a.write(regICRHigh, dest<<xapicDestBits)
	a.write(regICRLow, low)
	for a.read(regICRLow)&icrPending != 0 {
		x86.Pause()
	}
}

// SendIPI sends a fixed interrupt on vector to the CPU whose APIC ID is dest.
func (a *APIC) SendIPI(dest uint32, vector uint8) { a.sendICR(dest, uint32(vector)) }

// SendInit sends INIT (assert, then the level de-assert older APICs need) to
// dest: the first step of starting an application processor.
func (a *APIC) SendInit(dest uint32) {
	a.sendICR(dest, icrInit|icrLevel|icrAssert)
	a.sendICR(dest, icrInit|icrLevel|icrDeassert)
}

// SendStartup sends a start-up IPI: dest begins executing in real mode at
// physical address page<<12 (page < 256).
func (a *APIC) SendStartup(dest uint32, page uint8) { a.sendICR(dest, icrStartup|uint32(page)) }
