package netstack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
)

const ok = Errno(0)

// echoServer accepts one connection on ln and echoes until EOF.
func echoServer(ctx context.Context, st *Stack, ln int) <-chan Errno {
	done := make(chan Errno, 1)
	go func() {
		c, _, e := st.Accept(ctx, ln, 0)
		if e != 0 {
			done <- e
			return
		}
		defer st.Close(ctx, c)
		buf := make([]byte, 64<<10)
		for {
			n, e := st.Read(ctx, c, buf)
			if e != 0 {
				done <- e
				return
			}
			if n == 0 {
				done <- st.Shutdown(c, SHUT_WR)
				return
			}
			if e := writeAll(ctx, st, c, buf[:n]); e != 0 {
				done <- e
				return
			}
		}
	}()
	return done
}

// echoRoundTrip sends size random bytes through an echo server at sa and
// checks what comes back by hash.
func echoRoundTrip(t *testing.T, ctx context.Context, cl *Stack, domain int, sa []byte, size int) {
	c := mustSocket(t, cl, domain, SOCK_STREAM)
	defer cl.Close(ctx, c)
	require.Equal(t, ok, cl.Connect(ctx, c, sa))
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	werr := make(chan Errno, 1)
	go func() {
		e := writeAll(ctx, cl, c, payload)
		if e == 0 {
			e = cl.Shutdown(c, SHUT_WR)
		}
		werr <- e
	}()
	got := make([]byte, size+1)
	n, e := readFull(ctx, cl, c, got)
	require.Equal(t, ok, e)
	require.Equal(t, size, n)
	require.Equal(t, sha256.Sum256(payload), sha256.Sum256(got[:n]))
	require.Equal(t, ok, <-werr)
}

func TestTCPEchoBothWays(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	a, b, _ := pair(t)
	for _, dir := range []struct {
		name    string
		srv, cl *Stack
		srvAddr string
	}{{"a-to-b", b, a, "10.0.0.2"}, {"b-to-a", a, b, "10.0.0.1"}} {
		t.Run(dir.name, func(t *testing.T) {
			ln := listenOn(t, dir.srv, AF_INET, sa4(dir.srvAddr, 0))
			port := boundPort(t, dir.srv, ln)
			done := echoServer(ctx, dir.srv, ln)
			echoRoundTrip(t, ctx, dir.cl, AF_INET, sa4(dir.srvAddr, port), 1<<20)
			require.Equal(t, ok, <-done)
			require.Equal(t, ok, dir.srv.Close(ctx, ln))
		})
	}
}

func TestTCPEchoLoopback(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	st := newStack(t)
	ln := listenOn(t, st, AF_INET6, sa6("::1", 0))
	port := boundPort(t, st, ln)
	done := echoServer(ctx, st, ln)
	echoRoundTrip(t, ctx, st, AF_INET6, sa6("::1", port), 1<<20)
	require.Equal(t, ok, <-done)
}

