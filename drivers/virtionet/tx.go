package virtionet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// Send transmits one frame (Ethernet header first, given in pieces that are
// concatenated) with header h, and notifies the device if it asks for it.
// The frame is copied into DMA buffers, so the caller keeps its slices.
//
// h.NumBuffers is ignored. HdrNeedsCsum without CSUM negotiated is completed
// in software; a GSO type needs the matching HOST_TSO feature, HdrNeedsCsum
// and a GSOSize (ErrOffload otherwise).
//
// Back-pressure: when the ring or the buffer pool is full, Send reclaims
// finished transmissions; if there is still no room it waits for the device
// to finish some, at most Config.SendTimeout, then returns ErrQueueFull and
// the frame is not sent.
func (d *Device) Send(h NetHdr, frame [][]byte) error { return d.send(h, frame, true) }

// SendDeferred is Send without the notification: call Flush after a batch.
func (d *Device) SendDeferred(h NetHdr, frame [][]byte) error { return d.send(h, frame, false) }

// Flush notifies the device of frames queued with SendDeferred (if it wants
// a notification).
func (d *Device) Flush() {
	d.txMu.Lock()
	d.txq.Kick()
	d.txMu.Unlock()
}

func (d *Device) send(h NetHdr, frame [][]byte, kick bool) error {
	total := 0
	for _, p := range frame {
		total += len(p)
	}
	if total < ethHeader || total > d.MaxFrame() {
		d.TxErrors.Add(1)
		return ErrFrameSize
	}
	var softCsum bool
	if err := d.txHeaderOK(&h, total, &softCsum); err != nil {
		d.TxErrors.Add(1)
		return err
	}
	h.NumBuffers = 0
	nchunks := (HdrLen + total + chunkSize - 1) / chunkSize

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	d.txMu.Lock()
	for {
		if d.closed.Load() {
			d.txMu.Unlock()
			return ErrClosed
		}
		if d.txBroken != nil {
			err := d.txBroken
			d.txMu.Unlock()
			return err
		}
		if len(d.txFree) < nchunks || len(d.slotFree) == 0 || !d.ringRoom(nchunks) {
			d.reclaimLocked()
		}
		if len(d.txFree) >= nchunks && len(d.slotFree) > 0 && d.ringRoom(nchunks) {
			break
		}
		// Full: wait for the Run goroutine to reclaim, with a bound.
		wait := d.cfg.SendTimeout
		if wait == 0 {
			wait = 100 * time.Millisecond
		}
		if wait < 0 {
			d.TxFull.Add(1)
			d.txMu.Unlock()
			return ErrQueueFull
		}
		if !d.txq.EnableInterrupts() {
			continue // completions arrived meanwhile
		}
		if d.txWaiters == 0 {
			d.txq.Kick() // make sure the device has seen what fills the ring
		}
		d.txWaiters++
		wake := d.txWake
		d.txMu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		// The Run goroutine sleeps in Wait; the transmit interrupt just
		// enabled ends that sleep, and its reclaim closes wake.
		var timedOut bool
		select {
		case <-wake:
		case <-timer.C:
			timedOut = true
		}
		d.txMu.Lock()
		d.txWaiters--
		if timedOut {
			d.TxFull.Add(1)
			d.txMu.Unlock()
			return ErrQueueFull
		}
	}

	// Copy: header then frame, into chunks taken in stack order, merging
	// neighbours into one segment.
	s := d.slotFree[len(d.slotFree)-1]
	d.slotFree = d.slotFree[:len(d.slotFree)-1]
	s.chunks = s.chunks[:0]
	d.txSegs = d.txSegs[:0]
	for range nchunks {
		c := d.txFree[len(d.txFree)-1]
		d.txFree = d.txFree[:len(d.txFree)-1]
		s.chunks = append(s.chunks, c)
	}
	w := txWriter{d: d, s: s}
	var hb [HdrLen]byte
	h.Encode(hb[:])
	w.write(hb[:])
	for _, p := range frame {
		w.write(p)
	}
	if softCsum {
		var c Checksum
		skip := int(h.CsumStart)
		for _, p := range frame {
			if skip >= len(p) {
				skip -= len(p)
				continue
			}
			c.Add(p[skip:])
			skip = 0
		}
		var sum [2]byte
		binary.BigEndian.PutUint16(sum[:], ^c.Sum16())
		w.writeAt(HdrLen+int(h.CsumStart)+int(h.CsumOffset), sum[:])
	}
	n := HdrLen + total
	for i, c := range s.chunks {
		l := min(chunkSize, n-i*chunkSize)
		addr := d.txPhys + uint64(c)*chunkSize
		if k := len(d.txSegs); k > 0 && d.txSegs[k-1].Addr+uint64(d.txSegs[k-1].Len) == addr {
			d.txSegs[k-1].Len += uint32(l)
			continue
		}
		d.txSegs = append(d.txSegs, virtio.Segment{Addr: addr, Len: uint32(l)})
	}
	if err := d.txq.Add(d.txSegs, nil, s); err != nil {
		// ringRoom said there was room; this is a bug, not back-pressure.
		d.freeSlot(s)
		d.txMu.Unlock()
		d.TxErrors.Add(1)
		return fmt.Errorf("virtionet: transmit: %w", err)
	}
	if kick {
		d.txq.Kick()
	}
	d.txMu.Unlock()
	d.TxPackets.Add(1)
	d.TxBytes.Add(uint64(total))
	return nil
}

