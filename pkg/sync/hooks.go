package sync

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/sync/chart"
)

// hookPlan is what a sync does with its chart's hooks, the way Argo CD runs
// Helm's: nothing unless the render differs from the one whose hooks last
// ran (an install, or an upgrade); then the pre-install (or pre-upgrade)
// hooks before the apply, each weight applied and awaited in turn, and the
// post-install (or post-upgrade) hooks once the rest is applied and
// healthy. Hooks are not in the inventory: a hook left behind is replaced
// at the next run (before-hook-creation) or stays, as with helm install.
type hookPlan struct {
	pre, post []chart.Hook
	digest    string // the render they run for
	install   bool
}

func (p *hookPlan) preEvent() string {
	if p.install {
		return chart.PreInstall
	}
	return chart.PreUpgrade
}

func (p *hookPlan) postEvent() string {
	if p.install {
		return chart.PostInstall
	}
	return chart.PostUpgrade
}

// planHooks returns the hooks to run for a render of digest; nil if none.
// The sync installs when it owns nothing yet, else it upgrades.
func (s *Syncer) planHooks(hooks []chart.Hook, status []byte, owned int, digest string) *hookPlan {
	if len(hooks) == 0 || s.opts.DryRun {
		return nil
	}
	var old Status
	_ = json.Unmarshal(status, &old) // an unreadable status: run them
	if old.HooksDigest == digest {
		return nil
	}
	p := &hookPlan{digest: digest, install: owned == 0}
	for _, h := range hooks {
		if h.Runs(p.preEvent()) {
			p.pre = append(p.pre, h)
		}
		if h.Runs(p.postEvent()) {
			p.post = append(p.post, h)
		}
	}
	return p
}

// runHooks runs hooks of event, a weight at a time: the objects left by an
// earlier run deleted where the policy says so, the hooks applied, then
// awaited until healthy, then deleted if the policy says so. The first
// failure stops the sync.
func (s *Syncer) runHooks(ctx context.Context, r *Result, event string, hooks []chart.Hook) error {
	for len(hooks) > 0 {
		n := 1
		for n < len(hooks) && hooks[n].Weight == hooks[0].Weight {
			n++
		}
		if err := s.runWeight(ctx, r, event, hooks[:n]); err != nil {
			return &Error{Phase: PhaseHooks, Err: err}
		}
		hooks = hooks[n:]
	}
	return nil
}

func (s *Syncer) runWeight(ctx context.Context, r *Result, event string, hooks []chart.Hook) error {
	objs := make([]*unstructured.Unstructured, len(hooks))
	for i, h := range hooks {
		objs[i] = &unstructured.Unstructured{}
		if err := yaml.Unmarshal(h.Manifest, &objs[i].Object); err != nil {
			return terminalError{fmt.Errorf("%s hook %s: %w", event, h.Path, err)}
		}
	}
	plan, err := s.applier.Plan(objs) // the ids, namespaces defaulted, in order
	if err != nil {
		return fmt.Errorf("%s hooks: %w", event, err)
	}
	var before, succeeded, failed object.ObjMetadataSet
	for i, id := range plan.IDs() {
		h := hooks[i]
		if h.DeleteBefore {
			before = append(before, id)
		}
		if h.DeleteSucceeded {
			succeeded = append(succeeded, id)
		}
		if h.DeleteFailed {
			failed = append(failed, id)
		}
		r.Hooks = append(r.Hooks, event+" "+id.GroupKind.Kind+" "+id.Name)
	}
	if err := s.applier.Remove(ctx, before); err != nil {
		return fmt.Errorf("%s hooks: delete the earlier run's: %w", event, err)
	}
	applied, err := s.applier.ApplyPlan(ctx, plan)
	if err == nil {
		err = applied.Err()
	}
	if err != nil {
		return fmt.Errorf("%s hooks: %w", event, err)
	}
	if _, err := s.health.Wait(ctx, live(applied), s.opts.Timeout); err != nil {
		if rerr := s.applier.Remove(ctx, failed); rerr != nil {
			err = fmt.Errorf("%w (and deleting them: %v)", err, rerr)
		}
		return fmt.Errorf("%s hooks: %w", event, err)
	}
	if err := s.applier.Remove(ctx, succeeded); err != nil {
		return fmt.Errorf("%s hooks: delete the succeeded: %w", event, err)
	}
	return nil
}
