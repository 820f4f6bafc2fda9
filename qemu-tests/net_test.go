package qemutests

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
)

// The network tests run on QEMU's user network, as the runner sets it up by
// default: the guest gets 10.0.2.15 by DHCP, reaches the host's 127.0.0.1 as
// 10.0.2.2, and host ports reach the guest only through forwards bound to
// 127.0.0.1.

// freePort is a TCP (or UDP) port on 127.0.0.1 that nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostEcho runs a TCP echo server on the host's loopback for the test.
func hostEcho(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TestNetHTTPServer proves the host can use a net/http server in the guest
// through a forwarded port: GET, a handler that panics (net/http recovers and
// the server stays up), a 1 MiB upload checked by hash, then a graceful stop
// by the power button.
func TestNetHTTPServer(t *testing.T) {
	t.Parallel()
	hp := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", hp)
	client := &http.Client{Timeout: 60 * time.Second}
	var results []string
	console, res := bootServer(t, "net", vm{Forward: []qemu.Forward{{Proto: "tcp", HostPort: hp, GuestPort: 80}}},
		"listening on", 1, func() {
			get := func(path string) string {
				r, err := client.Get(base + path)
				if err != nil {
					return "error: " + err.Error()
				}
				defer r.Body.Close()
				b, _ := io.ReadAll(r.Body)
				return fmt.Sprintf("%d %s", r.StatusCode, b)
			}
			results = append(results, get("/"), get("/panic"), get("/"))
			payload := make([]byte, 1<<20)
			rand.Read(payload)
			r, err := client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				results = append(results, "error: "+err.Error())
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			results = append(results, string(b), fmt.Sprintf("%d %x\n", len(payload), sha256.Sum256(payload)))
		}, "serve", "80")
	require.Len(t, results, 5, "console:\n%s", console)
	assert.Equal(t, "200 hello from unigo\n", results[0])
	assert.True(t, strings.HasPrefix(results[1], "error: "), "a panicking handler closes the connection: %s", results[1])
	assert.Equal(t, "200 hello from unigo\n", results[2], "the server survives the panic")
	assert.Equal(t, results[4], results[3], "the upload's length and SHA-256")
	assert.Contains(t, console, "http: panic serving")
	assert.Contains(t, console, "server stopped")
	assert.Equal(t, 0, res.ExitCode)
}

// TestNetHTTPClient proves the guest can GET from a server on the host.
func TestNetHTTPClient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host saw %s %s", r.Method, r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := fmt.Sprintf("http://10.0.2.2:%d/from-guest", l.Addr().(*net.TCPAddr).Port)
	console, res := boot(t, "net", vm{}, "get", url)
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, `status 200 body "host saw GET /from-guest" err <nil>`)
}

// TestNetEcho proves 1 MiB of random bytes crosses TCP both ways intact, in
// both directions of connection: the guest dialing the host, and the host
// dialing the guest. The guest's address is DHCP's.
func TestNetEcho(t *testing.T) {
	t.Parallel()
	t.Run("guest dials", func(t *testing.T) {
		t.Parallel()
		port := hostEcho(t)
		console, res := boot(t, "net", vm{}, "echo", fmt.Sprintf("10.0.2.2:%d", port), "1048576")
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "echoed 1048576 bytes, hash matches: true, err <nil>")
		assert.Contains(t, console, "local address 10.0.2.15\n", "the address from QEMU's DHCP server")
	})
	t.Run("guest dials, small rings", func(t *testing.T) {
		// 80 connections held open first: large rings stop at an eighth of
		// a 256 MiB guest's memory (63 sockets), so this one's are small.
		t.Parallel()
		port := hostEcho(t)
		console, res := boot(t, "net", vm{}, "echo", fmt.Sprintf("10.0.2.2:%d", port), "1048576", "80")
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "echoed 1048576 bytes, hash matches: true, err <nil>")
	})
	t.Run("host dials", func(t *testing.T) {
		t.Parallel()
		hp := freePort(t)
		var got, want [32]byte
		var n int
		var dialErr error
		bootServer(t, "net", vm{Forward: []qemu.Forward{{Proto: "tcp", HostPort: hp, GuestPort: 7}}}, "listening on", 1, func() {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hp), 30*time.Second)
			if err != nil {
				dialErr = err
				return
			}
			defer c.Close()
			payload := make([]byte, 1<<20)
			rand.Read(payload)
			want = sha256.Sum256(payload)
			go func() {
				c.Write(payload)
				c.(*net.TCPConn).CloseWrite()
			}()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			b, err := io.ReadAll(c)
			n, got, dialErr = len(b), sha256.Sum256(b), err
		}, "echoserve", "7")
		require.NoError(t, dialErr)
		assert.Equal(t, 1<<20, n)
		assert.Equal(t, want, got)
	})
}

