package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// liveSet is what the cluster holds of this sync's objects, by id.
type liveSet map[object.ObjMetadata]*unstructured.Unstructured

// unreadable maps the targets whose objects RBAC does not let the applier
// list (in their namespace, or of their cluster-scoped type) to the API
// server's refusal. Such a target fails on its own, before any write: a sync
// acting as a ServiceAccount confined to some namespaces learns which of its
// objects lie outside them, and its other objects are applied.
type unreadable map[object.ObjMetadata]error

// listing is what the LISTs of one resource type found.
type listing[T any] struct {
	items       []T
	clusterWide bool             // one LIST across all namespaces
	forbidden   map[string]error // by namespace ("" for the cluster scope): where RBAC refused the LIST
}

// listLive reads every object carrying this sync's label, with one LIST per
// resource type across all namespaces (or, where RBAC allows only some
// namespaces, one per namespace), or from the Cluster's live cache once it
// holds the type. This is the whole cost of a no-op sync.
func (a *Applier) listLive(ctx context.Context, targets []*target, known Known) (liveSet, unreadable, error) {
	return a.listLabelled(ctx, targets, known, a.ownSelector(), a.listObjects, func(inf cache.SharedIndexInformer, _ []*target) ([]unstructured.Unstructured, error) {
		return labelled(inf, a.opts.Sync)
	})
}

// lister lists the objects of a resource type with a label selector across
// all namespaces, or in each of nss where that is forbidden. It may leave
// out objects wanted does not name.
type lister func(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string, wanted nameSet) (listing[unstructured.Unstructured], error)

// nameSet holds objects of one resource type by namespace and name, each
// with the version a Known holds of it (nil for none): a live object of that
// version is not decoded, only named (placeholder).
type nameSet map[types.NamespacedName]*Version

// listObjects lists whole objects, across all namespaces or in each of nss
// where that is forbidden; only those wanted are decoded.
func (a *Applier) listObjects(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string, wanted nameSet) (listing[unstructured.Unstructured], error) {
	return listWideOrEach(m.Resource.GroupResource(), m.Scope.Name() == meta.RESTScopeNameNamespace, nss, true,
		func(ns string) ([]unstructured.Unstructured, error) {
			return a.listDecoded(ctx, m, ns, selector, wanted)
		})
}

// listDecoded lists the objects of m's type with selector, in namespace or
// (if empty) in all, and decodes the items on every core while the list is
// still arriving: decoding 10,000 live objects is most of what a sync that
// changes nothing costs, and the dynamic client reads the whole list into
// memory, then decodes it on one core. An item wanted does not name (unless
// it is nil) is read for its name alone and left out. Many objects of a
// built-in type come as protobuf where that loses nothing (listProtobuf).
func (a *Applier) listDecoded(ctx context.Context, m *meta.RESTMapping, namespace, selector string, wanted nameSet) ([]unstructured.Unstructured, error) {
	if len(wanted) >= protobufFrom && a.knowsEveryField(m.GroupVersionKind) {
		return a.listProtobuf(ctx, m, namespace, selector, wanted)
	}
	body, err := a.rest.Get().AbsPath(collectionPath(m, namespace)...).
		Param("labelSelector", selector).
		SetHeader("Accept", "application/json").
		Stream(ctx) // an error is the server's Status, decoded
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return decodeJSONList(ctx, m, body, wanted)
}

