// Package kvmclock reads KVM's paravirtual clock (pvclock): the TSC's rate as the
// hypervisor knows it and the host's wall clock, without calibrating anything.
//
// Context: kernel context only (MSR writes), at boot. The caller provides a
// 64-byte-aligned kernel buffer and its physical address; no state otherwise.
package kvmclock

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/unigo-dev/unigo/internal/x86"
)

const (
	msrSystemTime = 0x4b564d01
	msrWallClock  = 0x4b564d00
	featureClock2 = 1 << 3
)

// timeInfo is struct pvclock_vcpu_time_info.
type timeInfo struct {
	Version uint32
	_       uint32
	TSC     uint64
	System  uint64 // ns
	Mul     uint32
	Shift   int8
	Flags   uint8
	_       [2]byte
}

// wallClock is struct pvclock_wall_clock.
type wallClock struct {
	Version uint32
	Sec     uint32
	Nsec    uint32
}

// Present says whether the hypervisor is KVM and offers the clock.
func Present() bool {
	a, b, c, d := x86.Cpuid(0x40000000, 0)
	if a < 0x40000001 || b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d {
		return false // not "KVMKVMKVM\0\0\0"
	}
	f, _, _, _ := x86.Cpuid(0x40000001, 0)
	return f&featureClock2 != 0
}

// Read registers buf (physical address phys, 64 bytes) as this CPU's pvclock,
// then returns the TSC rate it implies, the TSC and nanoseconds of one reading,
// and the host wall clock at system time 0 (ns since 1970).
func Read(buf uintptr, phys uint64) (tscHz uint64, tsc, sysNs uint64, wallAtZero int64) {
	ti := (*timeInfo)(ptr(buf))
	x86.Wrmsr(msrSystemTime, phys|1)
	var mul uint32
	var shift int8
	for {
		v := atomicLoad(&ti.Version)
		if v&1 != 0 {
			continue
		}
		tsc, sysNs, mul, shift = ti.TSC, ti.System, ti.Mul, ti.Shift
		if atomicLoad(&ti.Version) == v {
			break
		}
	}
	// ns = ((tsc << shift) * mul) >> 32, so Hz = 1e9 * 2^32 / mul, shifted back.
	hi, lo := bits.Mul64(1_000_000_000, 1<<32)
	q, _ := bits.Div64(hi, lo, uint64(mul))
	if shift >= 0 {
		tscHz = q >> uint(shift)
	} else {
		tscHz = q << uint(-shift)
	}
	wc := (*wallClock)(ptr(buf + 32))
	x86.Wrmsr(msrWallClock, phys+32)
	for {
		v := atomicLoad(&wc.Version)
		if v&1 != 0 {
			continue
		}
		sec, nsec := wc.Sec, wc.Nsec
		if atomicLoad(&wc.Version) == v {
			wallAtZero = int64(sec)*1_000_000_000 + int64(nsec)
			break
		}
	}
	return tscHz, tsc, sysNs, wallAtZero
}

func atomicLoad(p *uint32) uint32 { return atomic.LoadUint32(p) }

func ptr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }
