package link

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestCarriesTCPData checks which frames deliver calls urgent: all but TCP
// segments with payload.
func TestCarriesTCPData(t *testing.T) {
	src4, dst4 := tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
	src6 := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 1})
	dst6 := tcpip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 15: 2})
	// frame builds an Ethernet frame of the given network and transport
	// protocol with a 20-byte TCP header (when TCP) and n payload bytes;
	// the IP length field counts them all, whatever the frame holds.
	frame := func(v6 bool, proto tcpip.TransportProtocolNumber, n int) []byte {
		l4 := header.UDPMinimumSize
		if proto == header.TCPProtocolNumber {
			l4 = header.TCPMinimumSize
		}
		ipLen, typ := header.IPv4MinimumSize, header.IPv4ProtocolNumber
		if v6 {
			ipLen, typ = header.IPv6MinimumSize, header.IPv6ProtocolNumber
		}
		f := make([]byte, header.EthernetMinimumSize+ipLen+l4+n)
		header.Ethernet(f).Encode(&header.EthernetFields{Type: typ})
		ip := f[header.EthernetMinimumSize:]
		if v6 {
			header.IPv6(ip).Encode(&header.IPv6Fields{PayloadLength: uint16(l4 + n),
				TransportProtocol: proto, HopLimit: 64, SrcAddr: src6, DstAddr: dst6})
		} else {
			header.IPv4(ip).Encode(&header.IPv4Fields{TotalLength: uint16(ipLen + l4 + n), TTL: 64,
				Protocol: uint8(proto), SrcAddr: src4, DstAddr: dst4})
		}
		if proto == header.TCPProtocolNumber {
			header.TCP(ip[ipLen:]).Encode(&header.TCPFields{SrcPort: 1, DstPort: 2,
				DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck, WindowSize: 1})
		}
		return f
	}
	for _, v6 := range []bool{false, true} {
		require.True(t, carriesTCPData(frame(v6, header.TCPProtocolNumber, 1)), "v6 %v: one byte of data", v6)
		require.True(t, carriesTCPData(frame(v6, header.TCPProtocolNumber, 1448)), "v6 %v: a full segment", v6)
		require.False(t, carriesTCPData(frame(v6, header.TCPProtocolNumber, 0)), "v6 %v: a pure ACK", v6)
		require.False(t, carriesTCPData(frame(v6, header.UDPProtocolNumber, 100)), "v6 %v: UDP", v6)
	}
	// A 64 KiB TSO frame as the payload function sees its head: only the
	// headers are there, the length field says the rest.
	tso := frame(false, header.TCPProtocolNumber, 65000)
	require.True(t, carriesTCPData(tso[:headerSplit]))

	arp := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(arp).Encode(&header.EthernetFields{Type: header.ARPProtocolNumber})
	require.False(t, carriesTCPData(arp))

	// Cut short or lying: not data, and no panic.
	full := frame(false, header.TCPProtocolNumber, 10)
	for n := header.EthernetMinimumSize; n < header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize; n++ {
		require.False(t, carriesTCPData(full[:n]), "%d bytes", n)
	}
	bad := frame(false, header.TCPProtocolNumber, 10)
	bad[header.EthernetMinimumSize] = 0x4f // IHL 60 bytes, more than the frame holds
	require.False(t, carriesTCPData(bad[:header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize]))
	full6 := frame(true, header.TCPProtocolNumber, 10)
	for n := header.EthernetMinimumSize; n < header.EthernetMinimumSize+header.IPv6MinimumSize+header.TCPMinimumSize; n++ {
		require.False(t, carriesTCPData(full6[:n]), "v6, %d bytes", n)
	}
}
