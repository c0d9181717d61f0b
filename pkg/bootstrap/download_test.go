package bootstrap

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// releaseServer serves files by path on loopback and counts the requests.
type releaseServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]string
	requests []string
}

func serveReleases(t *testing.T, files map[string]string) *releaseServer {
	s := &releaseServer{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r.URL.Path)
		content, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(content))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *releaseServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func (s *releaseServer) release(name string) release {
	return release{URL: s.URL + "/v1/" + name, SumURL: s.URL + "/v1/" + name + ".sha256sum"}
}

func TestReleaseFetcher(t *testing.T) {
	const tarball = "the tarball"
	srv := serveReleases(t, map[string]string{
		"/v1/app.tar.gz":           tarball,
		"/v1/app.tar.gz.sha256sum": download.SHA256([]byte(tarball)) + "  app.tar.gz\n",
		// runc's: one file for every architecture, in binary mode.
		"/v1/runc.amd64":             "runc for amd64",
		"/v1/runc.sha256sum":         download.SHA256([]byte("runc for arm64")) + " *runc.arm64\n" + download.SHA256([]byte("runc for amd64")) + " *runc.amd64\n",
		"/v1/bad.tar.gz":             "a damaged download",
		"/v1/bad.tar.gz.sha256sum":   download.SHA256([]byte(tarball)) + "  bad.tar.gz\n",
		"/v1/other.tar.gz":           tarball,
		"/v1/other.tar.gz.sha256sum": download.SHA256([]byte(tarball)) + "  app.tar.gz\n",
		"/v1/nosum.tar.gz":           tarball,
	})
	dir := t.TempDir()
	f := newReleaseFetcher()
	f.cache.Dir = dir

	t.Run("downloads a file and checks it against its checksum", func(t *testing.T) {
		data, err := f.get(t.Context(), srv.release("app.tar.gz"))
		if err != nil || string(data) != tarball {
			t.Fatalf("got %q, %v", data, err)
		}
		if diff := cmp.Diff([]string{"/v1/app.tar.gz.sha256sum", "/v1/app.tar.gz"}, srv.take()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("finds the file's line in a checksum file of several", func(t *testing.T) {
		r := release{URL: srv.URL + "/v1/runc.amd64", SumURL: srv.URL + "/v1/runc.sha256sum"}
		if data, err := f.get(t.Context(), r); err != nil || string(data) != "runc for amd64" {
			t.Fatalf("got %q, %v", data, err)
		}
		srv.take()
	})
	t.Run("takes a file it has verified from the cache, without asking the server", func(t *testing.T) {
		again := newReleaseFetcher() // another run of gitsync
		again.cache.Dir = dir
		if data, err := again.get(t.Context(), srv.release("app.tar.gz")); err != nil || string(data) != tarball {
			t.Fatalf("got %q, %v", data, err)
		}
		if got := srv.take(); len(got) > 0 {
			t.Errorf("requests %q, want none", got)
		}
	})
	t.Run("downloads again what no longer matches in the cache", func(t *testing.T) {
		cached := f.cache.Path(srv.release("app.tar.gz").URL)
		if err := os.WriteFile(cached, []byte("bit rot"), 0o644); err != nil {
			t.Fatal(err)
		}
		if data, err := f.get(t.Context(), srv.release("app.tar.gz")); err != nil || string(data) != tarball {
			t.Fatalf("got %q, %v", data, err)
		}
		if got := srv.take(); len(got) != 2 {
			t.Errorf("requests %q, want the checksum and the file", got)
		}
	})

	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"refuses a file whose checksum differs", "bad.tar.gz",
			[]string{srv.URL + "/v1/bad.tar.gz: sha256 " + download.SHA256([]byte("a damaged download")), "but " + srv.URL + "/v1/bad.tar.gz.sha256sum says"}},
		{"refuses a checksum file without the file's name", "other.tar.gz",
			[]string{srv.URL + "/v1/other.tar.gz.sha256sum: no SHA-256 of other.tar.gz in it"}},
		{"fails naming the file when its checksum is not published", "nosum.tar.gz",
			[]string{srv.URL + "/v1/nosum.tar.gz: its checksum: HTTP 404 Not Found (is the version released"}},
		{"fails naming the file when there is none", "missing.tar.gz",
			[]string{srv.URL + "/v1/missing.tar.gz: its checksum: HTTP 404 Not Found (is the version released"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.get(t.Context(), srv.release(tc.file))
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("want an error saying %q, got: %v", want, err)
				}
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "*"+tc.file+"*")); len(matches) > 0 {
				t.Errorf("the cache keeps %q", matches)
			}
		})
	}

	t.Run("keeps nothing without a cache directory", func(t *testing.T) {
		nocache := newReleaseFetcher()
		nocache.cache.Dir = ""
		if _, err := nocache.get(t.Context(), srv.release("app.tar.gz")); err != nil {
			t.Fatal(err)
		}
		srv.take()
		if _, err := nocache.get(t.Context(), srv.release("app.tar.gz")); err != nil {
			t.Fatal(err)
		}
		if got := srv.take(); len(got) != 2 {
			t.Errorf("requests %q, want both files again", got)
		}
	})
}

func TestReleaseFetcherDownloadsOncePerURL(t *testing.T) {
	const tarball = "the tarball"
	srv := serveReleases(t, map[string]string{
		"/v1/app.tar.gz":           tarball,
		"/v1/app.tar.gz.sha256sum": download.SHA256([]byte(tarball)) + "  app.tar.gz\n",
	})
	f := newReleaseFetcher()
	f.cache.Dir = t.TempDir()
	var wg sync.WaitGroup
	for range 5 { // five nodes applying at once
		wg.Go(func() {
			if _, err := f.get(t.Context(), srv.release("app.tar.gz")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := srv.take(); len(got) != 2 {
		t.Errorf("requests %q, want one download", got)
	}
}
