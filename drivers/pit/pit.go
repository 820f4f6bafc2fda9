// Package pit drives the i8254 programmable interval timer, only to measure the
// TSC's rate when nothing better says it (no kvmclock, no CPUID frequency leaf):
// channel 0 counts down at 1.193182 MHz while the kernel reads the TSC, and the
// TSC ticks that pass in a known number of PIT ticks give its rate.
//
// Channel 0, not the usual channel 2: channel 2's gate and output live in port
// 0x61, which QEMU's microvm machine does not have. Channel 0's interrupt line is
// masked at both interrupt controllers while this runs (the kernel masks them
// first), so counting raises nothing.
//
// Context: kernel context only (port I/O), at boot. No state.
package pit

import "github.com/unigo-dev/unigo/internal/x86"

// Hz is the PIT input clock.
const Hz = 1193182

const (
	portCh0 = 0x40
	portCmd = 0x43
)

func read() uint16 {
	x86.Outb(portCmd, 0x00) // latch channel 0
	lo := x86.Inb(portCh0)
	hi := x86.Inb(portCh0)
	return uint16(hi)<<8 | uint16(lo)
}

// MeasureTSC counts the TSC ticks that pass while the PIT counts ticks periods,
// or returns 0 when no PIT counts.
func MeasureTSC(ticks uint32) uint64 {
	x86.Outb(portCmd, 0x34) // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
	x86.Outb(portCh0, 0xFF)
	x86.Outb(portCh0, 0xFF)
	prev := read()
	// Wait for the first change, so that the interval starts on a tick edge.
	for i := 0; ; i++ {
		if c := read(); c != prev {
			prev = c
			break
		}
		if i > 1_000_000 {
			return 0 // nothing counts: no PIT
		}
	}
	start := x86.Rdtsc()
	var passed uint32
	for passed < ticks {
		c := read()
		passed += uint32(prev-c) & 0xFFFF // counts down; mode 2 reloads at 1
		prev = c
	}
	end := x86.Rdtsc()
	x86.Outb(portCmd, 0x30) // mode 0 with no count loaded: counting stops
	return (end - start) * uint64(ticks) / uint64(passed)
}
