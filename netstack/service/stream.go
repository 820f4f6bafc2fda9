package service

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/unigo-dev/unigo/drivers/hw"
	"github.com/unigo-dev/unigo/netstack"
	"github.com/unigo-dev/unigo/netstack/netcall"
)

// A stream is a connected stream socket whose data goes through its rings
// (netcall's "Rings"): the kernel serves the program's reads and writes from
// them, and the stream's pump goroutine fills the receive ring from the stack
// and drains the send ring into it. The pump never blocks in the stack: it
// moves what it can and waits for a kick, which comes from the stack (data or
// room arrived: notify) or from the kernel (the program moved: OpRingPoke).
type stream struct {
	s    *Service
	k    int32 // the kernel's id
	id   int   // the stack's id
	slot uint32
	h    *netcall.RingHeader
	size uint32 // each ring's, as the kernel chose it
	rx   []byte // receive ring: the pump produces
	tx   []byte // send ring: the pump consumes

	kick   kick
	closed atomic.Bool // the program closed the socket (OpClose)

	rxDone, txDone bool   // no more to receive (end of file, error); no more to send
	lastEv         uint32 // the error and hang-up events last reported

	mu     sync.Mutex
	queued []func() // to run once the send ring is empty (shutdown)
}

// lingerMax bounds how long a closed socket's pump goes on sending what its
// send ring holds to a peer that does not take it.
const lingerMax = 60 * time.Second

// frameBytes is the unit the pump hands the stack in while the program is
// still writing: 45 segments of 1,448 bytes (a 1,500-byte MTU with TCP
// timestamps), which the stack sends as one TSO frame when the window allows
// (its bound is 65,314 bytes: netstack/link's GSO size less TCP's header
// allowance). The pump hands over the ring's whole frames and keeps the rest,
// less than a frame, for the next write: handed everything, the stack sends
// the rest as a frame of its own, a few hundred bytes, and every frame costs
// the stack, the device and the peer's ACK about the same whatever its size.
const frameBytes = 45 * 1448

// holdMax bounds how long the pump keeps the end of the send ring back for
// the program's next write. Linux holds a small tail too while earlier data
// is still in the device (autocorking); here the program's next write comes
// within a fraction of this once it is told there is room.
const holdMax = 2 * time.Millisecond

// attach gives the kernel's socket k rings if it is still the stack's id (see
// Service.bindMu), a connected stream and has none, and starts its pump.
func (s *Service) attach(k int32, id int) {
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	if s.boundLocked(k, id) {
		s.attachLocked(k, id)
	}
}

// attachLocked is attach for a caller that holds bindMu and has checked k is
// id. The kernel refuses while a forwarded read or write on it is in flight
// (EBUSY): a later report tries again. A socket the kernel has no ring memory
// for stays forwarded.
func (s *Service) attachLocked(k int32, id int) {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	if !s.unattached(id) || !s.st.IsStream(id) {
		return
	}
	var slot uint32
	a, _, e := syscall.RawSyscall(netcall.SysNetRing, uintptr(k), uintptr(unsafe.Pointer(&slot)), 0)
	switch e {
	case 0:
	case syscall.EBUSY, syscall.EBADF:
		return
	default:
		s.ringMu.Lock()
		s.ringless[id] = true
		s.ringMu.Unlock()
		return
	}
	size := (*netcall.RingHeader)(unsafe.Pointer(&hw.Mapped(a, netcall.RingHeaderSize)[0])).Size
	p := &stream{s: s, k: k, id: id, slot: slot, kick: newKick()}
	p.lay(hw.Mapped(a, netcall.RingBytes(size)), size)
	s.ringMu.Lock()
	s.streams[id] = p
	s.bySlot[slot] = p
	s.ringMu.Unlock()
	go p.run()
}

// lay places the stream's header and its two rings of size bytes each in
// mem, as netcall's layout has them.
func (p *stream) lay(mem []byte, size uint32) {
	const h = netcall.RingHeaderSize
	p.h = (*netcall.RingHeader)(unsafe.Pointer(&mem[0]))
	p.size, p.rx, p.tx = size, mem[h:h+size], mem[h+size:]
}

