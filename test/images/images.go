package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gitsync-io/gitsync/test/internal/filelock"
	"github.com/gitsync-io/gitsync/test/nodes"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// recipe names how specs lays images out; change it with them so cached images are rebuilt.
const recipe = "images/1"

// NginxRef is the image manifests/nginx-deployment runs; the test serves Debian's nginx
// under that name.
const NginxRef = "docker.io/library/nginx:1.30.1"

// PodnetRef is the image of the test's pod network (test/realcluster/podnet); ProbeRef is
// an HTTP client to run in a pod (tools/images/probe).
const (
	PodnetRef = "registry.gitsync.test/podnet:v1"
	ProbeRef  = "registry.gitsync.test/probe:v1"
)

// Image is one built image and the name it is pulled by.
type Image struct {
	Ref   string
	Image v1.Image
}

// spec is what goes into one image: a single layer and the configuration.
type spec struct {
	ref        string
	files      []file
	entrypoint []string
}

const pathEnv = "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"

// Kubernetes returns kubeadm's images for version (the control plane, etcd, kube-proxy,
// CoreDNS and pause, named as `kubeadm config images list` names them), nginx for
// manifests/nginx-deployment, the pod network's image and probe's, built on first use and then
// taken from the cache.
func Kubernetes(t testing.TB, version string) []Image {
	t.Helper()
	began := time.Now()
	specs, err := kubernetesSpecs(t, version)
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	imgs, built, err := cached(specs)
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	if built {
		t.Logf("images: built %d images in %s", len(imgs), time.Since(began).Round(time.Second))
	}
	return imgs
}

func kubernetesSpecs(t testing.TB, version string) ([]spec, error) {
	kubeadm, err := testenv.Binary("kubeadm")
	if err != nil {
		return nil, err
	}
	controlPlane, err := testenv.BinDir()
	if err != nil {
		return nil, err
	}
	bin, err := testenv.ImagesBinDir()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(kubeadm, "config", "images", "list", "--kubernetes-version", version).Output()
	if err != nil {
		return nil, fmt.Errorf("kubeadm config images list: %w", err)
	}
	rootfs := nodes.Rootfs(t)
	var specs []spec
	for _, ref := range strings.Fields(string(out)) {
		repo, _, _ := strings.Cut(path.Base(ref), ":")
		var s spec
		switch repo {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
			s = spec{files: []file{binary("/usr/local/bin/"+repo, filepath.Join(controlPlane, repo))}}
		case "kube-proxy":
			s = spec{files: []file{binary("/usr/local/bin/kube-proxy", filepath.Join(bin, "kube-proxy"))}}
			s.files, err = withIptables(rootfs, s.files)
		case "etcd":
			s = spec{files: []file{binary("/usr/local/bin/etcd", filepath.Join(bin, "etcd-server"))}}
		case "coredns":
			s = spec{files: []file{binary("/coredns", filepath.Join(bin, "coredns"))}, entrypoint: []string{"/coredns"}}
		case "pause":
			s = spec{files: []file{binary("/pause", filepath.Join(bin, "pause"))}, entrypoint: []string{"/pause"}}
		default:
			return nil, fmt.Errorf("kubeadm names an image this package does not make: %s", ref)
		}
		if err != nil {
			return nil, err
		}
		s.ref = ref
		specs = append(specs, s)
	}
	podnet := spec{ref: PodnetRef, files: []file{binary("/usr/local/bin/podnet", filepath.Join(bin, "podnet"))}}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		podnet.files = append(podnet.files, binary("/opt/podnet/bin/"+p, filepath.Join(bin, "cni", p)))
	}
	probe := spec{ref: ProbeRef, files: []file{binary("/usr/local/bin/probe", filepath.Join(bin, "probe"))}, entrypoint: []string{"/usr/local/bin/probe"}}
	nginx, err := nginxSpec(t.Context(), rootfs)
	if err != nil {
		return nil, err
	}
	return append(specs, podnet, probe, nginx), nil
}

// withIptables adds iptables and ip6tables (nf_tables backend, as on the nodes) from the
// nodes' Debian root file system, with their extensions and libraries: kube-proxy runs them.
func withIptables(rootfs string, files []file) ([]file, error) {
	const multi = "/usr/sbin/xtables-nft-multi"
	files = append(files, binary(multi, filepath.Join(rootfs, multi)))
	for _, cmd := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		files = append(files, symlink("/usr/sbin/"+cmd, "xtables-nft-multi"), symlink("/usr/sbin/"+strings.Replace(cmd, "tables", "tables-nft", 1), "xtables-nft-multi"))
	}
	ext := "/usr/lib/" + gnuTriplet() + "/xtables"
	entries, err := os.ReadDir(filepath.Join(rootfs, ext))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		files = append(files, copied(ext+"/"+e.Name(), filepath.Join(rootfs, ext, e.Name()), 0o644))
	}
	return withLibraries(rootfs, files)
}

