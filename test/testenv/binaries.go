package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// BinDirEnv overrides where the control-plane binaries are looked up.
const BinDirEnv = "GITSYNC_TOOLS_BIN"

// NodeBinDirEnv overrides where the node binaries (kubelet, kubeadm) are looked up.
const NodeBinDirEnv = "GITSYNC_NODE_BIN"

// ImagesBinDirEnv overrides where the binaries of the real-cluster test's images are looked up.
const ImagesBinDirEnv = "GITSYNC_IMAGES_BIN"

// KustomizeBinDirEnv overrides where the released kustomize CLI is looked up.
const KustomizeBinDirEnv = "GITSYNC_KUSTOMIZE_BIN"

// HelmBinDirEnv overrides where the released Helm CLI is looked up.
const HelmBinDirEnv = "GITSYNC_HELM_BIN"

// GiteaBinDirEnv overrides where the Gitea server is looked up.
const GiteaBinDirEnv = "GITSYNC_GITEA_BIN"

// toolSet is one of the sets tools/build.sh builds and caches: where the
// checkout links it, and the make target a user runs to get it.
type toolSet struct {
	env, link, target string
	binaries          []string
}

func controlPlaneSet() toolSet {
	return toolSet{BinDirEnv, "bin", "make tools",
		[]string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"}}
}

func nodeSet() toolSet {
	return toolSet{NodeBinDirEnv, "node", "make tools-all", []string{"kubelet", "kubeadm"}}
}

func imagesSet() toolSet {
	return toolSet{ImagesBinDirEnv, "images", "make tools-all",
		[]string{"kube-proxy", "etcd-server", "coredns", "pause", "cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap", "podnet", "probe"}}
}

func kustomizeSet() toolSet {
	return toolSet{KustomizeBinDirEnv, "kustomize", "make tools-all", []string{"kustomize"}}
}

func helmSet() toolSet {
	return toolSet{HelmBinDirEnv, "helm", "make tools-all", []string{"helm"}}
}

func giteaSet() toolSet {
	return toolSet{GiteaBinDirEnv, "gitea", "make tools-all", []string{"gitea"}}
}

// BinDir returns the directory holding the control-plane binaries (what `make
// demo` runs): $GITSYNC_TOOLS_BIN, or .cache/bin at the root of the gitsync
// checkout containing the working directory. It fails, naming the command that
// builds them, when any is missing.
func BinDir() (string, error) { return controlPlaneSet().dir() }

// NodeBinDir returns the directory holding kubelet and kubeadm, which the
// bootstrap tests install on test nodes: $GITSYNC_NODE_BIN or .cache/node.
func NodeBinDir() (string, error) { return nodeSet().dir() }

// ImagesBinDir returns the directory holding what the real-cluster test's images hold
// (kube-proxy, etcd-server, coredns, pause, cni/*, podnet, probe): $GITSYNC_IMAGES_BIN or .cache/images.
func ImagesBinDir() (string, error) { return imagesSet().dir() }

// Binary returns the path of one of the binaries tools/build.sh builds, from
// whichever set holds it.
func Binary(name string) (string, error) {
	for _, set := range []toolSet{controlPlaneSet(), nodeSet(), imagesSet(), kustomizeSet(), helmSet(), giteaSet()} {
		if slices.Contains(set.binaries, name) {
			dir, err := set.dir()
			return filepath.Join(dir, name), err
		}
	}
	return "", fmt.Errorf("tools/build.sh builds no binary called %s", name)
}

func (s toolSet) dir() (string, error) {
	dir := os.Getenv(s.env)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", fmt.Errorf("cannot find the binaries %v: %w; set %s or run %q in the gitsync checkout", s.binaries, err, s.env, s.target)
		}
		dir = filepath.Join(root, ".cache", s.link)
	}
	for _, b := range s.binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s is missing from %s: run %q in the gitsync checkout to build it", b, dir, s.target)
		}
	}
	return dir, nil
}

// RepoRoot walks up from the working directory to the gitsync module root.
func RepoRoot() (string, error) {
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
