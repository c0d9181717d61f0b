package inventory_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

func id(group, kind, ns, name string) object.ObjMetadata {
	return object.ObjMetadata{GroupKind: schema.GroupKind{Group: group, Kind: kind}, Namespace: ns, Name: name}
}

func TestEncoding(t *testing.T) {
	sortIDs := cmpopts.SortSlices(func(a, b object.ObjMetadata) bool { return a.String() < b.String() })
	for _, tc := range []struct {
		name string
		ids  object.ObjMetadataSet
	}{
		{"round-trips an empty set", nil},
		{"round-trips cluster-scoped and namespaced objects of several kinds", object.ObjMetadataSet{
			id("", "Namespace", "", "web"),
			id("apps", "Deployment", "web", "nginx"),
			id("", "ConfigMap", "web", "b"),
			id("", "ConfigMap", "web", "a"),
			id("", "ConfigMap", "other", "a"),
			id("rbac.authorization.k8s.io", "ClusterRole", "", "system:gitsync"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := inventory.Encode(tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			got, err := inventory.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.ids, got, sortIDs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("encodes the same set in any order to the same bytes", func(t *testing.T) {
		a, _ := inventory.Encode(object.ObjMetadataSet{id("", "ConfigMap", "x", "a"), id("apps", "Deployment", "x", "d"), id("", "ConfigMap", "x", "b")})
		b, _ := inventory.Encode(object.ObjMetadataSet{id("", "ConfigMap", "x", "b"), id("", "ConfigMap", "x", "a"), id("apps", "Deployment", "x", "d")})
		if string(a) != string(b) {
			t.Errorf("encodings differ:\n%s\n%s", a, b)
		}
	})

	t.Run("fits 10,000 objects well under 1 MiB", func(t *testing.T) {
		var ids object.ObjMetadataSet
		kinds := []schema.GroupKind{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}, {Kind: "Service"}}
		for i := range 10000 {
			gk := kinds[i%len(kinds)]
			ids = append(ids, id(gk.Group, gk.Kind, fmt.Sprintf("team-%02d", i%20), fmt.Sprintf("application-%05d", i)))
		}
		data, err := inventory.Encode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 512<<10 {
			t.Errorf("10,000 ids encode to %d KiB, want at most 512 KiB", len(data)>>10)
		}
		t.Logf("10,000 ids encode to %d KiB", len(data)>>10)
	})

	t.Run("refuses an unknown format version", func(t *testing.T) {
		if _, err := inventory.Decode([]byte(`{"v":99,"kinds":[]}`)); err == nil {
			t.Error("decoded format version 99 without error")
		}
	})
}