// unattached says whether stack socket id has no rings and may get them.
func (s *Service) unattached(id int) bool {
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	_, has := s.streams[id]
	return !has && !s.ringless[id]
}

// streamOf is stack socket id's stream, nil if it has no rings.
func (s *Service) streamOf(id int) *stream {
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	return s.streams[id]
}

// poked is OpRingPoke: the kernel moved in a ring the pump waits on.
func (s *Service) poked(slot uint32) {
	s.ringMu.Lock()
	p := s.bySlot[slot]
	s.ringMu.Unlock()
	if p != nil {
		p.poke()
	}
}

// A kick wakes a goroutine that waits for work; kicks that come while it
// works fold into one.
type kick chan struct{}

func newKick() kick { return make(kick, 1) }

func (k kick) poke() {
	select {
	case k <- struct{}{}:
	default:
	}
}

func (p *stream) poke() { p.kick.poke() }

// close is OpClose: the pump sends what is left, then closes the socket in
// the stack and gives the rings back.
func (p *stream) close() {
	p.closed.Store(true)
	p.poke()
}

// afterSent runs fn once the send ring is empty (at once if it is): a
// shutdown for writing must follow the bytes written before it.
func (p *stream) afterSent(fn func()) {
	p.mu.Lock()
	p.queued = append(p.queued, fn)
	p.mu.Unlock()
	p.poke()
}

func (p *stream) run() {
	var (
		deadline <-chan time.Time
		flush    *time.Timer // bounds how long send holds the ring's tail
		flushDue bool        // it fired: send everything this round
	)
	for {
		closed := p.closed.Load()
		var rxMoved bool
		if !closed {
			rxMoved = p.receive()
		}
		txMoved, held := p.send(!closed && !flushDue && !p.shutdownQueued())
		flushDue = false
		sent := p.txDone || p.h.TxHead == atomic.LoadUint32(&p.h.TxTail)
		if sent {
			p.mu.Lock()
			q := p.queued
			p.queued = nil
			p.mu.Unlock()
			for _, fn := range q {
				fn()
			}
		}
		if closed {
			if sent {
				break
			}
			if deadline == nil {
				deadline = time.After(lingerMax)
			}
		} else {
			p.report(rxMoved, txMoved)
		}
		var flushC <-chan time.Time
		if held {
			if flush == nil {
				flush = time.NewTimer(holdMax)
			} else {
				flush.Reset(holdMax)
			}
			flushC = flush.C
		}
		select {
		case <-p.kick:
		case <-flushC:
			flushDue = true
		case <-deadline:
			p.txDone = true
		}
	}
	if flush != nil {
		flush.Stop()
	}
	// Forget the stream before the stack frees its id for another socket.
	p.s.ringMu.Lock()
	delete(p.s.streams, p.id)
	delete(p.s.bySlot, p.slot)
	delete(p.s.ringless, p.id)
	p.s.ringMu.Unlock()
	p.s.st.Close(context.Background(), p.id)
	syscall.RawSyscall(netcall.SysNetRingFree, uintptr(p.slot), 0, 0)
}

// receive moves what the stack has into the receive ring, as far as there is
// room, and says whether it moved anything (bytes, end of file, an error).
func (p *stream) receive() (moved bool) {
	h := p.h
	for !p.rxDone {
		tail := h.RxTail
		used := tail - atomic.LoadUint32(&h.RxHead)
		if used >= p.size {
			// Full: ask the kernel to say when the program takes some, then
			// look again (it may have just done so).
			atomic.StoreUint32(&h.RxWant, 1)
			if tail-atomic.LoadUint32(&h.RxHead) >= p.size {
				return moved
			}
			continue
		}
		off := tail & (p.size - 1)
		end := min(p.size, off+p.size-used)
		n, _, _, e := p.s.st.Recvfrom(context.Background(), p.id, p.rx[off:end], netstack.MSG_DONTWAIT)
		switch {
		case n > 0:
			atomic.StoreUint32(&h.RxTail, tail+uint32(n))
			moved = true
		case e == netstack.EAGAIN:
			return moved // the stack says when more comes
		default:
			if e != 0 {
				atomic.StoreUint32(&h.RxErr, uint32(e))
			}
			atomic.StoreUint32(&h.RxEOF, 1)
			p.rxDone = true
			moved = true
		}
	}
	return moved
}

