package apply

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// upToDate reports whether live already is what applying desired would make
// it, without asking the server: the digest of what gitsync last applied is
// the desired one (so no field left git since), and every field git sets has
// the same value live (so nobody edited one by hand). Fields others added,
// server defaults and status are not gitsync's and do not count.
func upToDate(desired, live *unstructured.Unstructured) bool {
	if live.GetDeletionTimestamp() != nil {
		return false
	}
	if live.GetAnnotations()[AnnotationDigest] != desired.GetAnnotations()[AnnotationDigest] {
		return false
	}
	secret := isSecret(desired)
	if secret && !sameSecretData(desired, live) {
		return false
	}
	for k, v := range desired.Object {
		if k == "status" || (secret && (k == "data" || k == "stringData")) {
			continue
		}
		if !contains(live.Object[k], v) {
			return false
		}
	}
	return true
}

// sameSecretData reports whether the live Secret holds every value desired
// sets, in data or stringData: the server merges stringData into data and
// keeps no stringData, so a Secret written with it would otherwise never be
// up to date, and be applied again at every sync.
func sameSecretData(desired, live *unstructured.Unstructured) bool {
	have := secretValues(live)
	for k, v := range secretValues(desired) {
		if lv, ok := have[k]; !ok || string(lv) != string(v) {
			return false
		}
	}
	return true
}

// contains reports whether live holds every value of desired. Lists must have
// the same length, item by item. Numbers compare by value whatever their Go
// type, and resource quantities by amount ("1000m" is "1"), as the server
// normalises them. An empty string, false or 0 matches an absent field: the
// server drops those from built-in types (omitempty), as it does the
// `value: ""` of an env var in Calico's own tigera-operator.yaml.
func contains(live, desired any) bool {
	if live == nil && isZero(desired) {
		return true
	}
	switch d := desired.(type) {
	case nil:
		return true
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		for k, dv := range d {
			if !contains(l[k], dv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		if len(l) != len(d) {
			return false
		}
		for i := range d {
			if !contains(l[i], d[i]) {
				return false
			}
		}
		return true
	case string:
		l, ok := live.(string)
		return ok && (l == d || sameQuantity(l, d))
	}
	if dn, ok := number(desired); ok {
		ln, ok := number(live)
		return ok && ln == dn
	}
	return live == desired
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func sameQuantity(a, b string) bool {
	qa, err := resource.ParseQuantity(a)
	if err != nil {
		return false
	}
	qb, err := resource.ParseQuantity(b)
	return err == nil && qa.Cmp(qb) == 0
}

func isZero(v any) bool {
	switch v := v.(type) {
	case string:
		return v == ""
	case bool:
		return !v
	}
	n, ok := number(v)
	return ok && n == 0
}
