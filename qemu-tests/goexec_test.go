package qemutests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const guestPkg = "github.com/unigo-dev/unigo/qemu-tests/guest"

// testEvent is one line of go test -json (cmd/test2json's TestEvent).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// goTestExec runs go test -json on ./qemu-tests/guest inside unigo guests through
// go test -exec "go tool unigo-run", with extra in the environment. It returns
// the events, go test's stderr and its exit error.
func goTestExec(t *testing.T, run string, extra ...string) ([]testEvent, string, error) {
	t.Helper()
	// Bounded like every boot: the runner's own -timeout bounds the VM, this
	// bounds the build as well.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "test", "-tags", "unikernel",
		// The go command splits -exec's value as a shell would, with quotes.
		"-exec", "'"+goCmd+"' tool unigo-run -timeout 2m",
		"./qemu-tests/guest", "-run", run, "-json", "-count=1")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Killed at the deadline, go may leave a runner holding the pipes; its own
	// -timeout ends it, but the test need not wait for that.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	out := stdout.Bytes()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmd, err, out, stderr.String())
		}
	})
	require.NoError(t, ctx.Err(), "go test did not finish in time")

	var events []testEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e testEvent
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "a line of go test -json output: %q", sc.Text())
		events = append(events, e)
	}
	require.NoError(t, sc.Err())
	return events, stderr.String(), err
}

// actions lists the pass/fail/skip events of each test ("" for the package).
func actions(events []testEvent) map[string][]string {
	m := map[string][]string{}
	for _, e := range events {
		switch e.Action {
		case "pass", "fail", "skip":
			m[e.Test] = append(m[e.Test], e.Action)
		}
	}
	return m
}

// testsSeen is the set of tests with any event at all.
func testsSeen(events []testEvent) map[string]bool {
	seen := map[string]bool{}
	for _, e := range events {
		if e.Test != "" {
			seen[e.Test] = true
		}
	}
	return seen
}

// output is the text of the output events of test.
func output(events []testEvent, test string) string {
	var b strings.Builder
	for _, e := range events {
		if e.Action == "output" && e.Test == test {
			b.WriteString(e.Output)
		}
	}
	return b.String()
}

// TestGoTestExec proves that go test -exec "go tool unigo-run" runs a test
// binary inside a unigo guest end to end: -test.run selects tests (the others
// never run), tests pass, their output reaches go test -json as output events
// (and says it came from under unigo), and the package passes. A test that
// fails in the guest (it fails only when the environment, passed through the
// runner, says so) makes go test fail, and the JSON says which test failed.
func TestGoTestExec(t *testing.T) {
	t.Parallel()
	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		events, stderr, err := goTestExec(t, "^(TestArithmetic|TestPrintsOutput)$")
		require.NoError(t, err, "go test failed:\n%s", stderr)
		acts := actions(events)
		assert.Equal(t, []string{"pass"}, acts["TestArithmetic"])
		assert.Equal(t, []string{"pass"}, acts["TestPrintsOutput"])
		seen := testsSeen(events)
		assert.False(t, seen["TestGoroutines"], "TestGoroutines was not selected")
		assert.False(t, seen["TestSkipped"], "TestSkipped was not selected")
		assert.False(t, seen["TestFails"], "TestFails was not selected")
		require.NotEmpty(t, events)
		last := events[len(events)-1]
		assert.Equal(t, testEvent{Action: "pass", Package: guestPkg}, testEvent{Action: last.Action, Package: last.Package, Test: last.Test},
			"the package's last event")
		assert.Equal(t, []string{"pass"}, acts[""], "the package's result")
		assert.Contains(t, output(events, "TestPrintsOutput"), "guest output: under unigo=true\n",
			"the test's line is an output event of TestPrintsOutput, printed inside a unigo guest")
	})
	t.Run("whole package", func(t *testing.T) {
		t.Parallel()
		// Every test, TestWorkload's mixed load among them; TestSkipped skips.
		events, stderr, err := goTestExec(t, ".")
		require.NoError(t, err, "go test failed:\n%s", stderr)
		acts := actions(events)
		for _, name := range []string{"TestArithmetic", "TestGoroutines", "TestPrintsOutput", "TestFails", "TestWorkload"} {
			assert.Equal(t, []string{"pass"}, acts[name], name)
		}
		assert.Equal(t, []string{"skip"}, acts["TestSkipped"])
		assert.Equal(t, []string{"pass"}, acts[""], "the package's result")
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		events, stderr, err := goTestExec(t, "^TestFails$", "UNIGO_GUEST_FAIL=1")
		var exitErr *exec.ExitError
		require.True(t, errors.As(err, &exitErr), "go test should exit non-zero, got %v\n%s", err, stderr)
		assert.NotEqual(t, 0, exitErr.ExitCode())
		acts := actions(events)
		assert.Equal(t, []string{"fail"}, acts["TestFails"])
		assert.Equal(t, []string{"fail"}, acts[""], "the package's result")
		assert.Contains(t, output(events, "TestFails"), "failing on purpose: UNIGO_GUEST_FAIL=1",
			"the failure came from the guest, which saw the variable")
		assert.Len(t, testsSeen(events), 1, "only TestFails ran")
	})
}
