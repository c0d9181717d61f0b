package render

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestValidate(t *testing.T) {
	obj := func(file, apiVersion, kind, namespace, name string) object {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(namespace)
		u.SetName(name)
		return object{file: file, u: u, head: headOf(u)}
	}
	cases := []struct {
		name string
		objs []object
		want []string // each error, in order
	}{
		{
			name: "accepts distinct objects",
			objs: []object{obj("a.yaml", "apps/v1", "Deployment", "web", "nginx"), obj("a.yaml", "v1", "Service", "web", "nginx")},
		},
		{
			name: "reports every object missing a field, and what is missing",
			objs: []object{obj("a.yaml", "", "ConfigMap", "", "x"), obj("b.yaml", "v1", "", "", "")},
			want: []string{
				"a.yaml: ConfigMap x: invalid object: missing apiVersion; fix: set apiVersion",
				"b.yaml: v1: invalid object: missing kind, metadata.name; fix: set kind and metadata.name",
			},
		},
		{
			name: "treats two versions of one group as the same object",
			objs: []object{obj("a.yaml", "apps/v1", "Deployment", "web", "nginx"), obj("b.yaml", "apps/v1beta1", "Deployment", "web", "nginx")},
			want: []string{"b.yaml: apps/v1beta1 Deployment web/nginx: duplicate object: also defined in a.yaml; fix: keep one definition, or give one of them another name"},
		},
		{
			name: "tells objects apart by group, kind, namespace and name",
			objs: []object{
				obj("a.yaml", "v1", "ConfigMap", "web", "x"), obj("a.yaml", "example.com/v1", "ConfigMap", "web", "x"),
				obj("a.yaml", "v1", "Secret", "web", "x"), obj("a.yaml", "v1", "ConfigMap", "api", "x"), obj("a.yaml", "v1", "ConfigMap", "web", "y"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := validate(tc.objs); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateErrorsAreTerminal(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"kind": "ConfigMap"}}
	err := validate([]object{{file: "a.yaml", u: u, head: headOf(u)}})
	var terminal interface{ Terminal() bool }
	if !errors.As(err, &terminal) || !terminal.Terminal() {
		t.Errorf("errors.As(%v, Terminal) found nothing terminal", err)
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		name string
		obj  map[string]any
		want string
	}{
		{"names a namespaced object", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"namespace": "web", "name": "nginx"}}, "apps/v1 Deployment web/nginx"},
		{"names an object without a namespace", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "web"}}, "v1 Namespace web"},
		{"leaves out what is missing", map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"namespace": "web"}}, "ConfigMap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(&unstructured.Unstructured{Object: tc.obj}); got != tc.want {
				t.Errorf("describe = %q, want %q", got, tc.want)
			}
		})
	}
}
