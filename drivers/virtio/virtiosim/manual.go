package virtiosim

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// Receive serves the manual queue qi (see ManualQueues) once, the way a
// network device fills receive buffers: it takes available chains in ring
// order until their writable capacity reaches need or max chains are taken
// (max < 1 means no limit), calls fill with them, and returns each chain to
// the driver with the length fill gives for it (fill may lie, to play a
// hostile device; a missing length counts as 0; a nil result takes
// nothing and Receive returns false). The used index is
// published once for all of them, and the driver is interrupted if it asked.
//
// If the available chains cannot reach need within max chains, Receive
// takes nothing, asks the driver to notify it when it adds buffers, and
// returns false: retry from OnNotify. Receive is safe to call from any
// goroutine; calls are serialized.
func (d *Device) Receive(qi int, need uint32, max int, fill func(cs []Chain) []uint32) bool {
	d.init()
	d.manualMu.Lock()
	defer d.manualMu.Unlock()
	d.mu.Lock()
	if qi < 0 || qi >= len(d.queues) {
		d.mu.Unlock()
		return false
	}
	q := d.queues[qi]
	eventIdx := d.drvFeat&virtio.FeatureEventIdx != 0
	live := d.status&virtio.StatusDriverOK != 0
	d.mu.Unlock()
	if !q.ready || !live {
		return false
	}
	n := uint64(q.size)
	descT, ok1 := d.Mem.Slice(q.desc, 16*n)
	avail, ok2 := d.Mem.Slice(q.driver, 6+2*n)
	used, ok3 := d.Mem.Slice(q.device, 6+8*n)
	if !ok1 || !ok2 || !ok3 {
		d.BadChains.Add(1)
		return false
	}
	availW := word32(avail, 0)
	usedW := word32(used, 0)
	usedEvent := word32(avail, 4+2*n)
	availEvent := word32(used, 4+8*n)

	for {
		availIdx := uint16(atomic.LoadUint32(availW) >> 16)
		var cs []Chain
		var have uint64
		next := q.lastAvail
		for next != availIdx && have < uint64(need) && (max < 1 || len(cs) < max) {
			head := binary.LittleEndian.Uint16(avail[4+2*uint64(next%q.size):])
			c, ok := d.walk(descT, q.size, head)
			if !ok {
				d.BadChains.Add(1)
				c = Chain{Head: head}
			}
			for _, w := range c.Writable {
				have += uint64(len(w))
			}
			cs = append(cs, c)
			next++
		}
		if len(cs) == 0 || have < uint64(need) {
			// Not enough room: ask to be told about buffers beyond those
			// seen, then look again, since buffers added before the request
			// was visible would not notify.
			if eventIdx {
				atomic.StoreUint32(availEvent, uint32(availIdx))
			}
			if uint16(atomic.LoadUint32(availW)>>16) == availIdx {
				return false
			}
			continue
		}
		lens := fill(cs)
		if lens == nil {
			return false // the model declined the chains: nothing is taken
		}
		old := q.usedIdx
		for i, c := range cs {
			var l uint32
			if i < len(lens) {
				l = lens[i]
			}
			e := 4 + 8*uint64(q.usedIdx%q.size)
			binary.LittleEndian.PutUint32(used[e:], uint32(c.Head))
			binary.LittleEndian.PutUint32(used[e+4:], l)
			q.usedIdx++
			d.Chains.Add(1)
		}
		q.lastAvail = next
		d.publish(usedW, 0, &q, old, eventIdx, usedEvent, availW)
		if eventIdx {
			atomic.StoreUint32(availEvent, uint32(q.lastAvail))
		}
		d.mu.Lock()
		if d.queues[qi].ready && d.queues[qi].desc == q.desc {
			d.queues[qi].lastAvail, d.queues[qi].usedIdx = q.lastAvail, q.usedIdx
		}
		d.mu.Unlock()
		return true
	}
}

// Available is how many chains the driver has made available on queue qi
// that the device has not taken.
func (d *Device) Available(qi int) int {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	if qi < 0 || qi >= len(d.queues) || !d.queues[qi].ready {
		return 0
	}
	q := d.queues[qi]
	avail, ok := d.Mem.Slice(q.driver, 4)
	if !ok {
		return 0
	}
	return int(uint16(atomic.LoadUint32(word32(avail, 0))>>16) - q.lastAvail)
}

// SetConfig writes b into the device configuration at off (growing it if
// needed), bumps the configuration generation and raises a
// configuration-change interrupt.
func (d *Device) SetConfig(off int, b []byte) {
	d.init()
	d.mu.Lock()
	if need := off + len(b); need > len(d.Config) {
		d.Config = append(d.Config, make([]byte, need-len(d.Config))...)
	}
	copy(d.Config[off:], b)
	d.configGen++
	d.mu.Unlock()
	d.Interrupts.Add(1)
	d.isr.Or(virtio.InterruptConfig)
	select {
	case d.irq <- struct{}{}:
	default:
	}
}
