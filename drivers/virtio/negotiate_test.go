package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
)

func transports(t *testing.T, f func(t *testing.T, name string)) {
	for _, name := range []string{"mmio", "pci"} {
		t.Run(name, func(t *testing.T) { f(t, name) })
	}
}

func newTransport(t *testing.T, name string, d *virtiosim.Device) virtio.Transport {
	var tr virtio.Transport
	var err error
	if name == "mmio" {
		tr, err = virtio.NewMMIO(virtiosim.NewMMIO(d))
	} else {
		tr, err = virtio.NewPCI(virtiosim.NewPCI(d))
	}
	require.NoError(t, err)
	return tr
}

func TestNegotiation(t *testing.T) {
	transports(t, func(t *testing.T, name string) {
		m := virtiosim.NewMemory()
		d := virtiosim.NewDevice(typeNet, allOffers|virtio.FeatureRingPacked|1<<40|1<<3, 2, 128, m)
		tr := newTransport(t, name, d)
		require.Equal(t, uint32(typeNet), tr.DeviceType())
		fs, err := virtio.Init(tr, virtio.Options{
			Want:    virtio.FeatureEventIdx | virtio.FeatureIndirectDesc | virtio.FeatureRingPacked | featBit5 | featBit7,
			Require: featBit5,
			Names:   map[int]string{5: "MAC", 7: "GUEST_TSO4"},
		})
		require.NoError(t, err)
		require.Equal(t, uint64(allOffers), fs.Accepted, "packed rings are not implemented, so never accepted")
		require.Equal(t, fs.Accepted, d.DriverFeatures())
		require.True(t, fs.Has(virtio.FeatureVersion1|virtio.FeatureEventIdx))
		require.Equal(t, uint8(virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK), d.Status())
		s := fs.String()
		require.Contains(t, s, "accepted 0x130000020 [MAC INDIRECT_DESC EVENT_IDX VERSION_1]")
		require.Contains(t, s, "declined [bit3 RING_PACKED RING_RESET]")
		require.Contains(t, s, "wanted, not offered [GUEST_TSO4]")
		t.Log(s)

		q0, err := virtio.SetupQueue(tr, fs, 0, 1000, m, 4) // rounded down to the device's 128
		require.NoError(t, err)
		require.Equal(t, uint16(128), q0.Size())
		_, err = virtio.SetupQueue(tr, fs, 0, 64, m, 4)
		require.ErrorIs(t, err, virtio.ErrQueueInUse)
		q1, err := virtio.SetupQueue(tr, fs, 1, 100, m, 4) // rounded down to a power of two
		require.NoError(t, err)
		require.Equal(t, uint16(64), q1.Size())
		_, err = virtio.SetupQueue(tr, fs, 2, 64, m, 4)
		require.ErrorIs(t, err, virtio.ErrNoQueue)
		virtio.DriverOK(tr)
		require.Equal(t, uint8(virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK), d.Status())
		require.NoError(t, virtio.Reset(tr))
		require.Zero(t, d.Status())
	})
}

func TestNegotiationFailures(t *testing.T) {
	transports(t, func(t *testing.T, name string) {
		m := virtiosim.NewMemory()

		d := virtiosim.NewDevice(typeNet, allOffers, 1, 64, m)
		d.RejectFeaturesOK = true
		_, err := virtio.Init(newTransport(t, name, d), virtio.Options{Want: virtio.FeatureEventIdx})
		require.ErrorIs(t, err, virtio.ErrFeaturesRejected)
		require.NotZero(t, d.Status()&virtio.StatusFailed)
		require.Zero(t, d.Status()&virtio.StatusFeaturesOK)

		d = virtiosim.NewDevice(typeNet, allOffers&^virtio.FeatureVersion1, 1, 64, m)
		_, err = virtio.Init(newTransport(t, name, d), virtio.Options{})
		require.ErrorIs(t, err, virtio.ErrNoVersion1)
		require.NotZero(t, d.Status()&virtio.StatusFailed)

		d = virtiosim.NewDevice(typeNet, allOffers, 1, 64, m)
		fs, err := virtio.Init(newTransport(t, name, d), virtio.Options{Want: featBit7, Require: featBit7})
		require.ErrorIs(t, err, virtio.ErrMissingFeature)
		require.NotZero(t, d.Status()&virtio.StatusFailed)
		require.Zero(t, fs.Accepted&featBit7)
	})
}

func TestMMIOProbe(t *testing.T) {
	m := virtiosim.NewMemory()
	d := virtiosim.NewDevice(typeNet, allOffers, 1, 64, m)
	w := virtiosim.NewMMIO(d)
	w.Version = 1
	_, err := virtio.NewMMIO(w)
	require.ErrorIs(t, err, virtio.ErrLegacyDevice)
	w.Version = 3
	_, err = virtio.NewMMIO(w)
	require.Error(t, err)
	w.Version, w.Magic = 2, 0
	_, err = virtio.NewMMIO(w)
	require.ErrorIs(t, err, virtio.ErrNoDevice)
	empty := virtiosim.NewDevice(0, 0, 0, 0, m)
	_, err = virtio.NewMMIO(virtiosim.NewMMIO(empty))
	require.ErrorIs(t, err, virtio.ErrNoDevice)
}

