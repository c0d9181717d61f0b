package sync_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// A sync that runs once (gitsync sync) keeps which versions of its objects
// it found up to date and Current, and the next one does not read them
// again; it still undoes a hand edit, which makes a new version.
func TestOnceKeepsWhatItFoundUpToDate(t *testing.T) {
	ns := testenv.Namespace(t)
	repo := gitserver.NewRepo(t)
	files := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		files[name+".yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {key: one}\n", name)
	}
	files["svc.yaml"] = "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n"
	repo.Commit(t, "objects", files)
	cache := t.TempDir()
	once := func(t *testing.T) (map[string]string, *gsync.Result) {
		t.Helper()
		s := newSyncer(t, testenv.Config(t), repo, ns, "app", func(o *gsync.Options) {
			o.Once, o.Wait, o.Source.CacheDir = true, true, cache
		})
		r := mustSync(t, s)
		got := map[string]string{}
		for _, c := range r.Applied.Changes {
			got[c.ID.Name] = fmt.Sprintf("%s known=%v", c.Action, c.Known)
		}
		for _, h := range r.Health {
			if h.Status != status.CurrentStatus {
				t.Errorf("%s is %s: %s", h.Ref, h.Status, h.Message)
			}
		}
		if len(r.Health) != len(files) {
			t.Errorf("the health of %d objects, want %d", len(r.Health), len(files))
		}
		return got, r
	}
	// The first run creates them, and keeps the versions the server answered
	// with, all Current; the next finds them so without reading them.
	created, _ := once(t)
	for name, state := range created {
		if state != "created known=false" {
			t.Errorf("the first run: %s %s", name, state)
		}
	}
	t.Run("the next run does not read them again", func(t *testing.T) {
		got, _ := once(t)
		for name, state := range got {
			if state != "unchanged known=true" {
				t.Errorf("%s: %s, want unchanged known=true", name, state)
			}
		}
	})
	t.Run("a hand edit is read and undone", func(t *testing.T) {
		cms := clientset(t).CoreV1().ConfigMaps(ns)
		b, err := cms.Get(t.Context(), "b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b.Data["key"] = "edited"
		if _, err := cms.Update(t.Context(), b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, _ := once(t)
		if got["b"] != "configured known=false" || got["a"] != "unchanged known=true" {
			t.Errorf("after a hand edit of b: %v", got)
		}
		if b, err := cms.Get(t.Context(), "b", metav1.GetOptions{}); err != nil || b.Data["key"] != "one" {
			t.Errorf("b after the sync: %v, %v; want the edit undone", b.Data, err)
		}
		if again, _ := once(t); again["b"] != "unchanged known=true" {
			t.Errorf("the run after b was undone: %v; want the version it wrote known", again)
		}
	})
	t.Run("a damaged record is no record", func(t *testing.T) {
		records, err := filepath.Glob(filepath.Join(cache, "known", "*"))
		if err != nil || len(records) != 1 {
			t.Fatalf("records kept: %v, %v; want one", records, err)
		}
		if err := os.WriteFile(records[0], []byte("gitsync-known 1\nnot a line"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := once(t)
		for name, state := range got {
			if state != "unchanged known=false" {
				t.Errorf("%s: %s, want unchanged known=false", name, state)
			}
		}
	})
}
