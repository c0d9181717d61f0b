package aptrepo

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// basePath mirrors pkgs.k8s.io's, so that a repository's URL has the shape
// gitsync builds from the real one: <base>/v1.MINOR/deb/.
const basePath = "/core:/stable:"

// Server serves repositories over HTTP until the test ends.
type Server struct {
	// URL is the base of the repositories, what replaces
	// https://pkgs.k8s.io/core:/stable: in the cluster file's
	// mirrors.kubernetes.
	URL string

	files    map[string]file
	mu       sync.Mutex
	requests []Request
}

// Request is one request the server answered.
type Request struct {
	From   netip.Addr
	Path   string
	Status int
}

// Serve renders repos and serves them on addr, at a port of the system's
// choosing: the gateway of a test cluster, say, which the nodes reach, or a
// loopback address, which only this machine reaches.
func Serve(t testing.TB, addr netip.Addr, repos ...Repository) *Server {
	t.Helper()
	s := &Server{files: map[string]file{}}
	for _, r := range repos {
		files, err := r.files()
		if err != nil {
			t.Fatalf("aptrepo: %s: %v", r.Minor, err)
		}
		for name, f := range files {
			s.files[basePath+"/"+r.Minor+"/deb/"+name] = f
		}
	}
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("aptrepo: %v", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("aptrepo: serve: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + l.Addr().String() + basePath
	return s
}

// ServeHTTP serves GET and HEAD of the repositories' files; everything else
// is not found.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	f, ok := s.files[r.URL.Path]
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
	case !ok:
		http.NotFound(rec, r)
	case f.path != "":
		http.ServeFile(rec, r, f.path)
	default:
		http.ServeContent(rec, r, "", time.Time{}, bytes.NewReader(f.content))
	}
	from, _ := netip.ParseAddrPort(r.RemoteAddr)
	s.mu.Lock()
	s.requests = append(s.requests, Request{From: from.Addr().Unmap(), Path: strings.TrimPrefix(r.URL.Path, basePath), Status: rec.status})
	s.mu.Unlock()
}

// Requests returns the requests answered so far, oldest first; paths are
// below the base, "/v1.37/deb/InRelease".
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
