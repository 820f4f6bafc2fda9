package virtio_test

import (
	"testing"

	"github.com/unigo-dev/unigo/drivers/virtio"
)

// BenchmarkRoundTrip is one request through the simulated device running
// in its own goroutine: Add, Kick, wait for the interrupt, Pop.
func BenchmarkRoundTrip(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			r := newRig(b, "mmio", allOffers, m.want, 64)
			r.dev.Start()
			defer r.dev.Stop()
			irq := r.dev.Interrupt()
			buf := newBuffers(r.mem, 64)
			b.ReportAllocs()
			for b.Loop() {
				if err := r.q.Add(buf.outSeg, buf.inSeg, buf); err != nil {
					b.Fatal(err)
				}
				r.q.Kick()
				for {
					if _, ok, err := r.q.Pop(); ok || err != nil {
						break
					}
					if r.q.EnableInterrupts() {
						if err := irq.Wait(); err != nil {
							b.Fatal(err)
						}
						r.tr.AckInterrupt()
					}
				}
			}
		})
	}
}

// BenchmarkRoundTripInline is the same with the device served inline (no
// goroutine switch): driver plus simulated-device cost.
func BenchmarkRoundTripInline(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			r := newRig(b, "mmio", allOffers, m.want, 64)
			buf := newBuffers(r.mem, 64)
			for b.Loop() {
				if err := r.q.Add(buf.outSeg, buf.inSeg, buf); err != nil {
					b.Fatal(err)
				}
				r.q.Kick()
				r.dev.Service()
				if _, ok, err := r.q.Pop(); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkDriverPath is the driver's own cost: Add, Kick and Pop against a
// device that only writes the used entry.
func BenchmarkDriverPath(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			q, mem, ma := newBareQueue(b, 64, m.want)
			h := newHostile(mem, q)
			buf := ma.Alloc(64)
			out := []virtio.Segment{{Addr: buf.Phys(), Len: 16}}
			in := []virtio.Segment{{Addr: buf.Phys() + 16, Len: 16}, {Addr: buf.Phys() + 32, Len: 16}}
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Add(out, in, buf); err != nil {
					b.Fatal(err)
				}
				q.Kick()
				h.put(h.head(), 32)
				if _, ok, err := q.Pop(); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
