// Package virtionetsim is a simulated virtio-net device for host tests of
// package virtionet and of netstack/link. It is built on
// drivers/virtio/virtiosim: that package plays the rings and registers,
// this one the network side. What a driver transmits goes to a peer device
// (Connect) or back to the same device (Loopback), the way a host bridge or
// tap passes virtio_net_hdr along; received packets wait in a backlog until
// the driver posts receive buffers, and are written into one buffer or,
// with MRG_RXBUF, spread over as many as needed.
//
// Context: host tests only; it runs goroutines, allocates and takes locks.
// It may call virtiosim and virtionet's header helpers.
package virtionetsim

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
	"github.com/unigo-dev/unigo/drivers/virtionet"
)

// Config is the simulated device's configuration space.
type Config struct {
	MAC      [6]byte
	MTU      uint16
	LinkUp   bool
	QueueMax uint16 // default 256
	// Backlog bounds the packets waiting for receive buffers (default
	// 4096); more are dropped, like a full tap queue.
	Backlog int
}

// Device is one simulated network device.
type Device struct {
	Sim *virtiosim.Device
	Mem *virtiosim.Memory

	// OnTx, if set, sees every transmitted packet (header and frame) on
	// the device goroutine before it is forwarded. Returning false drops it.
	OnTx func(h virtionet.NetHdr, frame []byte) bool

	TxFrames, RxFrames, Dropped, BadTx atomic.Uint64

	peer    atomic.Pointer[Device]
	mu      sync.Mutex
	backlog [][]byte // virtio_net_hdr + frame
	max     int
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New returns a device offering features (VERSION_1 is added) with its own
// memory. The device does nothing until Start.
func New(features uint64, c Config) *Device {
	if c.QueueMax == 0 {
		c.QueueMax = 256
	}
	if c.Backlog == 0 {
		c.Backlog = 4096
	}
	mem := virtiosim.NewMemory()
	cfg := make([]byte, 12)
	copy(cfg[0:6], c.MAC[:])
	if c.LinkUp {
		cfg[6] = 1
	}
	binary.LittleEndian.PutUint16(cfg[10:], c.MTU)
	d := &Device{
		Sim:  virtiosim.NewDevice(virtionet.DeviceType, features|virtio.FeatureVersion1, 2, c.QueueMax, mem),
		Mem:  mem,
		max:  c.Backlog,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	d.Sim.Config = cfg
	d.Sim.ManualQueues = 1 // the receive queue
	d.Sim.Handler = d.transmit
	d.Sim.OnNotify = func(q int) {
		if q == 0 {
			d.poke()
		}
	}
	return d
}

// MMIO is the device's virtio-mmio transport for a driver.
func (d *Device) MMIO() virtio.Transport {
	t, err := virtio.NewMMIO(virtiosim.NewMMIO(d.Sim))
	if err != nil {
		panic(err)
	}
	return t
}

// PCI is the device's virtio-pci transport for a driver.
func (d *Device) PCI() virtio.Transport {
	t, err := virtio.NewPCI(virtiosim.NewPCI(d.Sim))
	if err != nil {
		panic(err)
	}
	return t
}

// Connect makes what a transmits arrive at b and the other way round.
func Connect(a, b *Device) { a.peer.Store(b); b.peer.Store(a) }

// Loopback makes what d transmits arrive at d.
func (d *Device) Loopback() { d.peer.Store(d) }

// Start runs the device and its receive pump.
func (d *Device) Start() {
	d.Sim.Start()
	go d.pump()
}

// Stop ends both; the driver's Interrupt.Wait then fails.
func (d *Device) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	d.Sim.Stop()
}

// SetLink changes the link status and raises a configuration interrupt.
func (d *Device) SetLink(up bool) {
	var b byte
	if up {
		b = 1
	}
	d.Sim.SetConfig(6, []byte{b, 0})
}

// Inject queues a packet (a virtio_net_hdr, possibly bogus, then the frame)
// for the driver, as if it had come from the network. num_buffers is
// filled in on delivery.
func (d *Device) Inject(pkt []byte) {
	d.mu.Lock()
	if len(d.backlog) >= d.max {
		d.mu.Unlock()
		d.Dropped.Add(1)
		return
	}
	d.backlog = append(d.backlog, pkt)
	d.mu.Unlock()
	d.poke()
}

// Pending is how many packets wait for receive buffers.
func (d *Device) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.backlog)
}

