package rt_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func goBuild(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append(append([]string{"build", "-o", out}, args...), "./testdata/hello")...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), err
	}
	return out, nil
}

// A unikernel build with cgo stops at compile time and says how to fix it, and so
// does one for another target.
func TestBuildRefusals(t *testing.T) {
	msg, err := goBuild(t, []string{"CGO_ENABLED=1"}, "-tags", "unikernel")
	require.Error(t, err)
	assert.Contains(t, msg, "build with CGO_ENABLED=0")
	msg, err = goBuild(t, []string{"CGO_ENABLED=0", "GOARCH=arm64"}, "-tags", "unikernel")
	require.Error(t, err)
	assert.Contains(t, msg, "build with GOOS=linux GOARCH=amd64")
}

// Without the unikernel tag, importing rt links nothing of the kernel.
func TestNoTagNoKernel(t *testing.T) {
	path, err := goBuild(t, []string{"CGO_ENABLED=0"})
	require.NoError(t, err, path)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		assert.False(t, strings.Contains(s.Name, "unigo/rt/internal") || strings.Contains(s.Name, "unigo/drivers"), s.Name)
	}
	withTag, err := goBuild(t, []string{"CGO_ENABLED=0"}, "-tags", "unikernel")
	require.NoError(t, err, withTag)
	kf, err := elf.Open(withTag)
	require.NoError(t, err)
	defer kf.Close()
	ksyms, err := kf.Symbols()
	require.NoError(t, err)
	found := false
	for _, s := range ksyms {
		found = found || strings.HasSuffix(s.Name, "rt/internal/kernel.kmain")
	}
	assert.True(t, found, "with the tag, the kernel is linked (the test above would otherwise prove nothing)")
}
