package qemutests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/qemu"
	"github.com/unigo-dev/unigo/boot/status"
)

// readyWriter collects the console and closes ready when marker has appeared.
type readyWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	ready  chan struct{}
	once   sync.Once
}

func newReadyWriter(marker string) *readyWriter {
	return &readyWriter{marker: marker, ready: make(chan struct{})}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// bootServer boots app with args and, once its console shows marker, runs
// then (in another goroutine) and presses the power button (through QEMU's
// QMP monitor socket, as unigo-run does on Ctrl-C) presses times. It returns
// the console and how the run ended.
func bootServer(t *testing.T, app string, v vm, marker string, presses int, then func(), args ...string) (string, qemu.Result) {
	t.Helper()
	cfg := v.config()
	power := make(chan struct{}, presses)
	cfg.PowerDown = power
	cfg.Grace = 30 * time.Second // the kernel's own grace must act first
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+30*time.Second)
	defer cancel()
	console := newReadyWriter(marker)
	var stderr bytes.Buffer
	go func() {
		select {
		case <-console.ready:
			if then != nil {
				then()
			}
			for range presses {
				power <- struct{}{}
				time.Sleep(100 * time.Millisecond)
			}
		case <-ctx.Done():
		}
	}()
	res, err := qemu.Run(ctx, cfg, appPath(t, app), args, v.Env, console, &stderr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s %q: exit %d, reason %q\nconsole:\n%s\nQEMU stderr:\n%s", app, args, res.ExitCode, res.Reason, console, &stderr)
		}
	})
	require.NoError(t, err)
	return console.String(), res
}

// bootAndPress boots signals with arg and presses the power button presses
// times once the program says it is ready.
func bootAndPress(t *testing.T, arg string, presses int, extra string) (string, qemu.Result) {
	t.Helper()
	return bootServer(t, "signals", vm{Extra: extra}, "ready\n", presses, nil, arg)
}

// TestPowerButton proves graceful shutdown: QEMU's system_powerdown (the ACPI
// power button, pressed through the QMP monitor) reaches the program as
// SIGTERM, which os/signal delivers, and the program drains and exits with its
// own status; with no handler SIGTERM's default action ends it (143); a
// program that ignores it is powered off when the kernel's grace period ends,
// or at once on a second press (137, as SIGKILL).
func TestPowerButton(t *testing.T) {
	t.Parallel()
	t.Run("drain", func(t *testing.T) {
		t.Parallel()
		console, res := bootAndPress(t, "serve", 1, "")
		assert.Equal(t, 7, res.ExitCode)
		assert.Contains(t, console, "unigo: power button: SIGTERM to the program")
		assert.Contains(t, console, "got terminated - draining\ndrained after true\n")
	})
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		console, res := bootAndPress(t, "sleep", 1, "")
		assert.Equal(t, status.MaxProcess, res.ExitCode)
		assert.Contains(t, console, "killed by signal 15 (SIGTERM)")
		assert.Contains(t, console, "exit status 143 is reported as 125")
	})
	t.Run("grace", func(t *testing.T) {
		t.Parallel()
		console, res := bootAndPress(t, "ignore", 1, "unigo.shutdown_grace=1")
		assert.Equal(t, status.MaxProcess, res.ExitCode)
		assert.Contains(t, console, "which has 1000 ms to exit")
		assert.Contains(t, console, "unigo: powering off: the program did not exit within the shutdown grace period")
		assert.Contains(t, console, "exit status 137 is reported as 125")
	})
	t.Run("twice", func(t *testing.T) {
		t.Parallel()
		console, res := bootAndPress(t, "ignore", 2, "unigo.shutdown_grace=60")
		assert.Equal(t, status.MaxProcess, res.ExitCode)
		assert.Contains(t, console, "unigo: powering off: the power button was pressed again")
	})
}

// TestRunnerForwardsSIGTERM proves the whole path from the host: SIGTERM to
// unigo-run presses the VM's power button, and the program's own exit status
// comes back as unigo-run's.
func TestRunnerForwardsSIGTERM(t *testing.T) {
	t.Parallel()
	if suiteSMP != 1 {
		t.Skip("run once, by the suite at -smp 1")
	}
	runner := filepath.Join(t.TempDir(), "unigo-run")
	build := exec.Command(goCmd, "build", "-o", runner, "./boot/cmd/unigo-run")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	console := newReadyWriter("ready\n")
	cmd := exec.Command(runner, "-timeout", "60s", appPath(t, "signals"), "serve")
	cmd.Stdout = console
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = os.Environ()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-console.ready:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the program never said ready:\n%s\n%s", console, &stderr)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("unigo-run did not exit after SIGTERM:\n%s\n%s", console, &stderr)
	}
	assert.Equal(t, 7, cmd.ProcessState.ExitCode(), "console:\n%s\nstderr:\n%s", console, &stderr)
	assert.Contains(t, stderr.String(), "pressed the VM's power button")
	assert.Contains(t, console.String(), "got terminated - draining")
}
