package qemutests

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
)

// apps are the guest programs the suite boots, as package paths relative to the
// repository root. Each is built once, by TestMain, to a binary named after its
// last element.
var apps = []string{
	"./testdata/hello",
	"./testdata/timers",
	"./testdata/gcstress",
	"./testdata/probe",
	"./testdata/signals",
	"./testdata/net",
	"./qemu-tests/testdata/sleeper",
	"./qemu-tests/testdata/threadhold",
}

// defaultTimeout bounds every boot that does not set its own: a hung guest fails
// its test instead of waiting for go test's global timeout.
const defaultTimeout = 60 * time.Second

var (
	// repoRoot is the module's root directory.
	repoRoot string
	// binDir holds the built guest apps.
	binDir string
	// goCmd is the go command of the toolchain running the tests.
	goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse() // for testing.Verbose in runCopy, which runs alongside m.Run
	if v := os.Getenv("QEMUTESTS_SMP"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "FAIL: QEMUTESTS_SMP must be a CPU count:", v)
			return 1
		}
		suiteSMP = n
	}
	if _, err := exec.LookPath(qemu.DefaultQEMU); err != nil {
		// Fail, never skip: a suite that passes without booting anything proves
		// nothing, and CI installs QEMU.
		fmt.Fprintln(os.Stderr, "FAIL: qemu-system-x86_64 not found: apt-get install -y qemu-system-x86")
		return 1
	}
	wd, err := os.Getwd() // go test runs the tests in the package directory
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(repoRoot, "go.mod")); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s is not the module root: %v\n", repoRoot, err)
		return 1
	}
	if dir := os.Getenv("QEMUTESTS_BINDIR"); dir != "" {
		binDir = dir // a copy of the suite at another CPU count: apps are built
		return m.Run()
	}
	binDir, err = os.MkdirTemp("", "qemutests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(binDir)

	// One go build for all the apps: with -o DIR each main package becomes
	// DIR/<last path element>.
	cmd := exec.Command(goCmd, append([]string{"build", "-tags", "unikernel", "-o", binDir + string(filepath.Separator)}, apps...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: building the guest apps (%s): %v\n%s", cmd, err, out)
		return 1
	}
	if accel, err := (qemu.Config{}).Accelerator(); err == nil {
		fmt.Fprintf(os.Stderr, "qemutests: booting under %s\n", accel)
	}
	// Every test runs at each CPU count: here at suiteSMP, and in copies of
	// this test binary at the others, concurrently.
	others := make(chan int, len(otherSMP))
	for _, n := range otherSMP {
		go func() { others <- runCopy(n) }()
	}
	code := m.Run()
	for range otherSMP {
		code = max(code, <-others)
	}
	return code
}

// otherSMP are the CPU counts the suite also runs at, besides suiteSMP.
var otherSMP = []int{2, 4}

// runCopy runs this test binary again, with the same flags, at smp CPUs, and
// returns its exit status. Its output is shown when it fails (and with -v).
func runCopy(smp int) int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "QEMUTESTS_SMP="+strconv.Itoa(smp), "QEMUTESTS_BINDIR="+binDir)
	out, err := cmd.CombinedOutput()
	verbose := testing.Verbose()
	if err != nil || verbose {
		fmt.Fprintf(os.Stderr, "=== the suite at -smp %d:\n%s", smp, out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the suite at -smp %d: %v\n", smp, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "qemutests: the suite at -smp %d passed\n", smp)
	return 0
}

// vm says how to boot a guest. The zero value is 256M of memory, no
// environment, no extra kernel parameters and defaultTimeout.
type vm struct {
	Memory  string        // QEMU's -m; "" is qemu.DefaultMemory (256M)
	Env     []string      // the guest's whole environment, NAME=VALUE
	Extra   string        // raw kernel parameters (qemu.Config.AppendExtra)
	Timeout time.Duration // 0 is defaultTimeout
	// CPU is QEMU's -cpu model; "" lets the runner choose.
	CPU string
	// SMP is QEMU's -smp; 0 is the suite's CPU count (suiteSMP).
	SMP int
	// Net and Forward are the runner's network (qemu.Config.Net, Forward).
	Net     string
	Forward []qemu.Forward
	// QEMU is the QEMU binary; "" is qemu-system-x86_64 from PATH.
	QEMU string
	// NoRNG leaves out the virtio-rng device.
	NoRNG bool
	// Machine is QEMU's machine type; "" is microvm.
	Machine string
}

// suiteSMP is the CPU count of every boot that does not choose one: 1 in the
// go test process, 2 and 4 in the copies of the suite TestMain runs.
var suiteSMP = 1

func (v vm) config() qemu.Config {
	c := qemu.Config{Memory: v.Memory, AppendExtra: v.Extra, Timeout: v.Timeout, CPU: v.CPU, SMP: v.SMP,
		Net: v.Net, Forward: v.Forward, QEMU: v.QEMU, NoRNG: v.NoRNG, Machine: v.Machine}
	if c.SMP == 0 {
		c.SMP = suiteSMP
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	return c
}

// appPath is the built binary of app (hello, probe, ...).
func appPath(t *testing.T, app string) string {
	t.Helper()
	path := filepath.Join(binDir, app)
	_, err := os.Stat(path)
	require.NoError(t, err, "no guest app %q was built: add it to apps", app)
	return path
}

// boot boots app with args under QEMU as v says and returns the guest console
// and how the run ended. Every boot has a timeout (the VM is killed when it
// expires). It fails the test when the VM could not be run at all; when the test
// fails for any reason, the console and QEMU's own messages are logged.
func boot(t *testing.T, app string, v vm, args ...string) (string, qemu.Result) {
	t.Helper()
	cfg := v.config()
	// A second bound, in case the runner itself hangs: Run returns an error
	// when the context ends first.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	res, err := qemu.Run(ctx, cfg, appPath(t, app), args, v.Env, &stdout, &stderr)
	elapsed := time.Since(start)
	console := stdout.String()
	memory := cfg.Memory
	if memory == "" {
		memory = qemu.DefaultMemory
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("boot of %s %q (env %q, params %q, -m %s) took %v: exit code %d, reason %q\nconsole:\n%s\nQEMU stderr:\n%s",
				app, args, v.Env, v.Extra, memory, elapsed.Round(time.Millisecond), res.ExitCode, res.Reason, console, stderr.String())
		}
	})
	require.NoError(t, err, "the VM could not be run: %s\n%s", res.Reason, stderr.String())
	return console, res
}
