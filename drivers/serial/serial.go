// Package serial drives a 16550-compatible UART through port I/O: the console of
// every x86 hypervisor unigo boots on (QEMU's isa-serial, Firecracker's and Cloud
// Hypervisor's legacy serial).
//
// Context: kernel context only (port I/O is privileged). No allocation, no state
// beyond the UART's own registers: a Port is just its I/O base. The kernel's log
// (rt/internal/klog) and the console behind file descriptors 1 and 2
// (rt/internal/syscalls) both write through it.
//
// Every port access is a VM exit, the dominant cost of console output under a
// hypervisor, so Write fills the 16-byte transmit FIFO between status reads
// instead of polling before every byte.
package serial

import (
	"unsafe"

	"github.com/unigo-dev/unigo/internal/x86"
)

// Port is a UART's I/O base address.
type Port uint16

// COM1 is the first PC serial port, the console of QEMU, Firecracker and Cloud
// Hypervisor.
const COM1 Port = 0x3F8

// UART register offsets.
const (
	regData    = 0 // THR on write, RBR on read (DLAB=0); divisor low (DLAB=1)
	regIER     = 1 // interrupt enable (DLAB=0); divisor high (DLAB=1)
	regFCR     = 2 // FIFO control (write)
	regLCR     = 3 // line control
	regMCR     = 4 // modem control
	regLSR     = 5 // line status
	regScratch = 7
)

const (
	lsrDataReady = 0x01
	lsrTHREmpty  = 0x20 // transmit holding register (and FIFO) empty
	fifoDepth    = 16
)

// Init programs the UART for 115200 8N1 with FIFOs on and interrupts off, and
// reports whether a UART answers at p (its scratch register keeps a value).
func Init(p Port) bool {
	x86.Outb(uint16(p)+regScratch, 0x5A)
	if x86.Inb(uint16(p)+regScratch) != 0x5A {
		return false
	}
	x86.Outb(uint16(p)+regIER, 0)    // no interrupts: the kernel polls
	x86.Outb(uint16(p)+regLCR, 0x80) // DLAB on
	x86.Outb(uint16(p)+regData, 1)   // divisor 1: 115200 baud
	x86.Outb(uint16(p)+regIER, 0)    //   (high byte)
	x86.Outb(uint16(p)+regLCR, 0x03) // DLAB off, 8N1
	x86.Outb(uint16(p)+regFCR, 0x07) // enable and clear FIFOs
	x86.Outb(uint16(p)+regMCR, 0x03) // DTR, RTS
	return true
}

// Write sends b, waiting for the transmitter when its FIFO is full.
func Write(p Port, b []byte) {
	for len(b) > 0 {
		for x86.Inb(uint16(p)+regLSR)&lsrTHREmpty == 0 {
			x86.Pause()
		}
		n := len(b)
		if n > fifoDepth {
			n = fifoDepth
		}
		for i := 0; i < n; i++ {
			x86.Outb(uint16(p)+regData, b[i])
		}
		b = b[n:]
	}
}

// WriteString is Write for a string (no copy).
func WriteString(p Port, s string) {
	Write(p, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// ReadByte returns a received byte, if one is waiting.
func ReadByte(p Port) (byte, bool) {
	if x86.Inb(uint16(p)+regLSR)&lsrDataReady == 0 {
		return 0, false
	}
	return x86.Inb(uint16(p) + regData), true
}
