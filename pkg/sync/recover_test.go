package sync_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/object"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestInventoryRecovery(t *testing.T) {
	// Each case runs for a sync that lists the cluster itself, and for one
	// made as a Manager makes them, which recovers from one census (and, where
	// a type may not be listed cluster-wide, a rules review per namespace).
	type recoverer func(t *testing.T, cfg *rest.Config, repo *gitserver.Repo, ns string) *gsync.Syncer
	recoverers := []struct {
		name string
		new  recoverer
	}{
		{"", func(t *testing.T, cfg *rest.Config, repo *gitserver.Repo, ns string) *gsync.Syncer {
			return newSyncer(t, cfg, repo, ns, "apps")
		}},
		{" (a Manager's sync, from a census)", func(t *testing.T, cfg *rest.Config, repo *gitserver.Repo, ns string) *gsync.Syncer {
			return newManagedSyncer(t, cfg, repo, ns, "apps")
		}},
	}
	for _, rc := range recoverers {
		t.Run("prunes what left git while the record was lost, and nothing else"+rc.name, func(t *testing.T) {
			ns, repo := testenv.Namespace(t), gitserver.NewRepo(t)
			repo.Commit(t, "three", map[string]string{"a.yaml": cm("a", "1"), "b.yaml": cm("b", "1"), "c.yaml": cm("c", "1")})
			mustSync(t, newSyncer(t, testenv.Config(t), repo, ns, "apps"))
			unrelated := createUnrelated(t, ns)
			deleteRecord(t, ns, "apps")
			repo.Remove(t, "b.yaml")

			r := mustSync(t, rc.new(t, testenv.Config(t), repo, ns))
			if diff := cmp.Diff(&gsync.Recovery{Objects: 3}, r.Recovery); diff != "" {
				t.Errorf("recovery (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"b"}, deleted(r)); diff != "" {
				t.Errorf("pruned (-want +got):\n%s", diff)
			}
			assertConfigMaps(t, ns, append([]string{"a", "c"}, unrelated...), []string{"b"})
			assertRecord(t, ns, "apps", "a", "c")
			waitEvent(t, ns, "apps", gsync.ReasonRecovered, "inventory recovered: 3 objects")
		})

		t.Run("does not prune a kind it may not list, and says which"+rc.name, func(t *testing.T) {
			ns, repo := testenv.Namespace(t), gitserver.NewRepo(t)
			secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n"
			repo.Commit(t, "three", map[string]string{"a.yaml": cm("a", "1"), "b.yaml": cm("b", "1"), "s.yaml": secret})
			mustSync(t, newSyncer(t, testenv.Config(t), repo, ns, "apps"))
			deleteRecord(t, ns, "apps")
			repo.Remove(t, "b.yaml", "s.yaml")

			r := mustSync(t, rc.new(t, serviceAccount(t, ns), repo, ns))
			if r.Recovery == nil || !slices.Contains(r.Recovery.Unlisted, "secrets") || slices.Contains(r.Recovery.Unlisted, "configmaps") {
				t.Errorf("recovery %+v: want secrets and not configmaps unlisted", r.Recovery)
			}
			if r.Recovery != nil && r.Recovery.Objects != 2 {
				t.Errorf("recovered %d objects, want the 2 ConfigMaps", r.Recovery.Objects)
			}
			if diff := cmp.Diff([]string{"b"}, deleted(r)); diff != "" {
				t.Errorf("pruned (-want +got):\n%s", diff)
			}
			if _, err := clientset(t).CoreV1().Secrets(ns).Get(t.Context(), "s", metav1.GetOptions{}); err != nil {
				t.Errorf("the Secret the sync could not list is gone: %v", err)
			}
			waitEvent(t, ns, "apps", gsync.ReasonRecovered, "could not list")
		})
	}

	t.Run("recovers after a sync that failed before applying saved a record without objects", func(t *testing.T) {
		ns, repo := testenv.Namespace(t), gitserver.NewRepo(t)
		repo.Commit(t, "two", map[string]string{"a.yaml": cm("a", "1"), "b.yaml": cm("b", "1")})
		s := newSyncer(t, testenv.Config(t), repo, ns, "apps")
		mustSync(t, s)
		deleteRecord(t, ns, "apps")
		repo.Remove(t, "b.yaml")
		repo.Commit(t, "broken", map[string]string{"bad.yaml": "kind: [\n"})
		if _, err := s.Once(t.Context()); err == nil {
			t.Fatal("a sync of broken YAML succeeded")
		}
		repo.Remove(t, "bad.yaml")

		r := mustSync(t, s)
		if diff := cmp.Diff([]string{"b"}, deleted(r)); diff != "" {
			t.Errorf("pruned (-want +got):\n%s", diff)
		}
		assertRecord(t, ns, "apps", "a")
	})

	t.Run("a new sync finds nothing to recover and prunes nothing", func(t *testing.T) {
		ns, repo := testenv.Namespace(t), gitserver.NewRepo(t)
		repo.Commit(t, "one", map[string]string{"a.yaml": cm("a", "1")})
		unrelated := createUnrelated(t, ns)
		r := mustSync(t, newSyncer(t, testenv.Config(t), repo, ns, "apps"))
		if diff := cmp.Diff(&gsync.Recovery{}, r.Recovery); diff != "" {
			t.Errorf("recovery (-want +got):\n%s", diff)
		}
		if r.Pruned != nil {
			t.Errorf("pruned %v", r.Pruned.Changes)
		}
		assertConfigMaps(t, ns, append([]string{"a"}, unrelated...), nil)
	})
}

