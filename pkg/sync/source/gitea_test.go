package source_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitea"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// TestVersion2WithGitea checks a Source against a real hosting service,
// Gitea (built from source by make tools-all), through a proxy that records
// each request: after the first listing asked for the server's
// capabilities, every check and fetch is one version 2 command, and the
// revisions are right.
func TestVersion2WithGitea(t *testing.T) {
	forge := gitea.Start(t)
	forge.CreateRepo(t, "cluster")
	repo := gitserver.NewRepo(t)
	first := repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	forge.Push(t, repo.Dir(), "cluster")
	log := &requestLog{}
	proxy := httptest.NewServer(log.record(forge.URL))
	t.Cleanup(proxy.Close)

	s := newSource(t, source.Options{URL: proxy.URL + "/" + forge.User + "/cluster.git", Ref: "main",
		Auth: source.Auth{Username: forge.User, Password: forge.Token}})
	if art := fetch(t, s); art.Revision != first {
		t.Fatalf("first fetch: %s, want %s", art.Revision, first)
	}
	log.take() // the first listing asks for the capabilities
	second := repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
	forge.Push(t, repo.Dir(), "cluster")
	if art := fetch(t, s); art.Revision != second || art.Cached {
		t.Errorf("after a push: %+v, want %s fetched", art, second)
	}
	if art := fetch(t, s); art.Revision != second || !art.Cached {
		t.Errorf("checked again: %+v, want %s kept", art, second)
	}
	want := []string{"POST command=ls-refs", "POST command=fetch", "POST command=ls-refs"}
	if got := log.take(); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// requestLog records each request a proxy passes on: its method and, for a
// POST, its first pkt-line's payload.
type requestLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *requestLog) record(target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		line := req.Method
		if req.Method == http.MethodPost {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			if len(body) > 4 {
				first, _, _ := strings.Cut(string(body[4:]), "\n")
				line += " " + first
			}
		} else {
			line += " " + req.URL.Path
		}
		l.mu.Lock()
		l.lines = append(l.lines, line)
		l.mu.Unlock()
		proxy.ServeHTTP(w, req)
	})
}

// take returns the requests recorded since the last take.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	l.lines = nil
	return lines
}
