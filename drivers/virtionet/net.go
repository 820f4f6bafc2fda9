package virtionet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// DeviceType is the virtio device ID of a network device.
const DeviceType = 1

// Queue indices (one queue pair; MQ is not negotiated).
const (
	rxQueue = 0
	txQueue = 1
)

const (
	ethHeader   = 14
	vlanTag     = 4
	maxIPPacket = 65535
	chunkSize   = 4096 // transmit buffer granule
	// maxTxChunks is the most chunks one frame can take: a 64 KiB TSO frame
	// plus the header.
	maxTxChunks = (HdrLen + ethHeader + vlanTag + maxIPPacket + chunkSize - 1) / chunkSize
)

// DefaultFeatures is what Open asks for when Config.Features is 0.
const DefaultFeatures = deviceSpecificDefault | virtio.FeatureEventIdx | virtio.FeatureIndirectDesc

// Errors.
var (
	ErrNotNet       = errors.New("virtionet: not a network device")
	ErrBadMTU       = errors.New("virtionet: device reports an MTU below 68")
	ErrFrameSize    = errors.New("virtionet: frame too short or longer than the negotiated maximum")
	ErrOffload      = errors.New("virtionet: header asks for an offload the device did not accept, or is inconsistent")
	ErrQueueFull    = errors.New("virtionet: transmit queue full")
	ErrClosed       = errors.New("virtionet: device closed")
	ErrDeviceBroken = errors.New("virtionet: device broke the ring protocol")
)

// Config is what Open needs.
type Config struct {
	Transport virtio.Transport
	Alloc     virtio.Allocator
	Interrupt virtio.Interrupt
	// Features limits the device-specific and ring features asked for;
	// 0 means DefaultFeatures. VERSION_1 is always asked for.
	Features uint64
	// QueueSize bounds both queues (default 256; the device's maximum and a
	// power of two bound it further).
	QueueSize uint16
	// RxBufSize is the size of each mergeable receive buffer (default
	// 2048, at least 256). Without MRG_RXBUF each buffer holds the largest
	// frame the MTU allows instead.
	RxBufSize int
	// TxChunks is the number of 4 KiB transmit buffers (default twice the
	// queue size, at least enough for two 64 KiB frames).
	TxChunks int
	// SendTimeout bounds how long Send waits for ring space before it
	// returns ErrQueueFull; 0 means 100 ms, negative means do not wait.
	SendTimeout time.Duration
	// Receive gets each received frame (Ethernet header first) and its
	// header, on the Run goroutine, and says whether the frame is urgent:
	// whether what it woke (a sender waiting for an acknowledgement, say)
	// should run before Run waits for the device again. Run then yields
	// its P first; otherwise what the frame woke waits for Go's sysmon to
	// take the P back, and frames arriving meanwhile are handled in the
	// same batch (for TCP data, one acknowledgement for several frames).
	// The frame comes in the pieces it arrived in: one, or with MRG_RXBUF
	// one per receive buffer it spans (the first holds at least
	// RxBufSize-HdrLen bytes of a longer frame). They point into DMA
	// buffers, valid only during the call; joining them is the callback's
	// copy to make, so a frame is copied once. May be nil (frames are
	// dropped).
	Receive func(h NetHdr, frame [][]byte) (urgent bool)
	// LinkChange, if set, is called on the Run goroutine when the link
	// status changes.
	LinkChange func(up bool)
}

// Stats are the device's counters.
type Stats struct {
	RxPackets, RxBytes, RxErrors   atomic.Uint64
	TxPackets, TxBytes, TxErrors   atomic.Uint64
	TxFull, Interrupts, ConfigIntr atomic.Uint64
	RxMerged                       atomic.Uint64 // packets that spanned more than one buffer
}

type rxBuf struct {
	b    []byte
	phys uint64
}

type txSlot struct {
	chunks []uint16
}

