package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestTrimManagedFieldsKeepsTheManagers(t *testing.T) {
	live := &unstructured.Unstructured{}
	live.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "gitsync", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:key":{}}}`)}},
		{Manager: "helm", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:other":{}}}`)}},
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"},
	})
	trimManagedFields(live)
	for _, e := range live.GetManagedFields() {
		if e.FieldsV1 != nil {
			t.Errorf("%s keeps its field set", e.Manager)
		}
	}
	if diff := cmp.Diff([]string{"helm"}, otherAppliers(live, "gitsync")); diff != "" {
		t.Errorf("other appliers (-want +got):\n%s", diff)
	}
}
