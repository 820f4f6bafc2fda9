package virtionet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtio/virtiosim"
	"github.com/unigo-dev/unigo/drivers/virtionet"
	"github.com/unigo-dev/unigo/drivers/virtionet/virtionetsim"
)

const (
	ring     = virtio.FeatureEventIdx | virtio.FeatureIndirectDesc
	offloads = virtionet.FeatureCSUM | virtionet.FeatureGuestCSUM | virtionet.FeatureHostTSO4 |
		virtionet.FeatureHostTSO6 | virtionet.FeatureGuestTSO4 | virtionet.FeatureGuestTSO6
	basic = virtionet.FeatureMAC | virtionet.FeatureMTU | virtionet.FeatureStatus
	all   = virtionet.DefaultFeatures
)

var testMAC = [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}

type frame struct {
	h virtionet.NetHdr
	b []byte
}

type rig struct {
	sim  *virtionetsim.Device
	dev  *virtionet.Device
	rx   chan frame
	link chan bool
	done chan error
}

// newRig opens a driver on a looped-back simulated device offering offered
// and starts both.
func newRig(t testing.TB, transport string, offered uint64, cfg virtionet.Config) *rig {
	t.Helper()
	r := &rig{rx: make(chan frame, 8192), link: make(chan bool, 16), done: make(chan error, 1)}
	r.sim = virtionetsim.New(offered, virtionetsim.Config{MAC: testMAC, MTU: 1500, LinkUp: true, QueueMax: 256})
	r.sim.Loopback()
	r.sim.Start()
	if transport == "pci" {
		cfg.Transport = r.sim.PCI()
	} else {
		cfg.Transport = r.sim.MMIO()
	}
	cfg.Alloc = r.sim.Mem
	if cfg.SendTimeout == 0 {
		// Generous: a loaded CI machine running race-enabled packages in
		// parallel can leave the device goroutine unscheduled for longer
		// than the 100 ms default; a lost notification would still fail.
		cfg.SendTimeout = 5 * time.Second
	}
	cfg.Interrupt = r.sim.Sim.Interrupt()
	if cfg.Receive == nil {
		// Every other frame urgent, so that Run's rounds take both ways:
		// yielding before they wait, and not.
		n := 0
		cfg.Receive = func(h virtionet.NetHdr, b [][]byte) bool {
			r.rx <- frame{h, bytes.Join(b, nil)}
			n++
			return n%2 == 0
		}
	}
	cfg.LinkChange = func(up bool) { r.link <- up }
	var err error
	r.dev, err = virtionet.Open(cfg)
	require.NoError(t, err)
	go func() { r.done <- r.dev.Run() }()
	t.Cleanup(func() {
		r.sim.Stop()
		select {
		case err := <-r.done:
			if !errors.Is(err, virtionet.ErrClosed) {
				require.ErrorIs(t, err, virtiosim.ErrStopped)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after the device stopped")
		}
	})
	return r
}

func (r *rig) recv(t testing.TB) frame {
	t.Helper()
	select {
	case f := <-r.rx:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame received")
		return frame{}
	}
}

// ethFrame is a frame of n bytes with a recognizable pattern.
func ethFrame(n, seed int) []byte {
	b := make([]byte, n)
	copy(b, testMAC[:])
	copy(b[6:], testMAC[:])
	binary.BigEndian.PutUint16(b[12:], 0x88b5) // local experimental ethertype
	for i := 14; i < n; i++ {
		b[i] = byte(seed*31 + i)
	}
	return b
}

func TestNegotiation(t *testing.T) {
	cases := []struct {
		name            string
		offered, accept uint64
	}{
		{"everything", all | virtionet.FeatureCtrlVQ | virtionet.FeatureMQ, all},
		{"no mergeable: no large receive", all &^ virtionet.FeatureMrgRxBuf,
			all &^ (virtionet.FeatureMrgRxBuf | virtionet.FeatureGuestTSO4 | virtionet.FeatureGuestTSO6)},
		{"TSO without CSUM", all &^ virtionet.FeatureCSUM,
			all &^ (virtionet.FeatureCSUM | virtionet.FeatureHostTSO4 | virtionet.FeatureHostTSO6)},
		{"GUEST_TSO without GUEST_CSUM", all &^ virtionet.FeatureGuestCSUM,
			all &^ (virtionet.FeatureGuestCSUM | virtionet.FeatureGuestTSO4 | virtionet.FeatureGuestTSO6)},
		{"bare", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "mmio", c.offered, virtionet.Config{})
			fs := r.dev.Features()
			require.Equal(t, c.accept|virtio.FeatureVersion1, fs.Accepted, fs.String())
			require.Equal(t, fs.Accepted, r.sim.Sim.DriverFeatures())
			require.NotZero(t, r.sim.Sim.Status()&virtio.StatusDriverOK)
			t.Log(fs.String())
			if c.offered&virtionet.FeatureMAC != 0 {
				require.Equal(t, testMAC, r.dev.MAC())
			} else {
				m := r.dev.MAC()
				require.Equal(t, byte(2), m[0]&3, "locally administered unicast")
			}
			require.True(t, r.dev.LinkUp())
		})
	}
	t.Run("string", func(t *testing.T) {
		r := newRig(t, "pci", all|virtionet.FeatureCtrlVQ, virtionet.Config{})
		s := r.dev.Features().String()
		require.Contains(t, s, "MRG_RXBUF")
		require.Contains(t, s, "declined [CTRL_VQ]")
	})
	t.Run("bad MTU", func(t *testing.T) {
		sim := virtionetsim.New(all, virtionetsim.Config{MTU: 20})
		_, err := virtionet.Open(virtionet.Config{Transport: sim.MMIO(), Alloc: sim.Mem, Interrupt: sim.Sim.Interrupt()})
		require.ErrorIs(t, err, virtionet.ErrBadMTU)
		require.NotZero(t, sim.Sim.Status()&virtio.StatusFailed)
	})
	t.Run("wrong device", func(t *testing.T) {
		mem := virtiosim.NewMemory()
		d := virtiosim.NewDevice(4, virtio.FeatureVersion1, 1, 8, mem)
		tr, err := virtio.NewMMIO(virtiosim.NewMMIO(d))
		require.NoError(t, err)
		_, err = virtionet.Open(virtionet.Config{Transport: tr, Alloc: mem, Interrupt: d.Interrupt()})
		require.ErrorIs(t, err, virtionet.ErrNotNet)
	})
}

