package webhook

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Result is what a request came to. It decides the status code and is the
// result label of gitsync_webhook_requests_total.
type Result string

// The results, in the order the checks run.
const (
	NotFound         Result = "not_found"          // 404: the path names no provider
	Disabled         Result = "disabled"           // 404: the provider has no secret
	MethodNotAllowed Result = "method_not_allowed" // 405: not POST
	Unauthorized     Result = "unauthorized"       // 401: no signature or token
	TooLarge         Result = "too_large"          // 413: body over MaxBody
	Forbidden        Result = "forbidden"          // 403: wrong signature or token
	BadRequest       Result = "bad_request"        // 400: verified but unusable
	Ignored          Result = "ignored"            // 200: verified, not a push
	Accepted         Result = "accepted"           // 202: verified push, OnPush called
)

func (r Result) String() string { return string(r) }

// Status is the HTTP status code of the result.
func (r Result) Status() int {
	switch r {
	case NotFound, Disabled:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case Unauthorized:
		return http.StatusUnauthorized
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Forbidden:
		return http.StatusForbidden
	case BadRequest:
		return http.StatusBadRequest
	case Ignored:
		return http.StatusOK
	case Accepted:
		return http.StatusAccepted
	}
	return http.StatusInternalServerError
}

// unknownProvider is the provider label of requests to a path that names
// none, so that strangers cannot grow the label set.
const unknownProvider = "unknown"

// metrics counts requests. A nil *metrics counts nothing.
type metrics struct {
	requests *prometheus.CounterVec
}

// newMetrics registers the counter on reg, or reuses the one a previous
// Receiver registered there. The enabled providers' accepted series start at
// zero, so that rate() sees the first push.
func newMetrics(reg prometheus.Registerer, enabled []Provider) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitsync_webhook_requests_total",
		Help: "Webhook requests by provider and result (accepted, ignored, unauthorized, forbidden, too_large, bad_request, method_not_allowed, disabled, not_found).",
	}, []string{"provider", "result"})
	requests, err := register(reg, requests)
	if err != nil {
		return nil, err
	}
	for _, p := range enabled {
		requests.WithLabelValues(string(p), string(Accepted))
	}
	return &metrics{requests: requests}, nil
}

// register registers c on reg, or returns the counter of the same
// description already registered there.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *metrics) count(provider string, result Result) {
	if m != nil {
		m.requests.WithLabelValues(provider, string(result)).Inc()
	}
}
