package qemu_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/cmdline"
)

// fakeQEMU is testdata/fakeqemu, built once per test binary on first use.
var fakeQEMU struct {
	once sync.Once
	path string
	err  error
}

func buildFakeQEMU(t *testing.T) string {
	t.Helper()
	fakeQEMU.once.Do(func() {
		dir, err := os.MkdirTemp("", "fakeqemu-")
		if err != nil {
			fakeQEMU.err = err
			return
		}
		// Removed by TestMain; a t.TempDir would vanish with the first test.
		fakeQEMU.path = filepath.Join(dir, "qemu-system-x86_64")
		cmd := exec.Command("go", "build", "-o", fakeQEMU.path, "./testdata/fakeqemu")
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeQEMU.err = fmt.Errorf("building the fake QEMU: %v\n%s", err, out)
		}
	})
	require.NoError(t, fakeQEMU.err)
	return fakeQEMU.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeQEMU.path != "" {
		os.RemoveAll(filepath.Dir(fakeQEMU.path))
	}
	os.Exit(code)
}

// record is what the fake writes for FAKEQEMU_RECORD.
type record struct {
	Argv   []string
	Kernel []byte
}

func readRecord(t *testing.T, path string) record {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "the fake QEMU did not run")
	var r record
	require.NoError(t, json.Unmarshal(data, &r))
	return r
}

// option is the value after the last occurrence of name in argv.
func option(t *testing.T, argv []string, name string) string {
	t.Helper()
	val, found := "", false
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == name {
			val, found = argv[i+1], true
		}
	}
	require.True(t, found, "%s missing from %q", name, argv)
	return val
}

// decoded is what a guest makes of a kernel command line.
type decoded struct {
	Argv0  string
	Args   []string
	Env    []string
	Params []string
}

func decode(t *testing.T, line string) decoded {
	t.Helper()
	d := decoded{Argv0: cmdline.DefaultArgv0}
	sc := cmdline.NewScanner([]byte(line))
	buf := make([]byte, len(line))
	for {
		k, n, err := sc.Next(buf)
		require.Equal(t, cmdline.ErrNone, err, "decoding %q", line)
		if k == 0 {
			return d
		}
		kind, word, isArgv0 := cmdline.Classify(k, buf[:n])
		switch {
		case isArgv0:
			d.Argv0 = string(word)
		case kind == cmdline.Arg:
			d.Args = append(d.Args, string(word))
		case kind == cmdline.Env:
			d.Env = append(d.Env, string(word))
		default:
			d.Params = append(d.Params, string(word))
		}
	}
}

// fakeApp is a stand-in for a unigo app: Run hands it to MakeImage, which the
// tests replace with a copy, so any bytes will do.
func fakeApp(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.WriteFile(path, []byte("not really an ELF"), 0o755))
	return path
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// processGone says whether pid has exited (a zombie nobody reaped counts: a
// container's init may not reap).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
