package inventory_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// newStore returns a store in a fresh namespace and a client to inspect it.
func newStore(t *testing.T) (*inventory.Store, *kubernetes.Clientset, string) {
	t.Helper()
	ns := testenv.Namespace(t)
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return inventory.NewStore(cs.CoreV1(), ns, "apps"), cs, ns
}

func TestStore(t *testing.T) {
	t.Run("loads an empty record when the sync never ran", func(t *testing.T) {
		s, _, _ := newStore(t)
		r, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Objects) != 0 || len(r.Status) != 0 {
			t.Errorf("got %+v, want an empty record", r)
		}
	})

	t.Run("saves and loads objects and status", func(t *testing.T) {
		s, _, _ := newStore(t)
		r, _ := s.Load(t.Context())
		r.Objects = object.ObjMetadataSet{id("apps", "Deployment", "web", "nginx"), id("", "Namespace", "", "web")}
		r.Status = []byte(`{"revision":"abc"}`)
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Objects.Equal(r.Objects) || string(got.Status) != string(r.Status) {
			t.Errorf("loaded %+v, want %+v", got, r)
		}
	})

	t.Run("does not write a record that did not change", func(t *testing.T) {
		s, cs, ns := newStore(t)
		r, _ := s.Load(t.Context())
		r.Objects = object.ObjMetadataSet{id("", "ConfigMap", ns, "a")}
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		before := resourceVersion(t, cs, ns)
		again, _ := s.Load(t.Context())
		again.Objects = object.ObjMetadataSet{id("", "ConfigMap", ns, "a")}
		if err := s.Save(t.Context(), again); err != nil {
			t.Fatal(err)
		}
		if after := resourceVersion(t, cs, ns); after != before {
			t.Errorf("resourceVersion moved from %s to %s on an unchanged save", before, after)
		}
	})

	t.Run("keeps 50,000 ids in one ConfigMap, compressed, and text again once it shrinks", func(t *testing.T) {
		s, cs, ns := newStore(t)
		r, _ := s.Load(t.Context())
		kinds := []struct{ group, kind string }{{"", "ConfigMap"}, {"apps", "Deployment"}, {"", "Service"}, {"", "Secret"}}
		for i := range 50000 {
			k := kinds[i%len(kinds)]
			r.Objects = append(r.Objects, id(k.group, k.kind, fmt.Sprintf("team-%02d", i%25), fmt.Sprintf("payments-component-%05d", i)))
		}
		r.Status = []byte("big")
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatalf("save 50,000 ids: %v", err)
		}
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), inventory.ConfigMapName("apps"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gz, text := len(cm.BinaryData["inventory.gz"]), len(cm.Data["inventory"])
		t.Logf("50,000 ids: %d bytes gzipped", gz)
		if gz == 0 || gz > 256<<10 || text != 0 {
			t.Errorf("50,000 ids stored as %d bytes of text and %d gzipped; want only gzip, well under the 1 MiB a ConfigMap holds", text, gz)
		}
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Objects.Equal(r.Objects) || string(got.Status) != "big" {
			t.Fatalf("loaded %d ids and status %q, want the 50,000 saved and %q", len(got.Objects), got.Status, "big")
		}
		before := resourceVersion(t, cs, ns)
		if err := s.Save(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		if after := resourceVersion(t, cs, ns); after != before {
			t.Errorf("an unchanged compressed record was written again (resourceVersion %s → %s)", before, after)
		}

		got.Objects = got.Objects[:10]
		if err := s.Save(t.Context(), got); err != nil {
			t.Fatal(err)
		}
		cm, err = cs.CoreV1().ConfigMaps(ns).Get(t.Context(), inventory.ConfigMapName("apps"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cm.BinaryData["inventory.gz"]; ok || cm.Data["inventory"] == "" || cm.Data["status"] != "big" {
			t.Errorf("10 ids: binaryData keys %v, %d bytes of text, status %q; want text only, and the status kept",
				slices.Collect(maps.Keys(cm.BinaryData)), len(cm.Data["inventory"]), cm.Data["status"])
		}
		small, _ := s.Load(t.Context())
		if !small.Objects.Equal(got.Objects) {
			t.Errorf("loaded %d ids, want the 10 saved", len(small.Objects))
		}
		small.Objects = r.Objects // and back to gzip
		if err := s.Save(t.Context(), small); err != nil {
			t.Fatal(err)
		}
		if big, _ := s.Load(t.Context()); !big.Objects.Equal(r.Objects) {
			t.Errorf("loaded %d ids, want the 50,000 saved again", len(big.Objects))
		}
		cm, err = cs.CoreV1().ConfigMaps(ns).Get(t.Context(), inventory.ConfigMapName("apps"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cm.Data["inventory"]; ok {
			t.Errorf("back to 50,000 ids: the text list of 10 is still there beside the gzip")
		}
	})

	t.Run("keeps a record saved without objects missing until it is recovered", func(t *testing.T) {
		s, _, _ := newStore(t)
		r, _ := s.Load(t.Context())
		if !r.Missing() {
			t.Fatal("a sync that never ran has a record that is not missing")
		}
		r.Status = []byte("failed before applying")
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(t.Context()); !got.Missing() || string(got.Status) != string(r.Status) {
			t.Errorf("after saving a status only: missing %v, status %q; want missing, with the status", got.Missing(), got.Status)
		}
		r.Recovered(nil)
		if err := s.Save(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Load(t.Context()); got.Missing() {
			t.Error("a record recovered with no objects is still missing")
		}
	})

	t.Run("refuses to overwrite a record another writer changed", func(t *testing.T) {
		s, _, _ := newStore(t)
		mine, _ := s.Load(t.Context())
		theirs, _ := s.Load(t.Context())
		theirs.Status = []byte("theirs")
		if err := s.Save(t.Context(), theirs); err != nil {
			t.Fatal(err)
		}
		mine.Status = []byte("mine")
		err := s.Save(t.Context(), mine)
		if !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
			t.Errorf("stale save: got %v, want a conflict", err)
		}
		got, _ := s.Load(t.Context())
		if diff := cmp.Diff("theirs", string(got.Status)); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}
	})
}

func resourceVersion(t *testing.T, cs *kubernetes.Clientset, ns string) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), inventory.ConfigMapName("apps"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.ResourceVersion
}

func TestSuspendAndRequestSurviveSaves(t *testing.T) {
	s, _, _ := newStore(t)
	if err := s.Suspend(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestSync(t.Context(), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Suspended || r.RequestedAt != "2023-11-14T22:13:20Z" {
		t.Fatalf("loaded %+v, want suspended and requested", r)
	}
	r.Status = []byte(`{"ready":true}`)
	if err := s.Save(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Load(t.Context())
	if !again.Suspended || again.RequestedAt == "" || string(again.Status) != `{"ready":true}` {
		t.Errorf("after a save: %+v; the annotations must stay", again)
	}
	if err := s.Suspend(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Load(t.Context()); r.Suspended {
		t.Error("still suspended after resume")
	}
}
