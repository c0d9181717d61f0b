package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/internal/cores"
)

// Stages run in order; objects within one stage are applied in parallel.
const (
	stageDefinitions = iota // CustomResourceDefinitions and Namespaces
	stageCluster            // other cluster-scoped objects
	stageNamespaced         // namespaced objects
	numStages
)

var (
	crdKind       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceKind = schema.GroupKind{Kind: "Namespace"}
)

// target is one desired object, ready to apply.
type target struct {
	in  *unstructured.Unstructured // as given, never modified
	obj *unstructured.Unstructured // desired, with gitsync's labels and digest
	// lazy is the object as rendered, if it was given so (PlanKnown); in and
	// obj are nil until object is called, if a Known told its digest.
	lazy     Lazy
	rendered string // sum of lazy's JSON (Version.Rendered)
	id       object.ObjMetadata
	gvk      schema.GroupVersionKind
	ref      string // "apiVersion Kind namespace/name" for messages
	// mapping is nil for kinds defined by a CRD of this same set until that
	// CRD is established.
	mapping    *meta.RESTMapping
	namespaced bool
	digest     string // AnnotationDigest of obj
	stage      int
	force      bool
}

// prepare validates every object and turns it into a target: the kind must be
// known to the cluster or defined by a CRD in objs, namespaced objects get the
// default namespace, and gitsync's labels and digest are added. It reports
// every bad object at once and makes no write requests.
func (a *Applier) prepare(objs []*unstructured.Unstructured, shared bool) ([]*target, error) {
	kinds := a.kindsOf(len(objs), func(i int) schema.GroupVersionKind { return objs[i].GroupVersionKind() }, definedKinds(objs))
	// Copying and stamping 10,000 objects takes 0.2 s of CPU: every core
	// takes a share, reading the kinds resolved above.
	prepared := make([]*target, len(objs))
	failed := make([]error, len(objs))
	_ = cores.Each(len(objs), func(i int) error {
		var known *learnt
		if shared {
			known = a.memo.lookup(objs[i])
		}
		prepared[i], failed[i] = a.prepareOne(objs[i], kinds, known)
		return nil
	})
	if shared {
		a.memo.remember(objs, prepared)
	}
	return distinct(prepared, failed)
}

// prepareKnown is prepare of objects given as rendered: one whose rendered
// JSON is the one known holds for it is neither decoded nor stamped, its
// digest is known's (the same JSON stamps to the same digest); the others are
// decoded and prepared as prepare does.
func (a *Applier) prepareKnown(objs []Lazy, known Known) ([]*target, error) {
	gvks := make([]schema.GroupVersionKind, len(objs))
	var crds []*unstructured.Unstructured
	for i, l := range objs {
		apiVersion, kind, _, _ := l.Head()
		gvks[i] = schema.FromAPIVersionAndKind(apiVersion, kind)
		if gvks[i].GroupKind() == crdKind {
			if crd, err := l.Object(); err == nil { // else prepareLazy reports it
				crds = append(crds, crd)
			}
		}
	}
	kinds := a.kindsOf(len(objs), func(i int) schema.GroupVersionKind { return gvks[i] }, definedKinds(crds))
	prepared := make([]*target, len(objs))
	failed := make([]error, len(objs))
	_ = cores.Each(len(objs), func(i int) error {
		prepared[i], failed[i] = a.prepareLazy(objs[i], gvks[i], kinds, known)
		return nil
	})
	return distinct(prepared, failed)
}

// kindsOf resolves the n kinds gvk gives, once each.
func (a *Applier) kindsOf(n int, gvk func(i int) schema.GroupVersionKind, crds map[schema.GroupKind]string) kindResolver {
	kinds := kindResolver{a: a, crds: crds, known: map[schema.GroupVersionKind]resolution{}}
	for i := range n {
		kinds.resolve(gvk(i))
	}
	return kinds
}

