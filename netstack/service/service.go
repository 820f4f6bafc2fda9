// Package service is the network service of a unigo program: the goroutines that
// take the program's socket calls from the kernel (netstack/netcall), do them on
// the netstack, and answer; the bring-up of the network device and its address
// (the kernel command line's unigo.net.* parameters, or DHCP); and the kernel's
// copy of /etc/resolv.conf.
//
// Context: goroutines, started by package rt before main runs in the unikernel
// build. It calls the kernel only through netcall's private system calls.
//
// # The path of a socket call
//
// The program's thread enters the kernel (SYSCALL), which queues a request and
// blocks the thread. The taker goroutine here, blocked in SysNetTake, gets it
// with the call's input, does it on the netstack, and answers with
// SysNetReply; the kernel copies the output into the thread's memory and wakes
// it. A call that must wait (a blocking socket) runs in a goroutine of its own
// and answers when done, so the taker never waits on the network. After
// handing the kernel's pokes to pumps, the taker looks again without blocking
// (TakeNoWait) and, with nothing queued, yields before it blocks, so the
// pumps run on its thread rather than waiting for Go's sysmon to take its P
// back from the kernel (in paired runs, host-to-guest bulk rose from 42.6 to
// 50.6 MiB/s, medians of 5; docs/perf.md). Each socket's
// readiness goes to the kernel (SysNetReady) whenever the netstack reports a
// change, so epoll_wait, which Go's netpoller calls most, is served in the
// kernel without a round trip.
//
// # The hot path: rings
//
// ARCHITECTURE.md asks how a socket call reaches its goroutine with the least
// latency, and which calls the kernel can serve itself from state the service
// keeps current. Settled:
//   - epoll_wait (Go's netpoller) is served in the kernel from the readiness
//     the service reports (SysNetReady).
//   - socket, getsockname and getpeername are served in the kernel (the Go
//     runtime makes them with RawSyscall, keeping its P, so at GOMAXPROCS=1 a
//     forwarded one would wait for a P that only it holds).
//   - A connected TCP socket's reads and writes (read, readv, recvfrom,
//     recvmsg, write, writev, sendto, sendmsg) are served in the kernel from
//     the socket's two rings (256 KiB each, or 64 KiB once large rings take
//     half of the ring memory), in memory the kernel allocates and maps for
//     the service (netcall's "Rings"; stream.go here). The kernel copies
//     between the caller's buffers and the rings, so the call costs no
//     thread switch and no P handoff; a pump goroutine per socket moves
//     bytes between the rings and the stack, woken by the stack (data or
//     room arrived) or by the kernel (OpRingPoke, only when it asked: the
//     receive ring was full or the send ring empty). The pump reports
//     readiness only when the program found a ring empty or full
//     (RxBlocked, TxBlocked), which is the edge epoll needs. While the
//     program keeps the send ring full, the pump hands the stack whole TSO
//     frames' worth and keeps the rest, less than a frame, for the
//     program's next write (at most 2 ms), so the round leaves as full
//     frames, not full frames and a runt (stream.go). A socket gets its
//     rings when it is accepted or its connect completes, and only while no
//     forwarded read or write on it is in flight; it keeps them until it is
//     closed, when the pump sends what the send ring still holds and gives
//     them back. Ring memory is bounded (1/4 of the machine, 1024 sockets):
//     a socket without rings has its calls forwarded, as below.
//   - accept and accept4 on a TCP listener are served in the kernel from the
//     listener's queue (netcall's "Accept queues"; acceptor.go here): an
//     acceptor goroutine per listener accepts connections as they come, gives
//     each its kernel id, addresses and rings, and queues it; an accept on an
//     empty queue says EAGAIN, or waits in the kernel on a blocking socket.
//   - Every other call (bind, listen, connect, shutdown, the socket options,
//     and everything on UDP sockets) is forwarded: two thread switches.
//
// Measured by testdata/net's callcost under TCG (docs/perf.md): a read of a
// byte that is there or a write of one costs about what getpid does (3 to 9
// µs), where forwarded they cost 68 to 79 and 325 to 423 µs; an accept of a
// waiting connection about 13 µs.
package service

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/unigo-dev/unigo/netstack"
	"github.com/unigo-dev/unigo/netstack/netcall"
)

