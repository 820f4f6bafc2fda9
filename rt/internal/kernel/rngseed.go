package kernel

import (
	"github.com/unigo-dev/unigo/internal/x86"
	"github.com/unigo-dev/unigo/netstack/netcall"
	"github.com/unigo-dev/unigo/rt/internal/kmem"
	"github.com/unigo-dev/unigo/rt/internal/mm"
)

// Seeding the entropy pool from virtio-rng at boot, for a CPU without RDSEED
// and RDRAND: the Go runtime wants randomness before any driver goroutine
// exists (AT_RANDOM, its first getrandom calls), so the kernel itself reads 32
// bytes from the device, polling one descriptor on a one-entry split queue, then
// resets the device for its driver (drivers/virtiorng), which later mixes in
// more. virtio 1.2 §4.2.2 (MMIO registers) and §2.7 (split queues).

// virtio-mmio registers and status bits.
const (
	vmMagic       = 0x000
	vmVersion     = 0x004
	vmDeviceID    = 0x008
	vmDrvFeatures = 0x020
	vmDrvFeatSel  = 0x024
	vmQueueSel    = 0x030
	vmQueueNumMax = 0x034
	vmQueueNum    = 0x038
	vmQueueReady  = 0x044
	vmQueueNotify = 0x050
	vmStatus      = 0x070
	vmDescLow     = 0x080
	vmDescHigh    = 0x084
	vmDriverLow   = 0x090
	vmDriverHigh  = 0x094
	vmDeviceLow   = 0x0a0
	vmDeviceHigh  = 0x0a4

	vsAcknowledge = 1
	vsDriver      = 2
	vsDriverOK    = 4
	vsFeaturesOK  = 8

	virtioEntropy = 4
)

func mmioRead(a uintptr) uint32     { return *kmem.At[uint32](a) }
func mmioWrite(a uintptr, v uint32) { *kmem.At[uint32](a) = v }

// seedFromVirtioRNG fills the pool's first seed from a virtio-rng device;
// false when there is none or it does not answer.
func seedFromVirtioRNG(k *Kernel) bool {
	s := &k.Sys
	for i := 0; i < s.Devices(); i++ {
		if s.DeviceKind(i) != netcall.DeviceVirtioMMIO {
			continue // virtio-rng-pci is left to its driver
		}
		phys := s.DevicePhys(i)
		r := mapMMIO(k, phys) + uintptr(phys&(mm.PageSize-1))
		if mmioRead(r+vmMagic) != 0x74726976 || mmioRead(r+vmVersion) != 2 || mmioRead(r+vmDeviceID) != virtioEntropy {
			continue
		}
		var seed [32]byte
		pa := allocKernelPhys(&s.Mem.Frames, 1)
		n := pollRNG(k, r, pa, &seed)
		mmioWrite(r+vmStatus, 0) // reset: the device is its driver's again
		s.Mem.Frames.Release(pa>>mm.PageShift, 1)
		if n > 0 {
			s.Entropy.Mix(seed[:n])
			return true
		}
	}
	return false
}

// pollRNG asks the device at r for len(seed) bytes, with its queue in the
// zeroed page at pa, and waits (about a second at most) for the answer; it
// returns how many came.
func pollRNG(k *Kernel, r uintptr, pa uint64, seed *[32]byte) int {
	page := mm.DirectMapBase + uintptr(pa)
	const desc, avail, used, buf = 0, 64, 128, 256

	mmioWrite(r+vmStatus, 0)
	mmioWrite(r+vmStatus, vsAcknowledge|vsDriver)
	mmioWrite(r+vmDrvFeatSel, 1)
	mmioWrite(r+vmDrvFeatures, 1) // VERSION_1 (bit 32), nothing else
	mmioWrite(r+vmDrvFeatSel, 0)
	mmioWrite(r+vmDrvFeatures, 0)
	mmioWrite(r+vmStatus, vsAcknowledge|vsDriver|vsFeaturesOK)
	if mmioRead(r+vmStatus)&vsFeaturesOK == 0 {
		return 0
	}
	mmioWrite(r+vmQueueSel, 0)
	if mmioRead(r+vmQueueNumMax) == 0 {
		return 0
	}
	mmioWrite(r+vmQueueNum, 1)
	for _, reg := range [3][2]uintptr{{vmDescLow, desc}, {vmDriverLow, avail}, {vmDeviceLow, used}} {
		a := pa + uint64(reg[1])
		mmioWrite(r+reg[0], uint32(a))
		mmioWrite(r+reg[0]+4, uint32(a>>32))
	}
	mmioWrite(r+vmQueueReady, 1)
	mmioWrite(r+vmStatus, vsAcknowledge|vsDriver|vsFeaturesOK|vsDriverOK)

	// One device-writable descriptor for the buffer, offered in the
	// available ring.
	*kmem.At[uint64](page + desc) = pa + buf
	*kmem.At[uint32](page + desc + 8) = uint32(len(seed))
	*kmem.At[uint16](page + desc + 12) = 2 // VIRTQ_DESC_F_WRITE
	*kmem.At[uint16](page + avail + 4) = 0 // ring[0]: descriptor 0
	*kmem.At[uint16](page + avail + 2) = 1 // idx
	mmioWrite(r+vmQueueNotify, 0)
	start := x86.Rdtsc()
	for *kmem.At[uint16](page + used + 2) == 0 {
		if x86.Rdtsc()-start > k.Sys.Clock.TSCHz {
			return 0
		}
		x86.Pause()
	}
	n := int(min(*kmem.At[uint32](page + used + 8), uint32(len(seed))))
	copy(seed[:n], kmem.Bytes(page+buf, n))
	return n
}
