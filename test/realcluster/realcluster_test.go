package realcluster

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gitsync-io/gitsync/test/aptrepo"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/gitsyncbin"
	"github.com/gitsync-io/gitsync/test/images"
	"github.com/gitsync-io/gitsync/test/nodes"
)

const kubernetesVersion = "v1.37.2"

func TestRealCluster(t *testing.T) {
	began := time.Now()
	phase := func(name string) {
		t.Logf("phase %-12s %s", name, time.Since(began).Round(time.Second))
		began = time.Now()
	}
	imgs := images.Kubernetes(t, kubernetesVersion)
	phase("images")
	cluster := nodes.Start(t, nodes.Options{Nodes: []nodes.NodeOptions{
		{Name: "node1", Kubelet: true}, {Name: "node2", Kubelet: true}, {Name: "node3", Kubelet: true},
	}})
	phase("nodes")
	registry := images.ServeRegistry(t, cluster.Gateway)
	images.Push(t, registry, imgs)
	var mirrors []string
	for _, r := range append(images.Registries(imgs), "ghcr.io") {
		mirrors = append(mirrors, fmt.Sprintf("%q: \"http://%s\"", r, registry))
	}
	repo := aptrepo.Serve(t, cluster.Gateway, aptrepo.Repository{Minor: "v1.37",
		Debs: aptrepo.KubernetesDebs(t, "1.37.2", "1.1"), Signer: aptrepo.NewKey(t, "test")})
	containerd, containerdURL := serveContainerd(t)
	images.Push(t, registry, []images.Image{gitsyncImage(t)})
	git := serveRepository(t, cluster.Gateway)
	phase("servers")

	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: gitsync.io/v1alpha1\nkind: Cluster\nname: real\nkubernetesVersion: %s\n", kubernetesVersion)
	fmt.Fprintf(&b, "ssh: {user: deploy, keyFile: %s, knownHostsFile: %s}\nnodes:\n", cluster.ClientKeyFile, cluster.KnownHostsFile(t))
	for i, n := range cluster.Nodes {
		role, name := "worker", fmt.Sprintf("worker-%d", i)
		if i == 0 {
			role, name = "control-plane", "cp-1"
		}
		fmt.Fprintf(&b, "- {name: %s, address: %s, role: %s}\n", name, n.Address, role)
	}
	fmt.Fprintf(&b, "containerd: {version: %s, restrictOOMScoreAdj: true}\n", containerd)
	b.WriteString(testBedSettings)
	fmt.Fprintf(&b, "mirrors: {kubernetes: %s, containerd: %s, registries: {%s}}\n", repo.URL, containerdURL, strings.Join(mirrors, ", "))
	fmt.Fprintf(&b, "gitops: {repo: %s, calicoPath: %s}\n", git.url, podnetPath)
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := gitsyncbin.Build("test-realcluster")
	if err != nil {
		t.Fatal(err)
	}
	passwordFile := filepath.Join(dir, "git-password")
	if err := os.WriteFile(passwordFile, []byte(gitPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	r := gitsyncbin.Run(t, bin, gitsyncbin.Options{Dir: dir}, "bootstrap", "--config", file, "--log", filepath.Join(dir, "bootstrap.log"),
		"--username", gitUser, "--password-file", passwordFile, "--timeout", "5m")
	phase("bootstrap")
	t.Logf("%s", r)
	out, _ := cluster.Nodes[0].Command(t.Context(), "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes,pods", "-A", "-o", "wide").CombinedOutput()
	t.Logf("%s", out)
}

// testBedSettings are what the test nodes need in the cluster file that real machines do not
// (README: what differs in the test bed). The nodes boot cgroup v1 and are containers without
// CAP_SYS_RESOURCE (restrictOOMScoreAdj above); they share the host's kernel, swap and disk.
const testBedSettings = `kubelet:
  allowCgroupV1: true
  cgroupDriver: cgroupfs
  config:
    failSwapOn: false
    imageGCHighThresholdPercent: 100
    evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
    localStorageCapacityIsolation: false
kubeProxy:
  config:
    conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`

// serveContainerd serves the containerd and runc releases tools/build.sh built, laid out as
// a release mirror, on loopback (gitsync downloads them and uploads them to the nodes).
func serveContainerd(t *testing.T) (version, url string) {
	t.Helper()
	dir, err := filepath.Abs("../../.cache/containerd")
	if err != nil {
		t.Fatal(err)
	}
	tarballs, _ := filepath.Glob(filepath.Join(dir, "v*", "containerd-*-linux-"+runtime.GOARCH+".tar.gz"))
	if len(tarballs) != 1 {
		t.Fatalf("want one containerd release in %s, found %q: run `make tools-all` in the gitsync checkout", dir, tarballs)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(filepath.Base(filepath.Dir(tarballs[0])), "v"), srv.URL
}

// podnetPath is the pod network's directory in the repository, the cluster file's
// gitops.calicoPath.
const podnetPath = "test/realcluster/podnet"

const gitUser, gitPassword = "gitsync", "real-cluster-password"

type repository struct {
	repo *gitserver.Repo
	url  string
}

// serveRepository serves, on the nodes' gateway where pods reach it, a repository holding
// this checkout's manifests, overlays and pod network, with overlays/cluster/config.yaml
// pointing the in-cluster gitsync at it and its first sync at the pod network.
func serveRepository(t *testing.T, addr netip.Addr) repository {
	t.Helper()
	repo := gitserver.NewRepo(t)
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: gitUser, Password: gitPassword, Addr: addr})
	url := srv.URL + "/" + repo.Name()
	files := gitserver.Tree(t, "../..", "manifests")
	maps.Copy(files, gitserver.Tree(t, "../..", "overlays"))
	maps.Copy(files, gitserver.Tree(t, "../..", podnetPath))
	const config = "overlays/cluster/config.yaml"
	c := files[config]
	for old, new := range map[string]string{"https://git.example.org/ops/cluster.git": url, "path: manifests/calico": "path: " + podnetPath} {
		if !strings.Contains(c, old) {
			t.Fatalf("%s does not say %q", config, old)
		}
		c = strings.Replace(c, old, new, 1)
	}
	files[config] = c
	repo.Commit(t, "the cluster", files)
	return repository{repo: repo, url: url}
}

// gitsyncImage is `make image`'s image of this checkout, named as manifests/gitsync runs it.
func gitsyncImage(t *testing.T) images.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gitsync-image.tar")
	const ref = "ghcr.io/gitsync-io/gitsync:latest"
	cmd := exec.Command("go", "run", "./hack/image", "--out", out, "--tag", ref)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./hack/image: %v\n%s", err, b)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	return images.Image{Ref: ref, Image: img}
}
