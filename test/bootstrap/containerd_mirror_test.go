package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// mirror serves the release tree tools/build.sh makes (.cache/containerd: the containerd
// tarball, runc, and their checksum files, laid out as mirrors.containerd expects) on
// loopback, where gitsync downloads from.
type mirror struct {
	URL string
	// Version is containerd's, without the v: 2.4.2.
	Version string
	dir     string

	mu       sync.Mutex
	requests []string
}

func serveMirror(t *testing.T) *mirror {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "containerd")
	tarballs, _ := filepath.Glob(filepath.Join(dir, "v*", "containerd-*-linux-"+runtime.GOARCH+".tar.gz"))
	if len(tarballs) != 1 {
		t.Fatalf("want one containerd release in %s, found %q: run `make tools-all` in the gitsync checkout to build it", dir, tarballs)
	}
	m := &mirror{Version: strings.TrimPrefix(filepath.Base(filepath.Dir(tarballs[0])), "v"), dir: dir}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.requests = append(m.requests, r.URL.Path)
		m.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// Requests are the paths asked for so far.
func (m *mirror) Requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

// runcVersion is the version of the runc in the tree.
func (m *mirror) runcVersion(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(m.dir, "runc", "v*"))
	if len(dirs) != 1 {
		t.Fatalf("want one runc release in %s, found %q", m.dir, dirs)
	}
	return strings.TrimPrefix(filepath.Base(dirs[0]), "v")
}