// Service is the running network service.
type Service struct {
	st *netstack.Stack

	mu       sync.Mutex
	inflight map[uint32]context.CancelFunc // requests waiting on the network, by ID

	// The kernel names sockets (its ids); the stack has its own. Once the
	// taker has unbound a kernel id (OpClose), the kernel may give it to a
	// new socket: a goroutine that looked the pair up earlier and tells the
	// kernel about it later (a lingering pump's report, the reporter's
	// batch, a forwarded call's last word) would describe the new socket
	// with the old one's events, addresses or ring. So whatever tells the
	// kernel about a kernel id checks the pair and makes its system call
	// under bindMu (boundLocked), which unbind needs too; and the kernel
	// reuses an id only after the taker is done with its OpClose.
	bindMu   sync.Mutex
	byKernel map[int32]int
	byStack  map[int]int32

	// Sockets whose readiness changed, for the reporter.
	changedMu sync.Mutex
	changed   map[int]struct{}
	wake      chan struct{}

	hasNIC bool // a network device is attached (bringUp)

	// pushMu orders what goes to the kernel about sockets (ready, names).
	pushMu sync.Mutex

	// Connected stream sockets with rings (stream.go), by the stack's id
	// and by ring slot; the ones the kernel had no ring memory for.
	// attachMu makes one attach at a time.
	ringMu   sync.Mutex
	streams  map[int]*stream
	bySlot   map[uint32]*stream
	ringless map[int]bool
	attachMu sync.Mutex
	// Listening sockets whose connections are accepted ahead of the
	// program (acceptor.go), by the stack's id; under ringMu.
	acceptors map[int]*acceptor
}

// Start creates the stack, starts the taker and brings the network device up in
// the background: the program starts at once, and until an address exists
// sockets say the network is unreachable.
func Start() (*Service, error) {
	if on, _, e := syscall.RawSyscall(netcall.SysNetStart, 0, 0, 0); e != 0 || on != 1 {
		return nil, nil // the program opens no sockets
	}
	st, err := netstack.NewStack(netstack.Options{MaxSockets: netcall.MaxSockets})
	if err != nil {
		return nil, err
	}
	s := &Service{st: st, inflight: map[uint32]context.CancelFunc{},
		byKernel: map[int32]int{}, byStack: map[int]int32{},
		changed: map[int]struct{}{}, wake: make(chan struct{}, 1),
		streams: map[int]*stream{}, bySlot: map[uint32]*stream{}, ringless: map[int]bool{},
		acceptors: map[int]*acceptor{}}
	st.SetNotify(s.notify)
	setResolv(nil)
	go s.report()
	go s.take()
	c := readConfig()
	up := make(chan struct{})
	go s.bringUp(c, up)
	// A program that talks to the network at once should find it up, as a
	// process on a booted Linux does: wait for the address a little. A
	// missing DHCP server costs this wait, then the program runs without.
	select {
	case <-up:
	case <-time.After(c.wait):
		warn(fmt.Errorf("no address after %v; going on without (sockets say the network is unreachable until one comes)", c.wait))
	}
	return s, nil
}

