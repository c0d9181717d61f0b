package gitserver

import (
	"crypto/subtle"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
)

// Options configures StartHTTP. With both fields empty the server asks for no
// credentials.
type Options struct {
	Username, Password string // HTTP basic auth every request must carry
	// Addr is the address to listen on, such as test nodes' gateway, where pods
	// reach it; default 127.0.0.1.
	Addr netip.Addr
}

// HTTPServer serves every repository under a root directory over git's smart
// HTTP protocol on 127.0.0.1 (or Options.Addr). A repository Root()/name is at URL + "/" + name.
type HTTPServer struct {
	URL        string
	requests   atomic.Int64
	sent       atomic.Int64
	protocolV0 atomic.Bool
}

// StartHTTP serves the repositories under root with git http-backend, behind
// HTTP basic auth when opts has credentials (wrong or missing ones get 401).
// The server stops when the test ends.
func StartHTTP(t testing.TB, root string, opts Options) *HTTPServer {
	t.Helper()
	requireGit(t)
	backend := &cgi.Handler{
		Path:   gitExecPath(t, "git-http-backend"),
		Env:    append(gitEnv(), "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
		Stderr: testLog{t},
		Logger: log.New(testLog{t}, "", 0), // such as a client closing a response it has read enough of
	}
	s := &HTTPServer{}
	srv := httptest.NewUnstartedServer(s.count(opts.authorize(s.protocol(backend))))
	if opts.Addr.IsValid() {
		l, err := net.Listen("tcp", netip.AddrPortFrom(opts.Addr, 0).String())
		if err != nil {
			t.Fatalf("gitserver: %v", err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Requests is how many HTTP requests the server has received so far,
// including refused ones. An ls-remote is one request; a fetch is at least two.
func (s *HTTPServer) Requests() int { return int(s.requests.Load()) }

// BytesSent is how many bytes of response bodies the server has sent so far:
// what a client on a slow link waits for.
func (s *HTTPServer) BytesSent() int64 { return s.sent.Load() }

// testLog sends a server's diagnostics to the test log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("gitserver: %s", p)
	return len(p), nil
}

func (s *HTTPServer) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.requests.Add(1)
		next.ServeHTTP(countingWriter{w, &s.sent}, req)
	})
}

// countingWriter adds the size of everything written to n.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// DropProtocolHeader makes the server drop the Git-Protocol header of every
// request from now on, before git sees it, as a proxy or a server older
// than git 2.18 does: clients then speak git protocol version 0.
func (s *HTTPServer) DropProtocolHeader() { s.protocolV0.Store(true) }

func (s *HTTPServer) protocol(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if s.protocolV0.Load() {
			req.Header.Del("Git-Protocol")
		}
		next.ServeHTTP(w, req)
	})
}

func (o Options) authorize(next http.Handler) http.Handler {
	if o.Username == "" && o.Password == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !o.match(req.BasicAuth()) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (o Options) match(user, password string, ok bool) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(o.Username)) == 1
	passwordOK := subtle.ConstantTimeCompare([]byte(password), []byte(o.Password)) == 1
	return ok && userOK && passwordOK
}
