package image_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-dev/unigo/boot/image"
)

// patched is what Patch makes of data.
func patched(t *testing.T, data []byte) ([]byte, uint64) {
	t.Helper()
	out, entry, err := image.Patch(data)
	require.NoError(t, err)
	return out, entry
}

func TestWriteFileInPlace(t *testing.T) {
	t.Parallel()
	src := fakeKernel.file(t, "kernel")
	require.NoError(t, os.Chmod(src, 0o750))
	want, wantEntry := patched(t, fakeKernel.bytes(t))

	entry, err := image.WriteFile(src, src)
	require.NoError(t, err)
	assert.Equal(t, wantEntry, entry)
	assertFile(t, src, want, 0o750)
	assertDir(t, filepath.Dir(src), "kernel")

	// A second run finds the note and leaves the file alone: same inode.
	first, err := os.Stat(src)
	require.NoError(t, err)
	entry, err = image.WriteFile(src, src)
	require.NoError(t, err)
	assert.Equal(t, wantEntry, entry)
	second, err := os.Stat(src)
	require.NoError(t, err)
	assert.True(t, os.SameFile(first, second), "an already patched file was rewritten")
	assertFile(t, src, want, 0o750)
	assertDir(t, filepath.Dir(src), "kernel")
}

func TestWriteFileToOtherPath(t *testing.T) {
	t.Parallel()
	orig := fakeKernelStripped.bytes(t)
	want, wantEntry := patched(t, orig)
	src := fakeKernelStripped.file(t, "kernel")
	require.NoError(t, os.Chmod(src, 0o751))
	dir := t.TempDir()

	// A new file.
	dst := filepath.Join(dir, "kernel.pvh")
	entry, err := image.WriteFile(src, dst)
	require.NoError(t, err)
	assert.Equal(t, wantEntry, entry)
	assertFile(t, src, orig, 0o751)
	assertFile(t, dst, want, 0o751)

	// An existing file is replaced, mode and all.
	other := filepath.Join(dir, "other")
	require.NoError(t, os.WriteFile(other, []byte("old"), 0o600))
	_, err = image.WriteFile(src, other)
	require.NoError(t, err)
	assertFile(t, other, want, 0o751)

	// An already patched source is still copied.
	copied := filepath.Join(dir, "copied")
	_, err = image.WriteFile(dst, copied)
	require.NoError(t, err)
	assertFile(t, copied, want, 0o751)
	assertDir(t, dir, "kernel.pvh", "other", "copied")
}

func TestWriteFileThroughSymlink(t *testing.T) {
	t.Parallel()
	src := fakeKernel.file(t, "kernel")
	want, _ := patched(t, fakeKernel.bytes(t))
	link := filepath.Join(filepath.Dir(src), "link")
	require.NoError(t, os.Symlink("kernel", link))

	_, err := image.WriteFile(link, link)
	require.NoError(t, err)
	info, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, info.Mode()&fs.ModeSymlink, "the link was replaced by a file")
	assertFile(t, src, want, 0o755)
	assertDir(t, filepath.Dir(src), "kernel", "link")
}

func TestWriteFileIOErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, err := image.WriteFile(filepath.Join(dir, "missing"), filepath.Join(dir, "out"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	_, err = image.WriteFile(dir, filepath.Join(dir, "out"))
	require.Error(t, err, "a directory is not a binary")

	src := fakeKernel.file(t, "kernel")
	orig := fakeKernel.bytes(t)
	_, err = image.WriteFile(src, filepath.Join(dir, "no", "such", "dir", "out"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	assertFile(t, src, orig, 0o755)
	assertDir(t, dir)
	assertDir(t, filepath.Dir(src), "kernel")
}
