package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// Owned is what FindOwned found in the cluster.
type Owned struct {
	// IDs are the objects labelled as this sync's.
	IDs object.ObjMetadataSet
	// Unlisted are the resource types that could not be listed, sorted:
	// objects of these types may carry the label unseen.
	Unlisted []Unlisted
}

// Unlisted is a resource type FindOwned could not list, and why.
type Unlisted struct {
	Resource schema.GroupResource
	Err      error
}

// resourceType is one listable resource type.
type resourceType struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// FindOwned finds the objects labelled as this sync's, whatever their kind,
// to rebuild an inventory that was lost. It asks discovery afresh for every
// resource type that can be listed and applied, then makes one LIST per type
// with this sync's label selector, in parallel. Where a cluster-wide LIST of
// a namespaced type is forbidden (RBAC limited to some namespaces), it lists
// in the namespaces of plan and in namespaces instead. A type that may not
// be listed at all (forbidden, not found, not allowed) is reported in
// Unlisted; any other failure is an error, so that a transient one does not
// leave objects out. An object served under two groups (Event in "" and in
// events.k8s.io) is reported once, by the id plan gives it if any.
func (a *Applier) FindOwned(ctx context.Context, plan *Plan, namespaces ...string) (*Owned, error) {
	return a.FindOwnedIn(ctx, nil, plan, namespaces...)
}

// FindOwnedIn is FindOwned taking from census, when not nil, the resource
// types and what they hold: only the types census could not list across
// all namespaces are listed, in the namespaces of plan and namespaces.
func (a *Applier) FindOwnedIn(ctx context.Context, census *Census, plan *Plan, namespaces ...string) (*Owned, error) {
	var resources []resourceType
	var unlisted []Unlisted
	byUID := map[types.UID]object.ObjMetadataSet{}
	if census != nil {
		resources, unlisted = census.unlisted, slices.Clone(census.undiscovered)
		for _, m := range census.owned[a.opts.Sync] {
			byUID[m.uid] = append(byUID[m.uid], m.id)
		}
	} else {
		var err error
		if resources, unlisted, err = a.listableResources(ctx); err != nil {
			return nil, err
		}
	}
	nss := planNamespaces(plan, namespaces)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Concurrency)
	for _, r := range resources {
		g.Go(func() error {
			var items []unstructured.Unstructured
			var err error
			if census != nil { // forbidden across all namespaces: list where RBAC may allow it
				items, err = census.listAllowed(gctx, a.quiet, r, nss, a.ownSelector())
			} else {
				items, _, err = listResource(gctx, a.quiet, r.gvr, r.namespaced, nss, a.ownSelector())
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !unlistable(err) {
				return err
			} else if err != nil {
				unlisted = append(unlisted, Unlisted{Resource: r.gvr.GroupResource(), Err: err})
			}
			for i := range items {
				byUID[items[i].GetUID()] = append(byUID[items[i].GetUID()], object.UnstructuredToObjMetadata(&items[i]))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("find the objects labelled %s=%s: %w", LabelSync, a.opts.Sync, err)
	}
	slices.SortFunc(unlisted, func(x, y Unlisted) int { return cmp.Compare(x.Resource.String(), y.Resource.String()) })
	return &Owned{IDs: oneIDPerObject(byUID, plan.IDs()), Unlisted: unlisted}, nil
}

// listableResources returns the preferred version of every resource type
// that can be listed and applied, fresh from discovery (the cache is reset:
// CRDs may have come since it was filled, and prune maps kinds through it).
// Groups discovery could not read (an aggregated API that is down) are
// returned as unlisted.
func (c *Cluster) listableResources(ctx context.Context) ([]resourceType, []Unlisted, error) {
	c.mapper.Reset()
	lists, err := discovery.ServerPreferredResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(c.discovery))
	var unlisted []Unlisted
	var failedGroups *discovery.ErrGroupDiscoveryFailed
	if errors.As(err, &failedGroups) {
		for gv, gerr := range failedGroups.Groups {
			unlisted = append(unlisted, Unlisted{Resource: schema.GroupResource{Group: gv.Group, Resource: "*"}, Err: gerr})
		}
	} else if err != nil {
		return nil, nil, fmt.Errorf("discover the resource types: %w", err)
	}
	var out []resourceType
	for _, list := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "patch"}}, lists) {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			return nil, nil, fmt.Errorf("discover the resource types: %w", err)
		}
		for _, r := range list.APIResources {
			out = append(out, resourceType{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced})
		}
	}
	return out, unlisted, nil
}

