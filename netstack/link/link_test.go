package link_test

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/unigo-dev/unigo/drivers/virtio"
	"github.com/unigo-dev/unigo/drivers/virtionet"
	"github.com/unigo-dev/unigo/drivers/virtionet/virtionetsim"
	"github.com/unigo-dev/unigo/netstack/link"
)

const (
	ring  = virtio.FeatureEventIdx | virtio.FeatureIndirectDesc
	basic = virtionet.FeatureMAC | virtionet.FeatureMTU | virtionet.FeatureStatus | virtionet.FeatureMrgRxBuf | ring
	csum  = basic | virtionet.FeatureCSUM | virtionet.FeatureGuestCSUM
	tso   = virtionet.DefaultFeatures
)

// host is one side: a simulated device, its endpoint and a gVisor stack.
type host struct {
	sim *virtionetsim.Device
	ep  *link.Endpoint
	s   *stack.Stack
	v4  tcpip.Address
	v6  tcpip.Address
}

func newHost(t testing.TB, n byte, features uint64) *host {
	t.Helper()
	h := &host{
		v4: tcpip.AddrFrom4([4]byte{10, 0, 0, n}),
		v6: tcpip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n}),
	}
	h.sim = virtionetsim.New(features, virtionetsim.Config{MAC: [6]byte{0x52, 0x54, 0, 0, 0, n}, MTU: 1500, LinkUp: true})
	return h
}

func (h *host) start(t testing.TB) {
	t.Helper()
	h.sim.Start()
	var err error
	h.ep, err = link.Open(virtionet.Config{Transport: h.sim.MMIO(), Alloc: h.sim.Mem, Interrupt: h.sim.Sim.Interrupt(),
		SendTimeout: time.Second})
	require.NoError(t, err)
	h.s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := h.s.CreateNIC(1, h.ep); err != nil {
		t.Fatal(err)
	}
	for _, a := range []tcpip.ProtocolAddress{
		{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: h.v4, PrefixLen: 24}},
		{Protocol: ipv6.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: h.v6, PrefixLen: 64}},
	} {
		if err := h.s.AddProtocolAddress(1, a, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
	}
	h.s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}, {Destination: header.IPv6EmptySubnet, NIC: 1}})
	t.Cleanup(func() {
		h.s.Close()
		h.s.Wait() // closes the endpoint; must not deadlock with a delivery in flight
		h.sim.Stop()
		select {
		case <-h.ep.Done():
		case <-time.After(5 * time.Second):
			t.Error("the device's Run goroutine did not end")
		}
	})
}

func pair(t testing.TB, fa, fb uint64) (*host, *host) {
	a, b := newHost(t, 1, fa), newHost(t, 2, fb)
	virtionetsim.Connect(a.sim, b.sim)
	a.start(t)
	b.start(t)
	return a, b
}

// transfer sends size random bytes from a to b over TCP and checks b got
// them by hash.
func transfer(t *testing.T, a, b *host, v6 bool, size int, seed uint64) {
	t.Helper()
	proto, dst := tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber), b.v4
	if v6 {
		proto, dst = ipv6.ProtocolNumber, b.v6
	}
	port := uint16(9000 + seed%1000)
	l, err := gonet.ListenTCP(b.s, tcpip.FullAddress{NIC: 1, Addr: dst, Port: port}, proto)
	require.NoError(t, err)
	defer l.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- [32]byte{}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		hs := sha256.New()
		if _, err := io.Copy(hs, c); err != nil {
			got <- [32]byte{}
			return
		}
		var sum [32]byte
		copy(sum[:], hs.Sum(nil))
		_, _ = c.Write(sum[:])
		got <- sum
	}()
	c, err := gonet.DialTCP(a.s, tcpip.FullAddress{NIC: 1, Addr: dst, Port: port}, proto)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	want := sha256.Sum256(data)
	for off := 0; off < size; {
		k := min(size-off, 100000+rng.IntN(100000))
		_, err := c.Write(data[off : off+k])
		require.NoError(t, err)
		off += k
	}
	require.NoError(t, c.CloseWrite())
	var echoed [32]byte
	_, err = io.ReadFull(c, echoed[:])
	require.NoError(t, err)
	require.Equal(t, want, echoed, "hash the receiver computed")
	require.Equal(t, want, <-got)
}

