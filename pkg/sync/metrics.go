package sync

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
)

// Metrics are the Prometheus series of every sync of a process. A nil
// *Metrics records nothing.
type Metrics struct {
	duration      *prometheus.HistogramVec
	objects       *prometheus.CounterVec
	revision      *prometheus.GaugeVec
	fetchDuration *prometheus.HistogramVec
	fetchErrors   *prometheus.CounterVec
}

// NewMetrics registers gitsync's series on reg (never the global registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gitsync_sync_duration_seconds",
			Help:    "Duration of syncs, by sync and result (success, noop, error).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"sync", "result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitsync_objects_total",
			Help: "Objects handled by syncs, by sync and action (created, configured, unchanged, deleted, failed).",
		}, []string{"sync", "action"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitsync_sync_revision_info",
			Help: "The revision each sync last applied in full (value 1).",
		}, []string{"sync", "revision"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gitsync_source_fetch_duration_seconds",
			Help:    "Duration of fetches (a remote-head check, plus a download when the remote moved), by source.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"source"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitsync_source_fetch_errors_total",
			Help: "Failed fetches, by source.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.objects, m.revision, m.fetchDuration, m.fetchErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one sync's outcome.
func (m *Metrics) observe(sync, source string, r *Result, err error) {
	if m == nil || r.Suspended {
		return
	}
	result := "success"
	switch {
	case err != nil:
		result = "error"
	case !r.Wrote():
		result = "noop"
	}
	m.duration.WithLabelValues(sync, result).Observe(r.Timings.Total.Seconds())
	for _, a := range apply.Actions() {
		if n := r.Counts[a]; n > 0 {
			m.objects.WithLabelValues(sync, string(a)).Add(float64(n))
		}
	}
	if phaseOf(err) == PhaseFetch {
		m.fetchErrors.WithLabelValues(source).Inc()
	} else if r.Revision != "" {
		m.fetchDuration.WithLabelValues(source).Observe(r.Timings.Fetch.Seconds())
	}
	if err == nil && r.Revision != "" {
		m.revision.DeletePartialMatch(prometheus.Labels{"sync": sync})
		m.revision.WithLabelValues(sync, r.Revision).Set(1)
	}
}
