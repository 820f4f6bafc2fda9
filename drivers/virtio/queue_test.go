package virtio_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
)

// modes are the ring-feature combinations every data-path test runs in.
var modes = []struct {
	name string
	want uint64
}{
	{"plain", 0},
	{"indirect", virtio.FeatureIndirectDesc},
	{"eventidx", virtio.FeatureEventIdx},
	{"both", virtio.FeatureIndirectDesc | virtio.FeatureEventIdx},
}

func eachMode(t *testing.T, f func(t *testing.T, transport string, want uint64)) {
	for _, tr := range []string{"mmio", "pci"} {
		for _, m := range modes {
			t.Run(tr+"/"+m.name, func(t *testing.T) { f(t, tr, m.want) })
		}
	}
}

// popOne pops exactly one used chain and fails on anything else.
func popOne(t testing.TB, q *virtio.Queue) virtio.Used {
	u, ok, err := q.Pop()
	require.NoError(t, err)
	require.True(t, ok)
	return u
}

func TestRoundTrip(t *testing.T) {
	eachMode(t, func(t *testing.T, transport string, want uint64) {
		r := newRig(t, transport, allOffers, want, 16)
		r.dev.Start()
		defer r.dev.Stop()
		irq := r.dev.Interrupt()
		bufs := make([]*buffers, 4)
		for i := range bufs {
			bufs[i] = newBuffers(r.mem, 100+i)
			bufs[i].fill(i)
			require.NoError(t, r.q.Add(bufs[i].outSeg, bufs[i].inSeg, bufs[i]))
		}
		require.True(t, r.q.Kick())
		got := 0
		for got < len(bufs) {
			require.NoError(t, irq.Wait())
			require.Equal(t, uint8(virtio.InterruptQueue), r.tr.AckInterrupt()&virtio.InterruptQueue)
			for {
				u, ok, err := r.q.Pop()
				require.NoError(t, err)
				if !ok {
					break
				}
				b := u.Token.(*buffers)
				require.Equal(t, uint32(len(b.out.Bytes())), u.Len)
				b.check(t, int(b.out.Bytes()[0]))
				got++
			}
		}
		require.Equal(t, 16, r.q.FreeDescriptors())
		require.Zero(t, r.q.InFlight())
		require.Equal(t, uint64(4), r.dev.Chains.Load())
		require.Zero(t, r.dev.BadChains.Load())
		if want&virtio.FeatureIndirectDesc != 0 {
			require.Equal(t, uint64(4), r.dev.IndirectSeen.Load())
		} else {
			require.Zero(t, r.dev.IndirectSeen.Load())
		}
	})
}

// TestWrapAround runs 3*65536+ chains through an 8-entry queue, so the
// free-running 16-bit indices wrap several times; each chain's data is
// checked.
func TestWrapAround(t *testing.T) {
	eachMode(t, func(t *testing.T, transport string, want uint64) {
		if transport == "pci" && testing.Short() {
			t.Skip()
		}
		r := newRig(t, transport, allOffers, want, 8)
		bufs := [2]*buffers{newBuffers(r.mem, 16), newBuffers(r.mem, 16)}
		const n = 3*65536 + 123
		for i := 0; i < n; i += 2 {
			for j, b := range bufs {
				b.fill(i + j)
				require.NoError(t, r.q.Add(b.outSeg, b.inSeg, b))
			}
			r.q.Kick()
			r.dev.Service()
			for j, b := range bufs {
				u := popOne(t, r.q)
				require.Same(t, b, u.Token)
				b.check(t, i+j)
			}
		}
		require.Equal(t, 8, r.q.FreeDescriptors())
		require.Equal(t, uint64(n+1), r.dev.Chains.Load())
	})
}