func TestPCIProbe(t *testing.T) {
	m := virtiosim.NewMemory()
	d := virtiosim.NewDevice(typeNet, allOffers, 2, 64, m)

	p := virtiosim.NewPCI(d)
	caps, err := virtio.PCICapabilities(p.ConfigSpace())
	require.NoError(t, err)
	require.Len(t, caps, 4)
	require.Equal(t, uint32(4), caps[1].NotifyMultiplier)

	p = virtiosim.NewPCI(d)
	p.Cfg[0x41] = 0x40 // the common capability points at itself
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrPCICapability)

	p = virtiosim.NewPCI(d)
	p.Cfg[0x34] = 0x50 // skip the common configuration: a legacy-only function
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrLegacyDevice)

	p = virtiosim.NewPCI(d)
	p.Cfg[0x06] = 0 // no capability list at all
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrLegacyDevice)

	p = virtiosim.NewPCI(d)
	p.Cfg[0x42] = 200 // runs off the configuration space
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrPCICapability)

	p = virtiosim.NewPCI(d)
	binary.LittleEndian.PutUint32(p.Cfg[0x40+12:], 0x10) // common structure too short
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrPCICapability)

	p = virtiosim.NewPCI(d)
	binary.LittleEndian.PutUint16(p.Cfg[0x02:], 0x1000) // transitional ID: type from the subsystem ID
	tr, err := virtio.NewPCI(p)
	require.NoError(t, err)
	require.Equal(t, uint32(typeNet), tr.DeviceType())
	require.Equal(t, uint16(2), tr.NumQueues())

	p = virtiosim.NewPCI(d)
	binary.LittleEndian.PutUint16(p.Cfg[0x00:], 0x8086)
	_, err = virtio.NewPCI(p)
	require.ErrorIs(t, err, virtio.ErrNoDevice)

	// A notify multiplier that puts queue 1's address past the structure.
	p = virtiosim.NewPCI(d)
	binary.LittleEndian.PutUint32(p.Cfg[0x50+16:], 64)
	tr, err = virtio.NewPCI(p)
	require.NoError(t, err)
	fs, err := virtio.Init(tr, virtio.Options{})
	require.NoError(t, err)
	_, err = virtio.SetupQueue(tr, fs, 1, 64, m, 0)
	require.ErrorIs(t, err, virtio.ErrPCICapability)
}

func TestReadConfig(t *testing.T) {
	transports(t, func(t *testing.T, name string) {
		r := newRig(t, name, allOffers, 0, 16)
		r.dev.UnstableConfigReads = 5
		var mac [6]byte
		var status uint16
		runs := 0
		require.NoError(t, virtio.ReadConfig(r.tr, func(c virtio.Registers) {
			runs++
			for i := range mac {
				mac[i] = c.Read8(uintptr(i))
			}
			status = c.Read16(6)
		}))
		require.Equal(t, [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}, mac)
		require.Equal(t, uint16(1), status)
		require.Greater(t, runs, 1, "the generation changed during the first read, so it was retried")

		r.dev.UnstableConfigReads = 1 << 30
		require.ErrorIs(t, virtio.ReadConfig(r.tr, func(c virtio.Registers) { c.Read8(0) }), virtio.ErrConfigUnstable)
	})
}

// TestPCIMSIX proves a function with MSI-X enabled gets vector 0 for its
// queues and configuration changes, that a device answering NO_VECTOR is a
// clear error, and that without MSI-X no vector is set.
func TestPCIMSIX(t *testing.T) {
	m := virtiosim.NewMemory()
	for _, tc := range []struct {
		name          string
		msix, refuse  bool
		config, queue uint16
	}{
		{"enabled", true, false, 0, 0},
		{"refused", true, true, 0xFFFF, 0xFFFF},
		{"no MSI-X", false, false, 0xFFFF, 0xFFFF},
	} {
		d := virtiosim.NewDevice(typeNet, allOffers, 2, 64, m)
		p := virtiosim.NewPCI(d)
		if tc.msix {
			p.EnableMSIX(tc.refuse)
		}
		tr, err := virtio.NewPCI(p)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.msix, tr.MSIX(), tc.name)
		fs, err := virtio.Init(tr, virtio.Options{})
		require.NoError(t, err, tc.name)
		_, err = virtio.SetupQueue(tr, fs, 0, 16, m, 0)
		if tc.refuse {
			require.ErrorIs(t, err, virtio.ErrMSIXVector, tc.name)
		} else {
			require.NoError(t, err, tc.name)
		}
		config, queues := p.Vectors()
		assert.Equal(t, tc.config, config, tc.name)
		assert.Equal(t, tc.queue, queues[0], tc.name)
		assert.Equal(t, uint16(0xFFFF), queues[1], tc.name)
	}
}
