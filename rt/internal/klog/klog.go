// Package klog is the kernel's console log: lines of text built on the stack and
// written to the serial console.
//
// Context: kernel context (boot, trap, syscall and fault paths). Nothing here
// allocates, takes locks or keeps state; a Line is a fixed buffer the caller owns
// (normally a local variable), so logging is safe anywhere in the kernel,
// including the fault report.
//
// Usage:
//
//	var l klog.Line
//	l.S("mm: out of page-table memory at ").X(addr).Out()
package klog

import (
	"github.com/unigo-dev/unigo/drivers/serial"
	"github.com/unigo-dev/unigo/rt/internal/poweroff"
)

// Console is where kernel output goes.
const Console = serial.COM1

// Line is one line of log text being built. Text past its capacity is dropped.
type Line struct {
	buf [200]byte
	n   int
}

// S appends a string.
func (l *Line) S(s string) *Line {
	for i := 0; i < len(s) && l.n < len(l.buf); i++ {
		l.buf[l.n] = s[i]
		l.n++
	}
	return l
}

// B appends bytes.
func (l *Line) B(b []byte) *Line {
	for i := 0; i < len(b) && l.n < len(l.buf); i++ {
		l.buf[l.n] = b[i]
		l.n++
	}
	return l
}

// X appends v in hexadecimal with a 0x prefix.
func (l *Line) X(v uint64) *Line {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	l.S("0x")
	return l.B(tmp[i:])
}

// U appends v in decimal.
func (l *Line) U(v uint64) *Line {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return l.B(tmp[i:])
}

// D appends v in decimal with its sign.
func (l *Line) D(v int64) *Line {
	if v < 0 {
		l.S("-")
		return l.U(uint64(-v))
	}
	return l.U(uint64(v))
}

// Pad appends spaces until the line is n bytes long.
func (l *Line) Pad(n int) *Line {
	for l.n < n && l.n < len(l.buf) {
		l.buf[l.n] = ' '
		l.n++
	}
	return l
}

// Out writes the line and a newline to the console and empties the line.
func (l *Line) Out() {
	if l.n < len(l.buf) {
		l.buf[l.n] = '\n'
		l.n++
	} else {
		l.buf[len(l.buf)-1] = '\n'
	}
	serial.Write(Console, l.buf[:l.n])
	l.n = 0
}

// Bug reports a broken kernel invariant, with the value that shows it, and stops.
func Bug(msg string, v uint64) {
	var l Line
	l.S("unigo: kernel bug: ").S(msg).S(": ").X(v).Out()
	poweroff.KernelFault()
}
