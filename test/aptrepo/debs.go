package aptrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gitsync-io/gitsync/test/internal/filelock"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// Deb is one built package.
type Deb struct {
	Package, Version, Architecture string
	// Path is the .deb file.
	Path string
	// Control is its control file, which the Packages index repeats.
	Control string
}

// FileName is the package's name in a repository, as Debian names it.
func (d Deb) FileName() string {
	return fmt.Sprintf("%s_%s_%s.deb", d.Package, d.Version, d.Architecture)
}

// recipe names what debSpecs puts into the packages; change it with them so
// cached packages are rebuilt.
const recipe = "kubelet-unit,kubeadm-dropin,postinst-enable/1"

// spec is one package: its binary, control fields and extra files.
type spec struct {
	name, description, depends string
	files                      map[string]string // path in the package → content
	postinst                   string
}

// debSpecs are kubelet, kubeadm and kubectl laid out as pkgs.k8s.io's
// packages: binaries in /usr/bin, the kubelet unit in the kubelet package
// and kubeadm's drop-in, which starts the kubelet with the configuration
// kubeadm writes, in the kubeadm package. The dependencies are only those a
// minimal Debian node has: upstream's kubelet also depends on conntrack,
// ethtool, socat and others that a test node could not download.
func debSpecs() []spec {
	return []spec{
		{name: "kubelet", description: "Node agent for Kubernetes clusters", depends: "iptables, iproute2, mount",
			files:    map[string]string{"usr/lib/systemd/system/kubelet.service": kubeletUnit},
			postinst: kubeletPostinst},
		{name: "kubeadm", description: "Command-line utility for administering a Kubernetes cluster",
			files: map[string]string{"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": kubeadmDropIn}},
		{name: "kubectl", description: "Command-line utility for interacting with a Kubernetes cluster"},
	}
}

const kubeletUnit = `[Unit]
Description=kubelet: the Kubernetes node agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`

// kubeadmDropIn runs the kubelet with what kubeadm init and join write: its
// kubeconfigs, its configuration and the flags file.
const kubeadmDropIn = `# The kubelet as kubeadm configures it.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`

// kubeletPostinst enables the kubelet, as upstream's package does; it waits
// for kubeadm's configuration, restarting, until kubeadm init or join.
const kubeletPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable kubelet.service
fi
`

// KubernetesDebs returns kubelet, kubeadm and kubectl packaged at
// version-revision (1.37.2 and 1.1, say) for this machine's architecture,
// from the binaries `make tools-all` built. They are cached under the user's
// cache directory, in gitsync/debs/, keyed by the binaries' digests, the
// version and the recipe: a warm run only hashes the binaries.
func KubernetesDebs(t testing.TB, version, revision string) []Deb {
	t.Helper()
	debs, built, err := kubernetesDebs(t.Context(), version, revision)
	if err != nil {
		t.Fatalf("aptrepo: %v", err)
	}
	if built > 0 {
		t.Logf("aptrepo: built the packages of %s-%s in %s", version, revision, built.Round(time.Millisecond))
	}
	return debs
}

func kubernetesDebs(ctx context.Context, version, revision string) ([]Deb, time.Duration, error) {
	bins := map[string]string{}
	for _, s := range debSpecs() {
		path, err := testenv.Binary(s.name)
		if err != nil {
			return nil, 0, err
		}
		bins[s.name] = path
	}
	arch := runtime.GOARCH // Go and dpkg agree on amd64 and arm64, the architectures pkgs.k8s.io builds
	key, err := cacheKey(bins, version, revision, arch)
	if err != nil {
		return nil, 0, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, 0, err
	}
	dir := filepath.Join(cache, "gitsync", "debs", fmt.Sprintf("kubernetes-%s-%s-%s-%s", version, revision, arch, key))
	var debs []Deb
	for _, s := range debSpecs() {
		d := Deb{Package: s.name, Version: version + "-" + revision, Architecture: arch}
		d.Path, d.Control = filepath.Join(dir, d.FileName()), s.control(d, bins[s.name])
		debs = append(debs, d)
	}
	if exists(dir) {
		return debs, 0, nil
	}
	began := time.Now()
	if err := buildOnce(ctx, dir, bins, debs); err != nil {
		return nil, 0, fmt.Errorf("build the packages in %s: %w", dir, err)
	}
	return debs, time.Since(began), nil
}

// cacheKey digests what goes into the packages.
func cacheKey(bins map[string]string, version, revision, arch string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", recipe, version, revision, arch)
	for _, s := range debSpecs() {
		f, err := os.Open(bins[s.name])
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// control is the package's control file. Installed-Size is in KiB.
func (s spec) control(d Deb, binary string) string {
	size := int64(0)
	if fi, err := os.Stat(binary); err == nil {
		size = fi.Size()
	}
	for _, content := range s.files {
		size += int64(len(content))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: %s\n", d.Package, d.Version, d.Architecture)
	b.WriteString("Maintainer: gitsync tests <tests@gitsync.invalid>\n")
	fmt.Fprintf(&b, "Installed-Size: %d\n", (size+1023)/1024)
	if s.depends != "" {
		fmt.Fprintf(&b, "Depends: %s\n", s.depends)
	}
	b.WriteString("Section: admin\nPriority: optional\n")
	fmt.Fprintf(&b, "Description: %s\n Built from k8s.io/kubernetes by gitsync's tools/build.sh, for its tests.\n", s.description)
	return b.String()
}

// buildOnce builds the packages into a temporary sibling of dir and renames
// it, under a lock, so dir exists only complete and is built once.
func buildOnce(ctx context.Context, dir string, bins map[string]string, debs []Deb) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	unlock, err := filelock.Lock(dir + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if exists(dir) {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	specs := debSpecs()
	for i, d := range debs {
		if err := buildDeb(ctx, tmp, bins[specs[i].name], specs[i], d); err != nil {
			return fmt.Errorf("%s: %w", d.Package, err)
		}
	}
	return os.Rename(tmp, dir)
}

// buildDeb stages the package's tree and runs dpkg-deb on it.
func buildDeb(ctx context.Context, dir, binary string, s spec, d Deb) error {
	stage := filepath.Join(dir, "stage-"+s.name)
	defer os.RemoveAll(stage)
	files := map[string]string{"DEBIAN/control": d.Control}
	for path, content := range s.files {
		files[path] = content
	}
	for path, content := range files {
		if err := writeFile(filepath.Join(stage, path), content, 0o644); err != nil {
			return err
		}
	}
	if s.postinst != "" {
		if err := writeFile(filepath.Join(stage, "DEBIAN/postinst"), s.postinst, 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(binary, filepath.Join(stage, "usr/bin", s.name)); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", stage, filepath.Join(dir, d.FileName()))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb --build: %w\n%s", err, out)
	}
	return nil
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode) // whatever the umask
}

// copyFile copies an executable, as a hard link when it can.
func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.Link(from, to); err == nil {
		return os.Chmod(to, 0o755)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
