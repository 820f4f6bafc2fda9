// Command net exercises the network as an unmodified Go program uses it, one
// subcommand each, printing what it saw for the tests in qemu-tests. It runs on
// Linux unchanged.
//
//	net serve PORT          net/http server: / says hello, /panic panics, /echo
//	                        returns the body's SHA-256, /quit stops it as
//	                        SIGTERM does (for machines without a power button);
//	                        exits 0 on SIGTERM
//	net get URL             GET URL; print the status and the body
//	net echoserve PORT      TCP echo server (each connection until EOF)
//	net echo ADDR BYTES     send BYTES random bytes to a TCP echo server, check
//	                        the echo by hash, both directions at once
//	net udpecho ADDR        one UDP datagram to an echo server and back
//	net conns ADDR N        N concurrent connections to a TCP echo server
//	net refused ADDR        dial a closed port: print the error
//	net timeout ADDR        dial with a 1 s timeout an address that never answers
//	net readtimeout ADDR    read with a 1 s deadline from a server that never writes
//	net lookup NAME         net.LookupHost
//	net info                interfaces and addresses
//	net callcost            time the kinds of socket call: served in the kernel,
//	                        and forwarded to the network service
//	net streams             a TCP socket's reads and writes through the system
//	                        calls: blocking, flags, bad pointers, close, reset;
//	                        accept: bursts, blocking, a listener's close
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	_ "github.com/unigo-dev/unigo/rt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: net serve|get|echoserve|echo|udpecho|conns|refused|timeout|lookup|info ...")
		os.Exit(2)
	}
	arg := func(i int) string {
		if len(os.Args) <= i {
			fmt.Fprintln(os.Stderr, "missing argument")
			os.Exit(2)
		}
		return os.Args[i]
	}
	switch os.Args[1] {
	case "serve":
		serve(arg(2))
	case "get":
		get(arg(2))
	case "echoserve":
		echoServe(arg(2))
	case "echo":
		n, _ := strconv.Atoi(arg(3))
		held := 0
		if len(os.Args) > 4 {
			held, _ = strconv.Atoi(os.Args[4])
		}
		echo(arg(2), n, held)
	case "udpecho":
		udpEcho(arg(2))
	case "conns":
		n, _ := strconv.Atoi(arg(3))
		conns(arg(2), n)
	case "refused":
		_, err := net.Dial("tcp", arg(2))
		fmt.Println("dial:", err, "ECONNREFUSED:", errors.Is(err, syscall.ECONNREFUSED))
	case "timeout":
		start := time.Now()
		_, err := net.DialTimeout("tcp", arg(2), time.Second)
		var ne net.Error
		fmt.Println("dial:", err, "timeout:", errors.As(err, &ne) && ne.Timeout(), "waited at least 1s:", time.Since(start) >= time.Second)
	case "readtimeout":
		c, err := net.Dial("tcp", arg(2))
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		fmt.Println("read:", err, "timeout:", errors.As(err, &ne) && ne.Timeout(), "deadline exceeded:", errors.Is(err, os.ErrDeadlineExceeded))
	case "lookup":
		addrs, err := net.LookupHost(arg(2))
		fmt.Println("lookup:", addrs, err)
	case "streams":
		streams()
	case "callcost":
		callCost()
	case "info":
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			addrs, _ := i.Addrs()
			fmt.Println("interface", i.Name, addrs)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}

func serve(port string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from unigo")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["x"]++ // a nil map: the handler panics, net/http recovers
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
	})
	stop := make(chan os.Signal, 1)
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "stopping")
		select {
		case stop <- syscall.SIGTERM:
		default:
		}
	})
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	signal.Notify(stop, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	fmt.Println("listening on", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Println("serve:", err)
		os.Exit(1)
	}
	// Serve returns as soon as Shutdown begins; the requests in flight (the
	// /quit that stopped it) finish before Shutdown returns.
	<-stopped
	fmt.Println("server stopped")
}

func get(url string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("status %d body %q err %v\n", resp.StatusCode, body, err)
}

func echoServe(port string) {
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			if _, err := io.Copy(c, c); err != nil {
				fmt.Println("echo:", err)
			}
		}()
	}
}

