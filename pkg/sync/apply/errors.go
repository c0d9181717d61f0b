package apply

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// ObjectError is a failure of one object, named the way users write it:
// "apps/v1 Deployment web/nginx".
type ObjectError struct {
	Object string
	Err    error
	// terminal is true when retrying without a change in git cannot help.
	terminal bool
}

func (e *ObjectError) Error() string  { return e.Object + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error  { return e.Err }
func (e *ObjectError) Terminal() bool { return e.terminal }

// objectRef formats an object as "apiVersion Kind namespace/name".
func objectRef(u *unstructured.Unstructured) string {
	name := u.GetName()
	if ns := u.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return u.GetAPIVersion() + " " + u.GetKind() + " " + name
}

// idRef formats an id (which has no version) as "Kind.group namespace/name".
func idRef(id object.ObjMetadata) string {
	kind := id.GroupKind.Kind
	if id.GroupKind.Group != "" {
		kind += "." + id.GroupKind.Group
	}
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "/" + name
	}
	return kind + " " + name
}

// invalid is a terminal error for bad input found before any request.
func invalid(ref string, format string, args ...any) *ObjectError {
	return &ObjectError{Object: ref, Err: fmt.Errorf(format, args...), terminal: true}
}

// requestError wraps an API error, classifying it: the server refusing the
// object (4xx but 408/429) is terminal, everything else may pass on a retry.
func requestError(ref string, err error) *ObjectError {
	return &ObjectError{Object: ref, Err: err, terminal: isTerminalAPIError(err)}
}

func isTerminalAPIError(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	code := status.Status().Code
	switch {
	case code == 408 || code == 429:
		return false
	case code >= 400 && code < 500:
		return true
	}
	return false
}
