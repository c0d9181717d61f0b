package apply

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Apply makes the cluster hold objs. Bad input (an unknown kind, a namespaced
// object without a namespace, a duplicate) is reported for every object
// before any request is made, and nothing is applied. Otherwise objects are
// applied in stages (CRDs and Namespaces, then other cluster-scoped objects,
// then namespaced ones), in parallel within a stage; objects already as
// desired are not written. An object labelled as another sync's fails
// without a write unless forced (Options.Force or the annotation
// gitsync.io/force: enabled); a forced one is taken over and its Change
// names the former owner. Per-object failures are in the ChangeSet (see
// ChangeSet.Err); the error is for failures that stop the whole apply.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) (*ChangeSet, error) {
	plan, err := a.Plan(objs)
	if err != nil {
		return nil, err
	}
	return a.ApplyPlan(ctx, plan)
}

// Plan is a validated set of objects, ready to apply once.
type Plan struct {
	targets []*target
	known   Known // see Know
}

// Plan checks objs as Apply would, without writing anything. Use it to learn
// the ids the objects will have (namespaces defaulted) before applying them.
func (a *Applier) Plan(objs []*unstructured.Unstructured) (*Plan, error) {
	return a.plan(objs, false)
}

// PlanShared is Plan of objects that nobody modifies afterwards (a sync's
// render, render.Options.Shared). An object given again, the same pointer,
// is not prepared again, and one found up to date is not compared again
// while its live object keeps its resourceVersion: a commit changes a few of
// a sync's objects, and its render hands out the others again.
func (a *Applier) PlanShared(objs []*unstructured.Unstructured) (*Plan, error) {
	return a.plan(objs, true)
}

// Lazy is a desired object as it was rendered, decoded only if the applier
// needs it (PlanKnown); render.Doc is one.
type Lazy interface {
	// Head returns what names the object, as rendered.
	Head() (apiVersion, kind, namespace, name string)
	// JSON returns the object as rendered: the same object, the same bytes.
	JSON() []byte
	// Object returns the object decoded, which the applier does not modify.
	Object() (*unstructured.Unstructured, error)
}

// PlanKnown is Plan of objects given as rendered, by a sync that kept what it
// found up to date (Known, see Plan.Know, which it calls): an object whose
// rendered JSON is the one known holds for it is neither decoded nor stamped,
// and ApplyPlan reads it no further than its metadata if its live object is
// still the version known holds. A sync of 10,000 objects that changes a few
// decodes and stamps those.
func (a *Applier) PlanKnown(objs []Lazy, known Known) (*Plan, error) {
	targets, err := a.prepareKnown(objs, known)
	if err != nil {
		return nil, err
	}
	return &Plan{targets: targets, known: known}, nil
}

func (a *Applier) plan(objs []*unstructured.Unstructured, shared bool) (*Plan, error) {
	targets, err := a.prepare(objs, shared)
	if err != nil {
		return nil, err
	}
	return &Plan{targets: targets}, nil
}

// IDs returns the ids of the planned objects.
func (p *Plan) IDs() object.ObjMetadataSet {
	ids := make(object.ObjMetadataSet, 0, len(p.targets))
	for _, t := range p.targets {
		ids = append(ids, t.id)
	}
	return ids
}

// ApplyPlan applies a plan made by Plan; see Apply.
func (a *Applier) ApplyPlan(ctx context.Context, plan *Plan) (*ChangeSet, error) {
	targets := plan.targets
	live, denied, err := a.listLive(ctx, targets, plan.known)
	if err != nil {
		return nil, err
	}
	owners, err := a.owners(ctx, targets, live, denied)
	if err != nil {
		return nil, err
	}
	changes := make([]Change, len(targets))
	done := a.progress("apply", len(targets))
	refuseUnreadable(targets, denied, changes, done)
	a.refuseOwned(targets, owners, changes, done)
	for stage := range numStages {
		if stage == stageCluster {
			if err := a.establish(ctx, targets, changes); err != nil {
				return nil, err
			}
		}
		a.applyStage(ctx, stage, targets, live, plan.known, changes, done)
	}
	noteTakeovers(changes, owners)
	return &ChangeSet{Changes: changes}, nil
}

// applyStage applies the targets of one stage in parallel, recording each
// outcome at the target's index.
func (a *Applier) applyStage(ctx context.Context, stage int, targets []*target, live liveSet, known Known, changes []Change, done func()) {
	var g errgroup.Group
	g.SetLimit(a.opts.Concurrency)
	for i, t := range targets {
		if t.stage != stage || changes[i].Action != "" {
			continue
		}
		g.Go(func() error {
			changes[i] = a.applyOne(ctx, t, live[t.id], known)
			done()
			return nil
		})
	}
	_ = g.Wait()
}

