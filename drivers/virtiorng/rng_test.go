package virtiorng_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
	"github.com/unigo-dev/unigo/drivers/virtiorng"
)

// counter is a device handing out consecutive bytes, short answers
// included.
type counter struct {
	next  byte
	calls int
}

func (c *counter) serve(_ int, ch *virtiosim.Chain) uint32 {
	c.calls++
	var n uint32
	for _, w := range ch.Writable {
		limit := len(w)
		if c.calls%3 == 0 {
			limit = min(limit, 7) // a short answer
		}
		for i := range limit {
			w[i] = c.next
			c.next++
			n++
		}
		if limit < len(w) {
			break
		}
	}
	return n
}

func open(t *testing.T, transport string, h virtiosim.Handler) (*virtiorng.Device, *virtiosim.Device) {
	mem := virtiosim.NewMemory()
	d := virtiosim.NewDevice(virtiorng.DeviceType, virtio.FeatureVersion1|virtio.FeatureEventIdx, 1, 64, mem)
	d.Handler = h
	var tr virtio.Transport
	var err error
	if transport == "pci" {
		tr, err = virtio.NewPCI(virtiosim.NewPCI(d))
	} else {
		tr, err = virtio.NewMMIO(virtiosim.NewMMIO(d))
	}
	require.NoError(t, err)
	d.Start()
	t.Cleanup(d.Stop)
	r, err := virtiorng.Open(tr, mem, d.Interrupt())
	require.NoError(t, err)
	return r, d
}

func TestRead(t *testing.T) {
	for _, tr := range []string{"mmio", "pci"} {
		t.Run(tr, func(t *testing.T) {
			c := &counter{}
			r, _ := open(t, tr, c.serve)
			require.Contains(t, r.Features().String(), "accepted 0x120000000 [EVENT_IDX VERSION_1]")
			var want byte
			for _, size := range []int{1, 7, 100, 4096, 10000, 3} {
				p := make([]byte, size)
				n, err := r.Read(p)
				require.NoError(t, err)
				require.Equal(t, size, n)
				for i := range p {
					require.Equal(t, want, p[i], "byte %d of a %d-byte read", i, size)
					want++
				}
			}
		})
	}
}

func TestReadFailures(t *testing.T) {
	r, _ := open(t, "mmio", func(int, *virtiosim.Chain) uint32 { return 0 })
	_, err := r.Read(make([]byte, 10))
	require.ErrorIs(t, err, virtiorng.ErrNoEntropy)

	// A device claiming more than the buffer: the bytes are used, clamped.
	r, _ = open(t, "mmio", func(_ int, c *virtiosim.Chain) uint32 {
		for _, w := range c.Writable {
			for i := range w {
				w[i] = 0xaa
			}
		}
		return 1 << 30
	})
	p := make([]byte, 33)
	n, err := r.Read(p)
	require.NoError(t, err)
	require.Equal(t, 33, n)
	require.Equal(t, byte(0xaa), p[32])

	mem := virtiosim.NewMemory()
	d := virtiosim.NewDevice(1, virtio.FeatureVersion1, 1, 8, mem)
	tr, err := virtio.NewMMIO(virtiosim.NewMMIO(d))
	require.NoError(t, err)
	_, err = virtiorng.Open(tr, mem, d.Interrupt())
	require.ErrorIs(t, err, virtiorng.ErrNotRNG)
}
