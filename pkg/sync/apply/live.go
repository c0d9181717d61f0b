package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// liveSet is what the cluster holds of this sync's objects, by id.
type liveSet map[object.ObjMetadata]*unstructured.Unstructured

// listLive reads every object carrying this sync's label, with one LIST per
// resource type across all namespaces (or, where RBAC allows only some
// namespaces, one per namespace), or from the Cluster's live cache once it
// holds the type. This is the whole cost of a no-op sync.
func (a *Applier) listLive(ctx context.Context, targets []*target) (liveSet, error) {
	return a.listLabelled(ctx, targets, a.ownSelector(), a.listObjects, func(inf cache.SharedIndexInformer, _ []*target) ([]unstructured.Unstructured, error) {
		return labelled(inf, a.opts.Sync)
	})
}

// lister lists the objects of a resource type with a label selector across
// all namespaces (clusterWide), or in each of nss where that is forbidden.
type lister func(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string) (items []unstructured.Unstructured, clusterWide bool, err error)

// listObjects lists whole objects, across all namespaces (clusterWide) or in
// each of nss where that is forbidden.
func (a *Applier) listObjects(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string) ([]unstructured.Unstructured, bool, error) {
	return listWideOrEach(m.Resource.GroupResource(), m.Scope.Name() == meta.RESTScopeNameNamespace, nss,
		func(ns string) ([]unstructured.Unstructured, error) { return a.listDecoded(ctx, m, ns, selector) })
}

// listDecoded lists the objects of m's type with selector, in namespace or
// (if empty) in all, and decodes the items on every core: decoding 10,000
// live objects is most of what a sync that changes nothing costs, and the
// dynamic client decodes a list on one.
func (a *Applier) listDecoded(ctx context.Context, m *meta.RESTMapping, namespace, selector string) ([]unstructured.Unstructured, error) {
	result := a.rest.Get().AbsPath(collectionPath(m, namespace)...).
		Param("labelSelector", selector).
		SetHeader("Accept", "application/json").
		Do(ctx)
	raw, err := result.Raw()
	if err != nil {
		return nil, result.Error() // decodes the server's Status
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode the list: %w", err)
	}
	items := make([]unstructured.Unstructured, len(list.Items))
	apiVersion, kind := m.GroupVersionKind.ToAPIVersionAndKind()
	var g errgroup.Group
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < len(items); i += workers {
				if err := utiljson.Unmarshal(list.Items[i], &items[i].Object); err != nil {
					return fmt.Errorf("decode item %d of the list: %w", i, err)
				}
				// Items of a list leave out what the list says: the
				// dynamic client fills them in too.
				if items[i].GetKind() == "" {
					items[i].SetAPIVersion(apiVersion)
					items[i].SetKind(kind)
				}
				trimManagedFields(&items[i])
			}
			return nil
		})
	}
	return items, g.Wait()
}

// trimManagedFields drops the field sets from the managedFields of a live
// object, keeping who manages it and how: gitsync reads the managers (who
// else applies to an object) but never the fields, and the sets are most of
// a live object's size in memory.
func trimManagedFields(u *unstructured.Unstructured) {
	metadata, _ := u.Object["metadata"].(map[string]any)
	entries, _ := metadata["managedFields"].([]any)
	for _, e := range entries {
		if m, ok := e.(map[string]any); ok {
			delete(m, "fieldsV1")
		}
	}
}

// collectionPath is the URL path segments of the objects of m's type in
// namespace, or in all namespaces if it is empty.
func collectionPath(m *meta.RESTMapping, namespace string) []string {
	gv := m.Resource.GroupVersion()
	path := []string{"/apis", gv.Group, gv.Version}
	if gv.Group == "" {
		path = []string{"/api", gv.Version}
	}
	if namespace != "" && m.Scope.Name() == meta.RESTScopeNameNamespace {
		path = append(path, "namespaces", namespace)
	}
	return append(path, m.Resource.Resource)
}

