package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// settle waits until the control plane has finished what the last step set
// off: the controller-manager makes a ReplicaSet for each new Deployment and
// an EndpointSlice for each Service, the garbage collector deletes what
// belonged to deleted ones, and each writes status. Until then that work
// takes the API server's time from whatever runs next, so each tool's step
// starts on a quiet control plane. (It does not make the cold step fair on one
// plane: the second tool still writes into a store that holds the first
// one's objects; compareApart gives each tool a plane of its own.)
//
// Settled is when the API server served at most quietWrites writes (from
// anyone: its own counter, apiserver_request_total) in quietFor, as read from
// its /metrics; the Leases of the controllers and kwok's nodes renew a few
// times a second.
func settle(b *testing.B, admin *rest.Config) {
	b.Helper()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		b.Fatal(err)
	}
	const quietFor, quietWrites, limit = 2 * time.Second, 10, 10 * time.Minute
	start := time.Now()
	last, at := writes(b, cs), time.Now()
	for {
		time.Sleep(quietFor / 4)
		now := writes(b, cs)
		switch {
		case now-last > quietWrites:
			last, at = now, time.Now()
		case time.Since(at) >= quietFor:
			b.Logf("the control plane settled in %.1f s", time.Since(start).Seconds())
			return
		case time.Since(start) > limit:
			b.Fatalf("the control plane was still writing %s after the step", limit)
		}
	}
}

// writes is the number of write requests the API server has served.
func writes(b *testing.B, cs kubernetes.Interface) float64 {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.Context())
	if err != nil {
		b.Fatalf("the API server's /metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		b.Fatalf("the API server's /metrics: %v", err)
	}
	total := 0.0
	for _, m := range families["apiserver_request_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "verb" {
				switch l.GetValue() {
				case "GET", "LIST", "WATCH", "CONNECT":
				default:
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}
