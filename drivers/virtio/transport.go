package virtio

import (
	"fmt"
	"math/bits"
	"runtime"
	"strings"
)

// Transport is how the driver reaches one device: virtio-mmio (MMIO) or
// modern virtio-pci (PCI). Methods that select a queue or feature word are
// not safe for concurrent use; Notify is, as far as the transport goes (it is
// one register write).
type Transport interface {
	Notifier
	// DeviceType is the virtio device ID (1 network, 2 block, 4 entropy, ...).
	DeviceType() uint32
	Status() uint8
	SetStatus(s uint8)
	// DeviceFeatures reads all 64 offered feature bits; SetDriverFeatures
	// writes the accepted ones.
	DeviceFeatures() uint64
	SetDriverFeatures(f uint64)
	// QueueMax is the largest size queue i may have; 0 if it does not exist.
	QueueMax(i uint16) uint16
	// EnableQueue gives the device queue i's size and ring addresses and
	// marks it ready.
	EnableQueue(i, size uint16, desc, driver, device uint64) error
	// AckInterrupt reads the pending interrupt causes (InterruptQueue,
	// InterruptConfig) and acknowledges them.
	AckInterrupt() uint8
	// ConfigGeneration changes whenever the device configuration may have.
	ConfigGeneration() uint32
	// Config is the device-specific configuration window.
	Config() Registers
}

// window is a sub-range of a register window starting at base.
type window struct {
	r    Registers
	base uintptr
}

func (w window) Read8(off uintptr) uint8       { return w.r.Read8(w.base + off) }
func (w window) Read16(off uintptr) uint16     { return w.r.Read16(w.base + off) }
func (w window) Read32(off uintptr) uint32     { return w.r.Read32(w.base + off) }
func (w window) Write8(off uintptr, v uint8)   { w.r.Write8(w.base+off, v) }
func (w window) Write16(off uintptr, v uint16) { w.r.Write16(w.base+off, v) }
func (w window) Write32(off uintptr, v uint32) { w.r.Write32(w.base+off, v) }

// Reset writes status 0 and waits until the device reads back 0 (virtio 1.2
// §4.1.4.3.2, §4.2.2.2: the reset may take time).
func Reset(t Transport) error {
	t.SetStatus(0)
	for range 100000 {
		if t.Status() == 0 {
			return nil
		}
		runtime.Gosched()
	}
	return ErrResetTimeout
}

// Fail sets FAILED: the driver has given up on the device.
func Fail(t Transport) { t.SetStatus(t.Status() | StatusFailed) }

// DriverOK sets DRIVER_OK once the queues are set up: the device is live.
func DriverOK(t Transport) { t.SetStatus(t.Status() | StatusDriverOK) }

// ReadConfig calls read with the device configuration window until the
// configuration generation is the same before and after it, so a
// multi-field read is consistent (virtio 1.2 §2.5.1). read must only read
// and may run several times.
func ReadConfig(t Transport, read func(cfg Registers)) error {
	for range 1000 {
		g := t.ConfigGeneration()
		read(t.Config())
		if t.ConfigGeneration() == g {
			return nil
		}
	}
	return ErrConfigUnstable
}

// Options is what a device driver asks of the negotiation.
type Options struct {
	// Want holds the feature bits the driver can use: device-specific bits
	// and FeatureEventIdx, FeatureIndirectDesc, FeatureAccessPlatform.
	// FeatureVersion1 is always added; other device-independent bits are
	// dropped, since this package does not implement them.
	Want uint64
	// Require is the part of Want the driver cannot work without.
	Require uint64
	// Names names device-specific bits in Features.String.
	Names map[int]string
}

// supported is the device-independent bits this package implements.
const supported = FeatureIndirectDesc | FeatureEventIdx | FeatureVersion1 | FeatureAccessPlatform

// Features records a negotiation.
type Features struct {
	Offered, Wanted, Accepted uint64
	Names                     map[int]string
}

// Has reports whether every bit of f was accepted.
func (fs Features) Has(f uint64) bool { return fs.Accepted&f == f }

