package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ethFrame builds an Ethernet frame to A's MAC from B's.
func ethFrame(ethertype uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b[0:6], macA[:])
	copy(b[6:12], macB[:])
	binary.BigEndian.PutUint16(b[12:], ethertype)
	return append(b, payload...)
}

// ipv4Hdr is a 20-byte IPv4 header from 10.0.0.2 to 10.0.0.1 (checksum
// left as is: the fuzzer may fix or break it).
func ipv4Hdr(proto byte, totalLen int, fragOff uint16) []byte {
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1}
	binary.BigEndian.PutUint16(h[2:], uint16(totalLen))
	binary.BigEndian.PutUint16(h[6:], fragOff)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return h
}

// FuzzMalformedFrames injects arbitrary frames into a NIC that carries a
// live TCP connection and checks that the connection and new connections
// keep working.
func FuzzMalformedFrames(f *testing.F) {
	tcpSyn := append(ipv4Hdr(6, 40, 0), 0x30, 0x39, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0)
	f.Add([]byte{})
	f.Add(ethFrame(0x0800, nil))
	f.Add(ethFrame(0x0800, []byte{0x4f, 0, 0, 10}))
	f.Add(ethFrame(0x0800, append(ipv4Hdr(6, 1400, 0), 1, 2, 3)))
	f.Add(ethFrame(0x0800, append(ipv4Hdr(17, 28, 0x2001), make([]byte, 8)...)))
	f.Add(ethFrame(0x0800, append(ipv4Hdr(1, 24, 0), 8, 0, 0, 0)))
	f.Add(ethFrame(0x0800, tcpSyn))
	f.Add(ethFrame(0x86dd, []byte{0x60, 0, 0, 0, 0xff, 0xff, 6, 64}))
	f.Add(ethFrame(0x0806, []byte{0, 1, 8, 0, 6, 4, 0, 1}))
	f.Add(ethFrame(0x1234, bytes.Repeat([]byte{0xff}, 60)))
	f.Add(bytes.Repeat([]byte{0xff}, 2000))

	ctx := testCtx(f, 10*time.Minute)
	a, b, epA := pair(f)
	ln := listenOn(f, b, AF_INET, sa4("10.0.0.2", 0))
	port := boundPort(f, b, ln)
	_ = echoServer(ctx, b, ln)
	c := mustSocket(f, a, AF_INET, SOCK_STREAM)
	require.Equal(f, ok, a.Connect(ctx, c, sa4("10.0.0.2", port)))
	ln2 := listenOn(f, b, AF_INET, sa4("10.0.0.2", 0))
	port2 := boundPort(f, b, ln2)
	msg := []byte("still alive")
	buf := make([]byte, len(msg))

	f.Fuzz(func(t *testing.T, frame []byte) {
		ictx := testCtx(t, 10*time.Second)
		injectFrame(epA, frame)
		// Also as the payload of a well-formed IPv4 frame.
		if len(frame) > 0 {
			injectFrame(epA, ethFrame(0x0800, append(ipv4Hdr(frame[0], 20+len(frame)-1, 0), frame[1:]...)))
		}
		require.Equal(t, ok, writeAll(ictx, a, c, msg))
		n, e := readFull(ictx, a, c, buf)
		require.Equal(t, ok, e)
		require.Equal(t, msg, buf[:n])
		// And a new connection can be made.
		c2 := mustSocket(t, a, AF_INET, SOCK_STREAM)
		require.Equal(t, ok, a.Connect(ictx, c2, sa4("10.0.0.2", port2)))
		require.Equal(t, ok, a.Close(ictx, c2))
		s2, _, e := b.Accept(ictx, ln2, 0)
		require.Equal(t, ok, e)
		require.Equal(t, ok, b.Close(ictx, s2))
	})
}