// distinct returns the targets prepared, or every error of failed (each of
// the object at its index) and of objects given twice.
func distinct(prepared []*target, failed []error) ([]*target, error) {
	var errs []error
	targets := make([]*target, 0, len(prepared))
	seen := map[object.ObjMetadata]bool{}
	for i, t := range prepared {
		if err := failed[i]; err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[t.id] {
			errs = append(errs, invalid(t.ref, "appears twice in the rendered objects; remove one"))
			continue
		}
		seen[t.id] = true
		targets = append(targets, t)
	}
	return targets, errors.Join(errs...)
}

// prepareLazy turns l, of kind gvk, into a target: without decoding it if
// known holds its rendered JSON (see prepareKnown).
func (a *Applier) prepareLazy(l Lazy, gvk schema.GroupVersionKind, kinds kindResolver, known Known) (*target, error) {
	apiVersion, kind, namespace, name := l.Head()
	mapping, namespaced, err := kinds.resolve(gvk)
	if err != nil {
		return nil, invalid(refOf(apiVersion, kind, namespace, name), "%v", err)
	}
	if namespace, err = a.namespaceOf(namespaced, namespace); err != nil {
		return nil, invalid(refOf(apiVersion, kind, namespace, name), "%v", err)
	}
	sum := sha256.Sum256(l.JSON())
	rendered := hex.EncodeToString(sum[:16])
	id := object.ObjMetadata{GroupKind: gvk.GroupKind(), Namespace: namespace, Name: name}
	if v, ok := known[id]; ok && v.Rendered == rendered && v.Digest != "" {
		return &target{lazy: l, rendered: rendered, id: id, gvk: gvk, ref: refOf(apiVersion, kind, namespace, name),
			mapping: mapping, namespaced: namespaced, digest: v.Digest, stage: stageOf(gvk.GroupKind(), namespaced)}, nil
	}
	in, err := l.Object()
	if err != nil {
		return nil, invalid(refOf(apiVersion, kind, namespace, name), "%v", err)
	}
	t, err := a.prepareOne(in, kinds, nil)
	if t != nil {
		t.lazy, t.rendered = l, rendered
	}
	return t, err
}

// object returns t's desired object, making it now if t was prepared without
// (prepareLazy): the object decoded and stamped with the digest known gave.
func (a *Applier) object(t *target) (*unstructured.Unstructured, error) {
	if t.obj != nil {
		return t.obj, nil
	}
	in, err := t.lazy.Object()
	if err != nil {
		return nil, invalid(t.ref, "%v", err)
	}
	obj := withOwnMetadata(in)
	obj.SetNamespace(t.id.Namespace)
	if _, err := stamp(obj, a.opts.Sync, t.digest); err != nil {
		return nil, invalid(t.ref, "%v", err)
	}
	t.in, t.obj, t.force = in, obj, obj.GetAnnotations()[AnnotationForce] == "enabled"
	return obj, nil
}

// namespaceOf is the namespace an object given with namespace gets: the
// default one if it is namespaced and has none, none if its kind is not.
func (a *Applier) namespaceOf(namespaced bool, namespace string) (string, error) {
	switch {
	case !namespaced:
		return "", nil
	case namespace != "":
		return namespace, nil
	case a.opts.DefaultNamespace == "":
		return "", errors.New("namespaced object has no metadata.namespace; set it in the manifest or pass --namespace")
	}
	return a.opts.DefaultNamespace, nil
}

