package sync

import (
	"encoding/json"
	"time"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/health"
)

// Result is what one run of the pipeline did.
type Result struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Source is the repository URL, without credentials.
	Source   string `json:"source,omitempty"`
	Revision string `json:"revision,omitempty"`
	// SignedBy is who signed the revision, when the source verifies
	// signatures: "Alice <alice@example.com> (openpgp key 1A2B…)".
	SignedBy string `json:"signedBy,omitempty"`
	// Chart is the Helm chart rendered, "name version", when the sync has one.
	Chart string `json:"chart,omitempty"`
	// Hooks are the chart hooks this sync ran, "event Kind name", in order;
	// HooksDigest is the render they ran for, once all ran.
	Hooks       []string `json:"hooks,omitempty"`
	HooksDigest string   `json:"-"`
	Digest      string   `json:"digest,omitempty"`
	// Cached is true when neither the fetch nor the render had new input;
	// RenderCached when the render reused its last result (no input file of
	// the sync changed, even if the revision did).
	Cached       bool `json:"cached"`
	RenderCached bool `json:"renderCached"`
	// Objects is the number of objects the render produced.
	Objects int `json:"objects"`
	// Applied and Pruned hold one change per object; nil if the phase did
	// not run.
	Applied *apply.ChangeSet      `json:"-"`
	Pruned  *apply.ChangeSet      `json:"-"`
	Health  []health.ObjectStatus `json:"-"`
	Counts  map[apply.Action]int  `json:"counts"`
	Timings Timings               `json:"timings"`
	DryRun  bool                  `json:"dryRun,omitempty"`
	// Suspended: the sync is suspended (gitsync suspend); nothing ran.
	Suspended bool `json:"suspended,omitempty"`
	// Recovery is set when the inventory was missing and was rebuilt from
	// the objects carrying the sync's label.
	Recovery *Recovery `json:"recovery,omitempty"`
	// RetryIn is how long a Loop waits before it tries again after a failure
	// a retry may fix; 0 after a success, a terminal error or a one-shot sync.
	RetryIn time.Duration `json:"-"`
}

// Recovery is an inventory rebuilt from the cluster.
type Recovery struct {
	// Objects is the number of objects found with the sync's label.
	Objects int `json:"objects"`
	// Unlisted names the resource types ("roles.rbac.authorization.k8s.io")
	// the sync could not list: objects of theirs that left git are not
	// pruned.
	Unlisted []string `json:"unlisted,omitempty"`
}

// Timings is the wall time of each phase.
type Timings struct {
	Fetch, Render, Apply, Prune, Health, Total time.Duration
}

// MarshalJSON writes each phase in seconds.
func (t Timings) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]float64{
		"fetch": t.Fetch.Seconds(), "render": t.Render.Seconds(), "apply": t.Apply.Seconds(),
		"prune": t.Prune.Seconds(), "health": t.Health.Seconds(), "total": t.Total.Seconds(),
	})
}

// count fills Counts from the change sets: apply actions as they are, and
// prune's deletions as "deleted" (skipped prunes are not counted).
func (r *Result) count() {
	r.Counts = map[apply.Action]int{}
	if r.Applied != nil {
		for a, n := range r.Applied.Counts() {
			r.Counts[a] += n
		}
	}
	if r.Pruned != nil {
		for _, a := range []apply.Action{apply.Deleted, apply.Failed} {
			if n := r.Pruned.Count(a); n > 0 {
				r.Counts[a] += n
			}
		}
	}
}

// Wrote reports whether the sync changed any object.
func (r *Result) Wrote() bool {
	return r.Counts[apply.Created]+r.Counts[apply.Configured]+r.Counts[apply.Deleted] > 0
}

// timed runs f and adds its duration to d.
func timed[T any](d *time.Duration, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	*d += time.Since(start)
	return v, err
}
