package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	testTag     = "registry.example.org/gitsync/gitsync:test"
	testVersion = "v1.2.3-test"
	testCommit  = "0123abc"
)

var testCreated = time.Unix(1767225600, 0).UTC() // 2026-01-01

// build runs the command as `go run ./hack/image` would, writing into dir.
func build(t *testing.T, dir string, extra ...string) (string, error) {
	t.Helper()
	out := filepath.Join(dir, "gitsync-image.tar")
	args := append([]string{"--out", out, "--tag", testTag, "--goarch", runtime.GOARCH,
		"--version", testVersion, "--commit", testCommit,
		"--created", fmt.Sprint(testCreated.Unix())}, extra...)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	t.Logf("go run ./hack/image %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return out, err
}

// built is the image every read-only test inspects, built once.
var built struct {
	once sync.Once
	path string
	err  error
}

func image(t *testing.T) (string, v1.Image) {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "gitsync-image-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path, built.err = build(t, dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	tag, err := name.NewTag(testTag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(built.path, &tag)
	if err != nil {
		t.Fatalf("read back %s as %s: %v", built.path, testTag, err)
	}
	return built.path, img
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

func TestImageConfig(t *testing.T) {
	_, img := image(t)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("runs /gitsync as nonroot 65532 from /", func(t *testing.T) {
		want := v1.Config{
			Entrypoint: []string{"/gitsync"},
			User:       "65532:65532",
			WorkingDir: "/",
			Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels:     cfg.Config.Labels, // checked below
		}
		if diff := cmp.Diff(want, cfg.Config); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
	})
	t.Run("carries the OCI labels", func(t *testing.T) {
		want := map[string]string{
			"org.opencontainers.image.source":   "https://github.com/gitsync-io/gitsync",
			"org.opencontainers.image.version":  testVersion,
			"org.opencontainers.image.revision": testCommit,
			"org.opencontainers.image.title":    "gitsync",
		}
		if diff := cmp.Diff(want, cfg.Config.Labels); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})
	t.Run("is for linux on the target architecture", func(t *testing.T) {
		if got := cfg.OS + "/" + cfg.Architecture; got != "linux/"+runtime.GOARCH {
			t.Errorf("platform %s, want linux/%s", got, runtime.GOARCH)
		}
	})
	t.Run("is created at the given time, as is its history", func(t *testing.T) {
		if !cfg.Created.Equal(testCreated) {
			t.Errorf("created %s, want %s", cfg.Created, testCreated)
		}
		if len(cfg.History) != 2 {
			t.Fatalf("%d history entries, want one per layer (2)", len(cfg.History))
		}
		for _, h := range cfg.History {
			if !h.Created.Equal(testCreated) {
				t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created, testCreated)
			}
		}
	})
}

// file is one entry of the image's flattened file system.
type file struct {
	Type     string // "dir" or "file"
	Mode     string
	UID, GID int
}

func TestImageFileSystem(t *testing.T) {
	_, img := image(t)
	files, contents := flatten(t, img)

	t.Run("holds exactly the binary, users, CA bundle, home and /tmp", func(t *testing.T) {
		want := map[string]file{
			"etc":                               {"dir", "drwxr-xr-x", 0, 0},
			"etc/group":                         {"file", "-rw-r--r--", 0, 0},
			"etc/passwd":                        {"file", "-rw-r--r--", 0, 0},
			"etc/ssl":                           {"dir", "drwxr-xr-x", 0, 0},
			"etc/ssl/certs":                     {"dir", "drwxr-xr-x", 0, 0},
			"etc/ssl/certs/ca-certificates.crt": {"file", "-rw-r--r--", 0, 0},
			"gitsync":                           {"file", "-rwxr-xr-x", 0, 0},
			"home":                              {"dir", "drwxr-xr-x", 0, 0},
			"home/nonroot":                      {"dir", "drwx------", 65532, 65532},
			"tmp":                               {"dir", "dtrwxrwxrwx", 0, 0},
		}
		if diff := cmp.Diff(want, files); diff != "" {
			t.Errorf("file system (-want +got):\n%s", diff)
		}
	})
	t.Run("has no shell", func(t *testing.T) {
		for p := range files {
			switch path.Base(p) {
			case "sh", "bash", "ash", "dash", "busybox":
				t.Errorf("/%s is a shell", p)
			}
		}
	})
	t.Run("has the build machine's CA bundle", func(t *testing.T) {
		want, err := os.ReadFile(debianCABundle)
		if err != nil {
			t.Fatalf("%v (apt-get install -y ca-certificates)", err)
		}
		if got := contents["etc/ssl/certs/ca-certificates.crt"]; !bytes.Equal(got, want) {
			t.Errorf("the CA bundle in the image (%d bytes) differs from %s (%d bytes)", len(got), debianCABundle, len(want))
		}
	})
	t.Run("names nonroot 65532 in passwd and group", func(t *testing.T) {
		for f, want := range map[string]string{
			"etc/passwd": "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
			"etc/group":  "nonroot:x:65532:\n",
		} {
			if !strings.Contains(string(contents[f]), want) {
				t.Errorf("/%s lacks %q:\n%s", f, want, contents[f])
			}
		}
	})
	t.Run("stamps every file with the creation time", func(t *testing.T) {
		rc := mutate.Extract(img)
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if !h.ModTime.Equal(testCreated) {
				t.Errorf("/%s modified %s, want %s", h.Name, h.ModTime, testCreated)
			}
		}
	})
	t.Run("runs the static binary it holds", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "gitsync")
		if err := os.WriteFile(bin, contents["gitsync"], 0o755); err != nil {
			t.Fatal(err)
		}
		assertStatic(t, bin)
		out, err := exec.CommandContext(t.Context(), bin, "version", "-o", "json").CombinedOutput()
		if err != nil {
			t.Fatalf("gitsync version from the image: %v\n%s", err, out)
		}
		var v struct{ Version, Commit string }
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("gitsync version -o json: %v\n%s", err, out)
		}
		if v.Version != testVersion || v.Commit != testCommit {
			t.Errorf("gitsync version says %s (commit %s), want %s (commit %s)", v.Version, v.Commit, testVersion, testCommit)
		}
	})
}