func (d *Device) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// transmit is the handler of the transmit queue (and of nothing else: the
// receive queue is manual).
func (d *Device) transmit(q int, c *virtiosim.Chain) uint32 {
	if q != 1 {
		return 0
	}
	var pkt []byte
	for _, r := range c.Readable {
		pkt = append(pkt, r...)
	}
	if len(pkt) < virtionet.HdrLen {
		d.BadTx.Add(1)
		return 0
	}
	d.TxFrames.Add(1)
	h := virtionet.DecodeHdr(pkt)
	if d.OnTx != nil && !d.OnTx(h, pkt[virtionet.HdrLen:]) {
		return 0
	}
	if p := d.peer.Load(); p != nil {
		p.arrive(h, pkt)
	}
	return 0
}

// arrive adapts a packet from the peer to what this device's driver
// negotiated: a partial checksum is completed for a driver without
// GUEST_CSUM; a super-packet for a driver without the matching GUEST_TSO
// is dropped (this model does not segment).
func (d *Device) arrive(h virtionet.NetHdr, pkt []byte) {
	f := d.Sim.DriverFeatures()
	if h.Flags&virtionet.HdrNeedsCsum != 0 && f&virtionet.FeatureGuestCSUM == 0 {
		if virtionet.CompleteChecksum(h, pkt[virtionet.HdrLen:]) != nil {
			d.Dropped.Add(1)
			return
		}
		h.Flags = 0
	}
	switch h.GSOType &^ virtionet.GSOECN {
	case virtionet.GSOTCPv4:
		if f&virtionet.FeatureGuestTSO4 == 0 {
			d.Dropped.Add(1)
			return
		}
	case virtionet.GSOTCPv6:
		if f&virtionet.FeatureGuestTSO6 == 0 {
			d.Dropped.Add(1)
			return
		}
	}
	h.Encode(pkt)
	d.Inject(pkt)
}

func (d *Device) pump() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			if len(d.backlog) == 0 {
				d.mu.Unlock()
				break
			}
			pkt := d.backlog[0]
			d.mu.Unlock()
			if !d.deliver(pkt) {
				break // wait for buffers
			}
			d.mu.Lock()
			d.backlog[0] = nil
			d.backlog = d.backlog[1:]
			d.mu.Unlock()
			d.RxFrames.Add(1)
		}
	}
}

// deliver writes pkt into receive buffers; false when there are not enough.
// Without MRG_RXBUF a packet larger than one buffer is dropped, as a real
// device does.
func (d *Device) deliver(pkt []byte) bool {
	merge := d.Sim.DriverFeatures()&virtionet.FeatureMrgRxBuf != 0
	limit, need := 1, uint32(1)
	if merge {
		limit, need = 0, uint32(max(len(pkt), 1))
	}
	tooBig := false
	ok := d.Sim.Receive(0, need, limit, func(cs []virtiosim.Chain) []uint32 {
		var room int
		for _, c := range cs {
			for _, w := range c.Writable {
				room += len(w)
			}
		}
		if room < len(pkt) {
			tooBig = true
			return nil
		}
		lens := make([]uint32, len(cs))
		rest := pkt
		first := true
		for i, c := range cs {
			for _, w := range c.Writable {
				k := copy(w, rest)
				if first && k >= virtionet.HdrLen {
					nb := uint16(1)
					if merge {
						nb = uint16(len(cs))
					}
					binary.LittleEndian.PutUint16(w[10:], nb)
					first = false
				}
				rest = rest[k:]
				lens[i] += uint32(k)
			}
		}
		return lens
	})
	if tooBig {
		d.Dropped.Add(1)
		return true
	}
	return ok
}

// InjectRaw serves the receive queue with a hostile fill: see
// virtiosim.Device.Receive. It bypasses the backlog.
func (d *Device) InjectRaw(need uint32, max int, fill func(cs []virtiosim.Chain) []uint32) bool {
	return d.Sim.Receive(0, need, max, fill)
}
