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
	"github.com/gitsync-io/gitsync/pkg/webhook"
)

// server is the HTTP side of `gitsync run`: probes, metrics and webhooks.
// Standby replicas serve it too; they just do not sync.
type server struct {
	addr     string
	secret   []byte
	registry *prometheus.Registry
	metrics  *gsync.Metrics
	manager  *gsync.Manager
	leading  atomic.Bool
}

func newServer(addr string, secret []byte) (*server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := gsync.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &server{addr: addr, secret: secret, registry: reg, metrics: m}, nil
}

// start listens and serves until the returned stop is called.
func (s *server) start(ctx context.Context) (stop func(), err error) {
	if s.addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	if s.secret != nil {
		hooks, err := s.webhooks(ctx)
		if err != nil {
			return nil, err
		}
		mux.Handle(webhook.PathPrefix, hooks)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log := logr.FromContextOrDiscard(ctx)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "http server stopped")
		}
	}()
	log.Info("serving", "addr", ln.Addr().String(), "webhooks", s.secret != nil)
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
	secrets := map[webhook.Provider][]byte{}
	for _, p := range webhook.Providers() {
		secrets[p] = s.secret
	}
	r, err := webhook.New(webhook.Options{
		Secrets:    secrets,
		Registerer: s.registry,
		OnPush: func(p webhook.Push) {
			if !s.leading.Load() {
				return // a standby fetches nothing; the leader got the same push
			}
			n := s.manager.TriggerRepository(func(url, ref string) bool { return p.Matches(url, branchOf(ref)) })
			log.Info("push", "provider", p.Provider, "ref", p.Ref, "syncs", n)
		},
	})
	if err != nil {
		return nil, err
	}
	return r.Handler(), nil
}

// branchOf is the branch a source follows: its ref without refs/heads/, ""
// (any) for the default branch, a tag or a commit.
func branchOf(ref string) string {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return b
	}
	if ref == "" || len(ref) == 40 || strings.HasPrefix(ref, "refs/") {
		return ""
	}
	return ref
}
