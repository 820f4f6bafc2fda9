package virtio

import (
	"sync/atomic"
	"unsafe"
)

// Descriptor flags (virtio 1.2 §2.7.5).
const (
	descNext     = 1
	descWrite    = 2
	descIndirect = 4
)

// Ring flags.
const (
	availNoInterrupt = 1 // driver to device: do not interrupt (without EVENT_IDX)
	usedNoNotify     = 1 // device to driver: do not notify (without EVENT_IDX)
)

// MaxQueueSize is the largest split virtqueue (virtio 1.2 §2.7).
const MaxQueueSize = 32768

// desc is a virtq_desc as it sits in memory on a little-endian machine.
type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

// usedElem is a virtq_used_elem.
type usedElem struct {
	id  uint32
	len uint32
}

// Segment is one buffer of a chain: Len bytes at guest-physical address Addr.
type Segment struct {
	Addr uint64
	Len  uint32
}

// Used is a buffer chain the device has given back: the token passed to Add
// and the number of bytes the device says it wrote into the writable part.
type Used struct {
	Token any
	Len   uint32
}

// Notifier tells the device that a queue has new available buffers. Every
// Transport is one.
type Notifier interface {
	Notify(queue uint16)
}

// QueueLayout places a split virtqueue in one DMA region:
//
//	DescOff      descriptor table, 16*Size bytes, 16-aligned
//	AvailOff     flags, idx, ring[Size], used_event, then 2 bytes of padding
//	             this package owns, so used_event can be stored as a 32-bit word
//	UsedOff      flags, idx, ring[Size]{id, len}, avail_event, then 2 bytes of
//	             padding, so avail_event can be loaded as a 32-bit word; 4-aligned
//	IndirectOff  Size indirect tables of IndirectMax descriptors each (none if
//	             IndirectMax is 0), 16-aligned
//
// With Size a power of two of at least 2 every 16-bit ring field shares its
// naturally aligned 32-bit word only with a field written by the same side
// or with that padding.
type QueueLayout struct {
	Size        uint16
	IndirectMax uint16
	DescOff     uintptr
	AvailOff    uintptr
	UsedOff     uintptr
	IndirectOff uintptr
	Total       uintptr
}

// Layout computes the layout of a queue of size entries (a power of two from
// 2 to MaxQueueSize) with indirectMax-entry indirect tables (0: none).
func Layout(size, indirectMax uint16) (QueueLayout, error) {
	if size < 2 || size > MaxQueueSize || size&(size-1) != 0 {
		return QueueLayout{}, ErrNoQueue
	}
	n := uintptr(size)
	l := QueueLayout{Size: size, IndirectMax: indirectMax}
	l.AvailOff = 16 * n
	l.UsedOff = l.AvailOff + 8 + 2*n // 4-aligned since 2n is a multiple of 4
	l.IndirectOff = (l.UsedOff + 8 + 8*n + 15) &^ 15
	l.Total = l.IndirectOff + n*uintptr(indirectMax)*16
	return l, nil
}

// inflight is the driver's private record of one chain the device holds,
// indexed by its head descriptor.
type inflight struct {
	token    any
	ndesc    uint16 // descriptors taken from the main table
	busy     bool
	writable uint32 // total device-writable bytes
}

// Queue is the driver side of one split virtqueue. It is not safe for
// concurrent use: one goroutine (or a caller-held lock) owns it. The device,
// of course, runs concurrently.
type Queue struct {
	index   uint16
	size    uint16
	mask    uint16
	notify  Notifier
	layout  QueueLayout
	phys    uint64
	desc    []desc
	availW  *uint32 // avail flags (low half) and idx (high half)
	ring    []uint16
	usedEvW *uint32 // used_event (low half), padding
	usedW   *uint32 // used flags (low half) and idx (high half)
	used    []usedElem
	availEv *uint32 // avail_event (low half), padding
	indir   []desc  // size*indirectMax descriptors

	eventIdx bool
	indirect bool
	intrOn   bool

	// Private driver state, out of the device's reach.
	next       []uint16 // free list and chain links
	state      []inflight
	freeHead   uint16
	numFree    uint16
	inFlight   uint16 // chains the device holds
	availIdx   uint16 // shadow of avail.idx
	availFlags uint16
	kickedIdx  uint16 // avail.idx at the last notification decision
	lastUsed   uint16

	// Notifications counts the notifications Kick sent, Suppressed the ones
	// the device's avail_event or NO_NOTIFY told it to skip.
	Notifications, Suppressed uint64
}

