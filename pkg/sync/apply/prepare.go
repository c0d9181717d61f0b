package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"
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
	id  object.ObjMetadata
	ref string // "apiVersion Kind namespace/name" for messages
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
	kinds := kindResolver{a: a, crds: definedKinds(objs), known: map[schema.GroupVersionKind]resolution{}}
	for _, in := range objs {
		kinds.resolve(in.GroupVersionKind())
	}
	// Copying and stamping 10,000 objects takes 0.2 s of CPU: every core
	// takes a share, reading the kinds resolved above.
	prepared := make([]*target, len(objs))
	failed := make([]error, len(objs))
	_ = onEveryCore(len(objs), func(i int) error {
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
	var errs []error
	targets := make([]*target, 0, len(objs))
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

// onEveryCore calls f for each index below n, spread over one goroutine per
// core, and returns the first error. Work on each of 10,000 objects is too
// small to hand out one at a time.
func onEveryCore(n int, f func(i int) error) error {
	var g errgroup.Group
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < n; i += workers {
				if err := f(i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
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
	if namespaced && obj.GetNamespace() == "" {
		if a.opts.DefaultNamespace == "" {
			return nil, invalid(objectRef(obj), "namespaced object has no metadata.namespace; set it in the manifest or pass --namespace")
		}
		obj.SetNamespace(a.opts.DefaultNamespace)
	} else if !namespaced {
		obj.SetNamespace("")
	}
	t.ref = objectRef(obj)
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