// ringRoom says whether a chain of up to n segments fits in the ring.
func (d *Device) ringRoom(n int) bool {
	free := d.txq.FreeDescriptors()
	if d.txq.Indirect() && n > 1 {
		return free >= 1
	}
	return free >= n
}

func (d *Device) txHeaderOK(h *NetHdr, total int, soft *bool) error {
	if h.Flags&^HdrNeedsCsum != 0 {
		return fmt.Errorf("%w: flags %#x", ErrOffload, h.Flags)
	}
	if h.Flags&HdrNeedsCsum != 0 {
		if int(h.CsumStart) >= total || int(h.CsumStart)+int(h.CsumOffset)+2 > total {
			return fmt.Errorf("%w: checksum at %d+%d in a %d-byte frame", ErrOffload, h.CsumStart, h.CsumOffset, total)
		}
		if !d.fs.Has(FeatureCSUM) {
			*soft = true
			h.Flags &^= HdrNeedsCsum
		}
	}
	switch h.GSOType {
	case GSONone:
		if total > d.maxTx {
			return ErrFrameSize
		}
		return nil
	case GSOTCPv4:
		if !d.fs.Has(FeatureHostTSO4) {
			return fmt.Errorf("%w: TSO4 not negotiated", ErrOffload)
		}
	case GSOTCPv6:
		if !d.fs.Has(FeatureHostTSO6) {
			return fmt.Errorf("%w: TSO6 not negotiated", ErrOffload)
		}
	default:
		return fmt.Errorf("%w: gso type %#x", ErrOffload, h.GSOType)
	}
	if h.GSOSize == 0 || h.Flags&HdrNeedsCsum == 0 || *soft {
		return fmt.Errorf("%w: GSO without a segment size or a partial checksum", ErrOffload)
	}
	return nil
}

// txWriter copies into a slot's chunks.
type txWriter struct {
	d   *Device
	s   *txSlot
	off int
}

func (w *txWriter) write(p []byte) {
	w.writeAt(w.off, p)
	w.off += len(p)
}

func (w *txWriter) writeAt(off int, p []byte) {
	for len(p) > 0 {
		c := int(w.s.chunks[off/chunkSize])
		o := off % chunkSize
		k := copy(w.d.txMem[c*chunkSize+o:(c+1)*chunkSize], p)
		p = p[k:]
		off += k
	}
}

func (d *Device) freeSlot(s *txSlot) {
	d.txFree = append(d.txFree, s.chunks...)
	s.chunks = s.chunks[:0]
	d.slotFree = append(d.slotFree, s)
}

// reclaimLocked takes finished transmissions back and wakes waiting
// senders; woke says whether there were any. Called with txMu held.
func (d *Device) reclaimLocked() (woke bool) {
	freed := false
	for {
		u, ok, err := d.txq.Pop()
		if errors.Is(err, virtio.ErrUsedIndex) {
			d.txBroken = fmt.Errorf("%w: transmit queue: %w", ErrDeviceBroken, err)
			break
		}
		if !ok {
			if err != nil {
				d.TxErrors.Add(1)
				continue
			}
			break
		}
		d.freeSlot(u.Token.(*txSlot))
		freed = true
	}
	if (freed || d.txBroken != nil) && d.txWaiters > 0 {
		close(d.txWake)
		d.txWake = make(chan struct{})
		return true
	}
	return false
}
