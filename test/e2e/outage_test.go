package e2e

import (
	"fmt"
	"testing"
)

// TestApiserverOutageMidSync cuts the API server off in the middle of a sync
// that adds many objects: the sync fails without pruning, and the next one
// converges with every object present once and nothing lost.
func TestApiserverOutageMidSync(t *testing.T) {
	f, _ := syncedFixture(t)
	files := baseApp()
	for i := range 40 {
		files[fmt.Sprintf("app/extra-%02d.yaml", i)] = configMap(fmt.Sprintf("extra-%02d", i), "x")
	}
	delete(files, "app/b.yaml") // and one to prune, which must wait for a good sync
	f.repo.Commit(t, "many", files)
	f.repo.Remove(t, "app/b.yaml")

	f.api.FailAfter(12) // a few requests in, the apiserver goes away
	r := f.sync()
	if r.Code == 0 {
		t.Fatalf("sync succeeded through the outage:\n%s", r)
	}
	f.api.Recover()
	if f.get(configMaps, "b") == nil {
		t.Fatal("ConfigMap b was pruned by a failed sync")
	}

	r = f.mustSync("-o", "json")
	got := f.names(configMaps)
	if len(got) != 41 || f.get(configMaps, "b") != nil || f.get(configMaps, "extra-39") == nil {
		t.Errorf("after recovery the sync's ConfigMaps are %v, want a and extra-00..39", got)
	}
	if st := f.status(); st["ready"] != true || st["objects"] != float64(43) || st["lastAppliedRevision"] != f.repo.Head(t) {
		t.Errorf("status after recovery = %v, want ready with 43 objects at %s", st, f.repo.Head(t))
	}
}
