package apply

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A Secret's values never leave the applier: diffs show masks in their place,
// as kubectl diff does, and errors the API server returns about a Secret have
// them replaced.
const (
	mask       = "***"
	maskBefore = "*** (before)"
	maskAfter  = "*** (after)"
)

var secretKind = schema.GroupKind{Kind: "Secret"}

// lastApplied is where kubectl apply keeps a copy of the whole object, data
// included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func isSecret(u *unstructured.Unstructured) bool {
	return u != nil && u.GroupVersionKind().GroupKind() == secretKind
}

// maskSecret returns copies of the two sides of a Secret's diff whose values
// are masks: a key in both shows "***" when its value is the same and
// "*** (before)" / "*** (after)" when it changed; a key on one side only shows
// "***". stringData is compared and shown as merged into data, which is what
// the server stores. Other objects are returned as they are.
func maskSecret(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !isSecret(before) && !isSecret(after) {
		return before, after
	}
	before, after = copyOrNil(before), copyOrNil(after)
	mb, ma := maskPair(secretValues(before), secretValues(after))
	setData(before, mb)
	setData(after, ma)
	lb, la := maskPair(annotationValue(before, lastApplied), annotationValue(after, lastApplied))
	setAnnotation(before, lastApplied, lb)
	setAnnotation(after, lastApplied, la)
	return before, after
}

// maskPair replaces the values of two versions of the same map with masks
// that tell only whether each key was added, removed, changed or kept. A nil
// side stays nil.
func maskPair(before, after map[string][]byte) (map[string]any, map[string]any) {
	mb, ma := masks(before), masks(after)
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
		case bytes.Equal(a, b):
			mb[k], ma[k] = mask, mask
		default:
			mb[k], ma[k] = maskBefore, maskAfter
		}
	}
	return mb, ma
}

// masks maps every key of values to "***"; nil for nil.
func masks(values map[string][]byte) map[string]any {
	if values == nil {
		return nil
	}
	out := make(map[string]any, len(values))
	for k := range values {
		out[k] = mask
	}
	return out
}

// secretValues returns what the server would store in the Secret's data, by
// key: data decoded from base64, overridden by stringData as the API server
// merges it. It is nil when the Secret has neither field.
func secretValues(u *unstructured.Unstructured) map[string][]byte {
	if u == nil {
		return nil
	}
	data, hasData := u.Object["data"]
	stringData, hasStringData := u.Object["stringData"]
	if !hasData && !hasStringData {
		return nil
	}
	out := map[string][]byte{}
	for k, v := range asMap(data) {
		out[k] = decoded(v)
	}
	for k, v := range asMap(stringData) {
		out[k] = raw(v)
	}
	return out
}

// asMap returns v as a map, or one entry holding v when it is something else
// (which the server refuses, but must not be shown either).
func asMap(v any) map[string]any {
	switch m := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return m
	}
	return map[string]any{"": v}
}

// decoded is the bytes a data value stands for; a value that is not base64
// compares by its text.
func decoded(v any) []byte {
	if s, ok := v.(string); ok {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b
		}
	}
	return append([]byte("not base64:"), raw(v)...)
}

// raw is the text of a value as written.
func raw(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, _ := json.Marshal(v)
	return b
}

// setData puts masked values in place of data and removes stringData.
func setData(u *unstructured.Unstructured, masked map[string]any) {
	if u == nil || masked == nil {
		return
	}
	delete(u.Object, "stringData")
	u.Object["data"] = masked
}

// annotationValue is the annotation key as a one-entry map for maskPair; nil
// when u does not have it.
func annotationValue(u *unstructured.Unstructured, key string) map[string][]byte {
	if u == nil {
		return nil
	}
	v, ok := u.GetAnnotations()[key]
	if !ok {
		return nil
	}
	return map[string][]byte{key: []byte(v)}
}

// setAnnotation puts the masked value of the annotation key in its place.
func setAnnotation(u *unstructured.Unstructured, key string, masked map[string]any) {
	if u == nil || masked == nil {
		return
	}
	a := u.GetAnnotations()
	a[key] = masked[key].(string)
	u.SetAnnotations(a)
}

// copyOrNil is a deep copy of u, which may be nil.
func copyOrNil(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	return u.DeepCopy()
}
