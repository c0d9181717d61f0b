package apply

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func secret(fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"}}}
	for k, v := range fields {
		u.Object[k] = v
	}
	return u
}

func TestMaskSecret(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		before, after         *unstructured.Unstructured
		wantBefore, wantAfter map[string]any
	}{{
		name: "marks changed, kept, added and removed keys without their values",
		before: secret(map[string]any{"data": map[string]any{
			"changed": b64("old"), "kept": b64("same"), "removed": b64("gone")}}),
		after: secret(map[string]any{"data": map[string]any{
			"changed": b64("new"), "kept": b64("same"), "added": b64("fresh")}}),
		wantBefore: map[string]any{"changed": maskBefore, "kept": mask, "removed": mask},
		wantAfter:  map[string]any{"changed": maskAfter, "kept": mask, "added": mask},
	}, {
		name:       "compares stringData as the data the server would store",
		before:     secret(map[string]any{"data": map[string]any{"kept": b64("same"), "changed": b64("old")}}),
		after:      secret(map[string]any{"stringData": map[string]any{"kept": "same", "changed": "new"}}),
		wantBefore: map[string]any{"kept": mask, "changed": maskBefore},
		wantAfter:  map[string]any{"kept": mask, "changed": maskAfter},
	}, {
		name:      "lets stringData override data as the server does",
		before:    secret(map[string]any{"data": map[string]any{"k": b64("v")}}),
		after:     secret(map[string]any{"data": map[string]any{"k": b64("other")}, "stringData": map[string]any{"k": "v"}}),
		wantAfter: map[string]any{"k": mask}, wantBefore: map[string]any{"k": mask},
	}, {
		name:       "masks every key of a Secret being created",
		after:      secret(map[string]any{"data": map[string]any{"a": b64("x")}, "stringData": map[string]any{"b": "y"}}),
		wantBefore: nil,
		wantAfter:  map[string]any{"a": mask, "b": mask},
	}, {
		name:       "masks every key of a Secret being deleted",
		before:     secret(map[string]any{"data": map[string]any{"a": b64("x")}}),
		wantBefore: map[string]any{"a": mask},
	}, {
		name:       "masks values that are not base64 or not strings",
		before:     secret(map[string]any{"data": map[string]any{"a": "not base64!"}}),
		after:      secret(map[string]any{"data": map[string]any{"a": int64(1234)}, "stringData": "oops"}),
		wantBefore: map[string]any{"a": maskBefore},
		wantAfter:  map[string]any{"a": maskAfter, "": mask},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			gotBefore, gotAfter := maskSecret(tc.before, tc.after)
			if diff := cmp.Diff(tc.wantBefore, dataOf(gotBefore)); diff != "" {
				t.Errorf("before (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAfter, dataOf(gotAfter)); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
			if gotAfter != nil && gotAfter.Object["stringData"] != nil {
				t.Errorf("stringData is still shown: %v", gotAfter.Object["stringData"])
			}
		})
	}
	t.Run("masks kubectl's copy of the object in its annotation", func(t *testing.T) {
		before := secret(map[string]any{"data": map[string]any{"a": b64("x")}})
		before.SetAnnotations(map[string]string{lastApplied: `{"data":{"a":"` + b64("x") + `"}}`, "team": "db"})
		after := before.DeepCopy()
		after.SetAnnotations(map[string]string{lastApplied: `{"data":{"a":"` + b64("y") + `"}}`, "team": "db"})
		gotBefore, gotAfter := maskSecret(before, after)
		want := map[string]string{lastApplied: maskBefore, "team": "db"}
		if diff := cmp.Diff(want, gotBefore.GetAnnotations()); diff != "" {
			t.Errorf("before (-want +got):\n%s", diff)
		}
		want[lastApplied] = maskAfter
		if diff := cmp.Diff(want, gotAfter.GetAnnotations()); diff != "" {
			t.Errorf("after (-want +got):\n%s", diff)
		}
	})
	t.Run("leaves the objects it was given and other kinds alone", func(t *testing.T) {
		s := secret(map[string]any{"data": map[string]any{"a": b64("x")}})
		maskSecret(s, s)
		if got := dataOf(s)["a"]; got != b64("x") {
			t.Errorf("the given Secret changed: a = %v", got)
		}
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"a": "x"}}}
		if b, _ := maskSecret(cm, cm); dataOf(b)["a"] != "x" {
			t.Errorf("a ConfigMap was masked: %v", dataOf(b))
		}
	})
}

func dataOf(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	m, _ := u.Object["data"].(map[string]any)
	return m
}
