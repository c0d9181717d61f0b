package apply

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestRequestErrorTerminal(t *testing.T) {
	configMaps := schema.GroupResource{Resource: "configmaps"}
	configMap := schema.GroupKind{Kind: "ConfigMap"}
	status := func(code int32, reason metav1.StatusReason, message string) error {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: message}}
	}
	fieldConflict := apierrors.NewApplyConflict([]metav1.StatusCause{{
		Type: metav1.CauseTypeFieldManagerConflict, Field: ".data.a", Message: `conflict with "helm" using v1`,
	}}, `Apply failed with 1 conflict: conflict with "helm" using v1: .data.a`)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"an object the validation rejects (422) is terminal",
			apierrors.NewInvalid(configMap, "web", field.ErrorList{field.Invalid(field.NewPath("data"), "bad key", "a valid config key must …")}), true},
		{"a malformed request (400) is terminal", apierrors.NewBadRequest("json: cannot unmarshal string into spec.replicas"), true},
		{"an object too large to store (413) is terminal", apierrors.NewRequestEntityTooLargeError("limit is 3145728"), true},
		{"a conflict with another server-side applier's fields is terminal", fieldConflict, true},
		{"a wrapped terminal answer stays terminal", fmt.Errorf("apply: %w", apierrors.NewBadRequest("bad")), true},
		{"a missing permission (403) is retried",
			apierrors.NewForbidden(configMaps, "web", errors.New(`User "system:serviceaccount:ops:gitsync" cannot patch resource "configmaps"`)), false},
		{"an exceeded quota (403) is retried",
			apierrors.NewForbidden(configMaps, "web", errors.New("exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2")), false},
		{"a missing namespace (404) is retried", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "apps"), false},
		{"a stale resource version (409 without field managers) is retried", apierrors.NewConflict(configMaps, "web", errors.New("the object has been modified")), false},
		{"an object that already exists (409) is retried", apierrors.NewAlreadyExists(configMaps, "web"), false},
		{"an admission webhook's denial is retried, whatever code it chose (400)",
			status(http.StatusBadRequest, "", `admission webhook "policy.example.com" denied the request: team label missing`), false},
		{"an admission webhook's denial is retried (403)",
			status(http.StatusForbidden, metav1.StatusReasonForbidden, `admission webhook "policy.example.com" denied the request: no`), false},
		{"an admission policy's denial is retried (422)",
			status(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, `configmaps "web" is forbidden: ValidatingAdmissionPolicy 'labels' with binding 'labels' denied request: team label missing`), false},
		{"an unauthorized client (401) is retried", apierrors.NewUnauthorized("token expired"), false},
		{"an object that does not fit its schema (500 from server-side apply) is terminal",
			status(http.StatusInternalServerError, metav1.StatusReasonInternalError,
				"failed to create typed patch object (default/x; /v1, Kind=Secret): .stringData.pin: expected string, got &value.valueUnstructured{Value:***}"), true},
		{"a server error (500) is retried", apierrors.NewInternalError(errors.New("etcdserver: leader changed")), false},
		{"an unavailable server (503) is retried", apierrors.NewServiceUnavailable("apiserver is shutting down"), false},
		{"throttling (429) is retried", apierrors.NewTooManyRequests("slow down", 1), false},
		{"a server timeout (504) is retried", apierrors.NewTimeoutError("request did not complete", 1), false},
		{"a request timeout (408) is retried", status(http.StatusRequestTimeout, metav1.StatusReasonTimeout, "timeout"), false},
		{"a network error is retried", errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := requestError("v1 ConfigMap apps/web", tc.err)
			if got := err.Terminal(); got != tc.want {
				t.Errorf("requestError(%v).Terminal() = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
