package render

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objectKey is what makes an object distinct in a cluster. The namespace is compared as
// rendered: whether a kind is namespaced is the API server's to say.
type objectKey struct {
	group, kind, namespace, name string
}

// validate checks that every object has an apiVersion, a kind and a name, and that no object
// appears twice. It reports every problem it finds.
func validate(objs []object) error {
	var errs []error
	first := map[objectKey]string{}
	for _, o := range objs {
		if err := checkFields(o); err != nil {
			errs = append(errs, err)
			continue
		}
		key := o.head.key()
		if file, dup := first[key]; dup {
			errs = append(errs, &Error{Problem: DuplicateObject, File: o.file, Object: o.head.String(),
				Detail: fmt.Sprintf("also defined in %s", file), Fix: "keep one definition, or give one of them another name"})
			continue
		}
		first[key] = o.file
	}
	return errors.Join(errs...)
}

func checkFields(o object) error {
	var missing []string
	for _, f := range [...]struct{ name, value string }{
		{"apiVersion", o.head.APIVersion}, {"kind", o.head.Kind}, {"metadata.name", o.head.Metadata.Name},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &Error{Problem: InvalidObject, File: o.file, Object: o.head.String(),
		Detail: "missing " + strings.Join(missing, ", "), Fix: "set " + strings.Join(missing, " and ")}
}

func (h head) key() objectKey {
	gv, _ := schema.ParseGroupVersion(h.APIVersion)
	return objectKey{group: gv.Group, kind: h.Kind, namespace: h.Metadata.Namespace, name: h.Metadata.Name}
}

// String names an object the way errors show it: "apps/v1 Deployment web/nginx".
func (h head) String() string {
	name := h.Metadata.Name
	if ns := h.Metadata.Namespace; ns != "" && name != "" {
		name = ns + "/" + name
	}
	return strings.Join(strings.Fields(h.APIVersion+" "+h.Kind+" "+name), " ")
}

// describe is head.String of u.
func describe(u *unstructured.Unstructured) string { return headOf(u).String() }