// Device is an open virtio-net device.
type Device struct {
	Stats

	cfg     Config
	t       virtio.Transport
	irq     virtio.Interrupt
	fs      virtio.Features
	mac     [6]byte
	mtu     int
	maxRx   int // longest frame we accept, Ethernet header included
	maxTx   int // longest frame without TSO
	hasStat bool
	merge   bool
	linkUp  atomic.Bool
	closed  atomic.Bool

	// Receive state, owned by the Run goroutine.
	rxq       *virtio.Queue
	rxBufSize int
	rxSeg     [1]virtio.Segment
	pend      []pendBuf // buffers of a mergeable packet collected so far
	pieces    [][]byte  // the frame being delivered
	pendHdr   NetHdr
	rxUrgent  bool // an urgent frame was delivered (serviceRx)

	// Transmit state, guarded by txMu.
	txMu      sync.Mutex
	txq       *virtio.Queue
	txMem     []byte
	txPhys    uint64
	txFree    []uint16 // free chunk stack
	slots     []txSlot
	slotFree  []*txSlot
	txSegs    []virtio.Segment
	txWaiters int
	txWake    chan struct{} // closed when ring space frees up for waiters
	txBroken  error
}

type pendBuf struct {
	b *rxBuf
	n int
}

// Open initializes the device behind cfg.Transport: it negotiates features,
// reads the configuration, sets up the queues, posts receive buffers and
// sets DRIVER_OK. Start Run in a goroutine next.
//
// Negotiation: VERSION_1 always; MAC, MTU, STATUS, MRG_RXBUF, CSUM,
// GUEST_CSUM, EVENT_IDX, INDIRECT_DESC when offered; HOST_TSO4/6 only with
// CSUM; GUEST_TSO4/6 only with GUEST_CSUM and MRG_RXBUF (large receives go
// into mergeable buffers, never into 64 KiB single buffers). If the device
// offers a dependent feature without what it depends on, the negotiation is
// run again without it.
func Open(cfg Config) (*Device, error) {
	t := cfg.Transport
	if t.DeviceType() != DeviceType {
		return nil, fmt.Errorf("%w (type %d)", ErrNotNet, t.DeviceType())
	}
	want := cfg.Features
	if want == 0 {
		want = DefaultFeatures
	}
	want &= DefaultFeatures
	var fs virtio.Features
	var err error
	for range 3 {
		fs, err = virtio.Init(t, virtio.Options{Want: want, Names: featureNames})
		if err != nil {
			return nil, err
		}
		fixed := consistent(fs.Accepted)
		if fixed == fs.Accepted {
			break
		}
		want = fixed
	}
	if consistent(fs.Accepted) != fs.Accepted {
		virtio.Fail(t)
		return nil, fmt.Errorf("%w: %s", virtio.ErrFeaturesRejected, fs)
	}
	d := &Device{cfg: cfg, t: t, irq: cfg.Interrupt, fs: fs, mtu: 1500}
	d.hasStat = fs.Has(FeatureStatus)
	d.merge = fs.Has(FeatureMrgRxBuf)
	if err := d.readConfig(true); err != nil {
		virtio.Fail(t)
		return nil, err
	}
	d.maxTx = ethHeader + vlanTag + d.mtu
	d.maxRx = d.maxTx
	if fs.Accepted&featureGuestTSO != 0 {
		d.maxRx = max(d.maxRx, ethHeader+vlanTag+maxIPPacket)
	}
	if err := d.setup(); err != nil {
		virtio.Fail(t)
		return nil, err
	}
	virtio.DriverOK(t)
	d.rxq.Kick()
	return d, nil
}

// consistent drops feature bits whose prerequisites are missing (virtio 1.2
// §5.1.3.1, plus this driver's rule that large receive needs MRG_RXBUF).
func consistent(f uint64) uint64 {
	if f&FeatureCSUM == 0 {
		f &^= featureHostTSO
	}
	if f&FeatureGuestCSUM == 0 || f&FeatureMrgRxBuf == 0 {
		f &^= featureGuestTSO
	}
	return f
}

