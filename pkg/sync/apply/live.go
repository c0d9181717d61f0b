package apply

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// liveSet is what the cluster holds of this sync's objects, by id.
type liveSet map[object.ObjMetadata]*unstructured.Unstructured

// listLive reads every object carrying this sync's label, with one LIST per
// resource type across all namespaces (or, where RBAC allows only some
// namespaces, one per namespace). This is the whole cost of a no-op sync.
func (a *Applier) listLive(ctx context.Context, targets []*target) (liveSet, error) {
	return a.listLabelled(ctx, targets, a.ownSelector())
}

// listLabelled lists the resource types of targets with selector, in the
// namespaces of targets where a cluster-wide LIST is forbidden.
func (a *Applier) listLabelled(ctx context.Context, targets []*target, selector string) (liveSet, error) {
	type key struct {
		gvr        schema.GroupVersionResource
		namespaced bool
	}
	namespaces := map[key]map[string]bool{}
	for _, t := range targets {
		if t.mapping == nil {
			continue
		}
		k := key{t.mapping.Resource, t.mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		if namespaces[k] == nil {
			namespaces[k] = map[string]bool{}
		}
		namespaces[k][t.id.Namespace] = true
	}
	var (
		mu   sync.Mutex
		live = liveSet{}
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Concurrency)
	for k, nss := range namespaces {
		g.Go(func() error {
			items, err := listResource(ctx, a.dynamic, k.gvr, k.namespaced, nss, selector)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range items {
				live[object.UnstructuredToObjMetadata(&items[i])] = &items[i]
			}
			return nil
		})
	}
	return live, g.Wait()
}

// listResource lists one resource type with a label selector, through dc.
func listResource(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, namespaced bool, nss map[string]bool, selector string) ([]unstructured.Unstructured, error) {
	opts := metav1.ListOptions{LabelSelector: selector}
	list, err := dc.Resource(gvr).List(ctx, opts)
	if err == nil {
		return list.Items, nil
	}
	if !namespaced || !apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
	}
	var items []unstructured.Unstructured
	for ns := range nss {
		list, err := dc.Resource(gvr).Namespace(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list %s in namespace %s: %w", gvr.GroupResource(), ns, err)
		}
		items = append(items, list.Items...)
	}
	return items, nil
}

// ownSelector selects the objects labelled as this sync's.
func (a *Applier) ownSelector() string {
	return labels.Set{LabelSync: a.opts.Sync}.String()
}
