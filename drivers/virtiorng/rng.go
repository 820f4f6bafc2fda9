// Package virtiorng is unigo's virtio entropy driver (virtio 1.2 §5.4): one
// request queue of device-writable buffers that the device fills with
// random bytes.
//
// What it owns: the device's initialization (VERSION_1 and, where offered,
// EVENT_IDX; the device has no device-specific features or configuration)
// and one DMA buffer that requests go through.
//
// Context: ordinary goroutines in ring 3, never kernel context. Read blocks
// the calling goroutine in virtio.Interrupt.Wait until the device answers;
// calls are serialized by a mutex, so any goroutine may call it.
//
// What it may call: package virtio and, through it, the register window,
// DMA allocator and interrupt the kernel supplies for the device.
package virtiorng

import (
	"errors"
	"fmt"
	"sync"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// DeviceType is the virtio device ID of an entropy source.
const DeviceType = 4

// bufSize is the most one request asks for.
const bufSize = 4096

// ErrNotRNG is Open's answer for another kind of device.
var ErrNotRNG = errors.New("virtiorng: not an entropy device")

// ErrNoEntropy is Read's answer when the device returns nothing many times
// in a row.
var ErrNoEntropy = errors.New("virtiorng: device returned no entropy")

// Device is an open entropy device.
type Device struct {
	mu  sync.Mutex
	t   virtio.Transport
	irq virtio.Interrupt
	fs  virtio.Features
	q   *virtio.Queue
	buf virtio.DMA
	seg [1]virtio.Segment
}

// Open initializes the entropy device behind t, with queue memory and the
// request buffer from a and interrupts from irq.
func Open(t virtio.Transport, a virtio.Allocator, irq virtio.Interrupt) (*Device, error) {
	if t.DeviceType() != DeviceType {
		return nil, fmt.Errorf("%w (type %d)", ErrNotRNG, t.DeviceType())
	}
	fs, err := virtio.Init(t, virtio.Options{Want: virtio.FeatureEventIdx})
	if err != nil {
		return nil, err
	}
	q, err := virtio.SetupQueue(t, fs, 0, 8, a, 0)
	if err != nil {
		virtio.Fail(t)
		return nil, err
	}
	buf, err := a.AllocDMA(bufSize, 64)
	if err != nil {
		virtio.Fail(t)
		return nil, err
	}
	virtio.DriverOK(t)
	return &Device{t: t, irq: irq, fs: fs, q: q, buf: buf}, nil
}

// Features is the negotiation's record.
func (d *Device) Features() virtio.Features { return d.fs }

// Read fills p with bytes from the device and returns len(p), or an error
// if the device fails. Large reads take several requests.
func (d *Device) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, empty := 0, 0
	for n < len(p) {
		want := min(len(p)-n, bufSize)
		got, err := d.request(want)
		if err != nil {
			return n, err
		}
		if got == 0 {
			if empty++; empty >= 16 {
				return n, ErrNoEntropy
			}
			continue
		}
		empty = 0
		n += copy(p[n:], d.buf.Bytes()[:got])
	}
	return n, nil
}

// request asks for want bytes and waits for the answer.
func (d *Device) request(want int) (int, error) {
	d.seg[0] = virtio.Segment{Addr: d.buf.Phys(), Len: uint32(want)}
	if err := d.q.Add(nil, d.seg[:], d); err != nil {
		return 0, err
	}
	d.q.Kick()
	for {
		u, ok, err := d.q.Pop()
		if ok {
			// A length beyond the buffer comes back clamped with ErrUsedLen:
			// the bytes are still the device's, so use them.
			return int(min(u.Len, uint32(want))), nil
		}
		if err != nil {
			return 0, fmt.Errorf("virtiorng: %w", err)
		}
		if !d.q.EnableInterrupts() {
			continue
		}
		if err := d.irq.Wait(); err != nil {
			return 0, err
		}
		d.t.AckInterrupt()
	}
}