// readConfig reads MAC, MTU and status; first is the call from Open.
func (d *Device) readConfig(first bool) error {
	var mac [6]byte
	var status, mtu uint16
	err := virtio.ReadConfig(d.t, func(c virtio.Registers) {
		if d.fs.Has(FeatureMAC) {
			for i := range mac {
				mac[i] = c.Read8(cfgMAC + uintptr(i))
			}
		}
		if d.hasStat {
			status = c.Read16(cfgStatus)
		}
		if d.fs.Has(FeatureMTU) {
			mtu = c.Read16(cfgMTU)
		}
	})
	if err != nil {
		return err
	}
	if first {
		if d.fs.Has(FeatureMAC) {
			d.mac = mac
		} else {
			// No MAC from the device: a random locally administered
			// unicast address (the device accepts any without CTRL_VQ).
			if _, err := rand.Read(d.mac[:]); err != nil {
				return err
			}
			d.mac[0] = d.mac[0]&^1 | 2
		}
		if d.fs.Has(FeatureMTU) {
			if mtu < 68 {
				return fmt.Errorf("%w (%d)", ErrBadMTU, mtu)
			}
			d.mtu = int(mtu)
		}
	}
	up := !d.hasStat || status&statusLinkUp != 0
	if old := d.linkUp.Swap(up); !first && old != up && d.cfg.LinkChange != nil {
		d.cfg.LinkChange(up)
	}
	return nil
}

func (d *Device) setup() error {
	cfg := &d.cfg
	qsize := cfg.QueueSize
	if qsize == 0 {
		qsize = 256
	}
	var err error
	d.rxq, err = virtio.SetupQueue(d.t, d.fs, rxQueue, qsize, cfg.Alloc, 0)
	if err != nil {
		return fmt.Errorf("virtionet: receive queue: %w", err)
	}
	d.txq, err = virtio.SetupQueue(d.t, d.fs, txQueue, qsize, cfg.Alloc, maxTxChunks)
	if err != nil {
		return fmt.Errorf("virtionet: transmit queue: %w", err)
	}

	// Receive buffers: one per descriptor, one descriptor each.
	if d.merge {
		d.rxBufSize = cfg.RxBufSize
		if d.rxBufSize == 0 {
			d.rxBufSize = 2048
		}
		d.rxBufSize = max(d.rxBufSize, 256)
	} else {
		d.rxBufSize = HdrLen + d.maxRx
	}
	d.rxBufSize = (d.rxBufSize + 63) &^ 63
	n := int(d.rxq.Size())
	mem, err := cfg.Alloc.AllocDMA(uintptr(n*d.rxBufSize), 4096)
	if err != nil {
		return err
	}
	rb := mem.Bytes()
	bufs := make([]rxBuf, n)
	d.pend = make([]pendBuf, 0, n)
	d.pieces = make([][]byte, 0, n)
	for i := range bufs {
		off := i * d.rxBufSize
		bufs[i] = rxBuf{b: rb[off : off+d.rxBufSize : off+d.rxBufSize], phys: mem.Phys() + uint64(off)}
		if err := d.post(&bufs[i]); err != nil {
			return err
		}
	}

	// Transmit chunks and slots.
	chunks := cfg.TxChunks
	if chunks == 0 {
		chunks = 2 * int(d.txq.Size())
	}
	chunks = min(max(chunks, 2*maxTxChunks), 1<<16)
	tm, err := cfg.Alloc.AllocDMA(uintptr(chunks*chunkSize), 4096)
	if err != nil {
		return err
	}
	d.txMem, d.txPhys = tm.Bytes(), tm.Phys()
	d.txFree = make([]uint16, chunks)
	for i := range d.txFree {
		d.txFree[i] = uint16(chunks - 1 - i) // pops come out in ascending order
	}
	d.slots = make([]txSlot, d.txq.Size())
	d.slotFree = make([]*txSlot, len(d.slots))
	for i := range d.slots {
		d.slots[i].chunks = make([]uint16, 0, maxTxChunks)
		d.slotFree[i] = &d.slots[i]
	}
	d.txSegs = make([]virtio.Segment, 0, maxTxChunks)
	d.txWake = make(chan struct{})
	// Transmit completions are reclaimed by Send itself; interrupts are
	// asked for only while a sender waits for space.
	d.txq.DisableInterrupts()
	return nil
}

// Features is the negotiation's record; its String is the log line.
func (d *Device) Features() virtio.Features { return d.fs }

// MAC is the device's (or the generated) MAC address.
func (d *Device) MAC() [6]byte { return d.mac }

