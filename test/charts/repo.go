package charts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"
)

// RepoOptions configures StartRepo. With both fields empty the repository asks
// for no credentials.
type RepoOptions struct {
	Username, Password string // HTTP basic auth every request must carry
}

// Repo is a classic HTTP chart repository, as `helm repo index` and a static
// web server make one: URL/index.yaml lists the charts, URL/<name>-<version>.tgz
// are their archives.
type Repo struct {
	URL string // http://127.0.0.1:port, what `helm repo add` and --repo take

	log      requestLog
	mu       sync.Mutex
	entries  map[string][]*indexEntry // by chart name, newest version first
	archives map[string][]byte        // by file name
	updated  time.Time
}

// indexFile is index.yaml as `helm repo index` writes it (helm's
// repo/v1.IndexFile): apiVersion v1, the entries by chart name, newest version
// first, and when the index was generated.
type indexFile struct {
	APIVersion string                   `json:"apiVersion"`
	Entries    map[string][]*indexEntry `json:"entries"`
	Generated  time.Time                `json:"generated"`
}

// indexEntry is one chart version in index.yaml (helm's repo/v1.ChartVersion):
// the archive's Chart.yaml, inline, with where to download it, relative to the
// index, the SHA-256 of the archive in hex and when it was added.
type indexEntry struct {
	*chart.Metadata
	URLs    []string  `json:"urls"`
	Created time.Time `json:"created"`
	Digest  string    `json:"digest"`
}

// StartRepo serves an empty chart repository on 127.0.0.1, behind HTTP basic
// auth when opts has credentials (wrong or missing ones get 401), until the
// test ends. Add puts charts in it.
func StartRepo(t testing.TB, opts RepoOptions) *Repo {
	t.Helper()
	r := &Repo{entries: map[string][]*indexEntry{}, archives: map[string][]byte{}, updated: time.Now().UTC()}
	srv := httptest.NewServer(r.log.record(basicAuth(opts.Username, opts.Password, http.HandlerFunc(r.serve))))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Add packages the chart directory dir at version (see Package), publishes the
// archive and lists it in index.yaml, replacing what the repository had for
// that chart and version, and returns the archive.
func (r *Repo) Add(t testing.TB, dir, version string) []byte {
	t.Helper()
	archive := Package(t, dir, version)
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("charts: load the archive of %s at %s: %v", dir, version, err)
	}
	sum := sha256.Sum256(archive)
	file := archiveName(ch.Metadata)
	now := time.Now().UTC()
	entry := &indexEntry{Metadata: ch.Metadata, URLs: []string{file}, Created: now, Digest: hex.EncodeToString(sum[:])}

	r.mu.Lock()
	defer r.mu.Unlock()
	name := ch.Metadata.Name
	versions := slices.DeleteFunc(r.entries[name], func(e *indexEntry) bool { return e.Version == version })
	r.entries[name] = append(versions, entry)
	slices.SortStableFunc(r.entries[name], newestFirst)
	r.archives[file] = archive
	r.updated = now
	return archive
}

func newestFirst(a, b *indexEntry) int {
	return semver.MustParse(b.Version).Compare(semver.MustParse(a.Version))
}

// Requests returns the path of every request the repository has received so
// far, in order, refused ones too: "/index.yaml", "/app-1.0.0.tgz".
func (r *Repo) Requests() []string { return r.log.list() }

// Index returns index.yaml as the repository serves it now.
func (r *Repo) Index(t testing.TB) []byte {
	t.Helper()
	data, err := r.index()
	if err != nil {
		t.Fatalf("charts: index.yaml: %v", err)
	}
	return data
}

func (r *Repo) index() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return yaml.Marshal(indexFile{APIVersion: "v1", Entries: r.entries, Generated: r.updated})
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	file := strings.TrimPrefix(req.URL.Path, "/")
	if file == "index.yaml" {
		data, err := r.index()
		if err != nil {
			http.Error(w, fmt.Sprintf("index.yaml: %v", err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-yaml")
		http.ServeContent(w, req, file, time.Time{}, bytes.NewReader(data))
		return
	}
	r.mu.Lock()
	archive, ok := r.archives[file]
	r.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, req, file, time.Time{}, bytes.NewReader(archive))
}
