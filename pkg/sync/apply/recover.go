package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
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
	resources, unlisted, err := a.listableResources(ctx)
	if err != nil {
		return nil, err
	}
	nss := planNamespaces(plan, namespaces)
	var mu sync.Mutex
	byUID := map[types.UID]object.ObjMetadataSet{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Concurrency)
	for _, r := range resources {
		g.Go(func() error {
			items, err := listResource(gctx, a.quiet, r.gvr, r.namespaced, nss, a.ownSelector())
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
func (a *Applier) listableResources(ctx context.Context) ([]resourceType, []Unlisted, error) {
	a.mapper.Reset()
	lists, err := discovery.ServerPreferredResourcesWithContext(ctx, discovery.ToDiscoveryInterfaceWithContext(a.discovery))
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
			out = append(out, resourceType{gvr: gv.WithResource(r.Name), namespaced: r.Namespaced})
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