// notify is the stack's readiness callback. It runs inside gVisor and may not
// call back into the stack: it notes the socket and wakes the reporter.
func (s *Service) notify(id int, _ uint32) {
	if p := s.streamOf(id); p != nil {
		p.poke() // its pump reports what the program needs to know
		return
	}
	if a := s.acceptorOf(id); a != nil {
		a.poke() // the kernel's queue says when the listener is readable
		return
	}
	s.changedMu.Lock()
	s.changed[id] = struct{}{}
	s.changedMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// report sends the kernel the current events of every socket whose readiness
// changed, in one system call per batch, with its addresses (a connection that
// completed has a peer now).
func (s *Service) report() {
	var batch []int
	var recs []netcall.Ready
	for range s.wake {
		s.changedMu.Lock()
		batch = batch[:0]
		for id := range s.changed {
			batch = append(batch, id)
		}
		clear(s.changed)
		s.changedMu.Unlock()
		recs = recs[:0]
		s.pushMu.Lock()
		s.bindMu.Lock()
		for _, id := range batch {
			k, ok := s.byStack[id]
			if !ok {
				continue
			}
			recs = append(recs, netcall.Ready{Sock: k, Events: s.st.Readiness(id)})
			if s.namesLocked(k, id) {
				s.attachLocked(k, id) // connected (a connect that did not wait)
			}
		}
		if len(recs) > 0 {
			syscall.RawSyscall(netcall.SysNetReady, uintptr(unsafe.Pointer(&recs[0])), uintptr(len(recs)), 0)
		}
		s.bindMu.Unlock()
		s.pushMu.Unlock()
	}
}

// ready reports one socket's events now, if the kernel's socket k is still
// the stack's id.
func (s *Service) ready(k int32, id int) {
	// Reading the state and telling the kernel happen under pushMu, so the
	// kernel's copy is always the latest reading: unordered, a goroutine
	// that read earlier could overwrite a newer report (a connection that
	// completed would look unconnected again).
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	if !s.boundLocked(k, id) {
		return // closed: k may name another socket now
	}
	r := netcall.Ready{Sock: k, Events: s.st.Readiness(id)}
	syscall.RawSyscall(netcall.SysNetReady, uintptr(unsafe.Pointer(&r)), 1, 0)
}

// names gives the kernel a socket's addresses, for getsockname and
// getpeername, if the kernel's socket k is still the stack's id.
func (s *Service) names(k int32, id int) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	if s.boundLocked(k, id) {
		s.namesLocked(k, id)
	}
}

// boundLocked says whether the kernel's socket k is the stack's id (bindMu
// held).
func (s *Service) boundLocked(k int32, id int) bool {
	got, ok := s.byKernel[k]
	return ok && got == id
}

// namesLocked also says whether the socket is connected (has a peer). The
// caller holds pushMu and bindMu and has checked that k is id.
func (s *Service) namesLocked(k int32, id int) bool {
	local, _ := s.st.GetSockName(id)
	peer, _ := s.st.GetPeerName(id)
	var lp, pp unsafe.Pointer
	if len(local) > 0 {
		lp = unsafe.Pointer(&local[0])
	}
	if len(peer) > 0 {
		pp = unsafe.Pointer(&peer[0])
	}
	syscall.RawSyscall6(netcall.SysNetNames, uintptr(k), uintptr(lp), uintptr(len(local)), uintptr(pp), uintptr(len(peer)), 0)
	return len(peer) > 0
}

// sock is the stack's id of the kernel's socket k.
func (s *Service) sock(k int32) (int, bool) {
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	id, ok := s.byKernel[k]
	return id, ok
}

// bind records that the kernel's socket k is the stack's id.
func (s *Service) bind(k int32, id int) {
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	if old, ok := s.byKernel[k]; ok {
		delete(s.byStack, old) // a late close: the kernel reused the id
	}
	s.byKernel[k], s.byStack[id] = id, k
}

// unbind forgets the kernel's socket k, returning the stack's id.
func (s *Service) unbind(k int32) (int, bool) {
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	id, ok := s.byKernel[k]
	if ok {
		delete(s.byKernel, k)
		delete(s.byStack, id)
	}
	return id, ok
}

