package image_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/pvh"
)

// buildDir holds the programs the tests build, for the whole test binary: a
// t.TempDir belongs to one test, and the tool must stay where go build wrote it
// (copying an executable while parallel tests fork and exec can make the exec
// fail with "text file busy").
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "unigo-image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build is a program built once per test binary, on first use, and shared by
// every test that needs it.
type build struct {
	name   string   // output file name in buildDir
	dir    string   // package directory, relative to this package
	goarch string   // "" for the host (programs the tests run)
	flags  []string // extra go build flags

	once sync.Once
	path string
	data []byte
	err  error
}

var (
	fakeKernel         = &build{name: "fakekernel", dir: "testdata/fakekernel", goarch: "amd64"}
	fakeKernelStripped = &build{name: "fakekernel-stripped", dir: "testdata/fakekernel", goarch: "amd64", flags: []string{"-ldflags=-s -w"}}
	fakeKernelPIE      = &build{name: "fakekernel-pie", dir: "testdata/fakekernel", goarch: "amd64", flags: []string{"-buildmode=pie"}}
	hello              = &build{name: "hello", dir: "testdata/hello", goarch: "amd64"}
	helloARM64         = &build{name: "hello-arm64", dir: "testdata/hello", goarch: "arm64"}
	tool               = &build{name: "unigo-image", dir: "../cmd/unigo-image"}
)

// run builds the program (once).
func (b *build) run(t *testing.T) {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, b.name)
		args := append([]string{"build", "-o", b.path}, b.flags...)
		cmd := exec.Command(goCommand(), append(args, ".")...)
		cmd.Dir = b.dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b.goarch != "" {
			cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+b.goarch)
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s %q: %v\n%s", b.dir, b.flags, err, msg)
			return
		}
		b.data, b.err = os.ReadFile(b.path)
	})
	require.NoError(t, b.err)
}

// bytes returns a copy of the built program.
func (b *build) bytes(t *testing.T) []byte {
	t.Helper()
	b.run(t)
	return bytes.Clone(b.data)
}

// exe returns the path of the built program, to run it. Do not modify the file.
func (b *build) exe(t *testing.T) string {
	t.Helper()
	b.run(t)
	return b.path
}

// file writes the built program to a new file in t's TempDir and returns its path.
func (b *build) file(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b.bytes(t), 0o755))
	return path
}

// goCommand is the go command of the toolchain running the tests.
func goCommand() string {
	path := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	return "go"
}

// parseELF parses data with debug/elf.
func parseELF(t *testing.T, data []byte) *elf.File {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	require.NoError(t, err)
	return f
}

// phoff is the file offset of the program header table.
func phoff(data []byte) uint64 { return binary.LittleEndian.Uint64(data[0x20:]) }

// progIndex returns the index of the first program header of type typ, or -1.
func progIndex(f *elf.File, typ elf.ProgType) int {
	for i, p := range f.Progs {
		if p.Type == typ {
			return i
		}
	}
	return -1
}

// setProgType rewrites the type of program header i in data.
func setProgType(data []byte, i int, typ elf.ProgType) {
	binary.LittleEndian.PutUint32(data[phoff(data)+uint64(i)*56:], uint32(typ))
}

// markerOffset returns the file offset of the (first) marker magic in data.
func markerOffset(t *testing.T, data []byte) int {
	t.Helper()
	off := bytes.Index(data, []byte(pvh.MarkerMagic))
	require.GreaterOrEqual(t, off, 0, "no marker magic in the fixture")
	return off
}

// markerEntry reads the entry field of the marker in data directly.
func markerEntry(t *testing.T, data []byte) uint64 {
	t.Helper()
	return binary.LittleEndian.Uint64(data[markerOffset(t, data)+24:])
}

// fileOffset converts a virtual address of data to its file offset.
func fileOffset(t *testing.T, data []byte, addr uint64) uint64 {
	t.Helper()
	for _, p := range parseELF(t, data).Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr-p.Vaddr < p.Filesz {
			return p.Off + addr - p.Vaddr
		}
	}
	t.Fatalf("address %#x is not in the file", addr)
	return 0
}

// headerTablesEnd is where the program and section header tables end, whichever
// is later: the first byte the note may use in a Go binary.
func headerTablesEnd(data []byte) uint64 {
	ph := phoff(data) + uint64(binary.LittleEndian.Uint16(data[0x38:]))*56
	sh := binary.LittleEndian.Uint64(data[0x28:]) + uint64(binary.LittleEndian.Uint16(data[0x3c:]))*64
	return max(ph, sh)
}