func TestTransfer(t *testing.T) {
	for _, c := range []struct {
		name   string
		fa, fb uint64
	}{
		{"plain", basic, basic},
		{"no-ring-features", basic &^ ring, basic &^ ring},
		{"checksum-offload", csum, csum},
		{"checksum-offload-to-plain", csum, basic},
		{"tso", tso, tso},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := pair(t, c.fa, c.fb)
			start := time.Now()
			transfer(t, a, b, false, 4<<20, 1)
			transfer(t, a, b, true, 4<<20, 2)
			transfer(t, b, a, false, 1<<20, 3)
			t.Logf("%s: 10 MiB in %v; a: tx offloaded %d, TSO %d; b: rx vouched %d, dropped %d; device a tx %d frames, b rx %d",
				c.name, time.Since(start), a.ep.TxOffloaded.Load(), a.ep.TxTSO.Load(), b.ep.RxVouched.Load(),
				b.ep.RxDropped.Load(), a.ep.Device().TxPackets.Load(), b.ep.Device().RxPackets.Load())
			if c.fb&virtionet.FeatureGuestCSUM == 0 {
				require.Zero(t, b.ep.RxVouched.Load(), "b checks every checksum itself")
			}
			if c.fa&virtionet.FeatureCSUM != 0 {
				require.NotZero(t, a.ep.TxOffloaded.Load())
				require.NotZero(t, a.ep.Capabilities()&stack.CapabilityTXChecksumOffload)
			} else {
				require.Zero(t, a.ep.TxOffloaded.Load())
			}
			if c.fa == tso {
				require.NotZero(t, a.ep.TxTSO.Load(), "gVisor handed us GSO packets")
				require.NotZero(t, b.ep.Device().RxMerged.Load())
				require.NotZero(t, b.ep.RxVouched.Load())
			} else {
				require.Zero(t, a.ep.TxTSO.Load())
			}
			require.NoError(t, a.ep.RunError())
			require.NoError(t, b.ep.RunError())
		})
	}
}

// TestMalformedFrames injects 10,000 bad frames into b's device and checks
// b still serves TCP afterwards.
func TestMalformedFrames(t *testing.T) {
	a, b := pair(t, tso, tso)
	transfer(t, a, b, false, 64<<10, 10)
	rng := rand.New(rand.NewPCG(7, 7))
	bmac := [6]byte{0x52, 0x54, 0, 0, 0, 2}
	randBytes := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	kinds := make([]int, 8)
	for range 10000 {
		var pkt []byte
		k := rng.IntN(8)
		kinds[k]++
		switch k {
		case 0: // random bytes, header included
			pkt = randBytes(rng.IntN(200))
		case 1: // truncated virtio header
			pkt = randBytes(rng.IntN(virtionet.HdrLen))
		case 2, 3, 4, 5, 6: // a plausible IPv4/IPv6/ARP frame with garbage inside and a bogus or valid header
			hdr := make([]byte, virtionet.HdrLen)
			if rng.IntN(2) == 0 {
				copy(hdr, randBytes(virtionet.HdrLen))
			} else if rng.IntN(2) == 0 {
				h := virtionet.NetHdr{Flags: uint8(rng.IntN(4)), GSOType: []uint8{0, 1, 4, 0x81}[rng.IntN(4)],
					GSOSize: uint16(rng.IntN(2000)), CsumStart: uint16(rng.IntN(80)), CsumOffset: uint16(rng.IntN(40))}
				h.Encode(hdr)
			}
			frame := make([]byte, 14, 14+1500)
			copy(frame, bmac[:])
			copy(frame[6:], randBytes(6))
			et := []uint16{0x0800, 0x86dd, 0x0806}[rng.IntN(3)]
			binary.BigEndian.PutUint16(frame[12:], et)
			body := randBytes(rng.IntN(1400))
			if et == 0x0800 && len(body) >= 20 {
				body[0] = 0x45
				binary.BigEndian.PutUint16(body[2:], uint16(rng.IntN(len(body)+40)))
				body[9] = []byte{6, 17, 1, 2}[rng.IntN(4)]
				copy(body[16:20], []byte{10, 0, 0, 2})
				if rng.IntN(2) == 0 {
					binary.BigEndian.PutUint16(body[6:], 0) // not a fragment
				}
			}
			if et == 0x86dd && len(body) >= 40 {
				body[0] = 0x60
				binary.BigEndian.PutUint16(body[4:], uint16(rng.IntN(len(body))))
				body[6] = []byte{6, 17, 58, 0, 44}[rng.IntN(5)]
			}
			pkt = append(hdr, append(frame, body...)...)
		case 7: // oversized for the MTU without GSO
			pkt = append(make([]byte, virtionet.HdrLen), randBytes(1600+rng.IntN(3000))...)
			copy(pkt[virtionet.HdrLen:], bmac[:])
		}
		b.sim.Inject(pkt)
		for b.sim.Pending() > 1000 {
			time.Sleep(time.Millisecond)
		}
	}
	require.Eventually(t, func() bool { return b.sim.Pending() == 0 }, 10*time.Second, time.Millisecond)
	t.Logf("kinds %v; device rx errors %d, endpoint delivered %d dropped %d", kinds,
		b.ep.Device().RxErrors.Load(), b.ep.RxDelivered.Load(), b.ep.RxDropped.Load())
	require.NotZero(t, b.ep.Device().RxErrors.Load())
	require.NoError(t, b.ep.RunError())
	// b still serves TCP, both ways and on both protocols.
	transfer(t, a, b, false, 1<<20, 11)
	transfer(t, a, b, true, 1<<20, 12)
	transfer(t, b, a, false, 256<<10, 13)
}