// NewQueue lays out queue index of the given size in mem (at least
// Layout(size, indirectMax).Total bytes, 16-aligned) for a device that
// accepted features. Indirect descriptors are used only when features has
// FeatureIndirectDesc and indirectMax >= 2; EVENT_IDX suppression only when
// features has FeatureEventIdx. The memory is zeroed. Interrupts start
// enabled.
func NewQueue(index, size uint16, mem DMA, indirectMax uint16, features uint64, n Notifier) (*Queue, error) {
	useIndirect := features&FeatureIndirectDesc != 0 && indirectMax >= 2
	if !useIndirect {
		indirectMax = 0
	}
	l, err := Layout(size, indirectMax)
	if err != nil {
		return nil, err
	}
	b := mem.Bytes()
	if uintptr(len(b)) < l.Total {
		return nil, ErrBadAlignment
	}
	if mem.Phys()%16 != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%16 != 0 {
		return nil, ErrBadAlignment
	}
	b = b[:l.Total]
	clear(b)
	base := unsafe.Pointer(unsafe.SliceData(b))
	q := &Queue{
		index:    index,
		size:     size,
		mask:     size - 1,
		notify:   n,
		layout:   l,
		phys:     mem.Phys(),
		desc:     unsafe.Slice((*desc)(base), size),
		availW:   (*uint32)(unsafe.Add(base, l.AvailOff)),
		ring:     unsafe.Slice((*uint16)(unsafe.Add(base, l.AvailOff+4)), size),
		usedEvW:  (*uint32)(unsafe.Add(base, l.AvailOff+4+2*uintptr(size))),
		usedW:    (*uint32)(unsafe.Add(base, l.UsedOff)),
		used:     unsafe.Slice((*usedElem)(unsafe.Add(base, l.UsedOff+4)), size),
		availEv:  (*uint32)(unsafe.Add(base, l.UsedOff+4+8*uintptr(size))),
		eventIdx: features&FeatureEventIdx != 0,
		indirect: useIndirect,
		intrOn:   true,
		next:     make([]uint16, size),
		state:    make([]inflight, size),
		numFree:  size,
	}
	if useIndirect {
		q.indir = unsafe.Slice((*desc)(unsafe.Add(base, l.IndirectOff)), uintptr(size)*uintptr(indirectMax))
	}
	for i := range q.next {
		q.next[i] = uint16(i + 1) // the last link is never followed: numFree bounds every walk
	}
	return q, nil
}

// Index is the queue's number on its device.
func (q *Queue) Index() uint16 { return q.index }

// Size is the number of descriptors.
func (q *Queue) Size() uint16 { return q.size }

// Layout is where the queue's parts sit in its DMA region.
func (q *Queue) Layout() QueueLayout { return q.layout }

// DescAddr, DriverAddr and DeviceAddr are the guest-physical addresses of the
// descriptor table, the available (driver) ring and the used (device) ring,
// for the transport's queue registers.
func (q *Queue) DescAddr() uint64   { return q.phys + uint64(q.layout.DescOff) }
func (q *Queue) DriverAddr() uint64 { return q.phys + uint64(q.layout.AvailOff) }
func (q *Queue) DeviceAddr() uint64 { return q.phys + uint64(q.layout.UsedOff) }

// IndexAddrs are the guest-physical addresses of the available ring's index
// (the driver's) and the used ring's (the device's), each 16 bits after a
// 16-bit flags field (virtio 1.2 §2.7.6, §2.7.8): the device has used every
// buffer made available when they are equal.
func (q *Queue) IndexAddrs() (avail, used uint64) { return q.DriverAddr() + 2, q.DeviceAddr() + 2 }

// FreeDescriptors is how many descriptors of the main table are free.
func (q *Queue) FreeDescriptors() int { return int(q.numFree) }

// InFlight is how many chains the device holds.
func (q *Queue) InFlight() int { return int(q.inFlight) }

// EventIdx and Indirect say which ring features this queue uses.
func (q *Queue) EventIdx() bool { return q.eventIdx }
func (q *Queue) Indirect() bool { return q.indirect }