func TestQueueFull(t *testing.T) {
	seg := func(m *virtiosim.Memory) []virtio.Segment {
		return []virtio.Segment{{Addr: m.Alloc(8).Phys(), Len: 8}}
	}
	t.Run("direct", func(t *testing.T) {
		r := newRig(t, "mmio", allOffers, 0, 8)
		for i := range 4 {
			require.NoError(t, r.q.Add(seg(r.mem), seg(r.mem), i))
		}
		require.Zero(t, r.q.FreeDescriptors())
		require.ErrorIs(t, r.q.Add(seg(r.mem), nil, 9), virtio.ErrQueueFull)
		r.dev.Service()
		popOne(t, r.q)
		require.ErrorIs(t, r.q.Add(seg(r.mem), append(seg(r.mem), seg(r.mem)...), 9), virtio.ErrQueueFull, "3 descriptors, 2 free")
		require.NoError(t, r.q.Add(seg(r.mem), seg(r.mem), 10))
		require.ErrorIs(t, r.q.Add(nil, nil, 11), virtio.ErrBadChain)
		require.ErrorIs(t, r.q.Add([]virtio.Segment{{Addr: 1 << 20, Len: 0}}, nil, 11), virtio.ErrBadChain)
	})
	t.Run("indirect", func(t *testing.T) {
		r := newRig(t, "mmio", allOffers, virtio.FeatureIndirectDesc, 8)
		for i := range 8 { // 3 segments each, one descriptor each
			require.NoError(t, r.q.Add(seg(r.mem), append(seg(r.mem), seg(r.mem)...), i))
		}
		require.ErrorIs(t, r.q.Add(seg(r.mem), nil, 9), virtio.ErrQueueFull)
		r.dev.Service()
		for range 8 {
			popOne(t, r.q)
		}
		require.Equal(t, uint64(8), r.dev.IndirectSeen.Load())
		// Longer than an indirect table (8 entries here): a direct chain.
		long := make([]virtio.Segment, 0, 9)
		for range 9 {
			long = append(long, seg(r.mem)...)
		}
		require.ErrorIs(t, r.q.Add(long, nil, 1), virtio.ErrQueueFull, "9 direct descriptors in an 8-entry table")
		require.NoError(t, r.q.Add(long[:8], nil, 1))
		require.Equal(t, 7, r.q.FreeDescriptors())
		// A single segment never goes indirect.
		require.NoError(t, r.q.Add(seg(r.mem), nil, 2))
		r.dev.Service()
		popOne(t, r.q)
		popOne(t, r.q)
		require.Equal(t, uint64(9), r.dev.IndirectSeen.Load())
		require.Equal(t, uint64(10), r.dev.Chains.Load())
	})
}

// TestNotificationSuppression counts notifications and interrupts with and
// without EVENT_IDX for the same traffic.
func TestNotificationSuppression(t *testing.T) {
	type counts struct{ notes, irqs uint64 }
	run := func(t *testing.T, want uint64, batch int) counts {
		r := newRig(t, "pci", allOffers, want, 256)
		r.dev.MaxBatch = batch
		b := newBuffers(r.mem, 8)
		// 80 chains, each Add followed by Kick, while the device is busy
		// elsewhere; then it serves them all.
		for round := range 2 {
			for range 80 {
				require.NoError(t, r.q.Add(b.outSeg, b.inSeg, b))
				r.q.Kick()
			}
			r.dev.Service()
			for range 80 {
				popOne(t, r.q)
			}
			_ = round
		}
		require.Equal(t, r.dev.Notifications.Load(), r.q.Notifications)
		require.Equal(t, uint64(160), r.q.Notifications+r.q.Suppressed)
		return counts{r.dev.Notifications.Load(), r.dev.Interrupts.Load()}
	}
	plain := run(t, 0, 1)
	event := run(t, virtio.FeatureEventIdx, 1)
	t.Logf("160 chains, one at a time: without EVENT_IDX %d notifications, %d interrupts; with EVENT_IDX %d, %d",
		plain.notes, plain.irqs, event.notes, event.irqs)
	require.Equal(t, uint64(160), plain.notes, "without EVENT_IDX an idle device wants every kick")
	require.Equal(t, uint64(160), plain.irqs)
	require.Equal(t, uint64(2), event.notes, "one per round: the device had not caught up with avail_event")
	require.Equal(t, uint64(2), event.irqs, "one per round: the driver had not consumed past used_event")

	t.Run("disable", func(t *testing.T) {
		for _, want := range []uint64{0, virtio.FeatureEventIdx} {
			r := newRig(t, "mmio", allOffers, want, 64)
			r.dev.MaxBatch = 1
			r.q.DisableInterrupts()
			b := newBuffers(r.mem, 8)
			for range 10 {
				require.NoError(t, r.q.Add(b.outSeg, b.inSeg, b))
			}
			r.q.Kick()
			r.dev.Service()
			require.Zero(t, r.dev.Interrupts.Load())
			require.False(t, r.q.EnableInterrupts(), "used entries are pending")
			for range 10 {
				popOne(t, r.q)
			}
			require.True(t, r.q.EnableInterrupts())
			require.NoError(t, r.q.Add(b.outSeg, b.inSeg, b))
			r.q.Kick()
			r.dev.Service()
			require.Equal(t, uint64(1), r.dev.Interrupts.Load())
			popOne(t, r.q)
		}
	})
	t.Run("after", func(t *testing.T) {
		r := newRig(t, "mmio", allOffers, virtio.FeatureEventIdx, 64)
		r.dev.MaxBatch = 1
		b := newBuffers(r.mem, 8)
		require.True(t, r.q.EnableInterruptsAfter(5))
		for i := range 10 {
			require.NoError(t, r.q.Add(b.outSeg, b.inSeg, b))
			r.q.Kick()
			r.dev.Service()
			if i < 4 {
				require.Zero(t, r.dev.Interrupts.Load(), "chain %d", i)
			}
		}
		require.Equal(t, uint64(1), r.dev.Interrupts.Load(), "only the fifth used entry interrupts")
	})
}

