// Package clock keeps time: it finds the TSC's rate, turns TSC readings into the
// monotonic clock (nanoseconds since the kernel's first instruction) and the wall
// clock, converts deadlines back to TSC values for the timer, and publishes the
// same parameters to the vDSO's data page so the program reads the clock without
// entering the kernel.
//
// Context: kernel context (boot for Calibrate and Start; any kernel path for Now
// and the conversions). No allocation; the Clock lives in kernel memory.
//
// The TSC's rate comes from, in order: KVM's pvclock (exact, and it carries the
// host's wall clock), CPUID leaf 0x15 (crystal ratio) or the hypervisor timing
// leaf 0x40000010, and last the PIT, counting the TSC over 2 ms. The wall clock
// comes from pvclock or the CMOS RTC (whole seconds).
package clock

import (
	"math/bits"

	"github.com/unigo-dev/unigo/drivers/kvmclock"
	"github.com/unigo-dev/unigo/drivers/pit"
	"github.com/unigo-dev/unigo/drivers/rtc"
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/rt/internal/vdso"
)

// Sources of the TSC rate.
const (
	SourceNone = iota
	SourceKVMClock
	SourceCPUID
	SourceHypervisorLeaf
	SourcePIT
)

// Clock is the kernel's timekeeping state.
type Clock struct {
	TSCHz  uint64
	Source uint8
	// WallSource: 1 pvclock, 2 RTC, 0 none (the wall clock starts at 1970).
	WallSource uint8
	mult       uint64 // ns per tick, 32.32 fixed point
	tsc0       uint64 // TSC at the kernel's first instruction: monotonic 0
	realOff    int64  // realtime = monotonic + realOff
	data       uintptr
	wallNs     int64 // pvclock: wall ns at wallTSC
	wallTSC    uint64
}

// Calibrate finds the TSC rate. buf is a 64-byte kernel buffer at physical
// address phys, for pvclock.
func (c *Clock) Calibrate(buf uintptr, phys uint64) {
	if kvmclock.Present() {
		hz, tsc, sysNs, wallZero := kvmclock.Read(buf, phys)
		if hz != 0 {
			c.TSCHz, c.Source = hz, SourceKVMClock
			c.wallNs, c.wallTSC, c.WallSource = wallZero+int64(sysNs), tsc, 1
			return
		}
	}
	if max, _, _, _ := x86.Cpuid(0, 0); max >= 0x15 {
		den, num, crystal, _ := x86.Cpuid(0x15, 0)
		if den != 0 && num != 0 && crystal != 0 {
			c.TSCHz, c.Source = uint64(crystal)*uint64(num)/uint64(den), SourceCPUID
			return
		}
	}
	if _, _, ecx, _ := x86.Cpuid(1, 0); ecx&(1<<31) != 0 {
		if max, _, _, _ := x86.Cpuid(0x40000000, 0); max >= 0x40000010 {
			if khz, _, _, _ := x86.Cpuid(0x40000010, 0); khz != 0 {
				c.TSCHz, c.Source = uint64(khz)*1000, SourceHypervisorLeaf
				return
			}
		}
	}
	// Five measurements of 0.5 ms (the PIT's tick is 0.17% of one), and the
	// median: a vCPU that the host stops in the middle of one (a loaded
	// host, under emulation) spoils that one only, where it would spoil a
	// single long measurement and with it every clock reading after.
	const ticks = pit.Hz / 2000
	var m [5]uint64
	for i := range m {
		if m[i] = pit.MeasureTSC(ticks); m[i] == 0 {
			break
		}
	}
	if m[len(m)-1] != 0 {
		c.TSCHz, c.Source = median5(m)*pit.Hz/ticks, SourcePIT
		return
	}
	// Nothing measures it: assume 1 GHz so time still moves forward.
	c.TSCHz, c.Source = 1_000_000_000, SourceNone
}

// median5 is the median of five values.
func median5(m [5]uint64) uint64 {
	for i := 1; i < len(m); i++ {
		for j := i; j > 0 && m[j] < m[j-1]; j-- {
			m[j], m[j-1] = m[j-1], m[j]
		}
	}
	return m[2]
}

// Start fixes monotonic zero at tsc0 (the TSC at the kernel's first instruction),
// reads the wall clock, and publishes both to the vDSO data page at the kernel
// address data.
func (c *Clock) Start(tsc0 uint64, data uintptr) {
	c.tsc0 = tsc0
	c.mult = MultFor(c.TSCHz)
	c.data = data
	switch {
	case c.WallSource == 1:
		c.realOff = c.wallNs - c.FromTSC(c.wallTSC)
	case rtc.Present():
		c.WallSource = 2
		c.realOff = rtc.Read()*1_000_000_000 - c.Now()
	}
	vdso.Publish(data, c.tsc0, c.mult, c.realOff)
}

// MultFor is the 32.32 fixed-point nanoseconds per tick for a TSC rate.
func MultFor(hz uint64) uint64 {
	hi, lo := bits.Mul64(1_000_000_000, 1<<32)
	q, _ := bits.Div64(hi, lo, hz)
	return q
}

// FromTSC converts a TSC reading to monotonic nanoseconds.
func (c *Clock) FromTSC(tsc uint64) int64 {
	hi, lo := bits.Mul64(tsc-c.tsc0, c.mult)
	return int64(hi<<32 | lo>>32)
}

// ToTSC converts monotonic nanoseconds to the TSC value when they are reached.
func (c *Clock) ToTSC(ns int64) uint64 {
	if ns <= 0 {
		return c.tsc0
	}
	hi, lo := bits.Mul64(uint64(ns), 1<<32)
	if hi >= c.mult {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, c.mult)
	return c.tsc0 + q
}

// Now is the monotonic clock in nanoseconds.
func (c *Clock) Now() int64 { return c.FromTSC(x86.Rdtsc()) }

// Realtime is the wall clock in nanoseconds since 1970.
func (c *Clock) Realtime() int64 { return c.Now() + c.realOff }

// RealOffset is realtime minus monotonic.
func (c *Clock) RealOffset() int64 { return c.realOff }
