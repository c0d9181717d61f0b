package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/pkg/sync/health"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// Syncer runs the pipeline for one sync. Its methods are safe to call from
// one goroutine at a time.
type Syncer struct {
	opts     Options
	source   fetcher
	renderer *render.Renderer
	charts   *chart.Renderer // nil unless the sync renders a chart
	cluster  *apply.Cluster
	applier  *apply.Applier
	health   *health.Checker
	store    *inventory.Store
	shared   *shared // the connections it uses: its own (New), or its Manager's
	census   *census // for the first recovery; nil unless a Manager made it
	ran      bool    // the first run in this process is over

	mu       sync.Mutex
	retry    retryPolicy // when failures run again; set by NewLoop
	stalled  *stall      // the revision whose terminal error stalls the sync
	failures int         // consecutive failures a retry may fix
	sent     []string    // notifications sent during this sync, for its status

	// onApplying, if set, hears that a sync goes on past its fetch to apply
	// a revision: a new one, or one not yet applied in full.
	onApplying func(revision string)
}

// New returns a Syncer applying to the cluster of cfg, with connections of
// its own. Client-side rate limiting is off unless cfg sets its own (see
// withClientRates).
func New(cfg *rest.Config, opts Options) (*Syncer, error) {
	if err := opts.validate(); err != nil {
		return nil, terminalError{err}
	}
	sh, err := newShared(cfg, 0, nil)
	if err != nil {
		return nil, err
	}
	src, err := newSource(opts.Source)
	if err != nil {
		return nil, err
	}
	return newSyncer(opts, sh, src, render.New(opts.renderOptions()))
}

// newSyncer returns a Syncer using the connections of sh.
func newSyncer(opts Options, sh *shared, src fetcher, renderer *render.Renderer) (*Syncer, error) {
	cluster, err := sh.clusterFor(opts)
	if err != nil {
		return nil, err
	}
	a, err := cluster.Applier(apply.Options{
		FieldManager:     "gitsync",
		Sync:             opts.label(),
		DefaultNamespace: opts.TargetNamespace,
		Force:            opts.Force,
		DryRun:           opts.DryRun,
		Concurrency:      opts.Concurrency,
		Progress:         progress(opts.Progress),
	})
	if err != nil {
		return nil, err
	}
	selector := labels.SelectorFromSet(labels.Set{apply.LabelSync: opts.label()})
	return &Syncer{
		opts:     opts,
		source:   src,
		renderer: renderer,
		charts:   opts.charts(),
		cluster:  cluster,
		applier:  a,
		health:   health.New(a.Dynamic(), a.Mapper(), selector),
		store:    inventory.NewStore(sh.client.CoreV1(), opts.Namespace, opts.Name),
		shared:   sh,
	}, nil
}

// Once makes the cluster equal to the newest revision: fetch → render →
// apply → prune → health, then records the inventory and status. Nothing is
// pruned unless the render and every apply succeeded. The error is an *Error
// naming the failed phase.
func (s *Syncer) Once(ctx context.Context) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.firstRunOver()
	start := time.Now()
	r := &Result{Name: s.opts.Name, Namespace: s.opts.Namespace, DryRun: s.opts.DryRun}
	rec, err := s.store.Load(ctx)
	if err != nil {
		err = &Error{Phase: PhaseInventory, Err: err}
		s.remember(r, err)
		return r, err
	}
	if rec.Suspended && !s.opts.DryRun {
		r.Suspended = true
		return r, s.save(ctx, rec, suspendedStatus(rec.Status), nil)
	}
	err = s.reconcile(ctx, r, rec)
	r.count()
	r.Timings.Total = time.Since(start)
	return r, s.record(ctx, r, rec, err)
}

// firstRunOver notes that the first run in this process is over: later
// recoveries of a lost inventory list the cluster afresh.
func (s *Syncer) firstRunOver() {
	if !s.ran && s.census != nil {
		s.census.ran()
	}
	s.ran = true
}