var modes = []struct {
	name     string
	features uint64
}{
	{"plain", basic},
	{"plain+ring", basic | ring},
	{"mergeable", basic | virtionet.FeatureMrgRxBuf},
	{"mergeable+ring+offloads", all},
}

// TestRoundTrip loops many frames of assorted sizes through small rings so
// the indices wrap many times, on both transports and in every mode.
func TestRoundTrip(t *testing.T) {
	for _, tr := range []string{"mmio", "pci"} {
		for _, m := range modes {
			t.Run(tr+"/"+m.name, func(t *testing.T) {
				r := newRig(t, tr, m.features, virtionet.Config{QueueSize: 16, RxBufSize: 512})
				const n = 3000
				go func() {
					for i := range n {
						f := ethFrame(14+(i*37)%1500, i)
						if err := r.dev.Send(virtionet.NetHdr{}, [][]byte{f[:7], f[7:]}); err != nil {
							panic(fmt.Sprintf(t.Name()+" frame %d: %v; device has %d tx chains untaken, %d notifications, %d interrupts; driver saw %d interrupts",
								i, err, r.sim.Sim.Available(1), r.sim.Sim.Notifications.Load(), r.sim.Sim.Interrupts.Load(), r.dev.Interrupts.Load()))
						}
					}
				}()
				for i := range n {
					f := r.recv(t)
					want := ethFrame(14+(i*37)%1500, i)
					if !bytes.Equal(f.b, want) {
						t.Fatalf("frame %d: got %d bytes, want %d", i, len(f.b), len(want))
					}
				}
				require.EqualValues(t, n, r.dev.TxPackets.Load())
				require.EqualValues(t, n, r.dev.RxPackets.Load())
				require.Zero(t, r.dev.RxErrors.Load())
				if r.dev.Mergeable() {
					require.NotZero(t, r.dev.RxMerged.Load(), "512-byte buffers must merge")
				}
			})
		}
	}
}

