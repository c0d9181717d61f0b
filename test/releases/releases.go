// Package releases serves the containerd and runc releases tools/build.sh builds
// (.cache/containerd: the containerd tarball, runc, and their checksum files, laid out
// as a cluster file's mirrors.containerd expects) on loopback, where gitsync downloads
// them from before it uploads them to the nodes.
package releases

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// Mirror is the served release tree.
type Mirror struct {
	URL string
	// Version is containerd's, without the v: 2.4.2.
	Version string
	dir     string

	mu       sync.Mutex
	requests []string
}

// Serve serves the tree until the test ends; it fails the test, naming the make target,
// when the tree does not hold exactly one containerd release.
func Serve(t testing.TB) *Mirror {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "containerd")
	tarballs, _ := filepath.Glob(filepath.Join(dir, "v*", "containerd-*-linux-"+runtime.GOARCH+".tar.gz"))
	if len(tarballs) != 1 {
		t.Fatalf("want one containerd release in %s, found %q: run `make tools-all` in the gitsync checkout to build it", dir, tarballs)
	}
	m := &Mirror{Version: strings.TrimPrefix(filepath.Base(filepath.Dir(tarballs[0])), "v"), dir: dir}
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
func (m *Mirror) Requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

// RuncVersion is the version of the runc in the tree, without the v.
func (m *Mirror) RuncVersion(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(m.dir, "runc", "v*"))
	if len(dirs) != 1 {
		t.Fatalf("want one runc release in %s, found %q", m.dir, dirs)
	}
	return strings.TrimPrefix(filepath.Base(dirs[0]), "v")
}
