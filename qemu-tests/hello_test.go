package qemutests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHelloArgs proves that the guest's argv arrives byte-exact: argv[0] is the
// binary path given to the runner, and arguments with spaces, quotes,
// backslashes, control characters, unicode, an empty string, "--", and words that
// look like kernel parameters or environment entries are each delivered as one
// unchanged argument. It also shows the guest booted, ran main and exited 0.
func TestHelloArgs(t *testing.T) {
	t.Parallel()
	args := []string{
		"plain",
		"a b  c",
		`say "hi"`,
		"it's",
		`back\slash`,
		"-test.run=^TestX$",
		"-test.v",
		"ünïcödé ✓ 日本",
		"",
		"--",
		"tab\there",
		"new\nline",
		"virtio_mmio.device=1", // looks like a kernel parameter
		"NAME=value",           // looks like an environment entry
		"unigo.maxthreads=1",   // a kernel parameter of unigo's own
		"last",
	}
	console, res := boot(t, "hello", vm{}, args...)

	var want strings.Builder
	want.WriteString("hello from unigo\n")
	for i, a := range append([]string{appPath(t, "hello")}, args...) {
		fmt.Fprintf(&want, "arg[%d]=%q\n", i, a)
	}
	assert.Equal(t, want.String(), console, "the console is hello's output and nothing else")
	assert.Equal(t, 0, res.ExitCode)
}

// TestHelloExitStatus proves that the environment reaches the guest (hello exits
// with $HELLO_EXIT) and that the exit status protocol carries every status from 0
// to 125 as itself, while a larger one is reported as 125 with a console line
// giving the real status.
func TestHelloExitStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status, want int
		clamped      bool
	}{
		{0, 0, false},
		{1, 1, false},
		{3, 3, false},
		{125, 125, false},
		{126, 125, true},
		{200, 125, true},
		{255, 125, true},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			// unigo.maxthreads=1 here is an environment entry: read as the kernel
			// parameter, it would leave the runtime no thread to start.
			env := []string{"HOME=/", "HELLO_EXIT=" + strconv.Itoa(tt.status), "OTHER=a b", "unigo.maxthreads=1"}
			console, res := boot(t, "hello", vm{Env: env})
			assert.Equal(t, tt.want, res.ExitCode, "runner exit status")
			assert.True(t, strings.HasPrefix(console, "hello from unigo\n"), "hello ran")
			msg := fmt.Sprintf("unigo: exit status %d is reported as 125", tt.status)
			if tt.clamped {
				assert.Contains(t, console, msg)
			} else {
				assert.NotContains(t, console, "is reported as")
			}
		})
	}
}