// Wait records that the sync does not run yet, and why (a dependency that is
// not Ready). It writes only when the reason changes.
func (s *Syncer) Wait(ctx context.Context, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.store.Load(ctx)
	if err != nil {
		return &Error{Phase: PhaseInventory, Err: err}
	}
	if rec.Suspended { // it would not run anyway: that is what to say
		return s.save(ctx, rec, suspendedStatus(rec.Status), nil)
	}
	logr.FromContextOrDiscard(ctx).Info("waiting", "sync", s.opts.Namespace+"/"+s.opts.Name, "reason", reason)
	return s.save(ctx, rec, s.waitingStatus(rec.Status, reason), nil)
}

func (s *Syncer) reconcile(ctx context.Context, r *Result, rec *inventory.Record) error {
	release, err := s.shared.acquire(ctx)
	if err != nil {
		return &Error{Phase: PhaseFetch, Err: err}
	}
	defer release() // the health wait below releases it earlier
	art, err := timed(&r.Timings.Fetch, func() (source.Artifact, error) { return s.source.Fetch(ctx) })
	if err != nil {
		var srcErr *source.Error
		if errors.As(err, &srcErr) && srcErr.Revision != "" { // refused: the revision stalls, unapplied
			r.Source, r.Revision = srcErr.URL, srcErr.Revision
		}
		return &Error{Phase: PhaseFetch, Err: err}
	}
	r.Source, r.Revision = art.URL, art.Revision
	if art.Signature != nil {
		r.SignedBy = art.Signature.String()
	}
	s.progressing(rec.Status, r)
	if st := s.stalledOn(art.Revision); st != nil {
		r.Digest, r.Objects, r.Applied = st.digest, st.objects, st.applied
		return st.err // retrying the same revision cannot help
	}
	if s.onApplying != nil && appliesRevision(rec.Status, r.Revision) {
		s.onApplying(r.Revision)
	}
	if err := s.loadKeys(ctx); err != nil {
		return &Error{Phase: PhaseRender, Err: err}
	}
	var hooks []chart.Hook
	out, err := timed(&r.Timings.Render, func() (*render.Result, error) {
		gen, hs, err := s.renderChart(ctx, r, art)
		if err != nil {
			return nil, err
		}
		hooks = hs
		return s.render(ctx, art, gen)
	})
	if err != nil {
		return &Error{Phase: PhaseRender, Err: err}
	}
	defer out.Kept() // the run ends once its render is kept on disk
	r.Digest, r.Objects = out.Digest, out.Len()
	r.Cached, r.RenderCached = art.Cached && out.Cached, out.Cached
	hp := s.planHooks(hooks, rec.Status, len(rec.Objects), out.Digest)
	plan, err := s.track(ctx, r, rec, out)
	if err != nil {
		return err
	}
	if hp != nil {
		if err := s.runHooks(ctx, r, hp.preEvent(), hp.pre); err != nil {
			return err // nothing else applied, nothing pruned
		}
	}
	applied, err := timed(&r.Timings.Apply, func() (*apply.ChangeSet, error) { return s.applier.ApplyPlan(ctx, plan) })
	r.Applied = applied
	s.takeoverEvents(r, applied)
	if err == nil {
		err = applied.Err()
	}
	if err != nil {
		return &Error{Phase: PhaseApply, Err: err} // no prune after a failed apply
	}
	applyIDs := applied.IDs(apply.Created, apply.Configured, apply.Unchanged)
	if err := s.prune(ctx, r, rec, applyIDs); err != nil {
		return err
	}
	if s.opts.Wait && !s.opts.DryRun { // a dry run's objects do not exist to become ready
		release() // waiting for health is watching: it need not hold back other syncs
		statuses, err := timed(&r.Timings.Health, func() ([]health.ObjectStatus, error) {
			return s.health.Wait(ctx, live(applied), s.opts.Timeout)
		})
		r.Health = append(statuses, knownHealth(applied)...)
		if err != nil {
			return &Error{Phase: PhaseHealth, Err: err}
		}
	}
	s.keepKnown(ctx, applied)
	if hp == nil {
		return nil
	}
	if err := s.runHooks(ctx, r, hp.postEvent(), hp.post); err != nil {
		return err
	}
	r.HooksDigest = hp.digest
	return nil
}

// appliesRevision reports whether a sync of revision is more than a check: the
// revision is new, or the last sync did not end Ready.
func appliesRevision(status []byte, revision string) bool {
	var old Status
	_ = json.Unmarshal(status, &old)
	return revision != old.LastAppliedRevision || !old.Ready
}