// flatten lists the image's file system as the container sees it, with the
// contents of its regular files.
func flatten(t *testing.T, img v1.Image) (map[string]file, map[string][]byte) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files, contents := map[string]file{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, contents
		} else if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")
		f := file{Type: "file", Mode: h.FileInfo().Mode().String(), UID: h.Uid, GID: h.Gid}
		switch h.Typeflag {
		case tar.TypeDir:
			f.Type = "dir"
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			contents[p] = data
		default:
			f.Type = fmt.Sprintf("type %q", h.Typeflag)
		}
		files[p] = f
	}
}

// assertStatic fails unless bin is an ELF executable without a program
// interpreter: it needs no libc, so it runs FROM SCRATCH.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("/gitsync is not an ELF executable: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/gitsync is dynamically linked (has PT_INTERP); it must be built with CGO_ENABLED=0")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("/gitsync has a symbol table; it must be linked with -s -w")
	}
}

func TestImageIsReproducible(t *testing.T) {
	first, img := image(t)
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	o, err := DefaultOptions(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	o.Out, o.Tags, o.GOARCH = filepath.Join(t.TempDir(), "again.tar"), []string{testTag}, runtime.GOARCH
	o.Version, o.Commit, o.Created = testVersion, testCommit, testCreated
	res, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want {
		t.Errorf("two builds of one checkout gave digests %s and %s", want, res.Digest)
	}
	tag, _ := name.NewTag(testTag)
	again, err := tarball.ImageFromPath(res.Out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Digest(); err != nil || got != res.Digest {
		t.Errorf("Build reported digest %s; its tarball reads back as %s (%v)", res.Digest, got, err)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(res.Out)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one checkout gave different tarballs (%d and %d bytes)", len(a), len(b))
	}
	if int64(len(b)) != res.Size {
		t.Errorf("Build reported %d bytes; the tarball has %d", res.Size, len(b))
	}
}

func TestImageRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fails with the fix when the CA bundle is missing", []string{"--ca-certs", "/nonexistent/ca-certificates.crt"}, "apt-get install -y ca-certificates"},
		{"refuses a tag that is not name:tag", []string{"--tag", "Not A Tag"}, `--tag "Not A Tag"`},
		{"refuses a version that would break -ldflags", []string{"--version", "1.0 beta"}, "--version"},
		{"refuses a creation time that is not Unix seconds", []string{"--created", "yesterday"}, "want seconds since 1970"},
		{"refuses a positional argument", []string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := build(t, dir, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %d files in the output directory after failing", len(entries))
			}
		})
	}
}
