package virtionet

import (
	"errors"
	"fmt"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// post makes b available to the device again.
func (d *Device) post(b *rxBuf) error {
	d.rxSeg[0] = virtio.Segment{Addr: b.phys, Len: uint32(d.rxBufSize)}
	return d.rxq.Add(nil, d.rxSeg[:], b)
}

// repost gives b back; the queue has room since b came out of it.
func (d *Device) repost(b *rxBuf) {
	if err := d.post(b); err != nil {
		d.RxErrors.Add(1)
	}
}

// serviceRx drains the receive ring, delivers frames and reposts buffers;
// urgent says whether the callback called any delivered frame urgent.
func (d *Device) serviceRx() (urgent bool, err error) {
	popped := false
	for {
		u, ok, err := d.rxq.Pop()
		if errors.Is(err, virtio.ErrUsedIndex) {
			return false, fmt.Errorf("%w: receive queue: %w", ErrDeviceBroken, err)
		}
		if !ok {
			if err != nil { // an id out of range or not in flight: entry consumed
				d.RxErrors.Add(1)
				continue
			}
			break
		}
		popped = true
		b := u.Token.(*rxBuf)
		d.rxOne(b, int(u.Len), err != nil)
	}
	if popped {
		d.rxq.Kick()
	}
	urgent, d.rxUrgent = d.rxUrgent, false
	return urgent, nil
}

// rxOne handles one used receive buffer holding n bytes; bad means the
// device claimed more than the buffer holds.
func (d *Device) rxOne(b *rxBuf, n int, bad bool) {
	if !d.merge {
		if bad || n < HdrLen {
			d.RxErrors.Add(1)
			d.repost(b)
			return
		}
		h := DecodeHdr(b.b)
		d.deliver(h, append(d.pieces[:0], b.b[HdrLen:n]), n-HdrLen)
		d.repost(b)
		return
	}
	if bad {
		d.RxErrors.Add(1)
		d.dropPending()
		d.repost(b)
		return
	}
	if len(d.pend) == 0 {
		if n < HdrLen {
			d.RxErrors.Add(1)
			d.repost(b)
			return
		}
		h := DecodeHdr(b.b)
		// num_buffers beyond the buffers the ring can hold can never be
		// satisfied: reject it instead of waiting forever.
		if h.NumBuffers == 0 || int(h.NumBuffers) > int(d.rxq.Size()) {
			d.RxErrors.Add(1)
			d.repost(b)
			return
		}
		d.pendHdr = h
	}
	d.pend = append(d.pend, pendBuf{b, n})
	if len(d.pend) < int(d.pendHdr.NumBuffers) {
		return
	}
	if len(d.pend) > 1 {
		d.RxMerged.Add(1)
	}
	pieces, total := d.pieces[:0], 0
	for i, p := range d.pend {
		s := p.b.b[:p.n]
		if i == 0 {
			s = s[HdrLen:]
		}
		pieces = append(pieces, s)
		total += len(s)
	}
	d.deliver(d.pendHdr, pieces, total)
	d.dropPending()
}

// dropPending reposts the buffers of the packet being collected.
func (d *Device) dropPending() {
	for _, p := range d.pend {
		d.repost(p.b)
	}
	d.pend = d.pend[:0]
}

// deliver checks a received header against what was negotiated and hands
// the frame, total bytes in pieces, to the callback.
func (d *Device) deliver(h NetHdr, frame [][]byte, total int) {
	if !d.rxHeaderOK(&h, total) {
		d.RxErrors.Add(1)
		return
	}
	d.RxPackets.Add(1)
	d.RxBytes.Add(uint64(total))
	if d.cfg.Receive != nil && d.cfg.Receive(h, frame) {
		d.rxUrgent = true
	}
}

// rxHeaderOK checks h for a frame of n bytes.
func (d *Device) rxHeaderOK(h *NetHdr, n int) bool {
	if n < ethHeader || n > d.maxRx {
		return false
	}
	switch h.GSOType &^ GSOECN {
	case GSONone:
		if h.GSOType&GSOECN != 0 {
			return false
		}
	case GSOTCPv4:
		if !d.fs.Has(FeatureGuestTSO4) {
			return false
		}
	case GSOTCPv6:
		if !d.fs.Has(FeatureGuestTSO6) {
			return false
		}
	default:
		return false
	}
	if h.GSOType&GSOECN != 0 && !d.fs.Has(FeatureGuestECN) {
		return false
	}
	if h.Flags&HdrNeedsCsum != 0 {
		if !d.fs.Has(FeatureGuestCSUM) {
			return false
		}
		if int(h.CsumStart) >= n || int(h.CsumStart)+int(h.CsumOffset)+2 > n {
			return false
		}
	}
	if h.Flags&HdrDataValid != 0 && !d.fs.Has(FeatureGuestCSUM) {
		h.Flags &^= HdrDataValid // not ours to trust without GUEST_CSUM
	}
	return true
}