// TestLargeReceive sends 64 KiB TSO frames with partial checksums; the
// looped-back device hands them to the driver in many mergeable buffers.
func TestLargeReceive(t *testing.T) {
	r := newRig(t, "mmio", all, virtionet.Config{RxBufSize: 2048})
	require.True(t, r.dev.TSO4())
	require.Equal(t, 14+4+65535, r.dev.MaxFrame())
	for i := range 20 {
		f := ethFrame(14+65535-i*100, i)
		h := virtionet.NetHdr{Flags: virtionet.HdrNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448,
			HdrLen: 54, CsumStart: 34, CsumOffset: 16}
		require.NoError(t, r.dev.Send(h, [][]byte{f}))
		got := r.recv(t)
		require.Equal(t, f, got.b)
		require.Equal(t, h, virtionet.NetHdr{Flags: got.h.Flags, GSOType: got.h.GSOType, GSOSize: got.h.GSOSize,
			HdrLen: got.h.HdrLen, CsumStart: got.h.CsumStart, CsumOffset: got.h.CsumOffset})
		require.EqualValues(t, (12+len(f)+2047)/2048, got.h.NumBuffers)
	}
	require.EqualValues(t, 20, r.dev.RxMerged.Load())
}

// TestSoftwareChecksum: without CSUM, a partial checksum is completed by
// the driver before the frame leaves.
func TestSoftwareChecksum(t *testing.T) {
	r := newRig(t, "mmio", basic|virtionet.FeatureMrgRxBuf, virtionet.Config{})
	require.False(t, r.dev.TxChecksum())
	f := ethFrame(101, 7)
	binary.BigEndian.PutUint16(f[50:], 0x1234) // "pseudo-header sum" in the field
	h := virtionet.NetHdr{Flags: virtionet.HdrNeedsCsum, CsumStart: 34, CsumOffset: 16}
	require.NoError(t, r.dev.Send(h, [][]byte{f[:40], f[40:41], f[41:]}))
	got := r.recv(t)
	require.Zero(t, got.h.Flags)
	var c virtionet.Checksum
	c.Add([]byte{0x12, 0x34}) // the pseudo-header sum the field held
	c.Add(got.b[34:])
	require.Equal(t, uint16(0xffff), c.Sum16(), "the completed checksum verifies")
	require.Equal(t, f[:50], got.b[:50])
	require.Equal(t, f[52:], got.b[52:])
}

func TestChecksumHelper(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		var whole, parts virtionet.Checksum
		whole.Add(b)
		for rest := b; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			parts.Add(rest[:k])
			rest = rest[k:]
		}
		require.Equal(t, ref(b), whole.Sum16())
		require.Equal(t, ref(b), parts.Sum16())
	}
}

