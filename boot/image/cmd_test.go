package image_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// runTool runs the unigo-image command and returns its exit status and output.
func runTool(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(tool.exe(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("running unigo-image: %v", err)
	}
	return status, out.String(), errOut.String()
}

func TestCommand(t *testing.T) {
	t.Parallel()
	orig := fakeKernel.bytes(t)
	want, entry := patched(t, orig)

	t.Run("in place", func(t *testing.T) {
		t.Parallel()
		bin := fakeKernel.file(t, "kernel")
		status, stdout, stderr := runTool(t, bin)
		assert.Equal(t, 0, status)
		assert.Empty(t, stdout)
		assert.Empty(t, stderr)
		assertFile(t, bin, want, 0o755)

		// Again, verbosely: nothing to do, and it says where the entry is.
		status, stdout, stderr = runTool(t, "-v", bin)
		assert.Equal(t, 0, status)
		assert.Equal(t, fmt.Sprintf("%s: PVH entry %#x\n", bin, entry), stdout)
		assert.Empty(t, stderr)
		assertFile(t, bin, want, 0o755)
	})

	t.Run("output file", func(t *testing.T) {
		t.Parallel()
		bin := fakeKernel.file(t, "kernel")
		out := filepath.Join(filepath.Dir(bin), "kernel.pvh")
		status, stdout, stderr := runTool(t, "-v", "-o", out, bin)
		assert.Equal(t, 0, status)
		assert.Equal(t, fmt.Sprintf("%s: PVH entry %#x\n", bin, entry), stdout)
		assert.Empty(t, stderr)
		assertFile(t, bin, orig, 0o755)
		assertFile(t, out, want, 0o755)
	})

	t.Run("no kernel", func(t *testing.T) {
		t.Parallel()
		bin := hello.file(t, "hello")
		status, stdout, stderr := runTool(t, bin)
		assert.Equal(t, 1, status)
		assert.Empty(t, stdout)
		assert.Regexp(t, `^unigo-image: `+regexp.QuoteMeta(bin)+`: .*the binary does not link github.com/unigo-dev/unigo/rt; build with -tags unikernel and import rt\n$`, stderr)
		assertFile(t, bin, hello.bytes(t), 0o755)
	})

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		bin := filepath.Join(t.TempDir(), "missing")
		status, stdout, stderr := runTool(t, bin)
		assert.Equal(t, 1, status)
		assert.Empty(t, stdout)
		assert.Equal(t, "unigo-image: "+bin+": no such file or directory\n", stderr)
	})

	for name, args := range map[string][]string{
		"no arguments":   nil,
		"two binaries":   {"a", "b"},
		"unknown flag":   {"-x", "a"},
		"flag after arg": {"a", "-v"},
		"-o without arg": {"-o"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			status, stdout, stderr := runTool(t, args...)
			assert.Equal(t, 2, status)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "usage: unigo-image [-o OUT] [-v] BINARY")
		})
	}
}