// unlistable tells a resource type this sync may not or cannot list from a
// failure that a retry may fix.
func unlistable(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

// planNamespaces is the set of the namespaces of plan's objects and extra.
func planNamespaces(plan *Plan, extra []string) map[string]bool {
	nss := map[string]bool{}
	for _, ns := range extra {
		nss[ns] = true
	}
	for _, t := range plan.targets {
		if t.id.Namespace != "" {
			nss[t.id.Namespace] = true
		}
	}
	return nss
}

// oneIDPerObject keeps one id per object: the one prefer holds if any, else
// the first in order. Pruning an alias of an object still in git would
// delete it.
func oneIDPerObject(byUID map[types.UID]object.ObjMetadataSet, prefer object.ObjMetadataSet) object.ObjMetadataSet {
	out := make(object.ObjMetadataSet, 0, len(byUID))
	for _, ids := range byUID {
		slices.SortFunc(ids, func(x, y object.ObjMetadata) int { return cmp.Compare(x.String(), y.String()) })
		pick := ids[0]
		for _, id := range ids {
			if prefer.Contains(id) {
				pick = id
				break
			}
		}
		out = append(out, pick)
	}
	slices.SortFunc(out, func(x, y object.ObjMetadata) int { return cmp.Compare(x.String(), y.String()) })
	return out
}

// Census is every object in the cluster that carries LabelSync, by the
// label's value: what FindOwned would find for any sync, from one LIST of
// metadata per resource type rather than one LIST per type and sync. It is
// a picture of one moment: use it for syncs whose objects nobody else
// writes meanwhile (their first run in a process that leads).
type Census struct {
	owned map[string][]member // by LabelSync value
	// unlisted are the types no cluster-wide LIST was allowed for: each
	// sync lists them in its own namespaces, where RBAC allows it.
	unlisted  []resourceType
	forbidden map[schema.GroupVersionResource]error
	// undiscovered are the types FindOwned reports as not listable.
	undiscovered []Unlisted

	reviews authorizationv1client.SelfSubjectRulesReviewInterface
	mu      sync.Mutex
	rules   map[string]*namespaceRules // by namespace
}

// namespaceRules is what a SelfSubjectRulesReview said of one namespace.
type namespaceRules struct {
	done  chan struct{}
	rules []authorizationv1.ResourceRule
	known bool // false: the review failed or was incomplete; try every type
}

// listAllowed lists r in those of nss where RBAC may allow it: a type
// forbidden everywhere costs one review per namespace, shared by every
// sync, instead of one LIST per sync and namespace.
func (c *Census) listAllowed(ctx context.Context, dc dynamic.Interface, r resourceType, nss map[string]bool, selector string) ([]unstructured.Unstructured, error) {
	allowed := map[string]bool{}
	for ns := range nss {
		if ns != "" && c.mayList(ctx, ns, r.gvr.GroupResource()) {
			allowed[ns] = true
		}
	}
	if len(allowed) == 0 {
		return nil, c.forbidden[r.gvr]
	}
	return listNamespaces(ctx, dc, r.gvr, allowed, selector)
}

// mayList reports whether the rules of namespace may allow listing gr; true
// when they are not known.
func (c *Census) mayList(ctx context.Context, namespace string, gr schema.GroupResource) bool {
	c.mu.Lock()
	nr := c.rules[namespace]
	if nr == nil {
		nr = &namespaceRules{done: make(chan struct{})}
		c.rules[namespace] = nr
		c.mu.Unlock()
		review, err := c.reviews.Create(ctx, &authorizationv1.SelfSubjectRulesReview{
			Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace},
		}, metav1.CreateOptions{})
		if err == nil && !review.Status.Incomplete {
			nr.rules, nr.known = review.Status.ResourceRules, true
		}
		close(nr.done)
	} else {
		c.mu.Unlock()
		<-nr.done
	}
	if !nr.known {
		return true
	}
	for _, rule := range nr.rules {
		if len(rule.ResourceNames) == 0 && matches(rule.Verbs, "list") && matches(rule.APIGroups, gr.Group) && matches(rule.Resources, gr.Resource) {
			return true
		}
	}
	return false
}

func matches(values []string, want string) bool {
	return slices.Contains(values, want) || slices.Contains(values, "*")
}

type member struct {
	uid types.UID
	id  object.ObjMetadata
}

// TakeCensus lists the metadata of every object that carries LabelSync,
// one LIST per resource type, concurrency at a time.
func (c *Cluster) TakeCensus(ctx context.Context, concurrency int) (*Census, error) {
	resources, undiscovered, err := c.listableResources(ctx)
	if err != nil {
		return nil, err
	}
	census := &Census{
		owned: map[string][]member{}, undiscovered: undiscovered, forbidden: map[schema.GroupVersionResource]error{},
		reviews: c.reviews, rules: map[string]*namespaceRules{},
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, r := range resources {
		g.Go(func() error {
			list, err := c.metadata.Resource(r.gvr).List(gctx, metav1.ListOptions{LabelSelector: LabelSync})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && r.namespaced && apierrors.IsForbidden(err):
				census.unlisted = append(census.unlisted, r)
				census.forbidden[r.gvr] = err
			case err != nil && unlistable(err):
				census.undiscovered = append(census.undiscovered, Unlisted{Resource: r.gvr.GroupResource(), Err: err})
			case err != nil:
				return fmt.Errorf("list %s: %w", r.gvr.GroupResource(), err)
			default:
				gk := schema.GroupKind{Group: r.gvr.Group, Kind: r.kind}
				for _, o := range list.Items {
					id := object.ObjMetadata{Namespace: o.Namespace, Name: o.Name, GroupKind: gk}
					value := o.Labels[LabelSync]
					census.owned[value] = append(census.owned[value], member{uid: o.UID, id: id})
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("find the objects labelled %s: %w", LabelSync, err)
	}
	return census, nil
}