// render renders the sync's path of the snapshot art, with gen (nil for
// none), from the snapshot's blobs.
func (s *Syncer) render(ctx context.Context, art source.Artifact, gen *render.Generated) (*render.Result, error) {
	read := func(name string) ([]byte, error) { return s.source.ReadFile(art, name) }
	return s.renderer.RenderTree(ctx, render.Tree{Blobs: art.Blobs, Read: read}, s.opts.Path, gen)
}

// renderChart renders the sync's chart, if it has one, with the cluster's
// version and API versions as .Capabilities.
func (s *Syncer) renderChart(ctx context.Context, r *Result, art source.Artifact) (*render.Generated, []chart.Hook, error) {
	if s.charts == nil {
		return nil, nil, nil
	}
	dir, err := s.source.Checkout(art) // Helm loads a chart from a directory
	if err != nil {
		return nil, nil, err
	}
	version, apis, err := s.cluster.Capabilities()
	if err != nil {
		return nil, nil, err
	}
	spec := *s.opts.Helm
	if spec.Namespace == "" {
		spec.Namespace = s.opts.TargetNamespace
	}
	out, err := s.charts.Render(ctx, dir, spec, chart.Capabilities{KubeVersion: version, APIVersions: apis})
	if err != nil {
		return nil, nil, err
	}
	r.Chart = out.Chart + " " + out.Version
	return &render.Generated{Name: "chart " + out.Chart + " (release " + out.Release + ")", Data: out.Manifests}, out.Hooks, nil
}

// plan plans the apply of out. A sync run once was rendered lazily
// (render.Options.Lazy): what it kept of its last run (Known) spares decoding
// the objects it left up to date. A sync that runs on plans what its render
// hands out again, the same objects, as it did last time (PlanShared).
func (s *Syncer) plan(out *render.Result) (*apply.Plan, error) {
	if out.Docs == nil {
		return s.applier.PlanShared(out.Objects)
	}
	docs := make([]apply.Lazy, len(out.Docs))
	for i, d := range out.Docs {
		docs[i] = d
	}
	return s.applier.PlanKnown(docs, s.readKnown())
}

// track validates the objects (no request is made for bad input), rebuilds
// a missing inventory from the cluster and, before anything is written, adds
// their ids to the inventory: an interrupted apply leaves nothing untracked.
func (s *Syncer) track(ctx context.Context, r *Result, rec *inventory.Record, out *render.Result) (*apply.Plan, error) {
	plan, err := s.plan(out)
	if err != nil {
		return nil, &Error{Phase: PhaseApply, Err: err}
	}
	if rec.Missing() {
		if err := s.recoverInventory(ctx, r, rec, plan); err != nil {
			return nil, err
		}
	}
	ids := plan.IDs()
	if len(ids) == 0 && len(rec.Objects) > 0 && !s.opts.AllowEmpty {
		return nil, &Error{Phase: PhaseRender, Err: terminalError{fmt.Errorf(
			"the render produced no objects but the sync owns %d; refusing to prune them all (pass --allow-empty if that is intended)", len(rec.Objects))}}
	}
	if s.opts.DryRun {
		return plan, nil
	}
	union := rec.Objects.Union(ids)
	if union.Equal(rec.Objects) {
		return plan, nil
	}
	prev := rec.Objects
	rec.Objects = union
	if err := s.saveInventory(ctx, rec, out); err != nil {
		rec.Objects = prev
		return nil, &Error{Phase: PhaseInventory, Err: err}
	}
	return plan, nil
}

// prune deletes what left git. The inventory keeps what was applied plus
// whatever failed to delete.
func (s *Syncer) prune(ctx context.Context, r *Result, rec *inventory.Record, applied object.ObjMetadataSet) error {
	stale := rec.Objects.Diff(applied)
	keep := applied
	defer func() {
		if !s.opts.DryRun {
			rec.Objects = keep
		}
	}()
	if !s.opts.Prune || len(stale) == 0 {
		return nil
	}
	pruned, _ := timed(&r.Timings.Prune, func() (*apply.ChangeSet, error) { return s.applier.Prune(ctx, stale), nil })
	r.Pruned = pruned
	keep = keep.Union(pruned.IDs(apply.Failed))
	if err := pruned.Err(); err != nil {
		return &Error{Phase: PhasePrune, Err: err}
	}
	return nil
}