// shutdownQueued says whether a call waits for the send ring to empty.
func (p *stream) shutdownQueued() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queued) > 0
}

// send moves what the send ring holds into the stack, as far as it takes it.
// With mayHold, while the program waits for room to write more (it filled
// the ring), send hands over whole frames (frameBytes) and keeps the rest
// for the next write to complete, and says so (held); run sends the rest
// anyway when the flush timer fires or the socket is closed or shut down,
// and it goes at once when the program stops filling the ring.
func (p *stream) send(mayHold bool) (moved, held bool) {
	h := p.h
	for {
		head := h.TxHead
		used := atomic.LoadUint32(&h.TxTail) - head
		if p.txDone {
			if used != 0 {
				atomic.StoreUint32(&h.TxHead, head+used) // nobody to send it to
			}
			return moved, false
		}
		if used == 0 {
			atomic.StoreUint32(&h.TxWant, 1)
			if atomic.LoadUint32(&h.TxTail) == head {
				return moved, false
			}
			continue
		}
		if used > p.size {
			p.fail(netstack.Errno(syscall.EIO))
			continue
		}
		take := used
		hold := mayHold && used > frameBytes && atomic.LoadUint32(&h.TxBlocked) != 0
		if hold {
			take = used - used%frameBytes
		}
		off := head & (p.size - 1)
		first := min(take, p.size-off)
		n, e := p.s.st.WriteRing(p.id, p.tx[off:off+first], p.tx[:take-first])
		switch {
		case n > 0:
			atomic.StoreUint32(&h.TxHead, head+uint32(n))
			moved = true
			if hold && uint32(n) == take {
				// The next write pokes the pump; look again in case it
				// came before the flag.
				atomic.StoreUint32(&h.TxWant, 1)
				if atomic.LoadUint32(&h.TxTail) == head+used {
					return moved, true
				}
			}
		case e == netstack.EAGAIN || e == 0:
			return moved, false // the stack says when it has room
		default:
			p.fail(e)
			moved = true
		}
	}
}

// fail ends sending: writes fail with e from now on.
func (p *stream) fail(e netstack.Errno) {
	atomic.StoreUint32(&p.h.TxErr, uint32(e))
	p.txDone = true
}

// report tells the kernel the socket's readiness when the program waits for
// what the pump just moved, or when its errors or hang-ups changed.
func (p *stream) report(rxMoved, txMoved bool) {
	ev := p.s.st.Readiness(p.id) & (netstack.EPOLLERR | netstack.EPOLLHUP | netstack.EPOLLRDHUP)
	need := ev != p.lastEv
	h := p.h
	// A flag the program set after it took what the pump just moved (it
	// read the ring empty again, or filled it again) is for the next move:
	// put it back, or that move would go unreported and the program would
	// wait for it forever. The report goes out anyway; it is merely early.
	if rxMoved && atomic.SwapUint32(&h.RxBlocked, 0) != 0 {
		need = true
		if atomic.LoadUint32(&h.RxHead) == h.RxTail && !p.rxDone {
			atomic.StoreUint32(&h.RxBlocked, 1)
		}
	}
	if txMoved && atomic.SwapUint32(&h.TxBlocked, 0) != 0 {
		need = true
		if atomic.LoadUint32(&h.TxTail)-h.TxHead == p.size {
			atomic.StoreUint32(&h.TxBlocked, 1)
		}
	}
	if need {
		p.lastEv = ev
		p.s.ready(p.k, p.id)
	}
}