var coreNames = map[int]string{
	28: "INDIRECT_DESC", 29: "EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
	34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV",
	38: "NOTIFICATION_DATA", 39: "NOTIF_CONFIG_DATA", 40: "RING_RESET",
}

func (fs Features) names(v uint64) string {
	if v == 0 {
		return "none"
	}
	var b strings.Builder
	for v != 0 {
		i := bits.TrailingZeros64(v)
		v &^= 1 << i
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if n, ok := coreNames[i]; ok {
			b.WriteString(n)
		} else if n, ok := fs.Names[i]; ok {
			b.WriteString(n)
		} else {
			fmt.Fprintf(&b, "bit%d", i)
		}
	}
	return b.String()
}

// String describes the negotiation for a log line: what the device offered,
// what was accepted, what was offered but declined and what was wanted but
// not offered.
func (fs Features) String() string {
	return fmt.Sprintf("offered %#x [%s]; accepted %#x [%s]; declined [%s]; wanted, not offered [%s]",
		fs.Offered, fs.names(fs.Offered), fs.Accepted, fs.names(fs.Accepted),
		fs.names(fs.Offered&^fs.Accepted), fs.names(fs.Wanted&^fs.Offered))
}

// Init runs the device initialization sequence up to FEATURES_OK (virtio 1.2
// §3.1.1): reset, ACKNOWLEDGE, DRIVER, read the offered features, accept
// VERSION_1 and those of o.Want the device offers, write them, set
// FEATURES_OK and check the device kept it. On error the device is left
// with FAILED set. Next: SetupQueue for each queue, read the configuration,
// then DriverOK.
func Init(t Transport, o Options) (Features, error) {
	fs := Features{Wanted: o.Want&(supported|^uint64(deviceIndependentFeature)) | FeatureVersion1, Names: o.Names}
	if err := Reset(t); err != nil {
		Fail(t)
		return fs, err
	}
	t.SetStatus(StatusAcknowledge)
	t.SetStatus(StatusAcknowledge | StatusDriver)
	fs.Offered = t.DeviceFeatures()
	fs.Accepted = fs.Offered & fs.Wanted
	if fs.Offered&FeatureVersion1 == 0 {
		Fail(t)
		return fs, ErrNoVersion1
	}
	if missing := o.Require &^ fs.Accepted; missing != 0 {
		Fail(t)
		return fs, fmt.Errorf("%w: %s", ErrMissingFeature, fs.names(missing))
	}
	t.SetDriverFeatures(fs.Accepted)
	t.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
	if t.Status()&StatusFeaturesOK == 0 {
		Fail(t)
		return fs, ErrFeaturesRejected
	}
	return fs, nil
}

// SetupQueue creates queue index with up to size descriptors (rounded down
// to a power of two and to the device's maximum) in DMA memory from a, and
// hands it to the device. indirectMax bounds the chains that go through an
// indirect table (used only if INDIRECT_DESC was accepted).
func SetupQueue(t Transport, fs Features, index, size uint16, a Allocator, indirectMax uint16) (*Queue, error) {
	max := t.QueueMax(index)
	if max == 0 {
		return nil, ErrNoQueue
	}
	size = min(size, max, MaxQueueSize)
	if size < 2 {
		return nil, ErrNoQueue
	}
	size = 1 << (bits.Len16(size) - 1)
	if !fs.Has(FeatureIndirectDesc) || indirectMax < 2 {
		indirectMax = 0
	}
	l, err := Layout(size, indirectMax)
	if err != nil {
		return nil, err
	}
	mem, err := a.AllocDMA(l.Total, 4096)
	if err != nil {
		return nil, err
	}
	q, err := NewQueue(index, size, mem, indirectMax, fs.Accepted, t)
	if err != nil {
		return nil, err
	}
	if err := t.EnableQueue(index, size, q.DescAddr(), q.DriverAddr(), q.DeviceAddr()); err != nil {
		return nil, err
	}
	return q, nil
}
