package netstack

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newStack(t testing.TB) *Stack {
	st, err := NewStack(Options{})
	require.NoError(t, err)
	t.Cleanup(st.Destroy)
	return st
}

// frameCopy turns an outbound packet (whole Ethernet frame) into a fresh
// inbound one.
func frameCopy(pkt *stack.PacketBuffer) *stack.PacketBuffer {
	b := pkt.ToBuffer()
	return stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: b})
}

// forward moves every frame src sends into dst until ctx ends.
func forward(ctx context.Context, src, dst *channel.Endpoint) {
	for {
		pkt := src.ReadContext(ctx)
		if pkt == nil {
			return
		}
		in := frameCopy(pkt)
		pkt.DecRef()
		dst.InjectInbound(0, in)
		in.DecRef()
	}
}

// injectFrame delivers raw bytes as an Ethernet frame arriving on ep.
func injectFrame(ep *channel.Endpoint, frame []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	ep.InjectInbound(0, pkt)
	pkt.DecRef()
}

var (
	macA = [6]byte{0x52, 0x54, 0, 0, 0, 0xa}
	macB = [6]byte{0x52, 0x54, 0, 0, 0, 0xb}
)

// pair returns two stacks joined by a simulated Ethernet, A at 10.0.0.1/24
// and B at 10.0.0.2/24, plus A's channel endpoint.
func pair(t testing.TB) (a, b *Stack, epA *channel.Endpoint) {
	a, b = newStack(t), newStack(t)
	epA = channel.New(512, 1500, "")
	epB := channel.New(512, 1500, "")
	require.NoError(t, a.AddNIC(epA, macA))
	require.NoError(t, b.AddNIC(epB, macB))
	require.NoError(t, a.ConfigureStatic(netip.MustParsePrefix("10.0.0.1/24"), netip.Addr{}, nil))
	require.NoError(t, b.ConfigureStatic(netip.MustParsePrefix("10.0.0.2/24"), netip.Addr{}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go forward(ctx, epA, epB)
	go forward(ctx, epB, epA)
	return a, b, epA
}

// connected returns pair's stacks with a TCP connection between them: c on
// A (10.0.0.1), connected to s on B (10.0.0.2).
func connected(t testing.TB, ctx context.Context) (a, b *Stack, c, s int) {
	t.Helper()
	a, b, _ = pair(t)
	ln := listenOn(t, b, AF_INET, sa4("10.0.0.2", 0))
	c = mustSocket(t, a, AF_INET, SOCK_STREAM)
	require.Equal(t, Errno(0), a.Connect(ctx, c, sa4("10.0.0.2", boundPort(t, b, ln))))
	s, _, e := b.Accept(ctx, ln, 0)
	require.Equal(t, Errno(0), e)
	return a, b, c, s
}

func sa4(addr string, port int) []byte {
	ap := netip.MustParseAddr(addr).As4()
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, AF_INET)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	copy(b[4:], ap[:])
	return b
}

func sa6(addr string, port int) []byte {
	ap := netip.MustParseAddr(addr).As16()
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, AF_INET6)
	binary.BigEndian.PutUint16(b[2:], uint16(port))
	copy(b[8:], ap[:])
	return b
}

// parseSA decodes a sockaddr for assertions.
func parseSA(t testing.TB, b []byte) netip.AddrPort {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 16)
	port := binary.BigEndian.Uint16(b[2:])
	switch binary.LittleEndian.Uint16(b) {
	case AF_INET:
		require.Len(t, b, 16)
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case AF_INET6:
		require.Len(t, b, 28)
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
	}
	t.Fatalf("bad family in %x", b)
	return netip.AddrPort{}
}

func mustSocket(t testing.TB, st *Stack, domain, typ int) int {
	t.Helper()
	id, e := st.Socket(domain, typ, 0)
	require.Equal(t, Errno(0), e)
	return id
}

// listenOn makes a listening TCP socket bound to sa.
func listenOn(t testing.TB, st *Stack, domain int, sa []byte) int {
	t.Helper()
	id := mustSocket(t, st, domain, SOCK_STREAM)
	require.Equal(t, Errno(0), st.SetSockopt(id, SOL_SOCKET, SO_REUSEADDR, intOpt(1)))
	require.Equal(t, Errno(0), st.Bind(id, sa))
	require.Equal(t, Errno(0), st.Listen(id, 128))
	return id
}

func boundPort(t testing.TB, st *Stack, id int) int {
	t.Helper()
	sa, e := st.GetSockName(id)
	require.Equal(t, Errno(0), e)
	return int(parseSA(t, sa).Port())
}

// writeAll and readFull are blocking helpers.
func writeAll(ctx context.Context, st *Stack, id int, b []byte) Errno {
	for len(b) > 0 {
		n, e := st.Write(ctx, id, b)
		if e != 0 {
			return e
		}
		b = b[n:]
	}
	return 0
}

func readFull(ctx context.Context, st *Stack, id int, b []byte) (int, Errno) {
	got := 0
	for got < len(b) {
		n, e := st.Read(ctx, id, b[got:])
		if e != 0 {
			return got, e
		}
		if n == 0 {
			break
		}
		got += n
	}
	return got, 0
}
