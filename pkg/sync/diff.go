package sync

import (
	"context"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// Diff reports how a sync of the newest revision would change the cluster,
// including what prune would delete, without writing anything.
func (s *Syncer) Diff(ctx context.Context) (*Result, []apply.ObjectDiff, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Result{Name: s.opts.Name, Namespace: s.opts.Namespace, DryRun: true}
	rec, err := s.store.Load(ctx)
	if err != nil {
		return r, nil, &Error{Phase: PhaseInventory, Err: err}
	}
	art, err := timed(&r.Timings.Fetch, func() (source.Artifact, error) { return s.source.Fetch(ctx) })
	if err != nil {
		return r, nil, &Error{Phase: PhaseFetch, Err: err}
	}
	r.Revision = art.Revision
	if err := s.loadKeys(ctx); err != nil {
		return r, nil, &Error{Phase: PhaseRender, Err: err}
	}
	out, err := timed(&r.Timings.Render, func() (*render.Result, error) {
		gen, _, err := s.renderChart(ctx, r, art) // hooks are not the sync's objects: no diff
		if err != nil {
			return nil, err
		}
		return s.render(ctx, art, gen)
	})
	if err != nil {
		return r, nil, &Error{Phase: PhaseRender, Err: err}
	}
	defer out.Kept()
	r.Digest, r.Objects = out.Digest, out.Len()
	if err := out.Decode(); err != nil {
		return r, nil, &Error{Phase: PhaseRender, Err: err}
	}
	plan, err := s.applier.Plan(out.Objects)
	if err != nil {
		return r, nil, &Error{Phase: PhaseApply, Err: err}
	}
	stale := rec.Objects.Diff(plan.IDs())
	if !s.opts.Prune {
		stale = nil
	}
	diffs, err := s.applier.Diff(ctx, out.Objects, stale)
	if err != nil {
		return r, nil, &Error{Phase: PhaseApply, Err: err}
	}
	return r, diffs, nil
}