// Add makes a chain available to the device: the out segments, which the
// device reads, then the in segments, which it writes. token comes back in
// Used when the device returns the chain; pass a pointer (or nil) to keep Add
// free of allocation. With indirect descriptors negotiated, a chain of 2 to
// IndirectMax segments takes one descriptor of the main table. Add publishes
// the chain at once but does not notify the device: call Kick after one or
// more Adds. It returns ErrQueueFull when the table has too few free
// descriptors; nothing is published then.
func (q *Queue) Add(out, in []Segment, token any) error {
	n := len(out) + len(in)
	if n == 0 {
		return ErrBadChain
	}
	var writable uint64
	for i := range out {
		if out[i].Len == 0 {
			return ErrBadChain
		}
	}
	for i := range in {
		if in[i].Len == 0 {
			return ErrBadChain
		}
		writable += uint64(in[i].Len)
	}
	if writable > 1<<32-1 {
		return ErrBadChain
	}
	useIndirect := q.indirect && n > 1 && n <= int(q.layout.IndirectMax)
	if !useIndirect && n > int(q.numFree) || q.numFree == 0 {
		return ErrQueueFull
	}

	var head, ndesc uint16
	if useIndirect {
		head = q.freeHead
		m := uintptr(q.layout.IndirectMax)
		t := q.indir[uintptr(head)*m : uintptr(head)*m+uintptr(n)]
		fill(t, out, in)
		q.desc[head] = desc{
			addr:  q.phys + uint64(q.layout.IndirectOff) + uint64(uintptr(head)*m*16),
			len:   uint32(n) * 16,
			flags: descIndirect,
		}
		ndesc = 1
		q.freeHead = q.next[head]
	} else {
		head = q.freeHead
		ndesc = uint16(n)
		cur := head
		i := 0
		for _, s := range out {
			last := i == n-1
			q.desc[cur] = desc{addr: s.Addr, len: s.Len, flags: flagNext(!last), next: q.next[cur]}
			cur = q.next[cur]
			i++
		}
		for _, s := range in {
			last := i == n-1
			q.desc[cur] = desc{addr: s.Addr, len: s.Len, flags: descWrite | flagNext(!last), next: q.next[cur]}
			cur = q.next[cur]
			i++
		}
		q.freeHead = cur
	}
	q.numFree -= ndesc
	q.inFlight++
	q.state[head] = inflight{token: token, ndesc: ndesc, busy: true, writable: uint32(writable)}

	q.ring[q.availIdx&q.mask] = head
	q.availIdx++
	// Publishes the descriptors and the ring slot (plain stores above).
	atomic.StoreUint32(q.availW, uint32(q.availFlags)|uint32(q.availIdx)<<16)
	return nil
}

func flagNext(b bool) uint16 {
	if b {
		return descNext
	}
	return 0
}

// fill writes an indirect table: entry i links to entry i+1.
func fill(t []desc, out, in []Segment) {
	n := len(out) + len(in)
	for i, s := range out {
		t[i] = desc{addr: s.Addr, len: s.Len, flags: flagNext(i < n-1), next: uint16(i + 1)}
	}
	for j, s := range in {
		i := len(out) + j
		t[i] = desc{addr: s.Addr, len: s.Len, flags: descWrite | flagNext(i < n-1), next: uint16(i + 1)}
	}
}

// NeedNotify says whether the device wants a notification for the chains
// published since the last Kick: with EVENT_IDX, whether the available index
// moved past the device's avail_event (mod 2^16); without it, whether the
// device has left VIRTQ_USED_F_NO_NOTIFY clear. The atomic store in Add is
// the full barrier that orders the index publication before this load.
func (q *Queue) NeedNotify() bool {
	newIdx, oldIdx := q.availIdx, q.kickedIdx
	if newIdx == oldIdx {
		return false
	}
	if q.eventIdx {
		return NeedEvent(uint16(atomic.LoadUint32(q.availEv)), newIdx, oldIdx)
	}
	return uint16(atomic.LoadUint32(q.usedW))&usedNoNotify == 0
}

// Kick notifies the device if NeedNotify says so and reports whether it did.
func (q *Queue) Kick() bool {
	need := q.NeedNotify()
	if q.availIdx != q.kickedIdx && !need {
		q.Suppressed++
	}
	q.kickedIdx = q.availIdx
	if need {
		q.Notifications++
		q.notify.Notify(q.index)
	}
	return need
}