func TestSocketErrors(t *testing.T) {
	st := newStack(t)
	_, e := st.Socket(1 /* AF_UNIX */, SOCK_STREAM, 0)
	assert.Equal(t, EAFNOSUPPORT, e)
	_, e = st.Socket(AF_INET, SOCK_STREAM, IPPROTO_UDP)
	assert.Equal(t, EPROTONOSUPPORT, e)
	_, e = st.Socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP)
	assert.Equal(t, EPROTONOSUPPORT, e)
	_, e = st.Socket(AF_INET, 5 /* SOCK_SEQPACKET */, 0)
	assert.Equal(t, ESOCKTNOSUPPORT, e)
	_, e = st.Socket(AF_INET, 0x4000|SOCK_STREAM, 0)
	assert.Equal(t, EINVAL, e)

	id := mustSocket(t, st, AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC)
	nb, e := st.Nonblock(id)
	assert.Equal(t, ok, e)
	assert.True(t, nb)
	assert.Equal(t, EINVAL, st.Bind(id, sa4("127.0.0.1", 0)[:15]))
	assert.Equal(t, EAFNOSUPPORT, st.Bind(id, sa6("::1", 0)))
	assert.Equal(t, EADDRNOTAVAIL, st.Bind(id, sa4("192.0.2.1", 0)))
	_, e = st.GetPeerName(id)
	assert.Equal(t, ENOTCONN, e)
	sa, e := st.GetSockName(id)
	assert.Equal(t, ok, e)
	assert.Equal(t, make([]byte, 16)[4:], sa[4:])

	id6 := mustSocket(t, st, AF_INET6, SOCK_DGRAM)
	assert.Equal(t, EINVAL, st.Bind(id6, sa4("127.0.0.1", 0)))
	long := append(sa4("127.0.0.1", 0), make([]byte, 12)...)
	assert.Equal(t, EAFNOSUPPORT, st.Bind(id6, long))
	assert.Equal(t, ok, st.Bind(id6, sa6("::1", 0)[:24]))

	assert.Equal(t, ok, st.Close(context.Background(), id))
	assert.Equal(t, EBADF, st.Close(context.Background(), id))
	_, _, e = st.Accept(context.Background(), id6, 0)
	assert.Equal(t, EOPNOTSUPP, e)
	assert.Equal(t, EOPNOTSUPP, st.Listen(id6, 1))
}

func TestNonblockingConnect(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, b, _ := pair(t)
	ln := listenOn(t, b, AF_INET, sa4("0.0.0.0", 0))
	port := boundPort(t, b, ln)

	var mu sync.Mutex
	events := map[int]uint32{}
	wake := make(chan struct{}, 1)
	a.SetNotify(func(id int, mask uint32) {
		mu.Lock()
		events[id] |= mask
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	c := mustSocket(t, a, AF_INET, SOCK_STREAM|SOCK_NONBLOCK)
	require.Equal(t, EINPROGRESS, a.Connect(ctx, c, sa4("10.0.0.2", port)))
	for a.Readiness(c)&EPOLLOUT == 0 {
		select {
		case <-wake:
		case <-ctx.Done():
			t.Fatal("no EPOLLOUT after connect")
		}
	}
	mu.Lock()
	assert.NotZero(t, events[c]&EPOLLOUT, "notified of EPOLLOUT")
	mu.Unlock()
	v, e := a.GetSockopt(c, SOL_SOCKET, SO_ERROR)
	require.Equal(t, ok, e)
	require.Equal(t, intOpt(0), v)
	peer, e := a.GetPeerName(c)
	require.Equal(t, ok, e)
	require.Equal(t, netip.MustParseAddrPort("10.0.0.2:"+itoa(port)), parseSA(t, peer))
	srv, speer, e := b.Accept(ctx, ln, SOCK_NONBLOCK)
	require.Equal(t, ok, e)
	local, _ := a.GetSockName(c)
	require.Equal(t, parseSA(t, local), parseSA(t, speer))
	// Linux: the first connect after completion reports 0, then EISCONN.
	require.Equal(t, ok, a.Connect(ctx, c, sa4("10.0.0.2", port)))
	require.Equal(t, EISCONN, a.Connect(ctx, c, sa4("10.0.0.2", port)))
	_, e = b.Read(ctx, srv, make([]byte, 1))
	require.Equal(t, EAGAIN, e)
}

func itoa(n int) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)).String()[len("0.0.0.0:"):]
}

func TestConnectionRefused(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, _, _ := pair(t)
	c := mustSocket(t, a, AF_INET, SOCK_STREAM)
	require.Equal(t, ECONNREFUSED, a.Connect(ctx, c, sa4("10.0.0.2", 9)))

	st := newStack(t)
	c = mustSocket(t, st, AF_INET, SOCK_STREAM|SOCK_NONBLOCK)
	e := st.Connect(ctx, c, sa4("127.0.0.1", 9))
	if e == EINPROGRESS {
		deadline := time.Now().Add(5 * time.Second)
		for st.Readiness(c)&(EPOLLOUT|EPOLLERR) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		v, e2 := st.GetSockopt(c, SOL_SOCKET, SO_ERROR)
		require.Equal(t, ok, e2)
		require.Equal(t, intOpt(int(ECONNREFUSED)), v)
	} else {
		require.Equal(t, ECONNREFUSED, e)
	}
}

