package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BinDirEnv overrides where the control-plane binaries are looked up.
const BinDirEnv = "GITSYNC_TOOLS_BIN"

// buildCommand is what a user runs to get the binaries; every "missing binary"
// error names it.
const buildCommand = "make tools"

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl", "kubeadm"}

// BinDir returns the directory holding the control-plane binaries: $GITSYNC_TOOLS_BIN,
// or .cache/bin at the root of the gitsync checkout containing the working
// directory. It fails, naming the command that builds them, when any is missing.
func BinDir() (string, error) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("cannot find the control-plane binaries: %w; set %s or run %q in the gitsync checkout", err, BinDirEnv, buildCommand)
		}
		dir = filepath.Join(root, ".cache", "bin")
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("control-plane binary %s is missing from %s: run %q in the gitsync checkout to build it", b, dir, buildCommand)
		}
	}
	return dir, nil
}

// repoRoot walks up from the working directory to the gitsync module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/gitsync-io/gitsync\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the working directory is not inside the gitsync module")
		}
		dir = parent
	}
}
