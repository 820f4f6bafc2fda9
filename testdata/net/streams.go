package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// streams checks a connected TCP socket's read and write calls the way a
// program that uses the system calls directly sees them (in the unikernel the
// kernel serves them from the socket's rings): blocking reads, MSG_PEEK,
// MSG_WAITALL, recvmsg, bad pointers (EFAULT, and nothing lost), shutdown
// after buffered data, the peer's close and reset, and a close with unsent
// data. It prints "ok NAME" or "FAIL NAME: why" for each, then "streams done".
func streams() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// pair connects a blocking socket made with the system calls to the
	// listener and returns it with the accepted end.
	pair := func() (int, *net.TCPConn) {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			fmt.Println("socket:", err)
			os.Exit(1)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		// A blocking connect that a signal interrupts (Go preempts with
		// SIGURG) is restarted, as on Linux, and then says EALREADY while
		// the handshake goes on and EISCONN once it is done.
		sa := &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
		err = syscall.Connect(fd, sa)
		for err == syscall.EALREADY || err == syscall.EINTR {
			time.Sleep(time.Millisecond)
			err = syscall.Connect(fd, sa)
		}
		if err != nil && err != syscall.EISCONN {
			fmt.Println("connect:", err)
			os.Exit(1)
		}
		return fd, (<-accepted).(*net.TCPConn)
	}
	check := func(name string, err error) {
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			return
		}
		fmt.Println("ok", name)
	}
	want := func(what string, got, exp any) error {
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			return fmt.Errorf("%s: got %v, want %v", what, got, exp)
		}
		return nil
	}

	fd, peer := pair()
	buf := make([]byte, 64)

	// A blocking read waits for bytes the peer sends later.
	go func() {
		time.Sleep(200 * time.Millisecond)
		peer.Write([]byte("late"))
	}()
	start := time.Now()
	n, err := syscall.Read(fd, buf)
	check("blocking read", errors.Join(err, want("data", string(buf[:n]), "late"),
		want("waited", time.Since(start) >= 150*time.Millisecond, true)))

	// MSG_PEEK leaves the bytes for the next read.
	peer.Write([]byte("peek"))
	n, _, err = syscall.Recvfrom(fd, buf, syscall.MSG_PEEK)
	n2, err2 := syscall.Read(fd, buf[8:])
	check("MSG_PEEK", errors.Join(err, err2, want("peeked", string(buf[:n]), "peek"), want("read", string(buf[8:8+n2]), "peek")))

	// MSG_WAITALL waits for all it asked for, sent in three pieces.
	go func() {
		for _, p := range []string{"wa", "it", "all"} {
			time.Sleep(50 * time.Millisecond)
			peer.Write([]byte(p))
		}
	}()
	n, _, err = syscall.Recvfrom(fd, buf[:7], syscall.MSG_WAITALL)
	check("MSG_WAITALL", errors.Join(err, want("data", string(buf[:n]), "waitall")))

	// recvmsg on a stream: the data, no source address.
	peer.Write([]byte("msg"))
	var name syscall.RawSockaddrAny
	iov := syscall.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&name)), Namelen: uint32(unsafe.Sizeof(name)), Iov: &iov, Iovlen: 1}
	r, _, e := syscall.Syscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	check("recvmsg", errors.Join(errnoErr(e), want("data", string(buf[:r]), "msg"), want("namelen", msg.Namelen, 0)))

	// A read into memory that is not there fails with EFAULT and keeps the
	// bytes for the next read; a write from such memory sends nothing.
	peer.Write([]byte("kept"))
	time.Sleep(50 * time.Millisecond)
	_, _, e = syscall.Syscall(syscall.SYS_READ, uintptr(fd), 8, 16)
	n, err = syscall.Read(fd, buf)
	check("read EFAULT", errors.Join(want("errno", e, syscall.EFAULT), err, want("then", string(buf[:n]), "kept")))
	_, _, e = syscall.Syscall(syscall.SYS_WRITE, uintptr(fd), 8, 16)
	syscall.Write(fd, []byte("after"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = peer.Read(buf)
	check("write EFAULT", errors.Join(want("errno", e, syscall.EFAULT), err, want("peer got", string(buf[:n]), "after")))
	peer.SetReadDeadline(time.Time{})

	// shutdown(SHUT_WR) after more than the socket buffers hold: the peer
	// gets every byte, then end of file.
	big := make([]byte, 1<<20)
	rand.Read(big)
	sum := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, peer)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sum <- s
	}()
	err = writeAll(fd, big)
	err2 = syscall.Shutdown(fd, syscall.SHUT_WR)
	check("shutdown after data", errors.Join(err, err2, want("hash", <-sum, sha256.Sum256(big))))

	// The peer closes: the bytes it sent before come first, then end of
	// file; then writing fails with EPIPE (MSG_NOSIGNAL: no SIGPIPE).
	peer.Write([]byte("bye"))
	peer.Close()
	n, err = syscall.Read(fd, buf)
	n2, err2 = syscall.Read(fd, buf[8:])
	check("peer close", errors.Join(err, err2, want("data", string(buf[:n]), "bye"), want("then", n2, 0)))
	// The first write after the peer's reset may say ECONNRESET instead.
	var werr error
	for i := 0; i < 100 && werr != syscall.EPIPE; i++ {
		if werr = syscall.Sendto(fd, []byte("x"), syscall.MSG_NOSIGNAL, nil); werr != nil && werr != syscall.ECONNRESET {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	check("EPIPE", want("error", werr, syscall.EPIPE))
	syscall.Close(fd)

	// The peer resets (SO_LINGER 0): a read says ECONNRESET once, then end
	// of file.
	fd, peer = pair()
	peer.SetLinger(0)
	peer.Close()
	time.Sleep(100 * time.Millisecond)
	_, err = syscall.Read(fd, buf)
	n2, err2 = syscall.Read(fd, buf)
	check("reset", errors.Join(want("first", err, syscall.ECONNRESET), err2, want("then", n2, 0)))
	syscall.Close(fd)

	// A close right after a large write: the bytes still go out, then end of
	// file.
	fd, peer = pair()
	go func() {
		writeAll(fd, big)
		syscall.Close(fd)
	}()
	peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(peer)
	check("close with unsent data", errors.Join(err, want("bytes", len(got), len(big)), want("same", bytes.Equal(got, big), true)))
	// A write that fills the send ring (64 KiB) exactly, then nothing: the
	// pump keeps the ring's end back for a next write that does not come,
	// and must send it when its short wait ends, or the peer never gets it.
	fd, peer = pair()
	whole := big[:64<<10]
	err = writeAll(fd, whole)
	got = make([]byte, len(whole))
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err2 = io.ReadFull(peer, got)
	check("write that fills the ring", errors.Join(err, err2, want("same", bytes.Equal(got, whole), true)))
	syscall.Close(fd)
	peer.Close()

	acceptChecks()
	fmt.Println("streams done")
}

// acceptChecks: more connections at once than a listener's queue holds,
// accepted late; a blocking accept made with the system calls; a listener
// closed with connections nobody accepted.
func acceptChecks() {
	check := func(name string, err error) {
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", name, err)
			return
		}
		fmt.Println("ok", name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("BURST")); err == nil {
		n = v
	}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			b := []byte{byte(i)}
			if _, err := c.Write(b); err != nil {
				errs <- fmt.Errorf("connection %d: write: %v (local %v)", i, err, c.LocalAddr())
				return
			}
			b[0] = 0
			if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
				errs <- fmt.Errorf("connection %d: got %v, %v", i, b, err)
				return
			}
			errs <- nil
		}()
	}
	time.Sleep(300 * time.Millisecond) // let them pile up
	var bad error
	for range n {
		c, err := ln.Accept()
		if err != nil {
			bad = err
			break
		}
		// Each dialer sends its number and wants it back.
		go func() {
			defer c.Close()
			b := make([]byte, 1)
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, b); err != nil {
				fmt.Println("accept burst: server read:", err, "peer", c.RemoteAddr())
			}
			c.Write(b)
		}()
	}
	ln.Close()
	check("accept burst", firstErr(errs, n, bad))

	// A blocking accept with the system calls waits for the connection.
	fd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	syscall.Listen(fd, 8)
	sa, _ := syscall.Getsockname(fd)
	port := sa.(*syscall.SockaddrInet4).Port
	go func() {
		time.Sleep(100 * time.Millisecond)
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Write([]byte("hi"))
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	nfd, from, err := syscall.Accept(fd)
	buf := make([]byte, 2)
	var m int
	if err == nil {
		m, err = syscall.Read(nfd, buf)
		syscall.Close(nfd)
	}
	_, isV4 := from.(*syscall.SockaddrInet4)
	if err == nil && (string(buf[:m]) != "hi" || !isV4) {
		err = fmt.Errorf("read %q from %v", buf[:m], from)
	}
	check("blocking accept", err)

	// Connections still queued when the listener closes are closed.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	var conns []net.Conn
	for range 3 {
		if c, err := net.Dial("tcp", ln2.Addr().String()); err == nil {
			conns = append(conns, c)
		}
	}
	time.Sleep(100 * time.Millisecond)
	ln2.Close()
	syscall.Close(fd)
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
		c.Close()
	}
	check("listener closed with queued connections", want2("closed", closed, 3))
}

func firstErr(errs chan error, n int, bad error) error {
	if bad != nil {
		return bad
	}
	var first error
	more := 0
	for range n {
		if err := <-errs; err != nil {
			switch {
			case first == nil:
				first = err
			case more < 5:
				fmt.Println("accept burst: also:", err)
				more++
			}
		}
	}
	return first
}

func want2(what string, got, exp int) error {
	if got != exp {
		return fmt.Errorf("%s: got %d, want %d", what, got, exp)
	}
	return nil
}

// writeAll writes b with write(2), as many calls as it takes.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