// saveInventory writes the inventory. If the sync's namespace does not exist
// yet but the repository declares it, that Namespace is applied first.
func (s *Syncer) saveInventory(ctx context.Context, rec *inventory.Record, out *render.Result) error {
	err := s.store.Save(ctx, rec)
	if !apierrors.IsNotFound(err) {
		return err
	}
	if err := out.Decode(); err != nil {
		return err
	}
	for _, o := range out.Objects {
		if o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1" && o.GetName() == s.opts.Namespace {
			cs, aerr := s.applier.Apply(ctx, []*unstructured.Unstructured{o})
			if aerr == nil {
				aerr = cs.Err()
			}
			if aerr != nil {
				return aerr
			}
			return s.store.Save(ctx, rec)
		}
	}
	return fmt.Errorf("namespace %q for the sync's inventory does not exist: create it, or add it to the repository: %w", s.opts.Namespace, err)
}

// record is the one place a sync's outcome goes out: the stall and retry
// memory, one log line, metrics, and (unless this is a dry run) the inventory
// and status in the cluster, with an Event when the status changed.
func (s *Syncer) record(ctx context.Context, r *Result, rec *inventory.Record, err error) error {
	s.remember(r, err)
	s.log(ctx, r, err)
	s.opts.Metrics.observe(s.opts.Name, s.opts.SourceName, r, err)
	if s.opts.DryRun {
		return err
	}
	var old Status
	_ = json.Unmarshal(rec.Status, &old) // an unreadable status is replaced
	notes, sent := s.outcome(old, r, err, ctx.Err() != nil)
	next := s.nextStatus(rec.Status, r, len(rec.Objects), err, sent)
	serr := s.save(ctx, rec, next, func() { s.event(r, err) })
	for _, e := range notes {
		s.opts.Notifier.Notify(e)
	}
	if serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// save stores rec with status; changed runs if the status is new. The save
// happens even when ctx was cancelled (SIGTERM), so the outcome is kept.
func (s *Syncer) save(ctx context.Context, rec *inventory.Record, status []byte, changed func()) error {
	isNew := string(status) != string(rec.Status)
	rec.Status = status
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.store.Save(saveCtx, rec); err != nil {
		return &Error{Phase: PhaseInventory, Err: err}
	}
	if isNew && changed != nil {
		changed()
	}
	return nil
}

func (s *Syncer) log(ctx context.Context, r *Result, err error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("sync", s.opts.Namespace+"/"+s.opts.Name, "revision", short(r.Revision))
	t := r.Timings
	keys := []any{"objects", r.Objects, "renderCached", r.RenderCached, "seconds", t.Total.Seconds(),
		"fetch", t.Fetch.Seconds(), "render", t.Render.Seconds(), "apply", t.Apply.Seconds(), "prune", t.Prune.Seconds(), "health", t.Health.Seconds()}
	for _, a := range apply.Actions() {
		keys = append(keys, string(a), r.Counts[a])
	}
	if err != nil {
		log.Error(err, "sync failed", append(keys, "phase", phaseOf(err), "terminal", IsTerminal(err), "retryIn", r.RetryIn.String())...)
	} else {
		log.Info("synced", keys...)
	}
}

// live returns the live objects of cs to wait for: all but those known
// Current (apply.Change.Known).
func live(cs *apply.ChangeSet) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, c := range cs.Changes {
		if c.Live != nil && !c.Known {
			out = append(out, c.Live)
		}
	}
	return out
}

// knownHealth is the health of the objects of cs known Current.
func knownHealth(cs *apply.ChangeSet) []health.ObjectStatus {
	var out []health.ObjectStatus
	for _, c := range cs.Changes {
		if c.Known {
			out = append(out, health.Unchanged(c.Live))
		}
	}
	return out
}

func phaseOf(err error) Phase {
	var e *Error
	if errors.As(err, &e) {
		return e.Phase
	}
	return ""
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// progress adapts a Progress callback to the applier's.
func progress(f func(Phase, int, int)) func(string, int, int) {
	if f == nil {
		return nil
	}
	return func(step string, done, total int) { f(Phase(step), done, total) }
}
