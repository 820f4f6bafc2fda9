package virtio

import "errors"

// Registers is a device's register window: MMIO mapped into the driver's
// address space, a port-I/O range, or a simulation. Offsets are bytes from
// the start of the window; accesses are little-endian and naturally aligned.
type Registers interface {
	Read8(off uintptr) uint8
	Read16(off uintptr) uint16
	Read32(off uintptr) uint32
	Write8(off uintptr, v uint8)
	Write16(off uintptr, v uint16)
	Write32(off uintptr, v uint32)
}

// DMA is physically contiguous memory the device can reach. The driver sees
// it as Bytes(); the device sees byte i at guest-physical address Phys()+i.
// Bytes() must return the same slice on every call, with its first byte at a
// virtual address aligned at least as much as Phys().
type DMA interface {
	Bytes() []byte
	Phys() uint64
}

// Allocator hands out zeroed DMA regions of at least size bytes whose
// guest-physical address is a multiple of align (a power of two).
type Allocator interface {
	AllocDMA(size, align uintptr) (DMA, error)
}

// Interrupt blocks the calling goroutine until the device's interrupt fires
// (or has fired since the last Wait returned). An error ends the driver.
type Interrupt interface {
	Wait() error
}

// Device status bits (virtio 1.2 §2.1).
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Device-independent feature bits (virtio 1.2 §6).
const (
	FeatureIndirectDesc      = 1 << 28
	FeatureEventIdx          = 1 << 29
	FeatureVersion1          = 1 << 32
	FeatureAccessPlatform    = 1 << 33
	FeatureRingPacked        = 1 << 34
	FeatureInOrder           = 1 << 35
	FeatureOrderPlatform     = 1 << 36
	FeatureSRIOV             = 1 << 37
	FeatureNotificationData  = 1 << 38
	FeatureNotifConfigData   = 1 << 39
	FeatureRingReset         = 1 << 40
	deviceIndependentFeature = 0xFFFFFF0000000 // bits 28 to 51
)

// Interrupt causes, as read from the ISR (PCI) or InterruptStatus (MMIO).
const (
	InterruptQueue  = 1 // a used buffer was published
	InterruptConfig = 2 // the device configuration changed
)

// Errors.
var (
	ErrNoDevice          = errors.New("virtio: no device behind this window")
	ErrLegacyDevice      = errors.New("virtio: legacy (pre-1.0) device; unigo drives only virtio 1.x devices")
	ErrNoVersion1        = errors.New("virtio: device does not offer VERSION_1 (legacy-only device)")
	ErrFeaturesRejected  = errors.New("virtio: device did not accept the negotiated features (FEATURES_OK cleared)")
	ErrMissingFeature    = errors.New("virtio: device lacks a feature the driver requires")
	ErrResetTimeout      = errors.New("virtio: device did not complete reset")
	ErrNoQueue           = errors.New("virtio: queue not available on this device")
	ErrQueueInUse        = errors.New("virtio: queue already enabled")
	ErrConfigUnstable    = errors.New("virtio: configuration kept changing while read")
	ErrQueueFull         = errors.New("virtio: not enough free descriptors")
	ErrBadChain          = errors.New("virtio: buffer chain is empty or has a zero-length segment")
	ErrUsedIDRange       = errors.New("virtio: device returned a used id out of range")
	ErrUsedIDNotInFlight = errors.New("virtio: device returned a used id that is not in flight")
	ErrUsedLen           = errors.New("virtio: device wrote more than the buffer's writable length")
	ErrUsedIndex         = errors.New("virtio: device advanced the used index past the buffers in flight")
	ErrBadAlignment      = errors.New("virtio: DMA memory misaligned for a virtqueue")
	ErrPCICapability     = errors.New("virtio: malformed or missing virtio PCI capability")
	// ErrMSIXVector: the device answered NO_VECTOR (0xFFFF) when given an
	// MSI-X vector: it could not allocate it, and would not interrupt.
	ErrMSIXVector = errors.New("virtio: the device refused an MSI-X vector (read back 0xffff)")
)