// createUnrelated creates ConfigMaps the sync must leave alone: one made by
// hand and one of another sync; it returns their names.
func createUnrelated(t *testing.T, ns string) []string {
	t.Helper()
	for name, labels := range map[string]map[string]string{
		"by-hand":    nil,
		"other-sync": {apply.LabelSync: apply.SyncLabel(ns, "other")},
	} {
		obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		if _, err := clientset(t).CoreV1().ConfigMaps(ns).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"by-hand", "other-sync"}
}

// deleteRecord deletes the inventory ConfigMap of the sync called name.
func deleteRecord(t *testing.T, ns, name string) {
	t.Helper()
	if err := clientset(t).CoreV1().ConfigMaps(ns).Delete(t.Context(), inventory.ConfigMapName(name), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// deleted names the objects the sync pruned.
func deleted(r *gsync.Result) []string {
	var names []string
	if r.Pruned != nil {
		for _, id := range r.Pruned.IDs(apply.Deleted) {
			names = append(names, id.Name)
		}
	}
	slices.Sort(names)
	return names
}

// assertConfigMaps checks that the ConfigMaps present exist and the absent
// ones do not.
func assertConfigMaps(t *testing.T, ns string, present, absent []string) {
	t.Helper()
	for _, name := range present {
		if _, err := clientset(t).CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s: %v", name, err)
		}
	}
	for _, name := range absent {
		if _, err := clientset(t).CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s still exists (err %v)", name, err)
		}
	}
}

// assertRecord checks that the sync's inventory holds exactly the ConfigMaps
// named.
func assertRecord(t *testing.T, ns, sync string, configMaps ...string) {
	t.Helper()
	rec, err := inventory.NewStore(clientset(t).CoreV1(), ns, sync).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var want object.ObjMetadataSet
	for _, name := range configMaps {
		want = append(want, object.ObjMetadata{GroupKind: schema.GroupKind{Kind: "ConfigMap"}, Namespace: ns, Name: name})
	}
	if !want.Equal(rec.Objects) {
		t.Errorf("the inventory of %s holds %v, want %v", sync, rec.Objects, want)
	}
}

// serviceAccount returns a config acting as a ServiceAccount of ns that may
// do anything with ConfigMaps of ns, and get, create, patch and delete its
// Secrets, but not list them.
func serviceAccount(t *testing.T, ns string) *rest.Config {
	t.Helper()
	cs := clientset(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "gitsync"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "patch", "update", "delete"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "gitsync"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "gitsync"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "gitsync", Namespace: ns}},
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "gitsync"}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.Config(t)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":gitsync"}
	return cfg
}

func TestRecoveryString(t *testing.T) {
	many := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, tc := range []struct {
		name string
		rc   gsync.Recovery
		want string
	}{
		{"says how many objects were found", gsync.Recovery{Objects: 3}, "inventory recovered: 3 objects"},
		{"names the types it could not list", gsync.Recovery{Objects: 1, Unlisted: []string{"secrets", "roles.rbac.authorization.k8s.io"}},
			"inventory recovered: 1 objects; could not list secrets, roles.rbac.authorization.k8s.io: objects of these types are not pruned"},
		{"names the first six of many, then how many more", gsync.Recovery{Unlisted: many},
			"inventory recovered: 0 objects; could not list a, b, c, d, e, f and 2 more: objects of these types are not pruned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.rc.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