// TestVouchedChecksums checks which receive checksums are verified: a datagram
// with a wrong UDP checksum is dropped unless the device vouched for it
// (DATA_VALID, or NEEDS_CSUM: a partial sum), and a vouched one with a wrong
// IPv4 header checksum is dropped too, since gVisor skips that header's sum
// for vouched packets.
func TestVouchedChecksums(t *testing.T) {
	a, b := pair(t, csum, csum)
	conn, err := gonet.DialUDP(b.s, &tcpip.FullAddress{NIC: 1, Addr: b.v4, Port: 7000}, nil, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer conn.Close()
	frame := func(payload byte, badIP bool) []byte {
		const ipLen, udpLen = header.IPv4MinimumSize, header.UDPMinimumSize + 1
		f := make([]byte, header.EthernetMinimumSize+ipLen+udpLen)
		header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: a.ep.LinkAddress(), DstAddr: b.ep.LinkAddress(),
			Type: header.IPv4ProtocolNumber})
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv4Fields{TotalLength: ipLen + udpLen, TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
			SrcAddr: a.v4, DstAddr: b.v4})
		ip.SetChecksum(^ip.CalculateChecksum())
		if badIP {
			ip.SetChecksum(ip.Checksum() ^ 0x0101)
		}
		u := header.UDP(ip[ipLen:])
		u.Encode(&header.UDPFields{SrcPort: 5000, DstPort: 7000, Length: udpLen, Checksum: 0x1234}) // wrong
		u[header.UDPMinimumSize] = payload
		return f
	}
	got := func() (byte, bool) {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		var p [8]byte
		n, _, err := conn.ReadFrom(p[:])
		if err != nil || n != 1 {
			return 0, false
		}
		return p[0], true
	}
	dropped := b.ep.RxDropped.Load()

	b.ep.Inject(virtionet.NetHdr{}, frame(1, false))
	_, ok := got()
	require.False(t, ok, "no flag: gVisor checks the UDP sum and drops the datagram")
	require.Equal(t, uint64(1), b.s.Stats().UDP.ChecksumErrors.Value())

	for i, flags := range []uint8{virtionet.HdrDataValid, virtionet.HdrNeedsCsum} {
		b.ep.Inject(virtionet.NetHdr{Flags: flags}, frame(byte(2+i), false))
		v, ok := got()
		require.True(t, ok, "flags %#x: vouched for, delivered", flags)
		require.Equal(t, byte(2+i), v)
	}
	require.Equal(t, uint64(1), b.s.Stats().UDP.ChecksumErrors.Value())
	require.Equal(t, dropped, b.ep.RxDropped.Load())

	b.ep.Inject(virtionet.NetHdr{Flags: virtionet.HdrDataValid}, frame(4, true))
	_, ok = got()
	require.False(t, ok, "a vouched packet's IPv4 header is still checked")
	require.Equal(t, dropped+1, b.ep.RxDropped.Load())
	require.Zero(t, b.ep.Capabilities()&stack.CapabilityRXChecksumOffload, "only while a vouched packet is delivered")
}

func TestEndpointBasics(t *testing.T) {
	a, _ := pair(t, tso, basic)
	ep := a.ep
	require.Equal(t, uint32(1500), ep.MTU())
	ep.SetMTU(9000)
	require.Equal(t, uint32(1500), ep.MTU(), "not beyond the device's")
	ep.SetMTU(1400)
	require.Equal(t, uint32(1400), ep.MTU())
	require.Equal(t, tcpip.LinkAddress("\x52\x54\x00\x00\x00\x01"), ep.LinkAddress())
	require.Equal(t, uint16(14), ep.MaxHeaderLength())
	require.Equal(t, header.ARPHardwareEther, ep.ARPHardwareType())
	require.True(t, ep.IsAttached())
	require.Equal(t, stack.HostGSOSupported, ep.SupportedGSO())
	require.NotZero(t, ep.GSOMaxSize())
	require.Zero(t, ep.Capabilities()&stack.CapabilityRXChecksumOffload)
	require.NotZero(t, ep.Capabilities()&stack.CapabilityResolutionRequired)
	t.Log(ep.Device().Features().String())
}

func BenchmarkTransfer(b *testing.B) {
	for _, f := range []struct {
		name string
		f    uint64
	}{{"plain", basic}, {"csum", csum}, {"tso", tso}} {
		b.Run(f.name, func(b *testing.B) {
			ha, hb := pair(b, f.f, f.f)
			l, err := gonet.ListenTCP(hb.s, tcpip.FullAddress{NIC: 1, Addr: hb.v4, Port: 80}, ipv4.ProtocolNumber)
			require.NoError(b, err)
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
			c, err := gonet.DialTCP(ha.s, tcpip.FullAddress{NIC: 1, Addr: hb.v4, Port: 80}, ipv4.ProtocolNumber)
			require.NoError(b, err)
			defer c.Close()
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
