package virtiosim

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// Chain is a descriptor chain as the device sees it.
type Chain struct {
	Head     uint16
	Indirect bool
	Readable [][]byte
	Writable [][]byte
}

// Handler serves one chain and returns how many bytes it wrote.
type Handler func(queue int, c *Chain) uint32

// Echo copies the readable bytes into the writable ones.
func Echo(_ int, c *Chain) uint32 {
	var n uint32
	wi, wo := 0, 0
	for _, r := range c.Readable {
		for len(r) > 0 && wi < len(c.Writable) {
			k := copy(c.Writable[wi][wo:], r)
			r = r[k:]
			wo += k
			n += uint32(k)
			if wo == len(c.Writable[wi]) {
				wi, wo = wi+1, 0
			}
		}
	}
	return n
}

// Device is a simulated virtio device. Set the exported configuration fields
// before the driver touches the device.
type Device struct {
	Type      uint32
	Features  uint64 // offered
	NumQueues int
	QueueMax  uint16
	Config    []byte  // device-specific configuration
	Handler   Handler // nil: Echo
	Mem       *Memory
	// RejectFeaturesOK makes the device refuse every feature set.
	RejectFeaturesOK bool
	// MaxBatch, if not 0, publishes the used index after every MaxBatch
	// chains instead of once per pass.
	MaxBatch int
	// UnstableConfigReads makes the first that many configuration reads
	// bump the configuration generation, as if the device changed it.
	UnstableConfigReads int
	// ManualQueues is a bit mask of queues Service leaves alone; a test's
	// device model serves them with Receive. A network device's receive
	// queue is one: its buffers wait for packets instead of being served
	// on notification.
	ManualQueues uint64
	// OnNotify, if set, is called (without locks held) after each queue
	// notification, so a device model can serve a manual queue.
	OnNotify func(queue int)

	// Counters, read with Load.
	Notifications atomic.Uint64 // queue notifications received
	Interrupts    atomic.Uint64 // interrupts raised
	Chains        atomic.Uint64 // chains served
	IndirectSeen  atomic.Uint64 // of which through an indirect table
	BadChains     atomic.Uint64 // malformed chains (served with length 0)

	mu        sync.Mutex
	status    uint8
	devSel    uint32
	drvSel    uint32
	drvFeat   uint64
	queueSel  uint32
	configGen uint32
	// MSI-X vectors (PCI only): the configuration change's and, in each
	// queue, the queue's; msixRefuse makes the device answer NO_VECTOR.
	configMSIX uint16
	msixRefuse bool
	queues     []queue
	isr        atomic.Uint32
	kick       chan struct{}
	irq        chan struct{}
	stop       chan struct{}
	done       chan struct{}
	startOnce  sync.Once
	stopOnce   sync.Once
	notifyMask []atomic.Bool
	manualMu   sync.Mutex // serializes Receive
}

type queue struct {
	size, max            uint16
	ready                bool
	msix                 uint16
	desc, driver, device uint64
	lastAvail, usedIdx   uint16
}

// NewDevice returns a device of the given type offering features, with
// nq queues of at most qmax entries, on memory m.
func NewDevice(typ uint32, features uint64, nq int, qmax uint16, m *Memory) *Device {
	return &Device{Type: typ, Features: features, NumQueues: nq, QueueMax: qmax, Mem: m}
}

func (d *Device) init() {
	d.startOnce.Do(func() {
		d.queues = make([]queue, d.NumQueues)
		for i := range d.queues {
			d.queues[i] = queue{max: d.QueueMax, size: d.QueueMax, msix: 0xFFFF}
		}
		d.configMSIX = 0xFFFF
		d.notifyMask = make([]atomic.Bool, d.NumQueues)
		d.kick = make(chan struct{}, 1)
		d.irq = make(chan struct{}, 1)
		d.stop = make(chan struct{})
		d.done = make(chan struct{})
	})
}

// Start runs the device in its own goroutine until Stop.
func (d *Device) Start() {
	d.init()
	go func() {
		defer close(d.done)
		for {
			select {
			case <-d.stop:
				return
			case <-d.kick:
				d.Service()
			}
		}
	}()
}

// Stop ends the device goroutine and waits for it.
func (d *Device) Stop() {
	d.init()
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
}

// ErrStopped is what Interrupt's Wait returns after Stop.
var ErrStopped = errors.New("virtiosim: device stopped")

// Interrupt implements virtio.Interrupt for this device.
func (d *Device) Interrupt() virtio.Interrupt { d.init(); return irqWaiter{d} }

type irqWaiter struct{ d *Device }

