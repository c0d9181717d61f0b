package apply

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

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
	return refOf(u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName())
}

// refOf is objectRef of the object these name.
func refOf(apiVersion, kind, namespace, name string) string {
	if namespace != "" {
		name = namespace + "/" + name
	}
	return apiVersion + " " + kind + " " + name
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

// requestError wraps an API error, classifying it (see isTerminalAPIError).
func requestError(ref string, err error) *ObjectError {
	return &ObjectError{Object: ref, Err: err, terminal: isTerminalAPIError(err)}
}

// isTerminalAPIError reports whether the API server gives this answer to the
// same object whatever else changes in the cluster: the object is invalid
// (422 from validation, 400, or the 500 of an object that does not fit its
// schema), too large (413), or its fields are held by another server-side
// applier (a 409 naming field managers). Every other
// answer may change without a new commit, so it is retried: a namespace or
// a CRD created (404), a permission granted or quota freed (403), an
// admission webhook or policy changed (whatever code it chose), the server
// back (5xx, 408, 429), and errors that are not API answers at all.
func isTerminalAPIError(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	st := status.Status()
	if admissionDenial(st.Message) {
		return false
	}
	switch st.Code {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		return true
	case http.StatusConflict:
		return len(conflictingManagers(err)) > 0
	case http.StatusInternalServerError:
		return untypable(st.Message)
	}
	return false
}

// untypable reports whether a 500 is server-side apply failing to read the
// object against its schema (a number where a string belongs: `.stringData.pin:
// expected string, got …`). The API server answers that with 500, not 422, but
// the same object always gets it.
func untypable(message string) bool {
	return strings.HasPrefix(message, "failed to create typed patch object ")
}

// admissionDenial reports whether message is an admission webhook's or an
// admission policy's refusal. Those choose their own status code (a webhook's
// is 400 unless it says otherwise, a policy's 422), yet their verdict depends
// on their configuration and on other objects, not only on this one.
func admissionDenial(message string) bool {
	return strings.Contains(message, "admission webhook ") && strings.Contains(message, " denied the request") ||
		strings.Contains(message, "AdmissionPolicy '") && strings.Contains(message, " denied request")
}
