// Package gitsyncbin builds the gitsync binary that black-box tests run, the way
// the Makefile releases it.
package gitsyncbin

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	mu    sync.Mutex
	built = map[string]func() (string, error){}
)

// Build builds ./cmd/gitsync once per test process into .cache/<dir>/gitsync at the module
// root (git-ignored; each test package passes its own dir, since packages run in parallel)
// and returns its path. It builds as released: CGO_ENABLED=0, -trimpath, -s -w.
func Build(dir string) (string, error) {
	mu.Lock()
	once, ok := built[dir]
	if !ok {
		once = sync.OnceValues(func() (string, error) { return build(dir) })
		built[dir] = once
	}
	mu.Unlock()
	return once()
}

func build(dir string) (string, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".cache", dir, "gitsync")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/gitsync")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build ./cmd/gitsync: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
}
