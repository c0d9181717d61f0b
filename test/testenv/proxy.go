package testenv

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Proxy stands between a process under test and the apiserver, on loopback.
// It authenticates as the Config it was started with, counts requests by
// Kubernetes verb (get, list, watch, create, update, patch, delete, and
// discovery for /api, /apis, /openapi and /version), and can play an
// unavailable apiserver.
type Proxy struct {
	// Kubeconfig points at the proxy and holds no credentials.
	Kubeconfig string

	mu         sync.Mutex
	byVerb     map[string]int
	byResource map[string]int // "verb resource"
	writes     []string       // "verb resource/name", in order
	writePaths []string       // "verb /api/.../name", in order
	// downAfter, when positive, is the number of requests still served
	// before every connection is dropped.
	downAfter atomic.Int64
	down      atomic.Bool
}

// StartProxy starts a proxy to cfg's apiserver that lives until the test ends.
func StartProxy(t testing.TB, cfg *rest.Config) *Proxy {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg) // adds cfg's credentials and CA
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{byVerb: map[string]int{}, byResource: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // stream watches
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.unavailable() {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		v, res, name := classify(r)
		p.mu.Lock()
		p.byVerb[v]++
		p.byResource[v+" "+res]++
		if isWrite(v) {
			p.writes = append(p.writes, v+" "+res+"/"+name)
			p.writePaths = append(p.writePaths, v+" "+r.URL.Path)
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: srv.URL}
	kc.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	kc.CurrentContext = "proxy"
	p.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *Proxy) unavailable() bool {
	if p.down.Load() {
		return true
	}
	if n := p.downAfter.Load(); n > 0 && p.downAfter.Add(-1) == 0 {
		p.down.Store(true)
	}
	return false
}

// Requests returns the number of requests so far, by verb.
func (p *Proxy) Requests() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.byVerb)
}

// RequestsByResource returns the number of requests so far, by "verb
// resource" ("list configmaps", "patch namespaces"; discovery is
// "discovery ").
func (p *Proxy) RequestsByResource() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.byResource)
}

// Writes is the number of create, update, patch and delete requests so far.
func (p *Proxy) Writes() int {
	c := p.Requests()
	return c["create"] + c["update"] + c["patch"] + c["delete"]
}

// WritesExcept is Writes without those to the given resources (such as
// "leases", which every replica of a leader election writes).
func (p *Proxy) WritesExcept(resources ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for key, c := range p.byResource {
		v, res, _ := strings.Cut(key, " ")
		if isWrite(v) && !slices.Contains(resources, res) {
			n += c
		}
	}
	return n
}

// WriteLog returns every write so far as "verb resource/name", in order.
func (p *Proxy) WriteLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writes)
}

// WritePaths returns every write so far as "verb path" (the request's URL
// path, which names the namespace), in order.
func (p *Proxy) WritePaths() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writePaths)
}

func isWrite(verb string) bool {
	return verb == "create" || verb == "update" || verb == "patch" || verb == "delete"
}

// classify returns a request's verb, the way the apiserver's audit log
// would name it, its resource ("" for discovery) and the object's name.
func classify(r *http.Request) (verb, resource, name string) {
	v := verbOf(r)
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return v, "", ""
	}
	if parts[0] == "namespaces" && len(parts) >= 3 {
		parts = parts[2:]
	}
	if len(parts) >= 2 {
		name = parts[1]
	}
	return v, parts[0], name
}

func verbOf(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) == 0 {
		return "discovery"
	}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:] // namespaced resource
	}
	collection := len(rest) == 1
	switch r.Method {
	case http.MethodGet:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			return "watch"
		case collection:
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if collection {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// FailAfter makes the proxy drop every connection once n more requests have
// been served, as if the apiserver went away mid-way.
func (p *Proxy) FailAfter(n int) { p.downAfter.Store(int64(n)) }

// Recover ends an outage started by FailAfter.
func (p *Proxy) Recover() {
	p.downAfter.Store(0)
	p.down.Store(false)
}
