package webhook

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// PathPrefix is where Handler's endpoints live: mount it there,
// mux.Handle(webhook.PathPrefix, r.Handler()), without stripping the prefix.
const PathPrefix = "/hooks/"

// DefaultMaxBody is the largest body accepted when Options.MaxBody is 0.
// GitHub caps its payloads at 25 MB, but a push of a handful of commits is a
// few KiB; only pushes of thousands of commits come near 1 MiB, and they are
// refused (the next interval picks them up).
const DefaultMaxBody int64 = 1 << 20

// Options configures a Receiver. New rejects options that cannot work,
// naming the field.
type Options struct {
	// Secrets holds each provider's secret: the HMAC key of GitHub, Gitea
	// and generic, the token of GitLab. A provider left out has its endpoint
	// off; an empty secret is an error, never "no verification". At least one
	// provider is required.
	Secrets map[Provider][]byte
	// MaxBody is the largest body read, in bytes; a larger one is refused
	// with 413 and never parsed. 0 means DefaultMaxBody.
	MaxBody int64
	// OnPush is called once for every verified push, before the response is
	// sent, and possibly from several requests at once. It must not block
	// long: hand the push over (to a non-blocking trigger) and return.
	// Required.
	OnPush func(Push)
	// Registerer, if set, gets the gitsync_webhook_requests_total counter.
	// Nothing is ever registered globally. A second Receiver on the same
	// Registerer shares the counter.
	Registerer prometheus.Registerer
}

// Receiver verifies and parses webhook requests. It is safe for concurrent
// use and holds no state between requests.
type Receiver struct {
	secrets map[Provider][]byte
	maxBody int64
	onPush  func(Push)
	metrics *metrics // nil without a Registerer
}

// New validates opts and registers the metrics. Its error is one line
// naming the field to fix and never quotes a secret.
func New(opts Options) (*Receiver, error) {
	r := &Receiver{secrets: map[Provider][]byte{}, maxBody: opts.MaxBody, onPush: opts.OnPush}
	if err := r.configure(opts); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	m, err := newMetrics(opts.Registerer, slices.Sorted(maps.Keys(r.secrets)))
	if err != nil {
		return nil, fmt.Errorf("webhook: registering metrics: %w", err)
	}
	r.metrics = m
	return r, nil
}

func (r *Receiver) configure(opts Options) error {
	if opts.OnPush == nil {
		return errors.New("OnPush is required")
	}
	if r.maxBody < 0 {
		return errors.New("MaxBody must not be negative (0 means 1 MiB)")
	}
	if r.maxBody == 0 {
		r.maxBody = DefaultMaxBody
	}
	return r.configureSecrets(opts.Secrets)
}

// configureSecrets copies the secrets, so that the caller's map can change.
func (r *Receiver) configureSecrets(secrets map[Provider][]byte) error {
	if len(secrets) == 0 {
		return errors.New("Secrets is empty: give at least one provider (github, gitlab, gitea, generic) a secret")
	}
	for _, p := range slices.Sorted(maps.Keys(secrets)) {
		switch {
		case !p.known():
			return fmt.Errorf("Secrets[%q]: unknown provider: use github, gitlab, gitea or generic", p)
		case len(secrets[p]) == 0:
			return fmt.Errorf("Secrets[%q] is empty: every endpoint needs a secret; leave the provider out to turn its endpoint off", p)
		}
		r.secrets[p] = slices.Clone(secrets[p])
	}
	return nil
}

// Handler serves POST PathPrefix+<provider> for every provider; see the
// package doc for the status codes.
func (r *Receiver) Handler() http.Handler { return http.HandlerFunc(r.serve) }