// take is the taker: requests in, answers out.
func (s *Service) take() {
	buf := make([]byte, netcall.RequestSize+netcall.MaxData+128)
	woke := false // this round readied a pump
	for {
		var flags uintptr
		if woke {
			flags = netcall.TakeNoWait
		}
		n, _, e := syscall.Syscall(netcall.SysNetTake, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), flags)
		if e == syscall.EAGAIN {
			// Nothing queued, and the pumps this round woke wait for a P.
			// Blocking now would keep this goroutine's P in the kernel with
			// it until Go's sysmon takes it back (and starts another thread
			// to run them); yielding first lets them run on this thread.
			woke = false
			runtime.Gosched()
			continue
		}
		if e == syscall.EINTR || (e == 0 && n == 0) {
			continue
		}
		if e != 0 {
			fmt.Fprintln(os.Stderr, "unigo: network service:", e)
			return
		}
		req := *(*netcall.Request)(unsafe.Pointer(&buf[0]))
		in := buf[netcall.RequestSize : netcall.RequestSize+int(req.DataLen)]
		addr := buf[netcall.RequestSize+int(req.DataLen) : netcall.RequestSize+int(req.DataLen)+int(req.AddrLen)]
		switch req.Op {
		case netcall.OpCancel:
			s.mu.Lock()
			if cancel := s.inflight[uint32(req.Args[0])]; cancel != nil {
				cancel()
			}
			s.mu.Unlock()
			continue
		case netcall.OpSocket:
			if id, err := s.st.Socket(int(req.Args[0]), int(req.Args[1]), int(req.Args[2])); err == 0 {
				s.bind(req.Sock, id)
				s.ready(req.Sock, id)
			} else {
				fmt.Fprintln(os.Stderr, "unigo: network: socket:", err)
			}
			continue
		case netcall.OpSetNonblock:
			if id, ok := s.sock(req.Sock); ok {
				s.st.SetNonblock(id, req.Args[0] != 0)
			}
			continue
		case netcall.OpClose:
			if id, ok := s.unbind(req.Sock); ok {
				if p := s.streamOf(id); p != nil {
					p.close() // its pump sends what is left, then closes
				} else if a := s.acceptorOf(id); a != nil {
					a.stop() // it forgets itself, then closes the listener
				} else {
					s.ringMu.Lock()
					delete(s.ringless, id) // the stack may give the id to a new socket
					s.ringMu.Unlock()
					go s.st.Close(context.Background(), id)
				}
			}
			continue
		case netcall.OpRingPoke:
			s.poked(uint32(req.Args[0]))
			woke = true
			continue
		case syscall.SYS_SHUTDOWN:
			// On a socket with rings, after what was written before it.
			if id, ok := s.sock(req.Sock); ok {
				if p := s.streamOf(id); p != nil {
					p.afterSent(func() { s.do(context.Background(), &req, nil, nil) })
					continue
				}
			}
		}
		if req.Nonblock != 0 || !netcall.MayWait(req.Op) {
			s.do(context.Background(), &req, in, addr)
			continue
		}
		// The call may wait: on its own goroutine, with copies of its input
		// (the buffer is reused for the next request).
		in, addr = append([]byte(nil), in...), append([]byte(nil), addr...)
		ctx, cancel := context.WithCancel(context.Background())
		s.mu.Lock()
		s.inflight[req.ID] = cancel
		s.mu.Unlock()
		go func() {
			s.do(ctx, &req, in, addr)
			s.mu.Lock()
			delete(s.inflight, req.ID)
			s.mu.Unlock()
			cancel()
		}()
	}
}

// do performs one call and answers it.
func (s *Service) do(ctx context.Context, req *netcall.Request, in, addr []byte) {
	id, ok := s.sock(req.Sock)
	if !ok {
		reply(req.ID, -int64(syscall.EBADF), nil, nil)
		return
	}
	a := req.Args
	var (
		res  int64
		err  netstack.Errno
		out  []byte
		peer []byte
	)
	switch req.Op {
	case syscall.SYS_BIND:
		err = s.st.Bind(id, in)
		s.names(req.Sock, id)
	case syscall.SYS_CONNECT:
		err = s.st.Connect(ctx, id, in)
		s.names(req.Sock, id)
		if err == 0 {
			s.attach(req.Sock, id)
		}
	case syscall.SYS_LISTEN:
		err = s.st.Listen(id, int(int32(a[1])))
		s.names(req.Sock, id)
		if err == 0 {
			s.startAcceptor(req.Sock, id)
			// A listener's events are no longer an unconnected socket's;
			// from now on the kernel's queue says when it is readable.
			s.ready(req.Sock, id)
		}
	case syscall.SYS_ACCEPT, syscall.SYS_ACCEPT4:
		var n int
		// The kernel chose the new socket's id (Args[4]); SOCK_NONBLOCK
		// comes separately (OpSetNonblock).
		if n, peer, err = s.st.Accept(ctx, id, int(a[3])); err == 0 {
			k := int32(a[4])
			s.bind(k, n)
			s.names(k, n)
			s.attach(k, n)
			s.ready(k, n)
		}
	case syscall.SYS_SHUTDOWN:
		err = s.st.Shutdown(id, int(a[1]))
	case syscall.SYS_SETSOCKOPT:
		err = s.st.SetSockopt(id, int(a[1]), int(a[2]), in)
	case syscall.SYS_GETSOCKOPT:
		if out, err = s.st.GetSockopt(id, int(a[1]), int(a[2])); err == 0 && len(out) > int(req.Want) {
			out = out[:req.Want]
		}
	case syscall.SYS_READ, syscall.SYS_READV, syscall.SYS_RECVFROM, syscall.SYS_RECVMSG:
		buf := make([]byte, req.Want)
		var n int
		n, peer, _, err = s.st.Recvfrom(ctx, id, buf, msgFlags(req))
		res, out = int64(n), buf[:min(n, len(buf))]
	case syscall.SYS_WRITE, syscall.SYS_WRITEV, syscall.SYS_SENDTO, syscall.SYS_SENDMSG:
		flags := msgFlags(req)
		var to []byte
		if len(addr) > 0 {
			to = addr
		}
		var n int
		n, err = s.st.Sendto(ctx, id, in, flags, to)
		res = int64(n)
		if to != nil {
			s.names(req.Sock, id) // a first sendto binds the socket
		}
	default:
		err = netstack.Errno(syscall.ENOSYS)
	}
	if err != 0 {
		res = -int64(err)
	}
	if netcall.MayWait(req.Op) && req.Op != syscall.SYS_CONNECT {
		// What the call took may have ended the readiness (the last
		// pending connection, the last bytes): the kernel's copy must say
		// so before the caller looks again.
		s.ready(req.Sock, id)
	}
	reply(req.ID, res, out, peer)
}

