// Package ui serves the status page of a running gitsync: an overview of
// the syncs, a page per sync with its objects, and a stream of changes that
// keeps both current in the browser. HTML, CSS and a little JavaScript are
// embedded; the pages work without the JavaScript, which only keeps them
// live and filters as one types.
//
// Nothing secret reaches a page: a sync's objects are listed by kind and
// name only, never their data, and sources appear without credentials.
package ui

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/klauspost/compress/gzhttp"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// Syncs is what the page shows and acts on: a running gsync.Manager.
type Syncs interface {
	Views() []gsync.View
	View(namespace, name string) (gsync.View, bool)
	Objects(namespace, name string) ([]gsync.ObjectView, error)
	Changes() (<-chan struct{}, func())
	Suspend(ctx context.Context, namespace, name string, suspend bool) error
	RequestSync(ctx context.Context, namespace, name string) error
	Diff(ctx context.Context, namespace, name string) (revision string, diffs []apply.ObjectDiff, err error)
}

// Options configure the page.
type Options struct {
	// Syncs is where the views come from.
	Syncs Syncs
	// TokenFile holds the token that lets a viewer act (sync now, suspend,
	// resume) and, unless Anonymous, look. It is read at every check, so a
	// Secret mounted there may appear or rotate after the start. Empty: no
	// one may act.
	TokenFile string
	// Anonymous lets viewers without the token look (never act): only for
	// an address on loopback.
	Anonymous bool
}

// Prefix is where the page lives on the server.
const Prefix = "/ui/"

//go:embed assets
var assets embed.FS

// Handler returns the page's handler, to be mounted at Prefix.
func Handler(opts Options) (http.Handler, error) {
	if opts.Syncs == nil {
		return nil, errors.New("ui: no syncs")
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	h := &handler{opts: opts, pages: parsePages()}
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"static/", cacheable(http.StripPrefix(Prefix+"static/", http.FileServerFS(static))))
	mux.HandleFunc("GET "+Prefix+"{$}", h.reader(h.overview))
	mux.HandleFunc("GET "+Prefix+"syncs/{namespace}/{name}", h.reader(h.sync))
	mux.HandleFunc("GET "+Prefix+"syncs/{namespace}/{name}/diff", h.reader(h.diff))
	mux.HandleFunc("GET "+Prefix+"api/syncs", h.reader(h.apiSyncs))
	mux.HandleFunc("GET "+Prefix+"api/syncs/{namespace}/{name}", h.reader(h.apiSync))
	mux.HandleFunc("GET "+Prefix+"events", h.reader(h.events))
	mux.HandleFunc("GET "+Prefix+"login", h.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", h.login)
	mux.HandleFunc("POST "+Prefix+"logout", h.logout)
	mux.HandleFunc("POST "+Prefix+"syncs/{namespace}/{name}/{action}", h.act)
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "refused: a request from another site may not act on this page", http.StatusForbidden)
	}))
	// Pages compress well (a sync of 1000 objects: 156 KiB, 5 KiB gzipped);
	// the event stream is left alone, so that each event leaves at once.
	compress, err := gzhttp.NewWrapper(gzhttp.ExceptContentTypes([]string{"text/event-stream"}))
	if err != nil {
		return nil, err
	}
	return compress(secureHeaders(csrf.Handler(mux))), nil
}

type handler struct {
	opts  Options
	pages pages
}

// Loopback reports whether addr (host:port) listens on loopback only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// access is what a request may do.
type access struct {
	Look, Act bool
	// Tokens: a token is configured, so one can log in.
	Tokens bool
}

func (h *handler) access(r *http.Request) access {
	token, _ := h.token()
	a := access{Look: h.opts.Anonymous, Tokens: token != nil}
	if token != nil && presented(r, token) {
		a.Look, a.Act = true, true
	}
	return a
}

// token reads the token file; nil if there is none (yet).
func (h *handler) token() ([]byte, error) {
	if h.opts.TokenFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(h.opts.TokenFile)
	if err != nil {
		return nil, err
	}
	token := []byte(strings.TrimSpace(string(data)))
	if len(token) == 0 {
		return nil, fmt.Errorf("%s is empty", h.opts.TokenFile)
	}
	return token, nil
}

// presented reports whether r carries the token: as a bearer token, or as
// the session cookie login set. Both compare in constant time.
func presented(r *http.Request, token []byte) bool {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		a, b := sha256.Sum256([]byte(bearer)), sha256.Sum256(token)
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	got, err := hex.DecodeString(c.Value)
	return err == nil && hmac.Equal(got, session(token))
}

// session is what the cookie holds: derived from the token, so the browser
// never stores the token itself, and rotating the token ends every session.
func session(token []byte) []byte {
	mac := hmac.New(sha256.New, token)
	mac.Write([]byte("gitsync status page session"))
	return mac.Sum(nil)
}

const cookieName = "gitsync_ui"

// reader serves next to viewers who may look; others are sent to log in
// (pages) or refused (the API and the stream).
func (h *handler) reader(next func(http.ResponseWriter, *http.Request, access)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := h.access(r)
		if a.Look {
			next(w, r, a)
			return
		}
		if strings.HasPrefix(r.URL.Path, Prefix+"api/") || r.URL.Path == Prefix+"events" {
			http.Error(w, "unauthorized: send the token as Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, Prefix+"login?next="+r.URL.EscapedPath(), http.StatusSeeOther)
	}
}

func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "login", page{Title: "Log in", Access: h.access(r), Next: safeNext(r.URL.Query().Get("next"))})
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	token, err := h.token()
	next := safeNext(r.FormValue("next"))
	if token == nil {
		w.WriteHeader(http.StatusForbidden)
		h.render(w, r, "login", page{Title: "Log in", Next: next, Problem: noToken(h.opts.TokenFile, err)})
		return
	}
	given := sha256.Sum256([]byte(strings.TrimSpace(r.FormValue("token"))))
	want := sha256.Sum256(token)
	if subtle.ConstantTimeCompare(given[:], want[:]) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, r, "login", page{Title: "Log in", Next: next, Problem: "That is not the token."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: hex.EncodeToString(session(token)), Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// noToken explains why no one can log in.
func noToken(file string, err error) string {
	if file == "" {
		return "This page takes no token: start gitsync run with --ui-token-file to sync, suspend and resume from here."
	}
	return fmt.Sprintf("The token file cannot be read (%v): write the token there, or create the Secret mounted there.", err)
}

// safeNext keeps a redirect after login on this page.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// act runs an action on a sync: only for a viewer with the token, and only
// from this page (the cross-origin check wraps every POST).
func (h *handler) act(w http.ResponseWriter, r *http.Request) {
	if !h.access(r).Act {
		http.Error(w, "unauthorized: log in with the token to sync, suspend or resume", http.StatusUnauthorized)
		return
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if _, ok := h.opts.Syncs.View(ns, name); !ok {
		http.NotFound(w, r)
		return
	}
	var err error
	switch r.PathValue("action") {
	case "sync":
		err = h.opts.Syncs.RequestSync(r.Context(), ns, name)
	case "suspend", "resume":
		err = h.opts.Syncs.Suspend(r.Context(), ns, name, r.PathValue("action") == "suspend")
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, syncPath(ns, name), http.StatusSeeOther)
}

// secureHeaders keeps the page to its own origin: no script, style, image
// or connection from anywhere else, no framing, no referrer to forges.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// cacheable lets browsers keep the static files for a while.
func cacheable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}