func (w irqWaiter) Wait() error {
	select {
	case <-w.d.irq:
		return nil
	case <-w.d.stop:
		return ErrStopped
	}
}

// Status is the device status the driver last set.
func (d *Device) Status() uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// DriverFeatures is the feature set the driver wrote.
func (d *Device) DriverFeatures() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drvFeat
}

// --- register-level operations shared by both transports (called with d.mu held) ---

// vector is what the device keeps when the driver writes MSI-X vector v.
func (d *Device) vector(v uint32) uint16 {
	if d.msixRefuse {
		return 0xFFFF
	}
	return uint16(v)
}

func (d *Device) setStatus(s uint8) {
	if s == 0 {
		d.status = 0
		d.drvFeat = 0
		for i := range d.queues {
			d.queues[i] = queue{max: d.QueueMax, size: d.QueueMax, msix: 0xFFFF}
		}
		d.configMSIX = 0xFFFF
		d.isr.Store(0)
		return
	}
	if s&virtio.StatusFeaturesOK != 0 && d.status&virtio.StatusFeaturesOK == 0 {
		if d.RejectFeaturesOK || d.drvFeat&^d.Features != 0 {
			s &^= virtio.StatusFeaturesOK
		}
	}
	d.status = s
}

func (d *Device) devFeatures() uint32 {
	switch d.devSel {
	case 0:
		return uint32(d.Features)
	case 1:
		return uint32(d.Features >> 32)
	}
	return 0
}

func (d *Device) setDrvFeatures(v uint32) {
	switch d.drvSel {
	case 0:
		d.drvFeat = d.drvFeat&^0xffffffff | uint64(v)
	case 1:
		d.drvFeat = d.drvFeat&0xffffffff | uint64(v)<<32
	}
}

func (d *Device) sel() *queue {
	if int(d.queueSel) < len(d.queues) {
		return &d.queues[d.queueSel]
	}
	return nil
}

func (d *Device) configRead(off uintptr, n int) uint32 {
	if d.UnstableConfigReads > 0 {
		d.UnstableConfigReads--
		d.configGen++
	}
	var v uint32
	for i := n - 1; i >= 0; i-- {
		v <<= 8
		if int(off)+i < len(d.Config) {
			v |= uint32(d.Config[int(off)+i])
		}
	}
	return v
}