// MTU is the largest IP packet without TSO (the device's MTU, or 1500).
func (d *Device) MTU() int { return d.mtu }

// LinkUp reports the link status (always up without STATUS).
func (d *Device) LinkUp() bool { return d.linkUp.Load() }

// Mergeable reports whether MRG_RXBUF was negotiated.
func (d *Device) Mergeable() bool { return d.merge }

// TxChecksum reports whether the device completes partial checksums we send
// (CSUM); RxChecksum whether it may hand us partial ones (GUEST_CSUM).
func (d *Device) TxChecksum() bool { return d.fs.Has(FeatureCSUM) }
func (d *Device) RxChecksum() bool { return d.fs.Has(FeatureGuestCSUM) }

// TSO4 and TSO6 report whether we may send TCP super-packets (HOST_TSO4/6).
func (d *Device) TSO4() bool { return d.fs.Has(FeatureHostTSO4) }
func (d *Device) TSO6() bool { return d.fs.Has(FeatureHostTSO6) }

// TxIndexAddrs are the guest-physical addresses of the transmit queue's
// available and used indices (virtio.Queue.IndexAddrs), for a kernel that
// waits for the device to take what was sent.
func (d *Device) TxIndexAddrs() (avail, used uint64) { return d.txq.IndexAddrs() }

// MaxFrame is the longest frame Send takes: Ethernet header, VLAN tag and
// MTU, or a 64 KiB IP packet with TSO.
func (d *Device) MaxFrame() int {
	if d.fs.Accepted&featureHostTSO != 0 {
		return ethHeader + vlanTag + maxIPPacket
	}
	return d.maxTx
}

// Run serves the device until the interrupt source fails (its error is
// returned), Close is called, or the device breaks the ring protocol. It
// must run in exactly one goroutine; receive callbacks run in it.
//
// Each round drains the receive ring (delivering frames and reposting their
// buffers) and reclaims finished transmissions. If that delivered an urgent
// frame or woke a sender, it yields and goes round again; otherwise it
// re-arms notifications with
// the core's race protocol (EnableInterrupts false means entries arrived
// meanwhile: go round again instead of sleeping), then blocks in Wait and
// acknowledges the interrupt, re-reading the link status on a
// configuration change.
func (d *Device) Run() error {
	for {
		if d.closed.Load() {
			return ErrClosed
		}
		urgent, err := d.serviceRx()
		if err != nil {
			virtio.Fail(d.t)
			return err
		}
		d.txMu.Lock()
		woke := d.reclaimLocked()
		err = d.txBroken
		d.txMu.Unlock()
		if err != nil {
			virtio.Fail(d.t)
			return err
		}
		if urgent || woke {
			// The goroutines this round woke wait for a P. Blocking now
			// would keep this goroutine's P in the kernel with it until
			// Go's sysmon takes it back, 20 µs or (under TCG) a few
			// hundred later; yielding first lets them run on this
			// thread, and what they send or receive meanwhile is looked
			// at in the next round.
			runtime.Gosched()
			continue
		}
		d.txMu.Lock()
		txArmed := true
		if d.txWaiters > 0 {
			txArmed = d.txq.EnableInterrupts()
		} else {
			d.txq.DisableInterrupts()
		}
		d.txMu.Unlock()
		if !txArmed || !d.rxq.EnableInterrupts() {
			continue
		}
		if err := d.irq.Wait(); err != nil {
			return err
		}
		d.Interrupts.Add(1)
		if isr := d.t.AckInterrupt(); isr&virtio.InterruptConfig != 0 {
			d.ConfigIntr.Add(1)
			_ = d.readConfig(false) // an unstable config is read again at the next change
		}
		d.rxq.DisableInterrupts()
	}
}

// Close marks the device closed and resets it, so it stops using the
// buffers. Run returns ErrClosed once its Wait returns; the kernel's
// Interrupt should fail Wait when the device is torn down.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.txMu.Lock()
	defer d.txMu.Unlock()
	if d.txWaiters > 0 {
		close(d.txWake)
		d.txWake = make(chan struct{})
	}
	return virtio.Reset(d.t)
}
