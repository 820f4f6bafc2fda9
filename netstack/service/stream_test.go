package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/netstack"
	"github.com/unigo-dev/unigo/netstack/netcall"
)

// loopbackPair connects two TCP sockets of one stack over 127.0.0.1.
func loopbackPair(t *testing.T, ctx context.Context, st *netstack.Stack) (client, server int) {
	t.Helper()
	sa := func(port uint16) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint16(b, netstack.AF_INET)
		binary.BigEndian.PutUint16(b[2:], port)
		copy(b[4:], []byte{127, 0, 0, 1})
		return b
	}
	ln, e := st.Socket(netstack.AF_INET, netstack.SOCK_STREAM, 0)
	require.Zero(t, e)
	require.Zero(t, st.Bind(ln, sa(0)))
	require.Zero(t, st.Listen(ln, 8))
	name, e := st.GetSockName(ln)
	require.Zero(t, e)
	client, e = st.Socket(netstack.AF_INET, netstack.SOCK_STREAM, 0)
	require.Zero(t, e)
	require.Zero(t, st.Connect(ctx, client, sa(binary.BigEndian.Uint16(name[2:]))))
	server, _, e = st.Accept(ctx, ln, 0)
	require.Zero(t, e)
	return client, server
}

// ringStream is a stream over rings of size bytes in Go memory, as the
// kernel would map them, for socket id.
func ringStream(st *netstack.Stack, id int, size uint32) *stream {
	p := &stream{s: &Service{st: st}, id: id}
	p.lay(make([]byte, netcall.RingBytes(size)), size)
	return p
}

// produce does what the kernel does for a write: copies b into the send ring
// and, when that fills it, says the program waits for room.
func (p *stream) produce(b []byte) {
	tail := p.h.TxTail
	for i, c := range b {
		p.tx[(tail+uint32(i))&(p.size-1)] = c
	}
	atomic.StoreUint32(&p.h.TxTail, tail+uint32(len(b)))
	if p.h.TxTail-p.h.TxHead == p.size {
		atomic.StoreUint32(&p.h.TxBlocked, 1)
	}
}

// TestSendHoldsTailForNextWrite: while the program fills the send ring, the
// pump hands the stack whole frames and keeps the rest, which the next write
// completes across the ring's end; without that signal, or when told to
// flush, it sends everything. The peer gets every byte in order.
func TestSendHoldsTailForNextWrite(t *testing.T) {
	for _, size := range []int{netcall.RingSizeLarge, netcall.RingSizeSmall} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testSendHolds(t, size) })
	}
}

func testSendHolds(t *testing.T, size int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := netstack.NewStack(netstack.Options{})
	require.NoError(t, err)
	defer st.Destroy()
	c, s := loopbackPair(t, ctx, st)
	p := ringStream(st, c, uint32(size))

	// The whole frames a full ring holds.
	whole := size - size%frameBytes
	data := make([]byte, 3*size+whole+1000)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(data))
		n := 0
		for n < len(buf) {
			m, e := st.Read(ctx, s, buf[n:])
			if e != 0 || m == 0 {
				break
			}
			n += m
		}
		got <- buf[:n]
	}()

	// A full ring: its whole frames go, the rest waits for the next write.
	p.produce(data[:size])
	moved, held := p.send(true)
	require.True(t, moved)
	require.True(t, held)
	require.Equal(t, uint32(whole), p.h.TxHead)
	require.Equal(t, uint32(1), p.h.TxWant, "the next write must poke the pump")

	// The program fills the ring again: the next frames span the ring's end.
	atomic.StoreUint32(&p.h.TxBlocked, 0)
	at := size
	p.produce(data[at : at+whole])
	moved, held = p.send(true)
	require.True(t, moved)
	require.True(t, held)
	require.Equal(t, uint32(2*whole), p.h.TxHead)

	// Not waiting for room: everything goes.
	at += whole
	atomic.StoreUint32(&p.h.TxBlocked, 0)
	p.produce(data[at : at+1000])
	at += 1000
	moved, held = p.send(true)
	require.True(t, moved)
	require.False(t, held)
	require.Equal(t, p.h.TxTail, p.h.TxHead)

	// A full ring and the flush timer has fired (run then passes mayHold
	// false): everything goes.
	p.produce(data[at : at+size])
	at += size
	moved, held = p.send(false)
	require.True(t, moved)
	require.False(t, held)
	require.Equal(t, p.h.TxTail, p.h.TxHead)

	// A socket being closed or shut down does not hold (mayHold false).
	require.Equal(t, size, len(data)-at)
	p.produce(data[at:])
	moved, held = p.send(false)
	require.True(t, moved)
	require.False(t, held)
	require.Equal(t, p.h.TxTail, p.h.TxHead)

	b := <-got
	require.Equal(t, len(data), len(b))
	require.True(t, bytes.Equal(data, b), "the peer got the bytes out of order")
}
