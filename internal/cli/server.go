package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/ui"
	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// server is the HTTP side of `gitsync run`: probes, metrics and webhooks.
// Standby replicas serve it too; they just do not sync.
type server struct {
	addr     string
	ui       uiOptions
	secrets  map[webhook.Provider][]byte // nil: webhooks off
	registry *prometheus.Registry
	metrics  *gsync.Metrics
	manager  syncRunner
	leading  atomic.Bool
}

// syncRunner is what the server asks of the syncs this process runs: a
// Manager, or Shards.
type syncRunner interface {
	Ready() bool
	TriggerRepository(ctx context.Context, match func(url, ref string) bool) (int, error)
	RequestRepository(ctx context.Context, match func(url, ref string) bool) (int, error)
}

func newServer(addr string, secrets map[webhook.Provider][]byte) (*server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := gsync.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &server{addr: addr, secrets: secrets, registry: reg, metrics: m}, nil
}

// start listens and serves until the returned stop is called.
func (s *server) start(ctx context.Context) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	page, err := s.ui.handler(ctx, s.manager)
	if err != nil {
		return nil, err
	}
	if page != nil && s.ui.addr != "" {
		mux := http.NewServeMux()
		mux.Handle(ui.Prefix, page)
		mux.Handle("/{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
		stopUI, err := serve(ctx, s.ui.addr, mux, "status page")
		if err != nil {
			return nil, err
		}
		stops = append(stops, stopUI)
		page = nil
	}
	if s.addr == "" {
		return stop, nil
	}
	mux := http.NewServeMux()
	if page != nil {
		mux.Handle(ui.Prefix, page)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	if s.secrets != nil {
		hooks, err := s.webhooks(ctx)
		if err != nil {
			return nil, err
		}
		mux.Handle(webhook.PathPrefix, hooks)
	}
	stopHTTP, err := serve(ctx, s.addr, mux, "probes, metrics", "webhooks", len(s.secrets), "statusPage", page != nil)
	if err != nil {
		stop()
		return nil, err
	}
	stops = append(stops, stopHTTP)
	return stop, nil
}

// serve listens on addr and serves h until the returned stop is called.
func serve(ctx context.Context, addr string, h http.Handler, what string, keys ...any) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	// Shutting down ends the handlers' contexts, so that the status page's
	// event streams close instead of holding the shutdown to its deadline.
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	srv.RegisterOnShutdown(cancel)
	log := logr.FromContextOrDiscard(ctx)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "http server stopped", "serving", what)
		}
	}()
	log.Info("serving", append([]any{"addr", ln.Addr().String(), "what", what}, keys...)...)
	return func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}, nil
}

// readyz: a leader is ready once its syncs run; a standby is ready as soon
// as it serves, since it is there to take over.
func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.leading.Load() && (s.manager == nil || !s.manager.Ready()) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// webhooks hands every verified push to the syncs of that repository.
func (s *server) webhooks(ctx context.Context) (http.Handler, error) {
	log := logr.FromContextOrDiscard(ctx)
	r, err := webhook.New(webhook.Options{
		Secrets:    s.secrets,
		Registerer: s.registry,
		OnPush: func(p webhook.Push) {
			match := func(url, ref string) bool { return pushMatches(p, url, ref) }
			// A push for syncs this replica does not run is passed on in
			// one write, to a ConfigMap their replicas watch. The sender
			// waits for the answer (GitHub for 10 s), so within 5 s or not.
			pass, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if s.leading.Load() {
				n, err := s.manager.TriggerRepository(pass, match)
				if err != nil {
					log.Error(err, "the other shards' syncs wait for their next interval")
				}
				log.Info("push", "provider", p.Provider, "ref", p.Ref, "syncs", n)
				return
			}
			// The Service sent the push to a standby: hand it to the leader.
			n, err := s.manager.RequestRepository(pass, match)
			if err != nil {
				log.Error(err, "passing a push on to the leader failed; the next interval picks it up")
			}
			log.Info("push passed on to the leader", "provider", p.Provider, "ref", p.Ref, "syncs", n)
		},
	})
	if err != nil {
		return nil, err
	}
	return r.Handler(), nil
}

// pushMatches tells whether a push concerns a source of url and ref: the
// default branch or a commit (any push to the repository may move them), a
// full ref exactly, or a short name as a branch or a tag.
func pushMatches(p webhook.Push, url, ref string) bool {
	switch {
	case ref == "" || isCommit(ref):
		return p.Matches(url, "")
	case strings.HasPrefix(ref, "refs/"):
		return p.Matches(url, ref)
	}
	return p.Matches(url, ref) || p.Matches(url, "refs/tags/"+ref)
}

func isCommit(ref string) bool {
	if len(ref) != 40 {
		return false
	}
	for _, c := range ref {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
