package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeStub serves the gdbstub protocol for one connection: a guest stopped at
// rip with frame pointer rbp, and memory mem (8-byte words).
func fakeStub(t *testing.T, rip, rbp uint64, mem map[uint64]uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gdb.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		reply := func(p string) {
			var sum byte
			for i := 0; i < len(p); i++ {
				sum += p[i]
			}
			fmt.Fprintf(c, "$%s#%02x", p, sum)
		}
		hex8 := func(v uint64) string {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], v)
			return hex.EncodeToString(b[:])
		}
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			switch b {
			case 0x03:
				reply("T05thread:01;")
				continue
			case '+':
				continue
			case '$':
			default:
				continue
			}
			p, _ := r.ReadString('#')
			r.Discard(2)
			c.Write([]byte{'+'})
			p = strings.TrimSuffix(p, "#")
			switch {
			case p == "g":
				regs := strings.Repeat("0", 16*6) + hex8(rbp) + strings.Repeat("0", 16*9) + hex8(rip) + "0*&" // eflags on: "&" is 9 more zeros
				reply(regs)
			case strings.HasPrefix(p, "m"):
				var a uint64
				var n int
				fmt.Sscanf(p, "m%x,%d", &a, &n)
				if v, ok := mem[a]; ok {
					reply(hex8(v))
				} else {
					reply("E14")
				}
			case p == "c":
			case p == "D":
				reply("OK")
			}
		}
	}()
	return path
}

// program builds a small Go program that prints the addresses of its
// functions marker and marker2 (go test's own binary has no symbol table).
func program(t *testing.T) (path string, marker, marker2 uint64) {
	t.Helper()
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"reflect"
)

//go:noinline
func marker() {}

//go:noinline
func marker2() { marker() }

func main() {
	marker2()
	fmt.Printf("%x %x\n", reflect.ValueOf(marker).Pointer(), reflect.ValueOf(marker2).Pointer())
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module p\n\ngo 1.26\n"), 0o644))
	path = filepath.Join(dir, "p")
	build := exec.Command("go", "build", "-o", path, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(path).Output()
	require.NoError(t, err)
	_, err = fmt.Sscanf(string(out), "%x %x", &marker, &marker2)
	require.NoError(t, err)
	return path, marker, marker2
}

func TestSample(t *testing.T) {
	bin, pc, m2 := program(t)
	syms, err := loadSymbols(bin)
	require.NoError(t, err)
	require.Equal(t, "main.marker", syms.name(pc), "the program is not position-independent")

	// A guest in marker, called from marker2 (return address one byte in),
	// whose caller's frame is not mapped.
	caller := m2 + 1
	sock := fakeStub(t, pc, 0x10000, map[uint64]uint64{0x10008: caller, 0x10000: 0x20000})
	s, err := dialStub("unix", sock)
	require.NoError(t, err)
	defer s.Close()
	stacks, err := sample(s, 50*time.Millisecond, time.Millisecond, 4)
	require.NoError(t, err)
	require.NotEmpty(t, stacks)
	for _, st := range stacks {
		require.Equal(t, []uint64{pc, caller}, st)
	}
	require.NoError(t, s.stop())
	require.NoError(t, s.detach())

	var out bytes.Buffer
	report(&out, stacks, syms, 10, 3)
	require.Contains(t, out.String(), "100.0%  main.marker\n")
	require.Contains(t, out.String(), "100.0%  main.marker <- main.marker2\n")
	require.Equal(t, fmt.Sprintf("%#x", uint64(0x10)), syms.name(0x10), "an address outside the program")
}

func TestExpand(t *testing.T) {
	require.Equal(t, "0000x", expand("0* x")) // " " is 32: three more
	require.Equal(t, "ab", expand("ab"))
}

func TestGuestGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gdb.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close() // QEMU exits
		}
	}()
	s, err := dialStub("unix", path)
	require.NoError(t, err)
	defer s.Close()
	stacks, err := sample(s, time.Second, time.Millisecond, 4)
	require.Error(t, err)
	require.Empty(t, stacks)
}