// decodeJSONList decodes the wanted items of the JSON list r of m's type,
// on every core, as they arrive.
func decodeJSONList(ctx context.Context, m *meta.RESTMapping, r io.Reader, wanted nameSet) ([]unstructured.Unstructured, error) {
	apiVersion, kind := m.GroupVersionKind.ToAPIVersionAndKind()
	var batches [][]unstructured.Unstructured
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	err := eachListItem(r, listBatch, func(raws []json.RawMessage) {
		items := make([]unstructured.Unstructured, len(raws))
		batches = append(batches, items)
		g.Go(func() error {
			for i, raw := range raws {
				if wanted != nil {
					var head struct {
						Metadata struct {
							Namespace       string    `json:"namespace"`
							Name            string    `json:"name"`
							UID             types.UID `json:"uid"`
							ResourceVersion string    `json:"resourceVersion"`
						} `json:"metadata"`
					}
					if err := json.Unmarshal(raw, &head); err != nil {
						return fmt.Errorf("decode an item of the list: %w", err)
					}
					v, ok := wanted[types.NamespacedName{Namespace: head.Metadata.Namespace, Name: head.Metadata.Name}]
					if !ok {
						continue // left nil, and out of the result
					}
					if md := head.Metadata; v != nil && v.UID == md.UID && v.ResourceVersion == md.ResourceVersion {
						placeholder(&items[i], apiVersion, kind, md.Namespace, md.Name, string(md.UID), md.ResourceVersion)
						continue
					}
				}
				if err := utiljson.Unmarshal(raw, &items[i].Object); err != nil {
					return fmt.Errorf("decode an item of the list: %w", err)
				}
				// Items of a list leave out what the list says: the
				// dynamic client fills them in too.
				if items[i].GetKind() == "" {
					items[i].SetAPIVersion(apiVersion)
					items[i].SetKind(kind)
				}
				trimManagedFields(&items[i])
			}
			return ctx.Err()
		})
	})
	if waitErr := g.Wait(); err == nil {
		err = waitErr
	}
	if err != nil {
		return nil, fmt.Errorf("read the list: %w", err)
	}
	return slices.DeleteFunc(slices.Concat(batches...), func(u unstructured.Unstructured) bool { return u.Object == nil }), nil
}

// placeholder stands, in the live set, for a live object of a version Known
// holds, which need not be read again: what names it and its version. That
// version was found up to date and ours, labels and annotations included.
func placeholder(u *unstructured.Unstructured, apiVersion, kind, namespace, name, uid, resourceVersion string) {
	m := map[string]any{"name": name, "uid": uid, "resourceVersion": resourceVersion}
	if namespace != "" {
		m["namespace"] = namespace
	}
	u.Object = map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": m}
}

// listBatch is how many items of a list one decoding goroutine takes.
const listBatch = 256

