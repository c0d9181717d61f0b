package charts

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"sync"
)

// requestLog records the path of every request a server receives.
type requestLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *requestLog) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, req.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.paths)
}

// basicAuth refuses, with 401, every request without user and password;
// with both empty it lets everything through.
func basicAuth(user, password string, next http.Handler) http.Handler {
	if user == "" && password == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		passwordOK := subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
		if !ok || !userOK || !passwordOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}
