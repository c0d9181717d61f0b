// Package atomicfile replaces files whole: whoever reads one (another gitsync sharing a
// cache, a user's kubectl) sees the old content or the new, never a part, even after a crash.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces the file at path with data, with mode perm, through a temporary file in the
// same directory that is synced and renamed over it. The directory must exist. On failure the
// file at path is left as it was.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteParts(path, perm, data)
}

// WriteParts is Write of the parts written one after the other, for a caller
// that would otherwise join them into one buffer first.
func WriteParts(path string, perm fs.FileMode, parts ...[]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = fill(tmp, parts, perm)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// fill sets f's mode before writing parts (CreateTemp made it 0600), then syncs and closes it.
func fill(f *os.File, parts [][]byte, perm fs.FileMode) error {
	err := f.Chmod(perm)
	for _, data := range parts {
		if err == nil {
			_, err = f.Write(data)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