// prepareOne turns in into a target. known is what the last PlanShared
// learnt of in, if it was given in then too: its digest holds while its
// scope does (in does not change), and is not computed again.
func (a *Applier) prepareOne(in *unstructured.Unstructured, kinds kindResolver, known *learnt) (*target, error) {
	obj := withOwnMetadata(in)
	gvk := obj.GroupVersionKind()
	t := &target{in: in, obj: obj, force: obj.GetAnnotations()[AnnotationForce] == "enabled"}
	mapping, namespaced, err := kinds.resolve(gvk)
	if err != nil {
		return nil, invalid(objectRef(obj), "%v", err)
	}
	namespace, err := a.namespaceOf(namespaced, obj.GetNamespace())
	if err != nil {
		return nil, invalid(objectRef(obj), "%v", err)
	}
	if namespace != obj.GetNamespace() {
		obj.SetNamespace(namespace)
	}
	t.ref, t.gvk = objectRef(obj), gvk
	t.id = object.UnstructuredToObjMetadata(obj)
	t.stage = stageOf(gvk.GroupKind(), namespaced)
	t.mapping, t.namespaced = mapping, namespaced
	if known != nil && known.namespaced == namespaced {
		t.digest = known.digest
	}
	if t.digest, err = stamp(obj, a.opts.Sync, t.digest); err != nil {
		return nil, invalid(t.ref, "%v", err)
	}
	return t, nil
}

// withOwnMetadata copies what prepare changes of in, its metadata (the
// namespace, labels and digest), and shares the rest, which nothing after it
// modifies: the objects a sync renders are shared with the renderer's cache
// (render.Options.Shared), and copying each whole took most of preparing
// 10,000 objects.
func withOwnMetadata(in *unstructured.Unstructured) *unstructured.Unstructured {
	obj := maps.Clone(in.Object)
	if md, ok := obj["metadata"].(map[string]any); ok {
		obj["metadata"] = kruntime.DeepCopyJSONValue(md)
	}
	return &unstructured.Unstructured{Object: obj}
}

// kindResolver resolves each kind of one set of objects once: the RESTMapper
// takes locks and walks its priorities at every call, a fifth of preparing
// 10,000 objects.
type kindResolver struct {
	a     *Applier
	crds  map[schema.GroupKind]string
	known map[schema.GroupVersionKind]resolution
}

type resolution struct {
	mapping    *meta.RESTMapping
	namespaced bool
	err        error
}

func (k kindResolver) resolve(gvk schema.GroupVersionKind) (*meta.RESTMapping, bool, error) {
	r, ok := k.known[gvk]
	if !ok {
		r.mapping, r.namespaced, r.err = k.a.resolve(gvk, k.crds)
		k.known[gvk] = r
	}
	return r.mapping, r.namespaced, r.err
}

// resolve maps gvk to its resource and tells whether it is namespaced. A kind
// that a CRD in this set defines has no mapping yet; its scope comes from the CRD.
func (a *Applier) resolve(gvk schema.GroupVersionKind, crds map[schema.GroupKind]string) (*meta.RESTMapping, bool, error) {
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		if scope, ok := crds[gvk.GroupKind()]; ok {
			return nil, scope == "Namespaced", nil
		}
		return nil, false, fmt.Errorf("unknown kind %s: the cluster does not serve it and no CustomResourceDefinition in the repository defines it", gvk.GroupKind())
	} else if err != nil {
		return nil, false, err
	}
	return m, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func stageOf(gk schema.GroupKind, namespaced bool) int {
	switch {
	case gk == crdKind || gk == namespaceKind:
		return stageDefinitions
	case !namespaced:
		return stageCluster
	}
	return stageNamespaced
}

// definedKinds maps each kind defined by a CRD in objs to its scope.
func definedKinds(objs []*unstructured.Unstructured) map[schema.GroupKind]string {
	kinds := map[schema.GroupKind]string{}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() != crdKind {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		kinds[schema.GroupKind{Group: group, Kind: kind}] = scope
	}
	return kinds
}

// stamp adds gitsync's labels, then a digest of the result as an annotation,
// and returns the digest. A digest given is the one obj is known to have
// (memo), and is not computed again.
func stamp(obj *unstructured.Unstructured, sync, digest string) (string, error) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = "gitsync"
	labels[LabelSync] = sync
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if digest == "" {
		delete(annotations, AnnotationDigest)
		obj.SetAnnotations(annotations)
		data, err := json.Marshal(obj.Object) // map keys are sorted: deterministic
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(data)
		digest = hex.EncodeToString(sum[:8])
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationDigest] = digest
	obj.SetAnnotations(annotations)
	return digest, nil
}