// eachListItem reads a JSON list from r and hands its items to batch, n at a
// time, as they arrive; the other fields of the list are skipped.
func eachListItem(r io.Reader, n int, batch func([]json.RawMessage)) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if key != "items" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case nil: // "items": null
			continue
		case json.Delim('['):
		default:
			return fmt.Errorf("items is %v, not a list", tok)
		}
		raws := make([]json.RawMessage, 0, n)
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if raws = append(raws, raw); len(raws) == n {
				batch(raws)
				raws = make([]json.RawMessage, 0, n)
			}
		}
		if len(raws) > 0 {
			batch(raws)
		}
		if err := expectDelim(dec, ']'); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err == nil && tok != want {
		err = fmt.Errorf("found %v where %v belongs", tok, want)
	}
	return err
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
func (a *Applier) listMetadata(ctx context.Context, m *meta.RESTMapping, nss map[string]bool, selector string, _ nameSet) (listing[unstructured.Unstructured], error) {
	metas, err := listWideOrEach(m.Resource.GroupResource(), m.Scope.Name() == meta.RESTScopeNameNamespace, nss, true,
		func(ns string) ([]metav1.PartialObjectMetadata, error) {
			list, err := a.metadata.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
	if err != nil {
		return listing[unstructured.Unstructured]{}, err
	}
	items := make([]unstructured.Unstructured, len(metas.items))
	for i, o := range metas.items {
		items[i].SetGroupVersionKind(m.GroupVersionKind)
		items[i].SetNamespace(o.Namespace)
		items[i].SetName(o.Name)
		items[i].SetUID(o.UID)
		items[i].SetLabels(o.Labels)
	}
	return listing[unstructured.Unstructured]{items: items, clusterWide: metas.clusterWide, forbidden: metas.forbidden}, nil
}

// listLabelled lists the resource types of targets with selector, through
// list, in the namespaces of targets where a cluster-wide LIST is forbidden.
// A type the live cache holds is read with fromCache instead, given the
// targets of that type; a type listed cluster-wide starts its cache. It
// returns the live objects of targets alone, and the targets RBAC does not
// let it list as unreadable.
func (a *Applier) listLabelled(ctx context.Context, targets []*target, known Known, selector string, list lister,
	fromCache func(cache.SharedIndexInformer, []*target) ([]unstructured.Unstructured, error)) (liveSet, unreadable, error) {
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
		mu     sync.Mutex
		live   = liveSet{}
		denied = unreadable{}
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Concurrency)
	for k, ts := range byKey {
		g.Go(func() error {
			var l listing[unstructured.Unstructured]
			var err error
			names := namesOf(ts, known)
			if inf := a.live.synced(ctx, k.gvr); inf != nil {
				l.items, err = fromCache(inf, ts)
			} else {
				l, err = list(ctx, ts[0].mapping, namespacesOf(ts), selector, names)
				if l.clusterWide {
					a.live.start(k.gvr)
				}
			}
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			// The rest (what a prune leaves, what an apply will prune) is
			// dropped now, not held through the run.
			for i := range l.items {
				if o := &l.items[i]; hasName(names, o) {
					live[object.UnstructuredToObjMetadata(o)] = o
				}
			}
			for _, t := range ts {
				if err := l.forbidden[t.id.Namespace]; err != nil {
					denied[t.id] = errors.Unwrap(err) // the server's refusal names the verb and the namespace
				}
			}
			return nil
		})
	}
	return live, denied, g.Wait()
}

// namesOf is the namespaces and names of targets, all of one resource type,
// with the version known holds of each where its digest is the target's.
func namesOf(targets []*target, known Known) nameSet {
	names := make(nameSet, len(targets))
	for _, t := range targets {
		var v *Version
		if k, ok := known[t.id]; ok && k.Digest == t.digest {
			v = &k
		}
		names[types.NamespacedName{Namespace: t.id.Namespace, Name: t.id.Name}] = v
	}
	return names
}

func hasName(names nameSet, o *unstructured.Unstructured) bool {
	_, ok := names[types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}]
	return ok
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
// forbidden; a namespace where that is forbidden too is an error.
func listResource(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, namespaced bool, nss map[string]bool, selector string) (items []unstructured.Unstructured, clusterWide bool, err error) {
	l, err := listWideOrEach(gvr.GroupResource(), namespaced, nss, false, dynamicLister(ctx, dc, gvr, selector))
	if err == nil {
		err = l.refused()
	}
	return l.items, l.clusterWide, err
}

// listNamespaces lists one resource type with a label selector in each of
// nss; a namespace where that is forbidden is an error.
func listNamespaces(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, nss map[string]bool, selector string) ([]unstructured.Unstructured, error) {
	l, err := listEach(gvr.GroupResource(), nss, false, dynamicLister(ctx, dc, gvr, selector))
	if err == nil {
		err = l.refused()
	}
	return l.items, err
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
// list(ns) in each of nss. Refusals of RBAC are in the listing's forbidden,
// any other failure is the error; every refused namespace is listed only
// when every refusal matters (each fails its objects), else the first ends
// the listing.
func listWideOrEach[T any](gr schema.GroupResource, namespaced bool, nss map[string]bool, every bool, list func(ns string) ([]T, error)) (listing[T], error) {
	items, err := list("")
	switch {
	case err == nil:
		return listing[T]{items: items, clusterWide: true}, nil
	case !apierrors.IsForbidden(err):
		return listing[T]{}, fmt.Errorf("list %s: %w", gr, err)
	case !namespaced:
		return listing[T]{forbidden: map[string]error{"": fmt.Errorf("list %s: %w", gr, err)}}, nil
	}
	return listEach(gr, nss, every, list)
}

// listEach lists a resource type with list(ns) in each of nss; see
// listWideOrEach for every.
func listEach[T any](gr schema.GroupResource, nss map[string]bool, every bool, list func(ns string) ([]T, error)) (listing[T], error) {
	var l listing[T]
	for ns := range nss {
		more, err := list(ns)
		switch {
		case apierrors.IsForbidden(err):
			if l.forbidden == nil {
				l.forbidden = map[string]error{}
			}
			l.forbidden[ns] = fmt.Errorf("list %s in namespace %s: %w", gr, ns, err)
			if !every {
				return l, nil
			}
		case err != nil:
			return listing[T]{}, fmt.Errorf("list %s in namespace %s: %w", gr, ns, err)
		}
		l.items = append(l.items, more...)
	}
	return l, nil
}

// refused returns one of the listing's refusals, nil if there is none.
func (l listing[T]) refused() error {
	for _, err := range l.forbidden {
		return err
	}
	return nil
}

// ownSelector selects the objects labelled as this sync's.
func (a *Applier) ownSelector() string {
	return labels.Set{LabelSync: a.opts.Sync}.String()
}
