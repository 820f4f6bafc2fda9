package virtio_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
)

const (
	typeNet   = 1
	featBit5  = 1 << 5
	featBit7  = 1 << 7
	allOffers = virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.FeatureIndirectDesc | featBit5
)

// rig is a driver and a simulated device wired together.
type rig struct {
	mem *virtiosim.Memory
	dev *virtiosim.Device
	tr  virtio.Transport
	fs  virtio.Features
	q   *virtio.Queue
}

// newRig brings a one-queue device up through the named transport with the
// given offered and wanted features, up to DRIVER_OK.
func newRig(t testing.TB, transport string, offered, want uint64, qsize uint16) *rig {
	t.Helper()
	r := &rig{mem: virtiosim.NewMemory()}
	r.dev = virtiosim.NewDevice(typeNet, offered, 1, 256, r.mem)
	r.dev.Config = []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0}
	var err error
	switch transport {
	case "mmio":
		r.tr, err = virtio.NewMMIO(virtiosim.NewMMIO(r.dev))
	case "pci":
		r.tr, err = virtio.NewPCI(virtiosim.NewPCI(r.dev))
	default:
		t.Fatalf("transport %q", transport)
	}
	require.NoError(t, err)
	r.fs, err = virtio.Init(r.tr, virtio.Options{Want: want})
	require.NoError(t, err)
	r.q, err = virtio.SetupQueue(r.tr, r.fs, 0, qsize, r.mem, 8)
	require.NoError(t, err)
	virtio.DriverOK(r.tr)
	return r
}

// buffers is one request: a readable payload and two writable halves.
type buffers struct {
	out, in1, in2 *virtiosim.Region
	outSeg        []virtio.Segment
	inSeg         []virtio.Segment
}

func newBuffers(m *virtiosim.Memory, n int) *buffers {
	b := &buffers{out: m.Alloc(uintptr(n)), in1: m.Alloc(uintptr(n / 2)), in2: m.Alloc(uintptr(n - n/2))}
	b.outSeg = []virtio.Segment{{Addr: b.out.Phys(), Len: uint32(n)}}
	b.inSeg = []virtio.Segment{{Addr: b.in1.Phys(), Len: uint32(n / 2)}, {Addr: b.in2.Phys(), Len: uint32(n - n/2)}}
	return b
}

// fill writes a pattern derived from seed into the readable buffer.
func (b *buffers) fill(seed int) {
	for i := range b.out.Bytes() {
		b.out.Bytes()[i] = byte(seed + i*7)
	}
}

// check verifies the device echoed the pattern into the writable halves.
func (b *buffers) check(t testing.TB, seed int) {
	got := append(append([]byte(nil), b.in1.Bytes()...), b.in2.Bytes()...)
	for i := range got {
		if got[i] != byte(seed+i*7) {
			t.Fatalf("seed %d: byte %d is %#x, want %#x", seed, i, got[i], byte(seed+i*7))
		}
	}
}
