package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMaskError(t *testing.T) {
	s := secret(map[string]any{
		"data":       map[string]any{"token": b64("tok-plain\"quoted\"")},
		"stringData": map[string]any{"pin": int64(4321), "pass": "line1\nline2", "nested": map[string]any{"x": "deep-value"}},
	})
	status := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 422, Reason: metav1.StatusReasonInvalid,
		Message: `Secret "db" is invalid: .stringData.pin: expected string, got &value.valueUnstructured{Value:4321}; ` +
			`"line1\nline2" "deep-value" ` + b64("tok-plain\"quoted\"") + ` tok-plain\"quoted\" ` + b64("line1\nline2"),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: ".stringData.pin", Message: "got 4321"}}},
	}}
	for _, tc := range []struct {
		name  string
		err   error
		still func(error) bool // what the masked error must still be
	}{
		{"masks every value an API status quotes and keeps its reason", status, apierrors.IsInvalid},
		{"masks an object's error and keeps it terminal", &ObjectError{Object: "v1 Secret ns/db", Err: fmt.Errorf("apply: %w", status), terminal: true},
			func(err error) bool {
				var o *ObjectError
				return errors.As(err, &o) && o.Terminal() && apierrors.IsInvalid(err)
			}},
		{"masks every value another error quotes and keeps what it wraps", errors.Join(errors.New("patch: "+status.Error()), errTest),
			func(err error) bool { return errors.Is(err, errTest) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := maskError(s, tc.err)
			text := got.Error()
			var st apierrors.APIStatus
			if errors.As(got, &st) {
				text += st.Status().Message + fmt.Sprint(st.Status().Details)
			}
			for _, leak := range []string{"4321", "line1", "deep-value", "tok-plain", b64("tok-plain\"quoted\""), b64("line1\nline2")} {
				if strings.Contains(text, leak) {
					t.Errorf("error still quotes %q: %s", leak, text)
				}
			}
			if !strings.Contains(got.Error(), `Secret "db" is invalid: .stringData.pin: expected string, got &value.valueUnstructured{Value:***}`) {
				t.Errorf("error lost its text: %s", got)
			}
			if !tc.still(got) {
				t.Errorf("error lost its kind: %#v", got)
			}
		})
	}
	t.Run("keeps the status causes but masks their messages", func(t *testing.T) {
		got := maskError(s, status)
		var st apierrors.APIStatus
		if !errors.As(got, &st) {
			t.Fatalf("not an API status: %#v", got)
		}
		want := []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Field: ".stringData.pin", Message: "got ***"}}
		if diff := cmp.Diff(want, st.Status().Details.Causes); diff != "" {
			t.Errorf("causes (-want +got):\n%s", diff)
		}
		if status.ErrStatus.Details.Causes[0].Message != "got 4321" {
			t.Errorf("the original error changed")
		}
	})
	t.Run("leaves errors about other objects alone", func(t *testing.T) {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"pin": "4321"}}}
		if got := maskError(cm, status); got != error(status) {
			t.Errorf("got %v, want the error as it was", got)
		}
	})
}

var errTest = errors.New("sentinel")
