package apply

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Labels and annotations gitsync reads or writes on applied objects.
const (
	// LabelManagedBy is set to "gitsync" on every applied object.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelSync names the sync that applied the object; prune only deletes
	// objects that still carry it.
	LabelSync = "gitsync.io/sync"
	// AnnotationDigest is a digest of the desired object as last applied.
	AnnotationDigest = "gitsync.io/digest"
	// AnnotationForce "enabled" lets gitsync take fields from other
	// server-side appliers and recreate the object on immutable-field changes.
	AnnotationForce = "gitsync.io/force"
	// AnnotationPrune "disabled" keeps an object when it leaves git; on a
	// CustomResourceDefinition, "enabled" allows pruning it.
	AnnotationPrune = "gitsync.io/prune"
)

// Options tune an Applier.
type Options struct {
	// FieldManager is the server-side apply field manager.
	FieldManager string
	// Sync is written to LabelSync; it must be a valid label value.
	Sync string
	// DefaultNamespace is given to namespaced objects rendered without one.
	// Empty makes such objects an error.
	DefaultNamespace string
	// Force takes fields from other server-side appliers and recreates
	// objects whose immutable fields changed, for every object.
	Force bool
	// DryRun sends every write as a server-side dry run: nothing changes.
	DryRun bool
	// Concurrency bounds the requests in flight within a stage.
	Concurrency int
	// Progress, if set, is called after each object is applied or pruned,
	// from any goroutine, with the step ("apply" or "prune"), the number
	// done and the total.
	Progress func(step string, done, total int)
}

// DefaultOptions returns the options gitsync uses.
func DefaultOptions() Options {
	return Options{FieldManager: "gitsync", Sync: "default", Concurrency: 32}
}

// Applier applies and prunes objects for one sync. Appliers of one Cluster
// share its clients, discovery cache and live-object cache.
type Applier struct {
	*Cluster
	opts Options
	memo *memo
}

// New returns an Applier talking to the cluster of cfg, with clients of its
// own. Appliers that run side by side should come from one Cluster instead.
func New(cfg *rest.Config, opts Options) (*Applier, error) {
	c, err := NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	return c.Applier(opts)
}

// Applier returns an Applier for one sync that uses c's connections.
func (c *Cluster) Applier(opts Options) (*Applier, error) {
	if opts.FieldManager == "" || opts.Sync == "" {
		return nil, fmt.Errorf("apply: FieldManager and Sync are required")
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	return &Applier{Cluster: c, opts: opts, memo: &memo{}}, nil
}

// Mapper returns the Applier's RESTMapper, reset when CRDs are applied.
func (a *Applier) Mapper() meta.RESTMapper { return a.mapper }

// Dynamic returns the Applier's dynamic client.
func (a *Applier) Dynamic() dynamic.Interface { return a.dynamic }