// listMetadata lists only the metadata of the objects, as objects of the
// mapping's kind that hold nothing else: enough to read their labels, at a
// fraction of the size.
func (a *Applier) listMetadata(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string) ([]unstructured.Unstructured, bool, error) {
	metas, clusterWide, err := listWideOrEach(m.Resource.GroupResource(), m.Scope.Name() == meta.RESTScopeNameNamespace, nss,
		func(ns string) ([]metav1.PartialObjectMetadata, error) {
			list, err := a.metadata.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
	if err != nil {
		return nil, false, err
	}
	items := make([]unstructured.Unstructured, len(metas))
	for i := range metas {
		items[i].SetGroupVersionKind(m.GroupVersionKind)
		items[i].SetNamespace(metas[i].Namespace)
		items[i].SetName(metas[i].Name)
		items[i].SetUID(metas[i].UID)
		items[i].SetLabels(metas[i].Labels)
	}
	return items, clusterWide, nil
}

// listLabelled lists the resource types of targets with selector, through
// list, in the namespaces of targets where a cluster-wide LIST is forbidden.
// A type the live cache holds is read with fromCache instead, given the
// targets of that type; a type listed cluster-wide starts its cache.
func (a *Applier) listLabelled(ctx context.Context, targets []*target, selector string, list lister,
	fromCache func(cache.SharedIndexInformer, []*target) ([]unstructured.Unstructured, error)) (liveSet, error) {
	type key struct {
		gvr        schema.GroupVersionResource
		namespaced bool
	}
	byKey := map[key][]*target{}
	for _, t := range targets {
		if t.mapping == nil {
			continue
		}
		k := key{t.mapping.Resource, t.mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		byKey[k] = append(byKey[k], t)
	}
	var (
		mu   sync.Mutex
		live = liveSet{}
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Concurrency)
	for k, ts := range byKey {
		g.Go(func() error {
			var items []unstructured.Unstructured
			var err error
			if inf := a.live.synced(ctx, k.gvr); inf != nil {
				items, err = fromCache(inf, ts)
			} else {
				var clusterWide bool
				items, clusterWide, err = list(ctx, ts[0].mapping, namespacesOf(ts), selector)
				if clusterWide {
					a.live.start(k.gvr)
				}
			}
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

func namespacesOf(targets []*target) map[string]bool {
	nss := map[string]bool{}
	for _, t := range targets {
		nss[t.id.Namespace] = true
	}
	return nss
}

// listResource lists one resource type with a label selector, through dc:
// across all namespaces (clusterWide), or in each of nss where that is
// forbidden.
func listResource(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, namespaced bool, nss map[string]bool, selector string) (items []unstructured.Unstructured, clusterWide bool, err error) {
	return listWideOrEach(gvr.GroupResource(), namespaced, nss, dynamicLister(ctx, dc, gvr, selector))
}

// listNamespaces lists one resource type with a label selector in each of nss.
func listNamespaces(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, nss map[string]bool, selector string) ([]unstructured.Unstructured, error) {
	return listEach(gvr.GroupResource(), nss, dynamicLister(ctx, dc, gvr, selector))
}

// dynamicLister lists gvr with selector through dc, in one namespace or (if
// empty) in all.
func dynamicLister(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, selector string) func(ns string) ([]unstructured.Unstructured, error) {
	return func(ns string) ([]unstructured.Unstructured, error) {
		list, err := dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	}
}

// listWideOrEach lists a resource type with list("") across all namespaces
// (clusterWide) or, where RBAC forbids that for a namespaced type, with
// list(ns) in each of nss.
func listWideOrEach[T any](gr schema.GroupResource, namespaced bool, nss map[string]bool, list func(ns string) ([]T, error)) (items []T, clusterWide bool, err error) {
	items, err = list("")
	if err == nil {
		return items, true, nil
	}
	if !namespaced || !apierrors.IsForbidden(err) {
		return nil, false, fmt.Errorf("list %s: %w", gr, err)
	}
	items, err = listEach(gr, nss, list)
	return items, false, err
}

// listEach lists a resource type with list(ns) in each of nss.
func listEach[T any](gr schema.GroupResource, nss map[string]bool, list func(ns string) ([]T, error)) ([]T, error) {
	var items []T
	for ns := range nss {
		more, err := list(ns)
		if err != nil {
			return nil, fmt.Errorf("list %s in namespace %s: %w", gr, ns, err)
		}
		items = append(items, more...)
	}
	return items, nil
}

// ownSelector selects the objects labelled as this sync's.
func (a *Applier) ownSelector() string {
	return labels.Set{LabelSync: a.opts.Sync}.String()
}