// TestNetStaticAddress proves the kernel command line's static configuration
// replaces DHCP.
func TestNetStaticAddress(t *testing.T) {
	t.Parallel()
	port := hostEcho(t)
	console, res := boot(t, "net", vm{Extra: "unigo.net.ip=10.0.2.30/24 unigo.net.gw=10.0.2.2"}, "echo", fmt.Sprintf("10.0.2.2:%d", port), "4096")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "echoed 4096 bytes, hash matches: true")
	assert.Contains(t, console, "local address 10.0.2.30\n")
}

// TestNetConnections proves many connections at once: 1000 concurrent
// connections from the guest to an echo server on the host, each checked.
func TestNetConnections(t *testing.T) {
	t.Parallel()
	port := hostEcho(t)
	console, res := boot(t, "net", vm{Timeout: 3 * time.Minute}, "conns", fmt.Sprintf("10.0.2.2:%d", port), "1000")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "connections ok 1000 failed 0")
}

// TestNetStreams proves a TCP socket's reads and writes keep Linux's meaning
// when the kernel serves them from the socket's rings: a blocking read waits,
// MSG_PEEK and MSG_WAITALL, recvmsg, EFAULT that loses nothing, shutdown and
// close after buffered data, the peer's close (end of file, then EPIPE) and
// reset (ECONNRESET); and accept from the kernel's queue: a burst larger than
// the queue, a blocking accept, a listener closed with connections queued.
// The program checks the same on Linux.
func TestNetStreams(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "net", vm{}, "streams")
	assert.Equal(t, 0, res.ExitCode)
	assert.NotContains(t, console, "FAIL")
	for _, name := range []string{"blocking read", "MSG_PEEK", "MSG_WAITALL", "recvmsg", "read EFAULT", "write EFAULT",
		"shutdown after data", "peer close", "EPIPE", "reset", "close with unsent data", "write that fills the ring",
		"accept burst", "blocking accept", "listener closed with queued connections"} {
		assert.Contains(t, console, "ok "+name+"\n")
	}
	assert.Contains(t, console, "streams done\n")
}

// TestNetUDP proves UDP both ways: a datagram to an echo server on the host and
// its echo back.
func TestNetUDP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	console, res := boot(t, "net", vm{}, "udpecho", fmt.Sprintf("10.0.2.2:%d", pc.LocalAddr().(*net.UDPAddr).Port))
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, `udp echo: "datagram from unigo" matches: true`)
}

// TestNetErrors proves failures surface as the usual Go errors: a refused
// connection is ECONNREFUSED; a read deadline is a timeout; with no network
// device a dial says the network is unreachable.
func TestNetErrors(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "net", vm{}, "refused", fmt.Sprintf("10.0.2.2:%d", freePort(t)))
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "connect: connection refused ECONNREFUSED: true")
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := l.Accept() // and never write
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		console, res := boot(t, "net", vm{}, "readtimeout", fmt.Sprintf("10.0.2.2:%d", l.Addr().(*net.TCPAddr).Port))
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "i/o timeout timeout: true deadline exceeded: true")
	})
	t.Run("no network", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "net", vm{Net: qemu.NetNone}, "refused", "10.0.2.2:80")
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "connect: network is unreachable")
	})
}

// TestNetDNS proves name resolution through a DNS server: a small one the test
// runs on the host's port 53 (QEMU's user network takes the guest's queries to
// 10.0.2.2:53 there), named by unigo.net.dns.
func TestNetDNS(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Skipf("cannot run a DNS server on the host's port 53 (needs root and a free port): %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go serveDNS(pc, "unigo.test.", net.IPv4(192, 0, 2, 7))
	console, res := boot(t, "net", vm{Extra: "unigo.net.dns=10.0.2.2"}, "lookup", "unigo.test")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "lookup: [192.0.2.7] <nil>")
}