// progress returns the function to call when one of total objects is done.
func (a *Applier) progress(step string, total int) func() {
	if a.opts.Progress == nil {
		return func() {}
	}
	var n atomic.Int64
	return func() { a.opts.Progress(step, int(n.Add(1)), total) }
}

// applyOne brings one object to its desired state.
func (a *Applier) applyOne(ctx context.Context, t *target, live *unstructured.Unstructured, known Known) Change {
	if live != nil && known.knows(t, live.GetUID(), live.GetResourceVersion()) {
		return t.unchanged(live, true)
	}
	if _, err := a.object(t); err != nil {
		return failed(t, err)
	}
	if live != nil && a.unchanged(t, live) {
		return t.unchanged(live, false)
	}
	if t.mapping == nil && a.opts.DryRun {
		return Change{ID: t.id, Action: Created, Live: t.obj} // its CRD is not applied in a dry run
	}
	if t.mapping == nil {
		return failed(t, invalid(t.ref, "kind %s is not served even after its CustomResourceDefinition was applied", t.id.GroupKind))
	}
	// Git wins over hand edits: when only imperative writers (kubectl edit,
	// scale, controllers) share the object, take their fields. Another
	// server-side applier is another declarative tool: do not override it
	// silently.
	force := a.opts.Force || t.force || (live != nil && len(otherAppliers(live, a.opts.FieldManager)) == 0)
	result, code, err := a.serverSideApply(ctx, t, force)
	if err != nil {
		result, code, err = a.resolveFailure(ctx, t, force, err)
	}
	if err != nil {
		return failed(t, err)
	}
	c := Change{ID: t.id, Action: Configured, Live: result}
	if code == http.StatusCreated {
		c.Action = Created
	}
	if !a.opts.DryRun { // a dry run's answer is no version that exists
		c.version = t.versionOf(result)
	}
	return c
}

// unchanged is upToDate(t.obj, live), remembered for the objects of
// PlanShared while the live object keeps its resourceVersion.
func (a *Applier) unchanged(t *target, live *unstructured.Unstructured) bool {
	rv := live.GetResourceVersion()
	if a.memo.wasUpToDate(t.in, rv) {
		return true
	}
	if !upToDate(t.obj, live) {
		return false
	}
	a.memo.isUpToDate(t.in, rv)
	return true
}

// unchanged is the change of t found up to date with live, by its version
// (known) or its content.
func (t *target) unchanged(live *unstructured.Unstructured, known bool) Change {
	return Change{ID: t.id, Action: Unchanged, Live: live, Known: known, version: t.versionOf(live)}
}

// versionOf is the Version of live, an object that is as t wants it.
func (t *target) versionOf(live *unstructured.Unstructured) Version {
	return Version{UID: live.GetUID(), ResourceVersion: live.GetResourceVersion(), Digest: t.digest, Rendered: t.rendered}
}

// failed is the change of an object whose apply failed with err, which was
// classified already: a Secret's values are masked in what it says. An
// object prepared without decoding it (prepareLazy) is decoded for that.
func failed(t *target, err error) Change {
	obj := t.obj
	if obj == nil && t.lazy != nil {
		obj, _ = t.lazy.Object()
	}
	return Change{ID: t.id, Action: Failed, Err: maskError(obj, err)}
}

// serverSideApply sends one apply patch and returns the object the server
// answered with and the status code (201 when it created the object).
func (a *Applier) serverSideApply(ctx context.Context, t *target, force bool) (*unstructured.Unstructured, int, error) {
	body, err := json.Marshal(t.obj.Object)
	if err != nil {
		return nil, 0, invalid(t.ref, "%v", err)
	}
	req := a.rest.Patch(types.ApplyPatchType).
		AbsPath(resourcePath(t.mapping, t.id.Namespace, t.id.Name)...).
		Param("fieldManager", a.opts.FieldManager).
		Param("force", strconv.FormatBool(force)).
		Body(body)
	if a.opts.DryRun {
		req = req.Param("dryRun", "All")
	}
	var code int
	result := req.Do(ctx).StatusCode(&code)
	raw, err := result.Raw()
	if err != nil {
		return nil, code, result.Error() // decodes the server's Status
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		return nil, code, err
	}
	trimManagedFields(out) // as a listed object: nothing reads the field sets
	return out, code, nil
}

// resourcePath is the URL path segments of one object.
func resourcePath(m *meta.RESTMapping, namespace, name string) []string {
	return append(collectionPath(m, namespace), name)
}