// msgFlags is a send's or receive's MSG_* flags (0 for read and write).
func msgFlags(req *netcall.Request) int {
	switch req.Op {
	case syscall.SYS_RECVFROM, syscall.SYS_SENDTO:
		return int(req.Args[3])
	case syscall.SYS_RECVMSG, syscall.SYS_SENDMSG:
		return int(req.Args[2])
	}
	return 0
}

func reply(id uint32, res int64, data, addr []byte) {
	var dp, ap unsafe.Pointer
	if len(data) > 0 {
		dp = unsafe.Pointer(&data[0])
	}
	if len(addr) > 0 {
		ap = unsafe.Pointer(&addr[0])
	}
	syscall.Syscall6(netcall.SysNetReply, uintptr(id), uintptr(res), uintptr(dp), uintptr(len(data)), uintptr(ap), uintptr(len(addr)))
}

// config is the network configuration from the kernel command line.
type config struct {
	addr netip.Prefix
	gw   netip.Addr
	dns  []netip.Addr
	dhcp bool // no static address: ask DHCP
	// wait bounds how long the program's start waits for an address
	// (unigo.net.wait=SECONDS, 5 by default).
	wait time.Duration
	// fuzz is how many random frames to inject at start (unigo.net.fuzz).
	fuzz int
}

// readConfig reads the unigo.net.* kernel parameters: ip=ADDR/LEN, gw=ADDR,
// dns=ADDR[,ADDR...]. Without ip= the address comes from DHCP.
func readConfig() config {
	buf := make([]byte, 512)
	n, _, e := syscall.RawSyscall(netcall.SysNetConfig, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	c := config{dhcp: true, wait: 5 * time.Second}
	if e != 0 {
		return c
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		var err error
		switch k {
		case "":
			continue
		case "ip":
			c.addr, err = netip.ParsePrefix(v)
			c.dhcp = err != nil
		case "gw":
			c.gw, err = netip.ParseAddr(v)
		case "fuzz":
			c.fuzz, err = strconv.Atoi(v)
		case "wait":
			var n int
			if n, err = strconv.Atoi(v); err == nil {
				c.wait = time.Duration(n) * time.Second
			}
		case "dns":
			for _, d := range strings.Split(v, ",") {
				a, e := netip.ParseAddr(d)
				if e != nil {
					err = e
					break
				}
				c.dns = append(c.dns, a)
			}
		default:
			err = fmt.Errorf("unknown parameter")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo: network: unigo.net.%s: %v\n", line, err)
		}
	}
	return c
}

// setResolv gives the kernel the resolver's configuration.
func setResolv(dns []netip.Addr) {
	var b strings.Builder
	b.WriteString("# unigo: from DHCP or unigo.net.dns\n")
	for _, d := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	b.WriteString("options ndots:1 timeout:2 attempts:2\n")
	p := []byte(b.String())
	syscall.RawSyscall(netcall.SysNetResolv, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0)
}
