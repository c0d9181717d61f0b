package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestContainerdReleases(t *testing.T) {
	for _, tc := range []struct {
		name, version, mirror, arch string
		containerd, runc            release
	}{
		{"upstream's GitHub releases by default", "2.4.2", "", "amd64",
			release{"https://github.com/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz",
				"https://github.com/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz.sha256sum"},
			release{"https://github.com/opencontainers/runc/releases/download/v" + RuncVersion + "/runc.amd64",
				"https://github.com/opencontainers/runc/releases/download/v" + RuncVersion + "/runc.sha256sum"}},
		{"a mirror holds both, runc under runc/", "2.2.1", "http://mirror.example.org/containerd/", "arm64",
			release{"http://mirror.example.org/containerd/v2.2.1/containerd-2.2.1-linux-arm64.tar.gz",
				"http://mirror.example.org/containerd/v2.2.1/containerd-2.2.1-linux-arm64.tar.gz.sha256sum"},
			release{"http://mirror.example.org/containerd/runc/v" + RuncVersion + "/runc.arm64",
				"http://mirror.example.org/containerd/runc/v" + RuncVersion + "/runc.sha256sum"}},
		{"a mirror of GitHub's releases has runc beside containerd", "2.4.2", "https://mirror.example.org/github-release/containerd/containerd/releases/download", "amd64",
			release{"https://mirror.example.org/github-release/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz",
				"https://mirror.example.org/github-release/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz.sha256sum"},
			release{"https://mirror.example.org/github-release/opencontainers/runc/releases/download/v" + RuncVersion + "/runc.amd64",
				"https://mirror.example.org/github-release/opencontainers/runc/releases/download/v" + RuncVersion + "/runc.sha256sum"}},
		{"dpkg's ppc64el is the releases' ppc64le", "2.4.2", "http://m", "ppc64el",
			release{"http://m/v2.4.2/containerd-2.4.2-linux-ppc64le.tar.gz", "http://m/v2.4.2/containerd-2.4.2-linux-ppc64le.tar.gz.sha256sum"},
			release{"http://m/runc/v" + RuncVersion + "/runc.ppc64le", "http://m/runc/v" + RuncVersion + "/runc.sha256sum"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{Containerd: ContainerdConfig{Version: tc.version}, Mirrors: Mirrors{Containerd: tc.mirror}}
			if diff := cmp.Diff(tc.containerd, containerdRelease(c, tc.arch), cmp.AllowUnexported(release{})); diff != "" {
				t.Errorf("containerd (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.runc, runcRelease(c, tc.arch), cmp.AllowUnexported(release{})); diff != "" {
				t.Errorf("runc (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerdConfigs renders config.toml for a release of each configuration version to a
// golden file, and has containerd (built by `make tools-all`) read each.
func TestContainerdConfigs(t *testing.T) {
	containerd := containerdBinary(t)
	for _, tc := range []struct {
		name, golden string
		c            *Cluster
		want         []string
	}{
		{"2.4.2", "containerd-2.4.toml", &Cluster{Containerd: ContainerdConfig{Version: "2.4.2"}, Kubelet: KubeletConfig{CgroupDriver: "systemd"}},
			[]string{"SystemdCgroup = true", "restrict_oom_score_adj = false"}},
		{"2.2.1", "containerd-2.2.toml", &Cluster{Containerd: ContainerdConfig{Version: "2.2.1"}, Kubelet: KubeletConfig{CgroupDriver: "systemd"}},
			[]string{"SystemdCgroup = true"}},
		{"2.4.2 in a container, cgroupfs", "containerd-2.4-restricted-cgroupfs.toml",
			&Cluster{Containerd: ContainerdConfig{Version: "2.4.2", RestrictOOMScoreAdj: true}, Kubelet: KubeletConfig{CgroupDriver: "cgroupfs"}},
			[]string{"SystemdCgroup = false", "restrict_oom_score_adj = true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := containerdConfig(tc.c, "registry.example.org/k8s/pause:3.10.2")
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/bootstrap -run TestContainerdConfigs -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-golden +got):\n%s", golden, diff)
			}
			out, err := exec.Command(containerd, "--config", golden, "config", "dump").CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, out)
			}
			for _, want := range append(tc.want, "sandbox = 'registry.example.org/k8s/pause:3.10.2'",
				"config_path = '/etc/containerd/certs.d'", "default_runtime_name = 'runc'", "imports = ['/etc/containerd/conf.d/*.toml']") {
				if !strings.Contains(string(out), want) {
					t.Errorf("containerd config dump does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestContainerdConfigVersion(t *testing.T) {
	for version, want := range map[string]int{"2.0.0": 3, "2.1.5": 3, "2.2.1": 3, "2.3.0": 4, "2.4.2": 4, "2.10.0": 4} {
		if got := containerdConfigVersion(version); got != want {
			t.Errorf("containerd %s: config version %d, want %d", version, got, want)
		}
	}
}

func TestSandboxImage(t *testing.T) {
	for _, tc := range []struct{ version, repo, want string }{
		{"v1.34.4", "registry.k8s.io", "registry.k8s.io/pause:3.10.1"},
		{"v1.36.4", "registry.k8s.io", "registry.k8s.io/pause:3.10.2"},
		{"v1.37.2", "registry.example.org/k8s", "registry.example.org/k8s/pause:3.10.2"},
		{"v1.40.0", "registry.k8s.io", "registry.k8s.io/pause:" + newestPause},
	} {
		c := &Cluster{KubernetesVersion: tc.version, ImageRepository: tc.repo}
		if got := defaultSandboxImage(c); got != tc.want {
			t.Errorf("Kubernetes %s from %s: %s, want %s", tc.version, tc.repo, got, tc.want)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		"registry.k8s.io/pause:3.10.2": `"registry.k8s.io/pause:3.10.2"`,
		`a"b\c`:                        `"a\"b\\c"`,
		"tab\there":                    `"tab\u0009here"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestContainerdMissing reads what the check script prints and says what is missing.
func TestContainerdMissing(t *testing.T) {
	const good = `containerd=v2.4.2
shim=v2.4.2
runc=` + RuncVersion + `
active=active
enabled=enabled
server=v2.4.2
plugin=io.containerd.grpc.v1.cri=ok
plugin=io.containerd.cri.v1.images=ok
plugin=io.containerd.cri.v1.runtime=ok
plugin=io.containerd.snapshotter.v1.zfs=skip
`
	for _, tc := range []struct {
		name, out string
		want      []string
	}{
		{"nothing is missing when all is there and running", good, nil},
		{"a fresh node lacks everything, which is said briefly", "containerd=\nshim=\nrunc=\ndiffers=/etc/containerd/config.toml\ndiffers=/etc/crictl.yaml\nactive=inactive\nenabled=\n",
			[]string{"containerd is not installed", "runc is not installed", "/etc/containerd/config.toml, /etc/crictl.yaml are not what gitsync writes"}},
		{"a containerd that is stopped and disabled", strings.Replace(strings.Replace(good, "active=active", "active=inactive", 1), "enabled=enabled", "enabled=disabled", 1),
			[]string{"containerd is not enabled at boot", "containerd is inactive"}},
		{"half an installation", strings.Replace(good, "shim=v2.4.2", "shim=", 1),
			[]string{"containerd-shim-runc-v2 is not installed"}},
		{"another version is installed and running", strings.NewReplacer("=v2.4.2", "=v2.2.1", "runc="+RuncVersion, "runc=1.3.0").Replace(good),
			[]string{"containerd v2.2.1 is installed, want v2.4.2", "containerd-shim-runc-v2 v2.2.1 is installed, want v2.4.2",
				"runc 1.3.0 is installed, want " + RuncVersion, "containerd v2.2.1 is running, want v2.4.2"}},
		{"a containerd that does not answer", strings.Replace(good, "server=v2.4.2", "server=", 1),
			[]string{"containerd does not answer at /run/containerd/containerd.sock"}},
		{"a CRI plugin that failed, or is disabled", strings.Replace(strings.Replace(good, "grpc.v1.cri=ok", "grpc.v1.cri=error", 1),
			"plugin=io.containerd.cri.v1.images=ok\n", "", 1),
			[]string{"the CRI plugin io.containerd.grpc.v1.cri is error (ctr plugins ls --detailed says why)",
				"the CRI plugin io.containerd.cri.v1.images is not loaded (ctr plugins ls --detailed says why)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parseContainerdState(tc.out)
			if diff := cmp.Diff(tc.want, s.missing("2.4.2")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckTarball(t *testing.T) {
	tarball := func(names ...string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		tw := tar.NewWriter(zw)
		for _, name := range names {
			hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(name)), Typeflag: tar.TypeReg}
			if strings.HasSuffix(name, "/") {
				hdr.Typeflag, hdr.Size = tar.TypeDir, 0
			}
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(name)[:hdr.Size]); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string // empty: accepted
	}{
		{"accepts a release tarball", tarball("bin/", "bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"), ""},
		{"refuses a tarball without the shim", tarball("bin/", "bin/containerd"), "no bin/containerd-shim-runc-v2 in the tarball"},
		{"refuses what is not a gzip'd tarball", []byte("<html>Not Found</html>"), "not a gzip'd tarball"},
		{"refuses a truncated tarball", tarball("bin/containerd", "bin/containerd-shim-runc-v2")[:40], "damaged tarball"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTarball(tc.data)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// containerdBinary extracts containerd from the release tarball `make tools-all` builds.
func containerdBinary(t *testing.T) string {
	t.Helper()
	tarballs, _ := filepath.Glob(filepath.Join("..", "..", ".cache", "containerd", "v*", "containerd-*-linux-"+runtime.GOARCH+".tar.gz"))
	if len(tarballs) != 1 {
		t.Fatalf("want one containerd release under .cache/containerd, found %q: run `make tools-all` in the gitsync checkout", tarballs)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-C", dir, "-xzf", tarballs[0], "bin/containerd").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return filepath.Join(dir, "bin", "containerd")
}