func TestNeedEvent(t *testing.T) {
	for _, c := range []struct {
		ev, newIdx, old uint16
		want            bool
	}{
		{0, 1, 0, true},
		{0, 2, 1, false},
		{5, 10, 0, true},
		{10, 10, 0, false},
		{9, 10, 9, true},
		{65535, 2, 65534, true}, // across the wrap
		{1, 2, 65534, true},
		{2, 2, 65534, false},
	} {
		require.Equal(t, c.want, virtio.NeedEvent(c.ev, c.newIdx, c.old), "%+v", c)
	}
}

// TestConcurrentStress runs a producer goroutine and a consumer goroutine
// sharing one queue under a mutex against the device goroutine; run it with
// -race.
func TestConcurrentStress(t *testing.T) {
	total := 50000
	if testing.Short() || raceEnabled {
		total = 20000
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, "pci", allOffers, m.want, 64)
			r.dev.Start()
			defer r.dev.Stop()
			irq := r.dev.Interrupt()
			var mu sync.Mutex
			space := make(chan struct{}, 1)
			pool := make(chan *buffers, 48)
			for range cap(pool) {
				pool <- newBuffers(r.mem, 64)
			}
			seq := make(map[*buffers]int)
			done := make(chan error, 2)
			go func() { // producer
				for i := range total {
					b := <-pool
					b.fill(i)
					for {
						mu.Lock()
						seq[b] = i
						err := r.q.Add(b.outSeg, b.inSeg, b)
						if err == nil {
							if i%4 == 3 || len(pool) == 0 {
								r.q.Kick()
							}
							mu.Unlock()
							break
						}
						r.q.Kick()
						mu.Unlock()
						if err != virtio.ErrQueueFull {
							done <- err
							return
						}
						<-space
					}
				}
				mu.Lock()
				r.q.Kick()
				mu.Unlock()
				done <- nil
			}()
			go func() { // consumer
				got := 0
				for got < total {
					mu.Lock()
					for {
						u, ok, err := r.q.Pop()
						if err != nil {
							mu.Unlock()
							done <- err
							return
						}
						if !ok {
							break
						}
						b := u.Token.(*buffers)
						if u.Len != 64 {
							mu.Unlock()
							done <- fmt.Errorf("len %d", u.Len)
							return
						}
						b.check(t, seq[b])
						got++
						pool <- b
					}
					select {
					case space <- struct{}{}:
					default:
					}
					idle := r.q.EnableInterrupts()
					mu.Unlock()
					if idle && got < total {
						if err := irq.Wait(); err != nil {
							done <- err
							return
						}
						r.tr.AckInterrupt()
						mu.Lock()
						r.q.DisableInterrupts()
						mu.Unlock()
					}
				}
				done <- nil
			}()
			for range 2 {
				select {
				case err := <-done:
					require.NoError(t, err)
				case <-time.After(60 * time.Second):
					t.Fatal("stalled: a lost notification or interrupt")
				}
			}
			t.Logf("%d chains: %d notifications (%d suppressed), %d interrupts",
				total, r.dev.Notifications.Load(), r.q.Suppressed, r.dev.Interrupts.Load())
			require.Equal(t, uint64(total), r.dev.Chains.Load())
			require.Zero(t, r.dev.BadChains.Load())
		})
	}
}