func gnuTriplet() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// nginxSpec is Debian's nginx (the nodes' release) with a configuration of its own: the
// master runs as root and binds port 80, the workers run as www-data, logs go to the
// container's output, and the page is Debian's.
func nginxSpec(ctx context.Context, rootfs string) (spec, error) {
	cache, err := cacheDir()
	if err != nil {
		return spec{}, err
	}
	mirror, suite, err := nodes.DebianMirror()
	if err != nil {
		return spec{}, err
	}
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return spec{}, err
	}
	pkgs, err := debianPackages(ctx, mirror, suite, "nginx", "nginx-common")
	if err != nil {
		return spec{}, err
	}
	tree := filepath.Join(debs, "nginx-"+pkgs["nginx"].version)
	if _, err := os.Stat(filepath.Join(tree, "usr/sbin/nginx")); err != nil {
		tmp, err := os.MkdirTemp(debs, ".unpack-")
		if err != nil {
			return spec{}, err
		}
		defer os.RemoveAll(tmp)
		for _, n := range []string{"nginx", "nginx-common"} {
			deb, err := fetchDeb(ctx, mirror, debs, pkgs[n])
			if err != nil {
				return spec{}, err
			}
			if err := unpackDeb(ctx, deb, tmp); err != nil {
				return spec{}, err
			}
		}
		if err := os.Rename(tmp, tree); err != nil {
			return spec{}, err
		}
	}
	files := []file{
		binary("/usr/sbin/nginx", filepath.Join(tree, "usr/sbin/nginx")),
		copied("/etc/nginx/mime.types", filepath.Join(tree, "etc/nginx/mime.types"), 0o644),
		copied("/usr/share/nginx/html/index.html", filepath.Join(tree, "usr/share/nginx/html/index.html"), 0o644),
		text("/etc/nginx/nginx.conf", nginxConf),
		text("/etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
		text("/etc/group", "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"),
		dir("/var/lib/nginx"), dir("/var/log/nginx"), dir("/run"), dir("/tmp"),
	}
	files, err = withLibraries(rootfs, files)
	if err != nil {
		return spec{}, err
	}
	return spec{ref: NginxRef, files: files, entrypoint: []string{"/usr/sbin/nginx", "-g", "daemon off;"}}, nil
}

const nginxConf = `# Debian's nginx in the real-cluster test's image of ` + NginxRef + `.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events {
	worker_connections 256;
}
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log /dev/stdout;
	server {
		listen 80 default_server;
		root /usr/share/nginx/html;
		index index.html;
	}
}
`

func cacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "gitsync", "images"), nil
}

// cached returns the images of specs from the cache, building the layout when the cache
// does not have this exact content.
func cached(specs []spec) (imgs []Image, built bool, err error) {
	h := sha256.New()
	fmt.Fprintln(h, recipe, runtime.GOARCH)
	for _, s := range specs {
		fmt.Fprintln(h, s.ref, s.entrypoint)
		if err := hashFiles(h, s.files); err != nil {
			return nil, false, err
		}
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Join(cache, hex.EncodeToString(h.Sum(nil))[:12])
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, false, err
	}
	unlock, err := filelock.Lock(dir + ".lock")
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		if err := build(dir, specs); err != nil {
			return nil, false, err
		}
		built = true
	}
	imgs, err = load(dir)
	return imgs, built, err
}

// refAnnotation is where an OCI layout keeps an image's name.
const refAnnotation = "org.opencontainers.image.ref.name"

func build(dir string, specs []spec) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, s := range specs {
		img, err := s.image()
		if err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refAnnotation: s.ref})); err != nil {
			return fmt.Errorf("%s: %w", s.ref, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

func (s spec) image() (v1.Image, error) {
	data, err := layerTar(s.files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Env = []string{pathEnv}
	cf.Config.Entrypoint = s.entrypoint
	return mutate.ConfigFile(img, cf)
}

func load(dir string) ([]Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var imgs []Image
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, Image{Ref: d.Annotations[refAnnotation], Image: img})
	}
	return imgs, nil
}

// Push writes imgs to the registry at host (host:port, plain HTTP) under their repository
// paths without the registry's name, as a mirror of their registries serves them:
// registry.k8s.io/kube-apiserver:v1.37.2 becomes host/kube-apiserver:v1.37.2 and
// docker.io/library/nginx:1.30.1 host/library/nginx:1.30.1.
func Push(t testing.TB, host string, imgs []Image) {
	t.Helper()
	began := time.Now()
	for _, img := range imgs {
		src, err := name.ParseReference(img.Ref)
		if err != nil {
			t.Fatalf("images: %v", err)
		}
		dst, err := name.ParseReference(host+"/"+src.Context().RepositoryStr()+":"+src.Identifier(), name.Insecure)
		if err != nil {
			t.Fatalf("images: %v", err)
		}
		if err := remote.Write(dst, img.Image, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("images: push %s as %s: %v", img.Ref, dst, err)
		}
	}
	t.Logf("images: pushed %d images to %s in %s", len(imgs), host, time.Since(began).Round(time.Millisecond))
}

// Registries are the registry hosts imgs come from, for a cluster file's mirrors.registries.
func Registries(imgs []Image) []string {
	seen := map[string]bool{}
	var out []string
	for _, img := range imgs {
		ref, err := name.ParseReference(img.Ref)
		if err != nil {
			continue
		}
		host := ref.Context().RegistryStr()
		if host == name.DefaultRegistry {
			host = "docker.io" // as containerd names Docker Hub's registry in its hosts directory
		}
		if !seen[host] {
			seen[host] = true
			out = append(out, host)
		}
	}
	return out
}

// ServeRegistry runs an OCI registry (go-containerregistry's, in memory) on addr, where
// test nodes reach it, until the test ends, and returns its host:port.
func ServeRegistry(t testing.TB, addr netip.Addr) string {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
