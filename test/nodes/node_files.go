package nodes

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// rootDir is a node's root file system seen from the host. Paths resolve as
// they would inside the node: an absolute symlink such as /etc/localtime
// leads into the node's root, never into the host's (openat2 with
// RESOLVE_IN_ROOT), so writing a node's file cannot touch a host file.
type rootDir struct{ f *os.File }

func openRoot(dir string) (*rootDir, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return &rootDir{f}, nil
}

func (r *rootDir) Close() error { return r.f.Close() }

func (r *rootDir) open(name string, flags int, perm uint32) (*os.File, error) {
	fd, err := unix.Openat2(int(r.f.Fd()), strings.TrimPrefix(path.Clean("/"+name), "/"), &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Mode:    uint64(perm),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (r *rootDir) readFile(name string) ([]byte, error) {
	f, err := r.open(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeFile replaces name's content, mode and owner, creating missing
// parent directories (0755, root).
func (r *rootDir) writeFile(name, content string, perm os.FileMode, uid, gid int) error {
	if err := r.mkdirAll(path.Dir(path.Clean("/" + name))); err != nil {
		return err
	}
	f, err := r.open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, uint32(perm))
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	return errors.Join(err, f.Chmod(perm), f.Chown(uid, gid), f.Close())
}

// mkdir makes directory name (its parent must exist) or, if it exists,
// sets its mode and owner.
func (r *rootDir) mkdir(name string, perm os.FileMode, uid, gid int) error {
	dir, base := path.Split(path.Clean("/" + name))
	parent, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = unix.Mkdirat(int(parent.Fd()), base, uint32(perm))
	parent.Close()
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	f, err := r.open(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Chmod(perm), f.Chown(uid, gid), f.Close())
}

func (r *rootDir) mkdirAll(name string) error {
	name = path.Clean("/" + name)
	if name == "/" {
		return nil
	}
	if f, err := r.open(name, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		return f.Close()
	}
	if err := r.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	return r.mkdir(name, 0o755, 0, 0)
}

// ReadFile returns the content of the file at path in the node's root file
// system, running or stopped.
func (n *Node) ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	root, err := openRoot(n.sup.path(n.root))
	if err != nil {
		t.Fatalf("nodes: %s: %v", n.Name, err)
	}
	defer root.Close()
	data, err := root.readFile(path)
	if err != nil {
		t.Fatalf("nodes: %s: %v", n.Name, err)
	}
	return data
}

// FileTree describes every file under dirs in node's root file system, by
// absolute path: "MODE UID:GID" and then "sha256:HEX" for a regular file or
// "-> TARGET" for a symlink. Compare two trees to see what a command changed
// (cmp.Diff). It reads the file system as stored, running or stopped:
// /proc, /sys, /dev and /run are empty directories there; and it does not
// follow symlinks.
func FileTree(t testing.TB, node *Node, dirs ...string) map[string]string {
	t.Helper()
	root, err := openRoot(node.sup.path(node.root))
	if err != nil {
		t.Fatalf("nodes: %s: %v", node.Name, err)
	}
	defer root.Close()
	tree := map[string]string{}
	for _, dir := range dirs {
		if err := root.describe(tree, dir); err != nil {
			t.Fatalf("nodes: %s: file tree: %v", node.Name, err)
		}
	}
	return tree
}

// describe adds every file under dir to tree.
func (r *rootDir) describe(tree map[string]string, dir string) error {
	d, err := r.open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	// Below the opened directory nothing resolves symlinks: WalkDir does
	// not follow them and only regular files are opened.
	here := fmt.Sprintf("/proc/self/fd/%d", d.Fd())
	fsys := os.DirFS(here)
	return fs.WalkDir(fsys, ".", func(name string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		switch {
		case info.Mode().IsRegular():
			sum, err := sha256File(fsys, name)
			if err != nil {
				return err
			}
			desc += " sha256:" + sum
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(here + "/" + name)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		tree[path.Join(path.Clean("/"+dir), name)] = desc
		return nil
	})
}

func sha256File(fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// symlink makes name a symbolic link to target, creating missing parent directories.
func (r *rootDir) symlink(name, target string) error {
	dir, base := path.Split(path.Clean("/" + name))
	if err := r.mkdirAll(dir); err != nil {
		return err
	}
	parent, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Symlinkat(target, int(parent.Fd()), base); err != nil && !errors.Is(err, unix.EEXIST) {
		return &fs.PathError{Op: "symlink", Path: name, Err: err}
	}
	return nil
}