// hostile writes used-ring entries straight into a queue's memory, as a
// misbehaving device would.
type hostile struct {
	avail []byte
	used  []byte
	idx   uint16
	size  uint16
}

func newHostile(mem virtio.DMA, q *virtio.Queue) *hostile {
	l := q.Layout()
	return &hostile{avail: mem.Bytes()[l.AvailOff:l.UsedOff], used: mem.Bytes()[l.UsedOff:], size: q.Size()}
}

func (h *hostile) put(id, n uint32) {
	e := 4 + 8*int(h.idx%h.size)
	binary.LittleEndian.PutUint32(h.used[e:], id)
	binary.LittleEndian.PutUint32(h.used[e+4:], n)
	h.idx++
	binary.LittleEndian.PutUint16(h.used[2:], h.idx)
}

// head is the head descriptor of the chain most recently added to q.
func (h *hostile) head() uint32 {
	avail := h.avail
	idx := binary.LittleEndian.Uint16(avail[2:])
	return uint32(binary.LittleEndian.Uint16(avail[4+2*int((idx-1)%h.size):]))
}

func (h *hostile) setIdx(i uint16) {
	h.idx = i
	binary.LittleEndian.PutUint16(h.used[2:], i)
}

type nopNotifier struct{ n int }

func (n *nopNotifier) Notify(uint16) { n.n++ }

// newBareQueue is a queue with no device behind it, for the hostile tests.
func newBareQueue(t testing.TB, size uint16, features uint64) (*virtio.Queue, virtio.DMA, *virtiosim.Memory) {
	m := virtiosim.NewMemory()
	l, err := virtio.Layout(size, 4)
	require.NoError(t, err)
	mem, err := m.AllocDMA(l.Total, 4096)
	require.NoError(t, err)
	q, err := virtio.NewQueue(0, size, mem, 4, features|virtio.FeatureVersion1, &nopNotifier{})
	require.NoError(t, err)
	return q, mem, m
}

func TestHostileUsed(t *testing.T) {
	q, mem, m := newBareQueue(t, 8, virtio.FeatureIndirectDesc)
	h := newHostile(mem, q)
	buf := m.Alloc(64)
	out := []virtio.Segment{{Addr: buf.Phys(), Len: 16}}
	in := []virtio.Segment{{Addr: buf.Phys() + 16, Len: 16}, {Addr: buf.Phys() + 32, Len: 16}}
	require.NoError(t, q.Add(out, in, "a"))  // indirect, head 0
	require.NoError(t, q.Add(out, nil, "b")) // direct, head 1

	h.put(99, 0)
	_, ok, err := q.Pop()
	require.False(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedIDRange)

	h.put(5, 0)
	_, ok, err = q.Pop()
	require.False(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedIDNotInFlight)

	h.put(0, 1000)
	u, ok, err := q.Pop()
	require.True(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedLen)
	require.Equal(t, virtio.Used{Token: "a", Len: 32}, u)

	h.put(0, 0) // a second completion of the same chain
	_, ok, err = q.Pop()
	require.False(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedIDNotInFlight)

	h.put(1, 1) // any length on a chain with no writable part is too long
	u, ok, err = q.Pop()
	require.True(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedLen)
	require.Equal(t, virtio.Used{Token: "b", Len: 0}, u)

	require.Equal(t, 8, q.FreeDescriptors())
	h.setIdx(h.idx + 3) // three entries for no chain in flight
	_, ok, err = q.Pop()
	require.False(t, ok)
	require.ErrorIs(t, err, virtio.ErrUsedIndex)
}

