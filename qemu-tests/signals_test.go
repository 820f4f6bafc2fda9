package qemutests

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/status"
)

// TestFaultsBecomePanics proves CPU exceptions reach the program as Linux's
// signals: a nil dereference (page fault, SEGV_MAPERR at address 0) and an
// integer division by zero (#DE, FPE_INTDIV) become Go's run-time panics, which
// recover() stops, on any goroutine and a hundred times over (the way back
// through rt_sigreturn leaves the thread as it was).
func TestFaultsBecomePanics(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "signals", vm{}, "recover")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "nil: recovered: runtime error: invalid memory address or nil pointer dereference\n")
	assert.Contains(t, console, "divide: recovered: runtime error: integer divide by zero\n")
	assert.Contains(t, console, "goroutine nil: recovered: runtime error: invalid memory address or nil pointer dereference\n")
	assert.Contains(t, console, "100 more recovered\n")
}

// TestAsyncPreemption proves the runtime's preemption signal (SIGURG, sent with
// tgkill by sysmon) reaches a thread spinning in a loop without calls: at
// GOMAXPROCS=1 a ticker still ticks. Without it the spinner keeps the only P and
// the boot runs into its timeout. Goroutines doing floating-point work meanwhile
// check that no signal frame loses FP state.
func TestAsyncPreemption(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "signals", vm{}, "preempt")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "10 ticks in ")
	assert.Contains(t, console, "fp checks failed: 0\n")
}

// TestSignalNotify proves os/signal.Notify for SIGTERM (kill to the process) and
// SIGINT (tgkill to a thread), and that an ignored signal is discarded.
func TestSignalNotify(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "signals", vm{}, "notify")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, console, "got terminated\ngot interrupt\nSIGUSR1 ignored: true\nstill here\n")
}

// TestCPUProfile proves runtime/pprof's CPU profiler works in the guest
// (per-thread timer_create on CLOCK_THREAD_CPUTIME_ID, SIGPROF to the thread
// that used the time): the profile, read back on the host by go tool pprof, has
// its samples in the guest's busy loop.
func TestCPUProfile(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "signals", vm{}, "profile")
	require.Equal(t, 0, res.ExitCode)
	begin := strings.Index(console, "profile-begin\n")
	end := strings.Index(console, "profile-end\n")
	require.True(t, begin >= 0 && end > begin, "no profile in the output")
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(console[begin+len("profile-begin\n"):end], "\n", ""))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	out, err := exec.Command(goCmd, "tool", "pprof", "-top", appPath(t, "signals"), path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	top := string(out)
	assert.Contains(t, top, "Type: cpu")
	assert.Contains(t, top, "main.busy")
	assert.NotContains(t, top, "Total samples = 0")
}

// TestCPUClocks proves the CPU-time clocks and getrusage measure time actually
// spent, runtime/metrics reads, and GODEBUG=gctrace=1 reports collections. At
// GOMAXPROCS=1: the runtime prints a trace line piece by piece, and with other
// Ps a goroutine's output can land between the pieces (on Linux too).
func TestCPUClocks(t *testing.T) {
	t.Parallel()
	console, res := boot(t, "signals", vm{Env: []string{"GODEBUG=gctrace=1", "GOMAXPROCS=1"}}, "cpu")
	assert.Equal(t, 0, res.ExitCode)
	for _, want := range []string{
		"process cpu at least half of wall, at most 1.5 x wall x CPUs: true",
		"thread cpu within 50% of wall: true",
		"rusage user at least half of wall, at most 1.5 x wall x CPUs: true",
		"maxrss > 0: true",
		"metrics cpu > 0: true, gc cycles > 0: true",
		"gc 1 @",
	} {
		assert.Contains(t, console, want)
	}
}

// TestRuntimeDiagnostics proves the runtime's own reports end the program as on
// Linux: a deadlock and runtime.Goexit from main exit 2 with the runtime's
// message; LockOSThread keeps a goroutine on its thread; GOTRACEBACK=crash
// prints every goroutine with runtime frames, then dies of SIGABRT (134,
// carried as 125).
func TestRuntimeDiagnostics(t *testing.T) {
	t.Parallel()
	t.Run("deadlock", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "signals", vm{}, "deadlock")
		assert.Equal(t, 2, res.ExitCode)
		assert.Contains(t, console, "fatal error: all goroutines are asleep - deadlock!")
	})
	t.Run("goexit", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "signals", vm{}, "goexit")
		assert.Equal(t, 2, res.ExitCode)
		assert.Contains(t, console, "main's deferred call ran\nother goroutine done\n")
		assert.Contains(t, console, "fatal error: no goroutines (main called runtime.Goexit) - deadlock!")
	})
	t.Run("lockthread", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "signals", vm{}, "lockthread")
		assert.Equal(t, 0, res.ExitCode)
		assert.Contains(t, console, "locked goroutine kept its thread: true\nmain still running\n")
	})
	t.Run("crash", func(t *testing.T) {
		t.Parallel()
		console, res := boot(t, "signals", vm{Env: []string{"GOTRACEBACK=crash"}}, "crash")
		assert.Equal(t, status.MaxProcess, res.ExitCode)
		assert.Contains(t, console, "panic: crash on purpose")
		assert.Contains(t, console, "goroutine 1 gp=")
		assert.Contains(t, console, "runtime.gopark(") // the other goroutine, with runtime frames
		assert.Contains(t, console, "killed by signal 6 (SIGABRT)")
		assert.Contains(t, console, "exit status 134 is reported as 125")
	})
}