// notify records a queue notification and wakes the device goroutine.
func (d *Device) notify(q uint32) {
	d.Notifications.Add(1)
	if int(q) < len(d.notifyMask) {
		d.notifyMask[q].Store(true)
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
	if d.OnNotify != nil {
		d.OnNotify(int(q))
	}
}

func (d *Device) raise() {
	d.Interrupts.Add(1)
	d.isr.Or(virtio.InterruptQueue)
	select {
	case d.irq <- struct{}{}:
	default:
	}
}

// --- the device side of split virtqueues ---

// word32 is the aligned 32-bit word at b[off:].
func word32(b []byte, off uint64) *uint32 {
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%4 != 0 {
		panic("virtiosim: misaligned ring word")
	}
	return (*uint32)(p)
}

// Service serves every ready queue until its available ring is drained. The
// device goroutine calls it on notification; tests may call it directly
// instead of Start.
func (d *Device) Service() {
	d.init()
	for i := range d.queues {
		d.serviceQueue(i)
	}
}

func (d *Device) serviceQueue(qi int) {
	d.mu.Lock()
	q := d.queues[qi]
	eventIdx := d.drvFeat&virtio.FeatureEventIdx != 0
	live := d.status&virtio.StatusDriverOK != 0
	d.mu.Unlock()
	if !q.ready || !live || qi < 64 && d.ManualQueues&(1<<qi) != 0 {
		return
	}
	n := uint64(q.size)
	descT, ok1 := d.Mem.Slice(q.desc, 16*n)
	avail, ok2 := d.Mem.Slice(q.driver, 6+2*n)
	used, ok3 := d.Mem.Slice(q.device, 6+8*n)
	if !ok1 || !ok2 || !ok3 {
		d.BadChains.Add(1)
		return
	}
	availW := word32(avail, 0)
	usedW := word32(used, 0)
	usedEvent := word32(avail, 4+2*n) // used_event plus the driver's padding
	availEvent := word32(used, 4+8*n) // avail_event plus the driver's padding

	var usedFlags uint32
	if !eventIdx {
		usedFlags = 1 // NO_NOTIFY while we are busy
	}
	atomic.StoreUint32(usedW, usedFlags|uint32(q.usedIdx)<<16)
	for {
		availIdx := uint16(atomic.LoadUint32(availW) >> 16)
		old := q.usedIdx
		batch := 0
		for q.lastAvail != availIdx {
			slot := uint64(q.lastAvail % q.size)
			head := binary.LittleEndian.Uint16(avail[4+2*slot:])
			written := d.serve(qi, descT, q.size, head)
			e := 4 + 8*uint64(q.usedIdx%q.size)
			binary.LittleEndian.PutUint32(used[e:], uint32(head))
			binary.LittleEndian.PutUint32(used[e+4:], written)
			q.usedIdx++
			q.lastAvail++
			batch++
			if d.MaxBatch > 0 && batch >= d.MaxBatch {
				d.publish(usedW, usedFlags, &q, old, eventIdx, usedEvent, availW)
				old, batch = q.usedIdx, 0
			}
		}
		d.publish(usedW, usedFlags, &q, old, eventIdx, usedEvent, availW)
		// Ask for the next notification, then look again: a chain published
		// before our request reached the driver would otherwise sit unseen.
		if eventIdx {
			atomic.StoreUint32(availEvent, uint32(q.lastAvail))
		} else {
			atomic.StoreUint32(usedW, uint32(q.usedIdx)<<16)
		}
		if uint16(atomic.LoadUint32(availW)>>16) == q.lastAvail {
			break
		}
		if !eventIdx {
			atomic.StoreUint32(usedW, usedFlags|uint32(q.usedIdx)<<16)
		}
	}
	d.mu.Lock()
	if d.queues[qi].ready && d.queues[qi].desc == q.desc {
		d.queues[qi].lastAvail, d.queues[qi].usedIdx = q.lastAvail, q.usedIdx
	}
	d.mu.Unlock()
}

// publish makes the used entries since old visible and interrupts if the
// driver asked for it.
func (d *Device) publish(usedW *uint32, flags uint32, q *queue, old uint16, eventIdx bool, usedEvent, availW *uint32) {
	if q.usedIdx == old {
		return
	}
	atomic.StoreUint32(usedW, flags|uint32(q.usedIdx)<<16)
	var want bool
	if eventIdx {
		ev := uint16(atomic.LoadUint32(usedEvent))
		want = uint16(q.usedIdx-ev-1) < uint16(q.usedIdx-old)
	} else {
		want = atomic.LoadUint32(availW)&1 == 0
	}
	if want {
		d.raise()
	}
}

type rawDesc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func readDesc(t []byte, i uint64) rawDesc {
	b := t[16*i : 16*i+16]
	return rawDesc{
		addr:  binary.LittleEndian.Uint64(b),
		len:   binary.LittleEndian.Uint32(b[8:]),
		flags: binary.LittleEndian.Uint16(b[12:]),
		next:  binary.LittleEndian.Uint16(b[14:]),
	}
}

// serve walks the chain at head and runs the handler on it.
func (d *Device) serve(qi int, descT []byte, size uint16, head uint16) uint32 {
	c, ok := d.walk(descT, size, head)
	if !ok {
		d.BadChains.Add(1)
		return 0
	}
	d.Chains.Add(1)
	if c.Indirect {
		d.IndirectSeen.Add(1)
	}
	h := d.Handler
	if h == nil {
		h = Echo
	}
	return h(qi, &c)
}

func (d *Device) walk(descT []byte, size uint16, head uint16) (Chain, bool) {
	c := Chain{Head: head}
	if head >= size {
		return c, false
	}
	table, n, i := descT, uint64(size), uint64(head)
	first := readDesc(descT, i)
	if first.flags&4 != 0 {
		if first.flags&1 != 0 || first.len == 0 || first.len%16 != 0 {
			return c, false
		}
		t, ok := d.Mem.Slice(first.addr, uint64(first.len))
		if !ok {
			return c, false
		}
		table, n, i, c.Indirect = t, uint64(first.len/16), 0, true
	}
	for steps := uint64(0); ; steps++ {
		if steps >= n || i >= n {
			return c, false // a loop or a link out of the table
		}
		dd := readDesc(table, i)
		if dd.flags&4 != 0 {
			return c, false // nested indirect
		}
		buf, ok := d.Mem.Slice(dd.addr, uint64(dd.len))
		if !ok {
			return c, false
		}
		if dd.flags&2 != 0 {
			c.Writable = append(c.Writable, buf)
		} else {
			if len(c.Writable) > 0 {
				return c, false // readable after writable
			}
			c.Readable = append(c.Readable, buf)
		}
		if dd.flags&1 == 0 {
			return c, true
		}
		i = uint64(dd.next)
	}
}