// FuzzHostileUsed lets a device write arbitrary used entries and indices
// while chains are in flight; the queue must never panic, hand out a token
// twice or one it does not hold, report a length over the writable size, or
// lose descriptors.
func FuzzHostileUsed(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 16, 0, 0, 0, 1}, uint8(3), true)
	f.Add([]byte{7, 0, 0, 0, 255, 255, 255, 255, 1, 200, 0, 0, 0, 0, 0, 0, 0, 9}, uint8(8), false)
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, uint8(2), true)
	f.Fuzz(func(t *testing.T, script []byte, nchains uint8, indirect bool) {
		var feat uint64
		if indirect {
			feat = virtio.FeatureIndirectDesc
		}
		const size = 8
		q, mem, m := newBareQueue(t, size, feat)
		h := newHostile(mem, q)
		buf := m.Alloc(256)
		type chain struct{ writable uint32 }
		tokens := map[*chain]bool{}
		add := func(k int) {
			c := &chain{writable: uint32(16 * (k % 3))}
			out := []virtio.Segment{{Addr: buf.Phys(), Len: 8}}
			var in []virtio.Segment
			for j := 0; j < k%3; j++ {
				in = append(in, virtio.Segment{Addr: buf.Phys() + 64 + uint64(16*j), Len: 16})
			}
			if q.Add(out, in, c) == nil {
				tokens[c] = true
			}
		}
		for k := range int(nchains % 12) {
			add(k)
		}
		for len(script) >= 9 {
			id := binary.LittleEndian.Uint32(script)
			n := binary.LittleEndian.Uint32(script[4:])
			op := script[8]
			script = script[9:]
			switch op % 4 {
			case 0, 1:
				h.put(id%(2*size), n)
			case 2:
				h.setIdx(h.idx + uint16(id))
			case 3:
				add(int(id))
			}
			for range 2 * size {
				u, ok, err := q.Pop()
				if ok {
					c, isChain := u.Token.(*chain)
					require.True(t, isChain)
					require.True(t, tokens[c], "token not in flight")
					delete(tokens, c)
					require.LessOrEqual(t, u.Len, c.writable)
					if err != nil {
						require.ErrorIs(t, err, virtio.ErrUsedLen)
					}
				}
				if !ok && err == nil || err == virtio.ErrUsedIndex {
					break
				}
			}
			require.Equal(t, len(tokens), q.InFlight())
			require.LessOrEqual(t, q.FreeDescriptors(), size)
			if !indirect {
				used := 0
				for c := range tokens {
					used += 1 + int(c.writable/16)
				}
				require.Equal(t, size-used, q.FreeDescriptors())
			} else {
				require.Equal(t, size-len(tokens), q.FreeDescriptors())
			}
		}
	})
}

// TestDataPathNoAlloc checks Add, Kick, Pop and the interrupt switches
// allocate nothing.
func TestDataPathNoAlloc(t *testing.T) {
	for _, m := range modes {
		q, mem, ma := newBareQueue(t, 8, m.want)
		h := newHostile(mem, q)
		buf := ma.Alloc(64)
		out := []virtio.Segment{{Addr: buf.Phys(), Len: 16}}
		in := []virtio.Segment{{Addr: buf.Phys() + 16, Len: 16}, {Addr: buf.Phys() + 32, Len: 16}}
		tok := &struct{}{}
		allocs := testing.AllocsPerRun(1000, func() {
			q.DisableInterrupts()
			if err := q.Add(out, in, tok); err != nil {
				t.Fatal(err)
			}
			q.Kick()
			h.put(0, 32)
			if _, ok, err := q.Pop(); !ok || err != nil {
				t.Fatal(ok, err)
			}
			q.EnableInterrupts()
		})
		require.Zero(t, allocs, m.name)
	}
}
