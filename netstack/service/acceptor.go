package service

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/unigo-dev/unigo/netstack/netcall"
)

// An acceptor accepts a listening TCP socket's connections as they come and
// queues them in the kernel (netcall's "Accept queues"), each already named,
// with its rings, so that the program's accept takes one without a round trip
// to the service. It waits for a kick: the stack's (a connection is pending)
// or its listener's close.
type acceptor struct {
	s      *Service
	k      int32 // the listener, kernel's id
	id     int   // and stack's
	kick   kick
	closed atomic.Bool
}

// retryAfter is how long the acceptor waits when the kernel has no room (a
// full queue, no free socket id) before it tries again.
const retryAfter = 5 * time.Millisecond

// startAcceptor puts listener k (the stack's id) in the kernel's accept-queue
// mode and starts its acceptor, once, if k is still id (see Service.bindMu).
func (s *Service) startAcceptor(k int32, id int) {
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	if !s.boundLocked(k, id) || !s.st.IsStream(id) {
		return
	}
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	if s.acceptors[id] != nil {
		return
	}
	if _, _, e := syscall.RawSyscall(netcall.SysNetAcceptQueue, uintptr(k), 0, 0); e != 0 {
		return // closed meanwhile: its accepts stay forwarded
	}
	a := &acceptor{s: s, k: k, id: id, kick: newKick()}
	s.acceptors[id] = a
	go a.run()
}

// acceptorOf is stack socket id's acceptor, nil if it has none.
func (s *Service) acceptorOf(id int) *acceptor {
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	return s.acceptors[id]
}

func (a *acceptor) poke() { a.kick.poke() }

// stop is the listener's OpClose: the acceptor closes the listener in the
// stack once it has stopped using it.
func (a *acceptor) stop() {
	a.closed.Store(true)
	a.poke()
}

func (a *acceptor) run() {
	for !a.closed.Load() {
		for !a.closed.Load() && a.acceptOne() {
		}
		<-a.kick
	}
	// Forget the acceptor before the stack frees the listener's id for
	// another socket, as a pump does (stream.run): while the map names it,
	// the stack's events for that id come here, and a new socket's would be
	// lost (a client whose connection completed was never reported, and
	// its byte never reached the server, in TestNetStreams' accept burst).
	a.s.ringMu.Lock()
	delete(a.s.acceptors, a.id)
	delete(a.s.ringless, a.id)
	a.s.ringMu.Unlock()
	a.s.st.Close(context.Background(), a.id)
}

// acceptOne takes one pending connection from the stack and queues it in the
// kernel; false when none is pending or the listener is gone.
func (a *acceptor) acceptOne() bool {
	s := a.s
	n, _, e := s.st.TryAccept(a.id)
	if e != 0 {
		return false
	}
	k := int32(-1)
	for k < 0 {
		r, _, errno := syscall.RawSyscall(netcall.SysNetAcceptReserve, uintptr(a.k), 0, 0)
		switch {
		case errno == 0:
			k = int32(r)
		case errno == syscall.EMFILE && !a.closed.Load():
			time.Sleep(retryAfter) // every socket id is taken: wait for a close
		default:
			s.st.Close(context.Background(), n) // the listener is closed
			return false
		}
	}
	s.bind(k, n)
	s.names(k, n)
	s.attach(k, n)
	s.ready(k, n)
	for {
		if errno := a.push(k); errno != syscall.EAGAIN {
			// EBADF: the listener is closed; the kernel closed k too, and
			// its OpClose closes the connection here.
			return errno == 0
		}
		time.Sleep(retryAfter) // the queue is full: the program accepts slower than they come
	}
}

// push queues the reserved connection k on the listener, under the binding
// check (Service.bindMu): once the listener is unbound, the kernel may have
// given its id to another listener, so k goes back to the kernel instead
// (NoListener), which closes it.
func (a *acceptor) push(k int32) syscall.Errno {
	s := a.s
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	l := uintptr(a.k)
	if !s.boundLocked(a.k, a.id) {
		l = netcall.NoListener
	}
	_, _, errno := syscall.RawSyscall(netcall.SysNetAcceptPush, l, uintptr(k), 0)
	return errno
}
