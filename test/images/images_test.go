package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestKubernetesImages builds the images and runs what they hold in a chroot of each: the
// binaries start and find their libraries, iptables its extensions, nginx its configuration.
func TestKubernetesImages(t *testing.T) {
	imgs := Kubernetes(t, "v1.37.2")
	byRepo := map[string]Image{}
	var refs []string
	for _, img := range imgs {
		refs = append(refs, img.Ref)
		byRepo[strings.Split(filepathBase(img.Ref), ":")[0]] = img
	}
	for _, want := range []string{"registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/etcd:3.7.0-0",
		"registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/pause:3.10.2", NginxRef, PodnetRef, ProbeRef} {
		if !slices.Contains(refs, want) {
			t.Errorf("no image %s among %v", want, refs)
		}
	}
	if got := Registries(imgs); !slices.Equal(got, []string{"registry.k8s.io", "registry.gitsync.test", "docker.io"}) {
		t.Errorf("registries %v", got)
	}
	for _, tc := range []struct {
		repo string
		args []string
		want string
	}{
		{"kube-proxy", []string{"/usr/sbin/iptables", "--version"}, "(nf_tables)"},
		{"kube-proxy", []string{"/usr/sbin/ip6tables-restore", "--help"}, "Usage"},
		{"kube-proxy", []string{"/usr/local/bin/kube-proxy", "--version"}, "v1.37.2"},
		{"etcd", []string{"/usr/local/bin/etcd", "--version"}, "etcd Version: 3.7.0"},
		{"coredns", []string{"/coredns", "-version"}, "CoreDNS-1.14.6"},
		{"nginx", []string{"/usr/sbin/nginx", "-t"}, "syntax is ok"},
	} {
		t.Run(tc.repo+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			root := unpack(t, byRepo[tc.repo])
			out, err := exec.Command("chroot", append([]string{root}, tc.args...)...).CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("%v in %s: %v\n%s\nwant %q", tc.args, tc.repo, err, out, tc.want)
			}
		})
	}
}

func filepathBase(ref string) string { return filepath.Base(ref) }

// unpack extracts img's file system into a directory, with tar, as a runtime would.
func unpack(t *testing.T, img Image) string {
	t.Helper()
	if img.Image == nil {
		t.Fatal("no such image")
	}
	root := t.TempDir()
	cmd := exec.Command("tar", "-x", "-C", root)
	rc := mutate.Extract(img.Image)
	defer rc.Close()
	cmd.Stdin = rc
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}
