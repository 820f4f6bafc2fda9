package image

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile patches the ELF at src and writes the result to dst atomically
// (temporary file in dst's directory, fsync, same permission bits as src, rename).
// dst may equal src. On any error dst is left untouched.
//
// When src already carries the note and dst is src, the file is not rewritten at
// all. Patch's errors are returned as they are; I/O errors name the file.
func WriteFile(src, dst string) (entry uint64, err error) {
	in, mode, err := readRegular(src)
	if err != nil {
		return 0, err
	}
	out, entry, changed, err := patch(in)
	if err != nil {
		return 0, err
	}
	// Replace what dst points at, not a symbolic link standing in its place.
	target, err := resolveLink(dst)
	if err != nil {
		return 0, err
	}
	if !changed && sameFile(src, target) {
		return entry, nil
	}
	if err := writeAtomic(target, out, mode.Perm()); err != nil {
		return 0, err
	}
	return entry, nil
}

// readRegular reads the regular file at path and returns its mode.
func readRegular(path string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return data, info.Mode(), nil
}

// resolveLink returns the file a symbolic link at path points to, or path itself
// when it is not a link (or does not exist yet).
func resolveLink(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil || info.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	return filepath.EvalSymlinks(path)
}

// sameFile says whether a and b name the same existing file.
func sameFile(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// writeAtomic replaces path with data: readers see the old file or the complete
// new one, never a partial write, and a failure leaves the old file in place.
func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".unigo-image-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; chmod is not subject to the umask.
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. It is best effort: the rename has
// already happened, so there is nothing left to undo if it fails.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
