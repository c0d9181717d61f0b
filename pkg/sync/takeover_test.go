package sync_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// shared is the ConfigMap both syncs render, with what each writes in it.
func shared(value, annotations string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared" + annotations + "}\ndata: {value: '" + value + "'}\n"
}

func TestOwnership(t *testing.T) {
	t.Run("refuses an object of another sync, applies the rest and prunes nothing", func(t *testing.T) {
		ns, _, b, repoB := twoSyncs(t)
		repoB.Commit(t, "take shared, change b1", map[string]string{"shared.yaml": shared("b", ""), "b1.yaml": cm("b1", "2")})
		repoB.Remove(t, "b2.yaml")

		r, err := b.Once(t.Context())
		if err == nil {
			t.Fatal("sync b applied sync a's object")
		}
		for _, want := range []string{"v1 ConfigMap " + ns + "/shared", "belongs to sync " + ns + "/a", "remove it from one of the two syncs", "gitsync.io/force: enabled", "--force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if !gsync.IsTerminal(err) {
			t.Errorf("the refusal is not terminal: %v", err)
		}
		if r.Pruned != nil {
			t.Errorf("a failed sync pruned %v", r.Pruned.Changes)
		}
		assertConfigMaps(t, ns, []string{"b2"}, nil)
		assertData(t, ns, "b1", "2")     // the other objects still apply
		assertData(t, ns, "shared", "a") // the refused one is not written
		assertOwner(t, ns, "shared", "a")
	})

	t.Run("takes an object over when annotated, tells both syncs, and the former owner lets it go without deleting it", func(t *testing.T) {
		ns, a, b, repoB := twoSyncs(t)
		repoB.Commit(t, "take shared", map[string]string{"shared.yaml": shared("b", ", annotations: {gitsync.io/force: enabled}")})

		r := mustSync(t, b)
		assertTakenOver(t, r, ns)
		assertData(t, ns, "shared", "b")
		assertOwner(t, ns, "shared", "b")
		waitEvent(t, ns, "b", gsync.ReasonTakenOver, "ConfigMap "+ns+"/shared taken over from sync "+ns+"/a")
		waitEvent(t, ns, "a", gsync.ReasonTakenOver, "ConfigMap "+ns+"/shared taken over by sync "+ns+"/b")

		if _, err := a.Once(t.Context()); err == nil || !strings.Contains(err.Error(), "belongs to sync "+ns+"/b") {
			t.Errorf("sync a, which still renders it, took it back: %v", err)
		}
		assertOwner(t, ns, "shared", "b")

		a.repo.Remove(t, "shared.yaml")
		mustSync(t, a.Syncer)
		assertConfigMaps(t, ns, []string{"shared"}, nil)
		assertOwner(t, ns, "shared", "b")
		assertRecord(t, ns, "a", "a1")
	})

	t.Run("takes an object over with Force", func(t *testing.T) {
		ns, _, _, repoB := twoSyncs(t)
		repoB.Commit(t, "take shared", map[string]string{"shared.yaml": shared("b", "")})
		forced := newSyncer(t, testenv.Config(t), repoB, ns, "b", func(o *gsync.Options) { o.Force = true })

		r := mustSync(t, forced)
		assertTakenOver(t, r, ns)
		assertOwner(t, ns, "shared", "b")
		waitEvent(t, ns, "a", gsync.ReasonTakenOver, "ConfigMap "+ns+"/shared taken over by sync "+ns+"/b")
	})
}

// syncOf is a Syncer and its repository.
type syncOf struct {
	*gsync.Syncer
	repo *gitserver.Repo
}

// twoSyncs sets up sync a, which applied shared and a1, and sync b, which
// applied b1 and b2, in one namespace.
func twoSyncs(t *testing.T) (ns string, a syncOf, b *gsync.Syncer, repoB *gitserver.Repo) {
	t.Helper()
	ns = testenv.Namespace(t)
	a.repo, repoB = gitserver.NewRepo(t), gitserver.NewRepo(t)
	a.repo.Commit(t, "a", map[string]string{"shared.yaml": shared("a", ""), "a1.yaml": cm("a1", "1")})
	repoB.Commit(t, "b", map[string]string{"b1.yaml": cm("b1", "1"), "b2.yaml": cm("b2", "1")})
	a.Syncer = newSyncer(t, testenv.Config(t), a.repo, ns, "a")
	b = newSyncer(t, testenv.Config(t), repoB, ns, "b")
	mustSync(t, a.Syncer)
	mustSync(t, b)
	return ns, a, b, repoB
}

func assertTakenOver(t *testing.T, r *gsync.Result, ns string) {
	t.Helper()
	for _, c := range r.Applied.Changes {
		if c.ID.Name == "shared" {
			if c.TakenFrom != apply.SyncLabel(ns, "a") || c.Action != apply.Configured {
				t.Errorf("shared: %s, taken from %q; want configured, taken from sync a", c.Action, c.TakenFrom)
			}
			return
		}
	}
	t.Error("shared was not applied")
}

func assertData(t *testing.T, ns, name, want string) {
	t.Helper()
	got, err := clientset(t).CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["value"] != want {
		t.Errorf("ConfigMap %s has value %q, want %q", name, got.Data["value"], want)
	}
}

func assertOwner(t *testing.T, ns, name, sync string) {
	t.Helper()
	got, err := clientset(t).CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := apply.SyncLabel(ns, sync); got.Labels[apply.LabelSync] != want {
		t.Errorf("ConfigMap %s is labelled %s=%q, want %q", name, apply.LabelSync, got.Labels[apply.LabelSync], want)
	}
}