// NeedEvent is the event-index rule (virtio 1.2 §2.7.7.2 and §2.7.10.2):
// moving an index from oldIdx to newIdx crosses the other side's event index
// ev when ev is in [oldIdx, newIdx) modulo 2^16.
func NeedEvent(ev, newIdx, oldIdx uint16) bool {
	return newIdx-ev-1 < newIdx-oldIdx
}

// Pending is how many used entries the device has published that Pop has not
// consumed yet (as the device claims: Pop validates each one).
func (q *Queue) Pending() int {
	return int(uint16(atomic.LoadUint32(q.usedW)>>16) - q.lastUsed)
}

// Pop takes the next used entry. ok is false when there is none (err nil) or
// when the entry was rejected (err set, entry consumed): ErrUsedIDRange for an
// id outside the table, ErrUsedIDNotInFlight for a chain the device does not
// hold. For ErrUsedLen the chain is valid and returned (ok true) with Len
// clamped to its writable capacity; treat its contents as suspect.
// ErrUsedIndex means the device published more entries than it holds chains;
// nothing is consumed and the queue should be reset.
func (q *Queue) Pop() (u Used, ok bool, err error) {
	usedIdx := uint16(atomic.LoadUint32(q.usedW) >> 16)
	pending := usedIdx - q.lastUsed
	if pending == 0 {
		return Used{}, false, nil
	}
	if pending > q.inFlight {
		return Used{}, false, ErrUsedIndex
	}
	e := &q.used[q.lastUsed&q.mask]
	id := atomic.LoadUint32(&e.id)
	n := atomic.LoadUint32(&e.len)
	q.lastUsed++
	if q.eventIdx && q.intrOn {
		atomic.StoreUint32(q.usedEvW, uint32(q.lastUsed))
	}
	if id >= uint32(q.size) {
		return Used{}, false, ErrUsedIDRange
	}
	st := &q.state[id]
	if !st.busy {
		return Used{}, false, ErrUsedIDNotInFlight
	}
	u.Token = st.token
	u.Len = n
	if n > st.writable {
		u.Len = st.writable
		err = ErrUsedLen
	}
	q.free(uint16(id))
	return u, true, err
}

// free returns head's chain to the free list.
func (q *Queue) free(head uint16) {
	st := &q.state[head]
	last := head
	for i := uint16(1); i < st.ndesc; i++ {
		last = q.next[last]
	}
	q.next[last] = q.freeHead
	q.freeHead = head
	q.numFree += st.ndesc
	q.inFlight--
	*st = inflight{}
}

// DisableInterrupts asks the device not to interrupt for used buffers. It is
// a hint: the device may still interrupt.
func (q *Queue) DisableInterrupts() {
	q.intrOn = false
	if q.eventIdx {
		// An event index just behind the consumer is crossed again only
		// after 2^16 more used entries.
		atomic.StoreUint32(q.usedEvW, uint32(q.lastUsed-1))
		return
	}
	q.availFlags |= availNoInterrupt
	atomic.StoreUint32(q.availW, uint32(q.availFlags)|uint32(q.availIdx)<<16)
}

// EnableInterrupts asks for an interrupt at the next used buffer and reports
// whether it is safe to wait for it: false means used entries arrived
// meanwhile (Pop them first, or they may never interrupt).
func (q *Queue) EnableInterrupts() bool { return q.EnableInterruptsAfter(1) }

// EnableInterruptsAfter asks for an interrupt once n (at least 1) more used
// buffers are published; without EVENT_IDX the device decides and n is
// treated as 1. The result is as for EnableInterrupts. The atomic store is
// the full barrier that orders the request before the re-read of the used
// index.
func (q *Queue) EnableInterruptsAfter(n uint16) bool {
	if n == 0 {
		n = 1
	}
	q.intrOn = true
	if q.eventIdx {
		atomic.StoreUint32(q.usedEvW, uint32(q.lastUsed+n-1))
	} else {
		q.availFlags &^= availNoInterrupt
		atomic.StoreUint32(q.availW, uint32(q.availFlags)|uint32(q.availIdx)<<16)
	}
	return uint16(atomic.LoadUint32(q.usedW)>>16) == q.lastUsed
}