func TestAcceptEAGAINAndCancel(t *testing.T) {
	st := newStack(t)
	ln := listenOn(t, st, AF_INET, sa4("127.0.0.1", 0))
	require.Equal(t, ok, st.SetNonblock(ln, true))
	_, _, e := st.Accept(context.Background(), ln, 0)
	require.Equal(t, EAGAIN, e)
	require.Equal(t, ok, st.SetNonblock(ln, false))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, e = st.Accept(ctx, ln, 0)
	require.Equal(t, EINTR, e)

	c := mustSocket(t, st, AF_INET, SOCK_STREAM)
	ctx2 := testCtx(t, 10*time.Second)
	require.Equal(t, ok, st.Connect(ctx2, c, sa4("127.0.0.1", boundPort(t, st, ln))))
	ctx3, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	_, e = st.Read(ctx3, c, make([]byte, 10))
	require.Equal(t, EINTR, e)
	n, _, _, e := st.Recvfrom(ctx2, c, make([]byte, 10), MSG_DONTWAIT)
	require.Equal(t, EAGAIN, e)
	require.Zero(t, n)
}

func TestDualStackListener(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, b, _ := pair(t)
	ln := listenOn(t, b, AF_INET6, sa6("::", 0))
	port := boundPort(t, b, ln)
	v, e := b.GetSockopt(ln, IPPROTO_IPV6, IPV6_V6ONLY)
	require.Equal(t, ok, e)
	require.Equal(t, intOpt(0), v)

	for _, cl := range []*Stack{a, b} {
		addr := "10.0.0.2"
		c := mustSocket(t, cl, AF_INET, SOCK_STREAM)
		require.Equal(t, ok, cl.Connect(ctx, c, sa4(addr, port)))
		s, peer, e := b.Accept(ctx, ln, 0)
		require.Equal(t, ok, e)
		local, _ := cl.GetSockName(c)
		want := parseSA(t, local)
		got := parseSA(t, peer)
		require.Len(t, peer, 28)
		require.True(t, got.Addr().Is4In6(), "peer %v", got)
		require.Equal(t, want.Addr(), got.Addr().Unmap())
		require.Equal(t, want.Port(), got.Port())
		sn, e := b.GetSockName(s)
		require.Equal(t, ok, e)
		require.Equal(t, netip.MustParseAddrPort("[::ffff:10.0.0.2]:"+itoa(port)), parseSA(t, sn))
		pn, e := b.GetPeerName(s)
		require.Equal(t, ok, e)
		require.Equal(t, got, parseSA(t, pn))
		require.Equal(t, ok, writeAll(ctx, cl, c, []byte("hi")))
		buf := make([]byte, 2)
		n, e := readFull(ctx, b, s, buf)
		require.Equal(t, ok, e)
		require.Equal(t, "hi", string(buf[:n]))
	}
	// An AF_INET6 socket connects to an IPv4-mapped address.
	c := mustSocket(t, a, AF_INET6, SOCK_STREAM)
	require.Equal(t, ok, a.Connect(ctx, c, sa6("::ffff:10.0.0.2", port)))
	pn, e := a.GetPeerName(c)
	require.Equal(t, ok, e)
	require.Equal(t, netip.MustParseAddrPort("[::ffff:10.0.0.2]:"+itoa(port)), parseSA(t, pn))

	// With IPV6_V6ONLY the listener no longer takes IPv4.
	ln6 := mustSocket(t, b, AF_INET6, SOCK_STREAM)
	require.Equal(t, ok, b.SetSockopt(ln6, IPPROTO_IPV6, IPV6_V6ONLY, intOpt(1)))
	require.Equal(t, ok, b.Bind(ln6, sa6("::", 0)))
	require.Equal(t, ok, b.Listen(ln6, 8))
	c4 := mustSocket(t, a, AF_INET, SOCK_STREAM)
	require.Equal(t, ECONNREFUSED, a.Connect(ctx, c4, sa4("10.0.0.2", boundPort(t, b, ln6))))
}

