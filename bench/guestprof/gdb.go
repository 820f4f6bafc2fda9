package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// stub is a client of QEMU's gdbstub (the GDB remote serial protocol): just
// what sampling needs, stopping the guest, reading its registers and memory,
// and letting it go on.
type stub struct {
	c net.Conn
	r *bufio.Reader
}

// x86-64 registers in a 'g' reply, 8 bytes each, in this order: rax, rbx,
// rcx, rdx, rsi, rdi, rbp, rsp, r8 to r15, rip.
const (
	regRBP = 6
	regRIP = 16
)

func dialStub(network, addr string) (*stub, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &stub{c: c, r: bufio.NewReader(c)}, nil
}

func (s *stub) Close() error { return s.c.Close() }

// send writes packet p and waits for the stub's acknowledgement.
func (s *stub) send(p string) error {
	var sum byte
	for i := 0; i < len(p); i++ {
		sum += p[i]
	}
	if _, err := fmt.Fprintf(s.c, "$%s#%02x", p, sum); err != nil {
		return err
	}
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		switch b {
		case '+':
			return nil
		case '-':
			return errors.New("gdbstub: packet rejected (bad checksum)")
		}
	}
}

// recv reads the next packet, acknowledges it and returns its body with
// run-length encoding expanded.
func (s *stub) recv() (string, error) {
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '$' {
			break
		}
	}
	body, err := s.r.ReadString('#')
	if err != nil {
		return "", err
	}
	if _, err := io.ReadFull(s.r, make([]byte, 2)); err != nil { // checksum
		return "", err
	}
	if _, err := s.c.Write([]byte{'+'}); err != nil {
		return "", err
	}
	return expand(strings.TrimSuffix(body, "#")), nil
}

// expand undoes the protocol's run-length encoding: "x*n" is x repeated
// 1+(n-29) times.
func expand(s string) string {
	if !strings.Contains(s, "*") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '*' && i > 0 && i+1 < len(s) {
			b.WriteString(strings.Repeat(s[i-1:i], int(s[i+1])-29))
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// stop interrupts the guest and waits for it to report that it stopped.
func (s *stub) stop() error {
	if _, err := s.c.Write([]byte{0x03}); err != nil {
		return err
	}
	r, err := s.recv()
	if err != nil {
		return err
	}
	if r == "" || (r[0] != 'T' && r[0] != 'S') {
		return fmt.Errorf("gdbstub: stop answered %q", r)
	}
	return nil
}

// resume lets the guest run again (no reply until the next stop).
func (s *stub) resume() error { return s.send("c") }

// detach lets the guest run on without the stub.
func (s *stub) detach() error {
	if err := s.send("D"); err != nil {
		return err
	}
	_, err := s.recv()
	return err
}

// regs reads rip and rbp of the stopped CPU.
func (s *stub) regs() (rip, rbp uint64, err error) {
	if err := s.send("g"); err != nil {
		return 0, 0, err
	}
	g, err := s.recv()
	if err != nil {
		return 0, 0, err
	}
	if len(g) < (regRIP+1)*16 {
		return 0, 0, fmt.Errorf("gdbstub: registers answered %q", g)
	}
	rip, err1 := le64(g[regRIP*16 : regRIP*16+16])
	rbp, err2 := le64(g[regRBP*16 : regRBP*16+16])
	return rip, rbp, errors.Join(err1, err2)
}

// word reads the 8 bytes at guest virtual address a (through the stopped
// CPU's page tables); false if they are not mapped.
func (s *stub) word(a uint64) (uint64, bool, error) {
	if err := s.send(fmt.Sprintf("m%x,8", a)); err != nil {
		return 0, false, err
	}
	r, err := s.recv()
	if err != nil {
		return 0, false, err
	}
	if len(r) != 16 {
		return 0, false, nil // "E14": not mapped
	}
	v, err := le64(r)
	return v, err == nil, nil
}

func le64(h string) (uint64, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("gdbstub: %q is not an 8-byte value", h)
	}
	return binary.LittleEndian.Uint64(b), nil
}