// serveDNS answers A queries for name with ip, and anything else with
// NXDOMAIN: enough of RFC 1035 for a resolver's question.
func serveDNS(pc net.PacketConn, name string, ip net.IP) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if n < 12 {
			continue
		}
		// The question: labels up to the zero byte, then type and class.
		i, qname := 12, ""
		for i < n && q[i] != 0 {
			l := int(q[i])
			if i+1+l > n {
				break
			}
			qname += string(q[i+1:i+1+l]) + "."
			i += 1 + l
		}
		if i+5 > n {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[i+1:])
		end := i + 5
		resp := append([]byte(nil), q[:end]...)
		resp[2] = 0x84 | q[2]&1 // response, authoritative, RD copied
		resp[3] = 0x80          // RA
		binary.BigEndian.PutUint16(resp[6:], 0)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		switch {
		case strings.EqualFold(qname, name) && qtype == 1:
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, ip.To4()...)
		case strings.EqualFold(qname, name):
			// The name exists, with no record of this type: NOERROR, empty.
		default:
			resp[3] |= 3 // NXDOMAIN
		}
		pc.WriteTo(resp, from)
	}
}

// TestNetMalformedFrames proves the guest's stack survives garbage from the
// wire: 10,000 random, mostly malformed frames go in through the device's
// receive path (unigo.net.fuzz) before the server starts, and it still
// answers.
func TestNetMalformedFrames(t *testing.T) {
	t.Parallel()
	hp := freePort(t)
	var got string
	console, res := bootServer(t, "net", vm{Extra: "unigo.net.fuzz=10000", Forward: []qemu.Forward{{Proto: "tcp", HostPort: hp, GuestPort: 80}}},
		"listening on", 1, func() {
			r, err := (&http.Client{Timeout: 60 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", hp))
			if err != nil {
				got = err.Error()
				return
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			got = string(b)
		}, "serve", "80")
	assert.Contains(t, console, "unigo: network: injected 10000 random frames")
	assert.Equal(t, "hello from unigo\n", got)
	assert.Equal(t, 0, res.ExitCode)
}

// TestNetTap proves the tap network: the test makes a network namespace with a
// tap device in it (where the machine allows: root and iproute2), runs QEMU in
// the namespace on that tap, gives the guest a static address, and fetches
// from the guest's server with curl from inside the namespace.
func TestNetTap(t *testing.T) {
	t.Parallel()
	if suiteSMP != 1 {
		t.Skip("run once, by the suite at -smp 1")
	}
	for _, tool := range []string{"ip", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	ns := fmt.Sprintf("unigo-t%d", os.Getpid()%100000)
	run := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("ip", "netns", "add", ns); err != nil {
		t.Skipf("cannot make a network namespace here (needs root): %v", err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", ns) })
	for _, c := range [][]string{
		{"ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"ip", "netns", "exec", ns, "ip", "addr", "add", "10.0.7.1/24", "dev", "tap0"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", "tap0", "up"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
	} {
		if err := run(c...); err != nil {
			t.Skipf("cannot set up a tap device in the namespace: %v", err)
		}
	}
	qemuPath, err := exec.LookPath(qemu.DefaultQEMU)
	require.NoError(t, err)
	wrapper := filepath.Join(t.TempDir(), "qemu-in-netns")
	require.NoError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+ns+" "+qemuPath+" \"$@\"\n"), 0o755))
	v := vm{Net: "tap:tap0", Extra: "unigo.net.ip=10.0.7.2/24 unigo.net.gw=10.0.7.1", QEMU: wrapper}
	var got string
	console, res := bootServer(t, "net", v, "listening on", 1, func() {
		out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-m", "30", "http://10.0.7.2/").CombinedOutput()
		got = string(out)
		if err != nil {
			got += err.Error()
		}
	}, "serve", "80")
	assert.Equal(t, "hello from unigo\n", got, "console:\n%s", console)
	assert.Equal(t, 0, res.ExitCode)
}

// TestTransmitQueueWatched proves the network service names the device's
// transmit queue to the kernel (SysQueueWatch, 0x1016 = 4118, succeeds), so
// the program's exit waits for the frames it sent.
func TestTransmitQueueWatched(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "net", vm{Extra: "unigo.strace=1"}, "refused", "127.0.0.1:1")
	assert.Equal(t, 0, res.ExitCode)
	assert.Regexp(t, `(?m)^strace: tid \d+ 4118\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x0, 0x0\) = 0$`, console)
}

// TestEntropyMixedIn proves a network program's service reads the virtio-rng
// device and mixes its bytes into the kernel's pool (SysEntropy, 0x1014 =
// 4116, succeeds), on a CPU that has RDRAND too: getrandom then XORs the two.
func TestEntropyMixedIn(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "net", vm{Extra: "unigo.strace=1"}, "refused", "127.0.0.1:1")
	assert.Equal(t, 0, res.ExitCode)
	assert.Regexp(t, `(?m)^strace: tid \d+ 4116\(0x[0-9a-f]+, 0x40, 0x0, 0x0\) = 0$`, console)
}