func TestUDPEcho(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, b, _ := pair(t)
	srv := mustSocket(t, b, AF_INET, SOCK_DGRAM)
	require.Equal(t, ok, b.Bind(srv, sa4("0.0.0.0", 5353)))
	cl := mustSocket(t, a, AF_INET, SOCK_DGRAM)
	require.Equal(t, ok, a.Bind(cl, sa4("10.0.0.1", 4000)))

	n, e := a.Sendto(ctx, cl, []byte("hello, world"), 0, sa4("10.0.0.2", 5353))
	require.Equal(t, ok, e)
	require.Equal(t, 12, n)

	buf := make([]byte, 5)
	// MSG_PEEK leaves it there; MSG_TRUNC reports the full length.
	n, from, fl, e := b.Recvfrom(ctx, srv, buf, MSG_PEEK|MSG_TRUNC)
	require.Equal(t, ok, e)
	require.Equal(t, 12, n)
	require.Equal(t, MSG_TRUNC, fl)
	require.Equal(t, "hello", string(buf))
	require.Equal(t, netip.MustParseAddrPort("10.0.0.1:4000"), parseSA(t, from))
	v, e := b.Ioctl(srv, FIONREAD)
	require.Equal(t, ok, e)
	require.Equal(t, 12, v)
	big := make([]byte, 100)
	n, from, fl, e = b.Recvfrom(ctx, srv, big, 0)
	require.Equal(t, ok, e)
	require.Equal(t, 12, n)
	require.Zero(t, fl)
	require.Equal(t, "hello, world", string(big[:n]))

	n, e = b.Sendto(ctx, srv, big[:n], 0, from)
	require.Equal(t, ok, e)
	require.Equal(t, 12, n)
	n, from, _, e = a.Recvfrom(ctx, cl, big, 0)
	require.Equal(t, ok, e)
	require.Equal(t, "hello, world", string(big[:n]))
	require.Equal(t, netip.MustParseAddrPort("10.0.0.2:5353"), parseSA(t, from))

	// Truncation without MSG_TRUNC drops the rest of the datagram.
	_, e = a.Sendto(ctx, cl, []byte("abcdef"), 0, sa4("10.0.0.2", 5353))
	require.Equal(t, ok, e)
	_, e = a.Sendto(ctx, cl, []byte("xyz"), 0, sa4("10.0.0.2", 5353))
	require.Equal(t, ok, e)
	n, _, fl, e = b.Recvfrom(ctx, srv, buf[:2], 0)
	require.Equal(t, ok, e)
	require.Equal(t, 2, n)
	require.Equal(t, MSG_TRUNC, fl)
	n, _, _, e = b.Recvfrom(ctx, srv, big, 0)
	require.Equal(t, ok, e)
	require.Equal(t, "xyz", string(big[:n]))

	// Connected UDP: Write without an address; AF_UNSPEC disconnects.
	require.Equal(t, ok, a.Connect(ctx, cl, sa4("10.0.0.2", 5353)))
	n, e = a.Write(ctx, cl, []byte("c"))
	require.Equal(t, ok, e)
	require.Equal(t, 1, n)
	n, _, _, e = b.Recvfrom(ctx, srv, big, 0)
	require.Equal(t, ok, e)
	require.Equal(t, 1, n)
	require.Equal(t, ok, a.Connect(ctx, cl, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	_, e = a.Write(ctx, cl, []byte("c"))
	require.Equal(t, EDESTADDRREQ, e)

	// Nonblocking empty read.
	_, _, _, e = b.Recvfrom(ctx, srv, big, MSG_DONTWAIT)
	require.Equal(t, EAGAIN, e)
}

func TestPeekEOFAndEPIPE(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, b, c, s := connected(t, ctx)

	require.Equal(t, ok, writeAll(ctx, a, c, []byte("peekaboo")))
	buf := make([]byte, 4)
	n, _, _, e := b.Recvfrom(ctx, s, buf, MSG_PEEK)
	require.Equal(t, ok, e)
	require.Equal(t, "peek", string(buf[:n]))
	big := make([]byte, 8)
	n, e = readFull(ctx, b, s, big)
	require.Equal(t, ok, e)
	require.Equal(t, "peekaboo", string(big[:n]))

	// EOF after the peer's SHUT_WR, and the reverse direction still works.
	require.Equal(t, ok, a.Shutdown(c, SHUT_WR))
	n, e = b.Read(ctx, s, big)
	require.Equal(t, ok, e)
	require.Zero(t, n)
	n, e = b.Read(ctx, s, big)
	require.Equal(t, ok, e)
	require.Zero(t, n)
	require.NotZero(t, b.Readiness(s)&(EPOLLIN|EPOLLRDHUP))
	require.Equal(t, ok, writeAll(ctx, b, s, []byte("back")))
	n, e = readFull(ctx, a, c, buf)
	require.Equal(t, ok, e)
	require.Equal(t, "back", string(buf[:n]))

	// Writing after one's own SHUT_WR: EPIPE.
	_, e = a.Write(ctx, c, []byte("x"))
	require.Equal(t, EPIPE, e)

	// Peer closes: writes end in EPIPE (Linux: the RST in CLOSE_WAIT).
	require.Equal(t, ok, a.Close(ctx, c))
	var last Errno
	for i := 0; i < 100; i++ {
		_, last = b.Write(ctx, s, []byte("data"))
		if last != 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.Contains(t, []Errno{EPIPE, ECONNRESET}, last)
	_, e = b.Write(ctx, s, []byte("data"))
	require.Equal(t, EPIPE, e)
}

func TestReadinessNotifications(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	st := newStack(t)
	var counts [64]atomic.Int32
	st.SetNotify(func(id int, mask uint32) {
		if mask&EPOLLIN != 0 && id < len(counts) {
			counts[id].Add(1)
		}
	})
	ln := listenOn(t, st, AF_INET, sa4("127.0.0.1", 0))
	c := mustSocket(t, st, AF_INET, SOCK_STREAM)
	require.Equal(t, ok, st.Connect(ctx, c, sa4("127.0.0.1", boundPort(t, st, ln))))
	waitFor(t, ctx, func() bool { return counts[ln].Load() > 0 })
	require.NotZero(t, st.Readiness(ln)&EPOLLIN, "listener readable with a pending connection")
	s, _, e := st.Accept(ctx, ln, SOCK_NONBLOCK)
	require.Equal(t, ok, e)
	require.Zero(t, st.Readiness(s)&EPOLLIN)
	require.NotZero(t, st.Readiness(s)&EPOLLOUT)

	for i := 1; i <= 5; i++ {
		before := counts[s].Load()
		require.Equal(t, ok, writeAll(ctx, st, c, []byte("ping")))
		waitFor(t, ctx, func() bool { return counts[s].Load() > before })
		require.NotZero(t, st.Readiness(s)&EPOLLIN)
		n, e := st.Read(ctx, s, make([]byte, 16))
		require.Equal(t, ok, e)
		require.Equal(t, 4, n)
		require.Zero(t, st.Readiness(s)&EPOLLIN)
	}
	before := counts[s].Load()
	require.Equal(t, ok, st.Close(ctx, c))
	waitFor(t, ctx, func() bool { return counts[s].Load() > before })
	require.NotZero(t, st.Readiness(s)&EPOLLRDHUP)
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("timed out waiting")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestSockoptsRoundTrip(t *testing.T) {
	st := newStack(t)
	tc := mustSocket(t, st, AF_INET6, SOCK_STREAM)
	ud := mustSocket(t, st, AF_INET, SOCK_DGRAM)
	bools := []struct{ id, level, name int }{
		{tc, SOL_SOCKET, SO_REUSEADDR}, {tc, SOL_SOCKET, SO_REUSEPORT},
		{tc, SOL_SOCKET, SO_KEEPALIVE}, {tc, IPPROTO_TCP, TCP_NODELAY},
		{ud, SOL_SOCKET, SO_BROADCAST}, {tc, IPPROTO_IPV6, IPV6_V6ONLY},
	}
	for _, o := range bools {
		for _, v := range []int{1, 0} {
			require.Equal(t, ok, st.SetSockopt(o.id, o.level, o.name, intOpt(v)), "%+v", o)
			got, e := st.GetSockopt(o.id, o.level, o.name)
			require.Equal(t, ok, e)
			require.Equal(t, intOpt(v), got, "%+v = %d", o, v)
		}
	}
	for _, o := range []struct{ name, v int }{{TCP_KEEPIDLE, 15}, {TCP_KEEPINTVL, 7}, {TCP_KEEPCNT, 9}} {
		require.Equal(t, ok, st.SetSockopt(tc, IPPROTO_TCP, o.name, intOpt(o.v)))
		got, e := st.GetSockopt(tc, IPPROTO_TCP, o.name)
		require.Equal(t, ok, e)
		require.Equal(t, intOpt(o.v), got)
	}
	require.Equal(t, EINVAL, st.SetSockopt(tc, IPPROTO_TCP, TCP_KEEPIDLE, intOpt(0)))
	require.Equal(t, EINVAL, st.SetSockopt(tc, IPPROTO_TCP, TCP_NODELAY, []byte{1}))

	for _, name := range []int{SO_RCVBUF, SO_SNDBUF} {
		require.Equal(t, ok, st.SetSockopt(tc, SOL_SOCKET, name, intOpt(64<<10)))
		got, e := st.GetSockopt(tc, SOL_SOCKET, name)
		require.Equal(t, ok, e)
		require.Equal(t, intOpt(128<<10), got, "Linux reports twice the request")
	}

	lg := []byte{1, 0, 0, 0, 5, 0, 0, 0}
	require.Equal(t, ok, st.SetSockopt(tc, SOL_SOCKET, SO_LINGER, lg))
	got, e := st.GetSockopt(tc, SOL_SOCKET, SO_LINGER)
	require.Equal(t, ok, e)
	require.Equal(t, lg, got)

	for _, c := range []struct{ id, name, want int }{
		{tc, SO_TYPE, SOCK_STREAM}, {ud, SO_TYPE, SOCK_DGRAM},
		{tc, SO_DOMAIN, AF_INET6}, {ud, SO_DOMAIN, AF_INET},
		{tc, SO_PROTOCOL, IPPROTO_TCP}, {ud, SO_PROTOCOL, IPPROTO_UDP},
		{tc, SO_ERROR, 0}, {tc, SO_ACCEPTCONN, 0},
	} {
		got, e := st.GetSockopt(c.id, SOL_SOCKET, c.name)
		require.Equal(t, ok, e)
		require.Equal(t, intOpt(c.want), got, "option %d", c.name)
	}
	require.Equal(t, ENOPROTOOPT, st.SetSockopt(tc, SOL_SOCKET, SO_TYPE, intOpt(1)))
	require.Equal(t, ENOPROTOOPT, st.SetSockopt(tc, SOL_SOCKET, 999, intOpt(1)))
	_, e = st.GetSockopt(tc, 12345, 1)
	require.Equal(t, ENOPROTOOPT, e)
	_, e = st.GetSockopt(ud, IPPROTO_IPV6, IPV6_V6ONLY)
	require.Equal(t, ENOPROTOOPT, e)
	ttl, e := st.GetSockopt(ud, IPPROTO_IP, IP_TTL)
	require.Equal(t, ok, e)
	require.Equal(t, intOpt(64), ttl)
	require.Equal(t, ok, st.SetSockopt(ud, IPPROTO_IP, IP_TTL, intOpt(9)))
	ttl, _ = st.GetSockopt(ud, IPPROTO_IP, IP_TTL)
	require.Equal(t, intOpt(9), ttl)
}

func TestENETUNREACHWithoutAddress(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	st := newStack(t)
	// No NIC at all, then a NIC with no address.
	c := mustSocket(t, st, AF_INET, SOCK_STREAM)
	require.Equal(t, ENETUNREACH, st.Connect(ctx, c, sa4("10.0.2.2", 80)))
	require.NoError(t, st.AddNIC(channel.New(16, 1500, ""), macA))
	for _, flags := range []int{0, SOCK_NONBLOCK} {
		c := mustSocket(t, st, AF_INET, SOCK_STREAM|flags)
		require.Equal(t, ENETUNREACH, st.Connect(ctx, c, sa4("10.0.2.2", 80)))
		c6 := mustSocket(t, st, AF_INET6, SOCK_STREAM|flags)
		require.Equal(t, ENETUNREACH, st.Connect(ctx, c6, sa6("2001:db8::1", 80)))
	}
	u := mustSocket(t, st, AF_INET, SOCK_DGRAM)
	_, e := st.Sendto(ctx, u, []byte("x"), 0, sa4("10.0.2.3", 53))
	require.Equal(t, ENETUNREACH, e)
	require.Equal(t, ENETUNREACH, st.Connect(ctx, u, sa4("10.0.2.3", 53)))
	// Loopback still works.
	require.Equal(t, ok, st.Connect(ctx, u, sa4("127.0.0.1", 53)))
}

func TestManyConnectionsLoopback(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	st := newStack(t)
	ln := mustSocket(t, st, AF_INET, SOCK_STREAM)
	require.Equal(t, ok, st.Bind(ln, sa4("127.0.0.1", 0)))
	require.Equal(t, ok, st.Listen(ln, 4096))
	port := boundPort(t, st, ln)
	const N = 1000
	go func() {
		for i := 0; i < N; i++ {
			s, _, e := st.Accept(ctx, ln, 0)
			if e != 0 {
				return
			}
			go func() {
				defer st.Close(ctx, s)
				buf := make([]byte, 64)
				n, e := st.Read(ctx, s, buf)
				if e == 0 && n > 0 {
					_ = writeAll(ctx, st, s, buf[:n])
				}
			}()
		}
	}()
	var wg sync.WaitGroup
	var good atomic.Int32
	for i := 0; i < N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, e := st.Socket(AF_INET, SOCK_STREAM, 0)
			if e != 0 {
				t.Errorf("socket: %v", e)
				return
			}
			defer st.Close(ctx, c)
			if e := st.Connect(ctx, c, sa4("127.0.0.1", port)); e != 0 {
				t.Errorf("connect: %v", e)
				return
			}
			msg := []byte("conn " + itoa(i))
			if e := writeAll(ctx, st, c, msg); e != 0 {
				t.Errorf("write: %v", e)
				return
			}
			buf := make([]byte, 64)
			n, e := readFull(ctx, st, c, buf[:len(msg)])
			if e != 0 || string(buf[:n]) != string(msg) {
				t.Errorf("read %q %v", buf[:n], e)
				return
			}
			good.Add(1)
		}()
	}
	wg.Wait()
	require.EqualValues(t, N, good.Load())
}

// TestWriteRing: the two pieces arrive in order as one write, a full send
// buffer says EAGAIN, and errors are a write's.
func TestWriteRing(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	a, b, c, s := connected(t, ctx)

	n, e := a.WriteRing(c, []byte("end of the ring, "), []byte("start of the ring"))
	require.Equal(t, ok, e)
	require.Equal(t, 34, n)
	n, e = a.WriteRing(c, nil, []byte("!"))
	require.Equal(t, ok, e)
	require.Equal(t, 1, n)
	buf := make([]byte, 35)
	n, e = readFull(ctx, b, s, buf)
	require.Equal(t, ok, e)
	require.Equal(t, "end of the ring, start of the ring!", string(buf[:n]))

	// Nobody reads: the send buffer fills, then EAGAIN, never a block.
	chunk := make([]byte, 64<<10)
	var last Errno
	for i := 0; i < 1000 && last == 0; i++ {
		_, last = a.WriteRing(c, chunk[:1000], chunk[1000:])
	}
	require.Equal(t, EAGAIN, last)

	_, e = a.WriteRing(-1, chunk, nil)
	require.Equal(t, EBADF, e)
	require.Equal(t, ok, a.Shutdown(c, SHUT_WR))
	_, e = a.WriteRing(c, chunk, nil)
	require.Equal(t, EPIPE, e)
}
