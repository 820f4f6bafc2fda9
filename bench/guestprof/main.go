// Command guestprof is a sampling profiler for a whole guest: the program, the
// Go runtime, the kernel's own code, the idle loop, and the time the CPU spends
// in QEMU on a device register access. Go's pprof sees only the program's
// threads, as signals reach them; this looks at the CPU from outside.
//
// It talks to QEMU's gdbstub: every interval it stops the guest, reads rip and
// follows the frame pointers for a few callers (Go code keeps them; a function
// stopped before it saved its caller's rbp loses that caller), lets the guest
// go on, and at the end names the addresses from BINARY's symbol table (the
// kernel and the program are one ELF).
//
//	unigo-run -gdb /tmp/vm.gdb ./server &   # start the load, then:
//	go run ./bench/guestprof -gdb /tmp/vm.gdb -d 10s ./server
//
// Each sample stops the VM for a round trip to the stub (a few hundred µs),
// so at the default 5 ms the guest loses a few percent of its time. Under TCG
// the guest stops only between translated blocks, and an instruction that
// traps to QEMU (a device register access) ends its block: a sample lands
// just after such an instruction as often as the CPU spent time in QEMU on
// it, which is how a costly register write shows up (docs/perf.md, "The
// APIC timer").
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	fs := flag.NewFlagSet("guestprof", flag.ExitOnError)
	sock := fs.String("gdb", "", "the gdbstub's Unix socket `PATH` (unigo-run -gdb PATH)")
	dur := fs.Duration("d", 10*time.Second, "sample for `DURATION`")
	every := fs.Duration("i", 5*time.Millisecond, "one sample every `INTERVAL`")
	depth := fs.Int("depth", 4, "callers to follow per sample")
	top := fs.Int("top", 30, "lines per table")
	chain := fs.Int("chain", 3, "functions per line of the callers table")
	raw := fs.String("o", "", "also write the raw samples to `FILE`: hex addresses, rip first, one sample a line")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: guestprof -gdb PATH [flags] BINARY")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *sock == "" || fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, *sock, fs.Arg(0), *dur, *every, *depth, *top, *chain, *raw); err != nil {
		fmt.Fprintln(os.Stderr, "guestprof:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, sock, binary string, dur, every time.Duration, depth, top, chain int, raw string) error {
	syms, err := loadSymbols(binary)
	if err != nil {
		return err
	}
	s, err := dialStub("unix", sock)
	if err != nil {
		return err
	}
	defer s.Close()
	stacks, err := sample(s, dur, every, depth)
	if err != nil {
		if len(stacks) == 0 {
			return err
		}
		fmt.Fprintf(w, "guestprof: sampling ended early: %v\n", err)
	} else if err := s.stop(); err == nil {
		s.detach()
	}
	if raw != "" {
		if err := writeRaw(raw, stacks); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%d samples of %s, one every %v\n", len(stacks), binary, every)
	report(w, stacks, syms, top, chain)
	return nil
}

// sample stops the guest every interval for dur and records its stack: rip,
// then up to depth return addresses. It returns what it has when the guest
// goes away.
func sample(s *stub, dur, every time.Duration, depth int) ([][]uint64, error) {
	var stacks [][]uint64
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(every) {
		if err := s.stop(); err != nil {
			return stacks, err
		}
		st, err := s.stack(depth)
		if err != nil {
			return stacks, err
		}
		stacks = append(stacks, st)
		if err := s.resume(); err != nil {
			return stacks, err
		}
	}
	return stacks, nil
}

// stack reads rip and up to depth return addresses along the rbp chain.
func (s *stub) stack(depth int) ([]uint64, error) {
	rip, rbp, err := s.regs()
	if err != nil {
		return nil, err
	}
	st := []uint64{rip}
	for range depth {
		if rbp < 0x1000 || rbp%8 != 0 {
			break
		}
		ret, ok, err := s.word(rbp + 8)
		if err != nil || !ok {
			return st, err
		}
		st = append(st, ret)
		next, ok, err := s.word(rbp)
		if err != nil || !ok || next <= rbp { // frames grow up the stack
			return st, err
		}
		rbp = next
	}
	return st, nil
}

func writeRaw(path string, stacks [][]uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, st := range stacks {
		for i, pc := range st {
			if i > 0 {
				fmt.Fprint(f, " ")
			}
			fmt.Fprintf(f, "%x", pc)
		}
		fmt.Fprintln(f)
	}
	return f.Close()
}