// echo sends n random bytes to the echo server at addr and checks what comes
// back, after opening held connections that stay open meanwhile: each takes
// rings, so that with enough of them the echo's socket gets the small ones.
func echo(addr string, n, held int) {
	for i := 0; i < held; i++ {
		h, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		defer h.Close()
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	data := make([]byte, n)
	rand.Read(data)
	want := sha256.Sum256(data)
	go func() {
		// Two pieces in one call: writev, as net.Buffers makes it.
		bufs := net.Buffers{data[:n/2], data[n/2:]}
		bufs.WriteTo(c)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	fmt.Printf("echoed %d bytes, hash matches: %v, err %v\n", len(got), sha256.Sum256(got) == want, err)
	host, _, _ := net.SplitHostPort(c.LocalAddr().String())
	fmt.Println("local address", host)
}

func udpEcho(addr string) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	msg := []byte("datagram from unigo")
	buf := make([]byte, 100)
	for try := 0; try < 5; try++ {
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			fmt.Printf("udp echo: %q matches: %v\n", buf[:n], bytes.Equal(buf[:n], msg))
			return
		}
	}
	fmt.Println("udp echo: no answer")
}

func conns(addr string, n int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	var firstErr error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				c, err := net.DialTimeout("tcp", addr, 60*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				msg := []byte(fmt.Sprintf("connection %d\n", i))
				if _, err := c.Write(msg); err != nil {
					return err
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					return err
				}
				if !bytes.Equal(got, msg) {
					return errors.New("wrong echo")
				}
				return nil
			}()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			} else {
				ok++
			}
		}()
	}
	wg.Wait()
	fmt.Printf("connections ok %d failed %d first error %v\n", ok, failed, firstErr)
}

// callCost times, per call, a system call the kernel answers at once (getpid),
// socket calls the kernel serves itself (getsockname; epoll_wait with nothing
// ready; a nonblocking read with nothing to read, EAGAIN), and calls it
// forwards to the network service (getsockopt SO_ERROR; a read with data; a
// write), over a loopback connection.
func callCost() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peer <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	raw, _ := c.(*net.TCPConn).SyscallConn()
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	ep, _ := syscall.EpollCreate1(0)
	evs := make([]syscall.EpollEvent, 1)
	buf := make([]byte, 1)
	measure := func(name string, f func()) {
		const n = 2000
		f()
		start := time.Now()
		for range n {
			f()
		}
		fmt.Printf("%-44s %8.1f us/call\n", name, float64(time.Since(start).Nanoseconds())/n/1000)
	}
	measure("getpid (kernel)", func() { syscall.Getpid() })
	measure("getsockname (kernel, from the socket table)", func() { syscall.Getsockname(fd) })
	measure("epoll_wait, nothing ready (kernel)", func() { syscall.EpollWait(ep, evs, 0) })
	measure("read, nothing to read: EAGAIN (kernel)", func() { syscall.Read(fd, buf) })
	measure("getsockopt SO_ERROR (forwarded)", func() { syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR) })
	p := <-peer
	p.Write(make([]byte, 2001))
	time.Sleep(100 * time.Millisecond)
	measure("read of 1 byte that is there (kernel, ring)", func() { syscall.Read(fd, buf) })
	measure("write of 1 byte (kernel, ring)", func() { syscall.Write(fd, buf) })

	// A ring's worth: the peer fills the receive ring, then one read copies
	// it all out.
	big := make([]byte, 64<<10)
	drain := func() {
		for {
			if n, err := syscall.Read(fd, big); n <= 0 || err != nil {
				return
			}
		}
	}
	var took time.Duration
	const bigRounds = 20
	for range bigRounds {
		drain()
		p.Write(big)
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		n, _ := syscall.Read(fd, big)
		took += time.Since(start)
		if n != len(big) {
			fmt.Println("64 KiB read got", n)
		}
	}
	fmt.Printf("%-44s %8.1f us/call\n", "read of 64 KiB that is there (kernel, ring)", float64(took.Nanoseconds())/bigRounds/1000)

	// accept of a connection that is waiting: 100 dialed first.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	const conns = 100
	var dialed []net.Conn
	for range conns {
		if c, err := net.Dial("tcp", ln2.Addr().String()); err == nil {
			dialed = append(dialed, c)
		}
	}
	time.Sleep(200 * time.Millisecond)
	raw2, _ := ln2.(*net.TCPListener).SyscallConn()
	var lfd int
	raw2.Control(func(f uintptr) { lfd = int(f) })
	start := time.Now()
	got := 0
	for range len(dialed) {
		if nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC); err == nil {
			got++
			defer syscall.Close(nfd)
		}
	}
	fmt.Printf("%-44s %8.1f us/call (%d of %d)\n", "accept of a waiting connection (kernel, queue)",
		float64(time.Since(start).Nanoseconds())/float64(max(got, 1))/1000, got, len(dialed))
}
