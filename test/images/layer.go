package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// file is one entry of an image's layer.
type file struct {
	path string // in the image, absolute
	mode int64
	src  string // a file on this machine to copy, or
	data []byte // the content, or
	link string // a symbolic link's target, or none of them: a directory
}

func dir(p string) file                { return file{path: p, mode: 0o755} }
func symlink(p, target string) file    { return file{path: p, link: target, mode: 0o777} }
func text(p, content string) file      { return file{path: p, data: []byte(content), mode: 0o644} }
func binary(p, src string) file        { return file{path: p, src: src, mode: 0o755} }
func copied(p, src string, m int) file { return file{path: p, src: src, mode: int64(m)} }

// hashFiles adds what the layer holds to h: paths, modes, link targets and contents.
func hashFiles(h io.Writer, files []file) error {
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %q %d\n", f.path, f.mode, f.link, len(f.data))
		h.Write(f.data)
		if f.src != "" {
			in, err := os.Open(f.src)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, in)
			in.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// layerTar is the layer as an uncompressed tar: every parent directory first, entries in
// path order, owned by root, dated 1970, so the same files give the same digest.
func layerTar(files []file) ([]byte, error) {
	byPath := map[string]file{}
	for _, f := range files {
		for d := path.Dir(f.path); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = dir(d)
			}
		}
		byPath[f.path] = f
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range byPath {
			if !yield(p) {
				return
			}
		}
	}) {
		f := byPath[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: f.mode, Format: tar.FormatPAX}
		var content []byte
		switch {
		case f.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.link
		case f.src != "":
			data, err := os.ReadFile(f.src)
			if err != nil {
				return nil, err
			}
			content = data
		case f.data != nil:
			content = f.data
		default:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// libDirs are where Debian's dynamic loader looks, in order.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

// withLibraries adds to files, from the root file system root, the dynamic loader and every
// shared library the ELF files among them need, transitively (DT_NEEDED), with the symbolic
// links that name them. Files whose src lies outside root are read but their libraries are
// still looked up in root.
func withLibraries(root string, files []file) ([]file, error) {
	have := map[string]bool{}
	for _, f := range files {
		have[f.path] = true
	}
	// Merged-/usr systems reach /usr/lib through /lib and /lib64 (the loader's own path).
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if target, err := os.Readlink(filepath.Join(root, top)); err == nil && !have[top] {
			have[top] = true
			files = append(files, symlink(top, target))
		}
	}
	queue := slices.Clone(files)
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if f.src == "" {
			continue
		}
		needed, interp, err := elfNeeds(f.src)
		if err != nil {
			return nil, err
		}
		if interp != "" {
			needed = append(needed, interp)
		}
		for _, lib := range needed {
			found, err := findLibrary(root, lib)
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", f.path, lib, err)
			}
			for _, e := range found {
				if !have[e.path] {
					have[e.path] = true
					files = append(files, e)
					queue = append(queue, e)
				}
			}
		}
	}
	return files, nil
}

// elfNeeds returns the libraries an ELF file needs and its interpreter; nothing for other files.
func elfNeeds(p string) (needed []string, interp string, err error) {
	ef, err := elf.Open(p)
	if err != nil {
		return nil, "", nil // not ELF: a script, a configuration file
	}
	defer ef.Close()
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			data, err := io.ReadAll(prog.Open())
			if err != nil {
				return nil, "", err
			}
			interp = strings.TrimRight(string(data), "\x00")
		}
	}
	needed, err = ef.ImportedLibraries()
	if err != nil && !strings.Contains(err.Error(), "no symbol") {
		return nil, "", err
	}
	return needed, interp, nil
}

// findLibrary finds lib (a name, or an absolute path such as the loader's) in root, and
// returns it with every symbolic link on the way, each as an entry of the image.
func findLibrary(root, lib string) ([]file, error) {
	candidates := []string{lib}
	if !strings.HasPrefix(lib, "/") {
		candidates = nil
		for _, d := range libDirs {
			candidates = append(candidates, path.Join(d, lib))
		}
	}
	for _, c := range candidates {
		entries, err := resolve(root, c)
		if err == nil {
			return entries, nil
		}
	}
	return nil, fmt.Errorf("not in %s (%s)", root, strings.Join(libDirs, ", "))
}

// resolve follows p through symbolic links inside root, returning the links and the file.
func resolve(root, p string) ([]file, error) {
	var out []file
	for range 16 {
		// The directories on the way may be links too (/lib -> usr/lib on merged-/usr systems).
		real, err := realDir(root, path.Dir(p))
		if err != nil {
			return nil, err
		}
		p = path.Join(real, path.Base(p))
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return append(out, copied(p, filepath.Join(root, p), int(fi.Mode().Perm()))), nil
		}
		target, err := os.Readlink(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		out = append(out, symlink(p, target))
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(p), target)
		}
		p = target
	}
	return nil, fmt.Errorf("%s: too many symbolic links", p)
}

// realDir resolves the directory d inside root, whose components may be links.
func realDir(root, d string) (string, error) {
	out := "/"
	for _, part := range strings.Split(strings.Trim(d, "/"), "/") {
		if part == "" {
			continue
		}
		next := path.Join(out, part)
		for range 16 {
			fi, err := os.Lstat(filepath.Join(root, next))
			if err != nil {
				return "", err
			}
			if fi.Mode()&os.ModeSymlink == 0 {
				break
			}
			target, err := os.Readlink(filepath.Join(root, next))
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				next = path.Clean(target)
			} else {
				next = path.Join(path.Dir(next), target)
			}
		}
		out = next
	}
	return out, nil
}

func shortSum(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