// ref is the RFC 1071 sum, 16 bits at a time.
func ref(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestLinkStatus(t *testing.T) {
	r := newRig(t, "pci", basic, virtionet.Config{})
	require.True(t, r.dev.LinkUp())
	for _, up := range []bool{false, true, false} {
		r.sim.SetLink(up)
		select {
		case got := <-r.link:
			require.Equal(t, up, got)
		case <-time.After(5 * time.Second):
			t.Fatal("no link change")
		}
		require.Equal(t, up, r.dev.LinkUp())
	}
	require.NotZero(t, r.dev.ConfigIntr.Load())
}

func TestSendErrors(t *testing.T) {
	r := newRig(t, "mmio", basic|ring, virtionet.Config{})
	require.ErrorIs(t, r.dev.Send(virtionet.NetHdr{}, [][]byte{make([]byte, 13)}), virtionet.ErrFrameSize)
	require.ErrorIs(t, r.dev.Send(virtionet.NetHdr{}, [][]byte{make([]byte, 1519)}), virtionet.ErrFrameSize)
	require.NoError(t, r.dev.Send(virtionet.NetHdr{}, [][]byte{make([]byte, 1518)}))
	tso := virtionet.NetHdr{Flags: virtionet.HdrNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	require.ErrorIs(t, r.dev.Send(tso, [][]byte{make([]byte, 1000)}), virtionet.ErrOffload)
	require.ErrorIs(t, r.dev.Send(virtionet.NetHdr{Flags: virtionet.HdrNeedsCsum, CsumStart: 90, CsumOffset: 16},
		[][]byte{make([]byte, 100)}), virtionet.ErrOffload)
	require.ErrorIs(t, r.dev.Send(virtionet.NetHdr{Flags: virtionet.HdrDataValid}, [][]byte{make([]byte, 100)}), virtionet.ErrOffload)
}

// TestBackPressure: with a device that never completes transmissions, Send
// fills the ring and then reports ErrQueueFull after its bound.
func TestBackPressure(t *testing.T) {
	sim := virtionetsim.New(basic|ring, virtionetsim.Config{MTU: 1500, LinkUp: true, QueueMax: 8})
	// Not started: nothing is ever consumed.
	dev, err := virtionet.Open(virtionet.Config{Transport: sim.MMIO(), Alloc: sim.Mem, Interrupt: sim.Sim.Interrupt(),
		SendTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	f := [][]byte{ethFrame(100, 1)}
	for range 8 {
		require.NoError(t, dev.Send(virtionet.NetHdr{}, f))
	}
	start := time.Now()
	require.ErrorIs(t, dev.Send(virtionet.NetHdr{}, f), virtionet.ErrQueueFull)
	require.GreaterOrEqual(t, time.Since(start), 15*time.Millisecond)
	require.EqualValues(t, 1, dev.TxFull.Load())

	// Now serve the ring: senders wait for completions through the Run
	// goroutine (the ring has 8 entries, 100 frames go through).
	sim.Start()
	done := make(chan error, 1)
	go func() { done <- dev.Run() }()
	dev2err := make(chan error, 1)
	go func() {
		var err error
		for range 100 {
			if err = dev.Send(virtionet.NetHdr{}, f); err != nil {
				break
			}
		}
		dev2err <- err
	}()
	select {
	case err := <-dev2err:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("senders stuck")
	}
	sim.Stop()
	require.ErrorIs(t, <-done, virtiosim.ErrStopped)
}

// TestMalformedReceive plays a hostile device on the receive queue; every
// bad packet is dropped and counted, and good traffic still flows after.
func TestMalformedReceive(t *testing.T) {
	for _, m := range []struct {
		name string
		f    uint64
	}{{"plain", basic}, {"mergeable", basic | virtionet.FeatureMrgRxBuf | ring}} {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, "mmio", m.f, virtionet.Config{QueueSize: 32, RxBufSize: 256})
			hdr := func(h virtionet.NetHdr) []byte {
				b := make([]byte, virtionet.HdrLen)
				h.Encode(b)
				return b
			}
			type bad struct {
				name string
				fill func(cs []virtiosim.Chain) []uint32
				n    int // chains to take
			}
			write := func(pkt []byte, lens ...uint32) func(cs []virtiosim.Chain) []uint32 {
				return func(cs []virtiosim.Chain) []uint32 {
					copy(cs[0].Writable[0], pkt)
					return lens
				}
			}
			frameWith := func(h virtionet.NetHdr, n int) []byte { return append(hdr(h), ethFrame(n, 3)...) }
			cases := []bad{
				{"used len below header", write(frameWith(virtionet.NetHdr{NumBuffers: 1}, 60), 5), 1},
				{"used len zero", write(nil, 0), 1},
				{"used len beyond buffer", write(frameWith(virtionet.NetHdr{NumBuffers: 1}, 60), 1<<20), 1},
				{"frame shorter than ethernet", write(frameWith(virtionet.NetHdr{NumBuffers: 1}, 60), 12+10), 1},
				{"unknown gso type", write(frameWith(virtionet.NetHdr{NumBuffers: 1, GSOType: 9}, 60), 72), 1},
				{"tso not negotiated", write(frameWith(virtionet.NetHdr{NumBuffers: 1, GSOType: 1}, 60), 72), 1},
				{"needs csum without guest csum", write(frameWith(virtionet.NetHdr{NumBuffers: 1, Flags: 1}, 60), 72), 1},
			}
			if m.f&virtionet.FeatureMrgRxBuf != 0 {
				cases = append(cases,
					bad{"num_buffers zero", write(frameWith(virtionet.NetHdr{NumBuffers: 0}, 60), 72), 1},
					bad{"num_buffers beyond the ring", write(frameWith(virtionet.NetHdr{NumBuffers: 1000}, 60), 72), 1},
					bad{"continuation claims too much", func(cs []virtiosim.Chain) []uint32 {
						copy(cs[0].Writable[0], frameWith(virtionet.NetHdr{NumBuffers: 2}, 60))
						return []uint32{72, 1 << 30}
					}, -2},
				)
			}
			errs := r.dev.RxErrors.Load()
			for _, c := range cases {
				need, max := uint32(1), c.n
				if max < 0 { // take exactly -n buffers
					need, max = 256*uint32(-max-1)+1, -max
				}
				require.True(t, r.sim.InjectRaw(need, max, c.fill), c.name)
				require.Eventually(t, func() bool { return r.dev.RxErrors.Load() > errs }, 5*time.Second, time.Millisecond, c.name)
				errs = r.dev.RxErrors.Load()
			}
			require.Zero(t, r.dev.RxPackets.Load())
			// A valid packet split over two buffers after all that.
			if m.f&virtionet.FeatureMrgRxBuf != 0 {
				pkt := frameWith(virtionet.NetHdr{}, 400)
				require.True(t, r.sim.InjectRaw(uint32(len(pkt)), 0, func(cs []virtiosim.Chain) []uint32 {
					require.Len(t, cs, 2)
					binary.LittleEndian.PutUint16(pkt[10:], 2)
					k := copy(cs[0].Writable[0], pkt)
					copy(cs[1].Writable[0], pkt[k:])
					return []uint32{uint32(k), uint32(len(pkt) - k)}
				}))
				require.Equal(t, pkt[12:], r.recv(t).b)
			}
			for i := range 200 {
				f := ethFrame(60+i, i)
				require.NoError(t, r.dev.Send(virtionet.NetHdr{}, [][]byte{f}))
				require.Equal(t, f, r.recv(t).b)
			}
			require.Equal(t, errs, r.dev.RxErrors.Load())
		})
	}
}

// TestMalformedFuzz throws random used lengths and headers at the driver.
func TestMalformedFuzz(t *testing.T) {
	r := newRig(t, "mmio", all, virtionet.Config{QueueSize: 64, RxBufSize: 256})
	rng := rand.New(rand.NewPCG(3, 4))
	var delivered atomic.Uint64
	for range 5000 {
		n := 1 + rng.IntN(4)
		r.sim.InjectRaw(1, n, func(cs []virtiosim.Chain) []uint32 {
			lens := make([]uint32, len(cs))
			for i, c := range cs {
				for j := range c.Writable[0] {
					c.Writable[0][j] = byte(rng.Uint32())
				}
				if rng.IntN(2) == 0 {
					binary.LittleEndian.PutUint16(c.Writable[0][10:], uint16(rng.IntN(5)))
				}
				lens[i] = uint32(rng.IntN(300))
			}
			return lens
		})
		delivered.Add(1)
		if rng.IntN(64) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// Drain: good traffic still gets through (a pending partial packet may
	// swallow the first few).
	require.Eventually(t, func() bool {
		f := ethFrame(100, 9)
		_ = r.dev.Send(virtionet.NetHdr{}, [][]byte{f})
		for {
			select {
			case g := <-r.rx:
				if bytes.Equal(g.b, f) {
					return true
				}
			case <-time.After(20 * time.Millisecond):
				return false
			}
		}
	}, 10*time.Second, time.Millisecond)
	t.Logf("rx errors %d, frames delivered %d", r.dev.RxErrors.Load(), r.dev.RxPackets.Load())
}

func TestCloseStopsSenders(t *testing.T) {
	r := newRig(t, "mmio", basic, virtionet.Config{})
	require.NoError(t, r.dev.Close())
	err := r.dev.Send(virtionet.NetHdr{}, [][]byte{ethFrame(60, 1)})
	require.True(t, errors.Is(err, virtionet.ErrClosed), fmt.Sprint(err))
}

func BenchmarkLoopback(b *testing.B) {
	for _, m := range modes {
		for _, size := range []int{64, 1514} {
			b.Run(fmt.Sprintf("%s/%d", m.name, size), func(b *testing.B) {
				got := make(chan struct{}, 1024)
				r := newRig(b, "mmio", m.features, virtionet.Config{Receive: func(virtionet.NetHdr, [][]byte) bool { got <- struct{}{}; return true }})
				f := [][]byte{ethFrame(size, 1)}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				go func() {
					for range b.N {
						if err := r.dev.Send(virtionet.NetHdr{}, f); err != nil {
							panic(err)
						}
					}
				}()
				for range b.N {
					<-got
				}
			})
		}
	}
}
