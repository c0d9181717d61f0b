package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestTenants runs two tenants' syncs in one Manager whose own identity may
// write nothing but its inventories: each sync applies as its tenant's
// ServiceAccount, which may write ConfigMaps in the tenant's namespace only.
func TestTenants(t *testing.T) {
	const interval = time.Second
	f := newFixture(t)
	nsA, nsB := testenv.Namespace(t), testenv.Namespace(t)
	gitsync := f.serviceAccount(t, "gitsync")
	f.grant(t, f.home, "inventory",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		rbacv1.PolicyRule{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"}, ResourceNames: []string{"team-a", "team-b"}})
	configMaps := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}}
	for sa, ns := range map[string]string{"team-a": nsA, "team-b": nsB, "team-c": nsB} {
		if _, err := f.admin.CoreV1().ServiceAccounts(f.home).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.grantTo(t, sa, ns, sa, configMaps)
	}
	f.repo.Commit(t, "two tenants", map[string]string{
		"team-a/a.yaml":  configMap(nsA, "a", "one"),
		"team-a/a2.yaml": configMap(nsA, "a2", "one"),
		"team-b/b.yaml":  configMap(nsB, "b", "one"),
		"team-c/c.yaml":  configMap(nsB, "c", "one"),
	})
	tenant := func(name string) Managed {
		o := f.options(name, name)
		o.ServiceAccountName = name
		return Managed{Options: o, Interval: interval}
	}
	m, err := NewManager(gitsync, []Managed{tenant("team-a"), tenant("team-b"), tenant("team-c")}, ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m.Start)

	eventually(t, 30*time.Second, "both tenants Ready", func() bool {
		return f.status(t, "team-a").Ready && f.status(t, "team-b").Ready
	})
	if !f.exists(t, nsA, "a") || !f.exists(t, nsB, "b") {
		t.Fatal("the tenants' ConfigMaps were not applied")
	}
	// gitsync may not impersonate team-c: its sync fails, saying so.
	eventually(t, 30*time.Second, "team-c failing", func() bool { return f.status(t, "team-c").Error != "" })
	if st := f.status(t, "team-c"); !strings.Contains(st.Error, `cannot impersonate resource "serviceaccounts"`) || f.exists(t, nsB, "c") {
		t.Errorf("a sync as a ServiceAccount gitsync may not impersonate: %+v", st)
	}

	// Tenant A, which may read ConfigMaps in tenant B's namespace, reaches
	// into it and into the cluster scope, and drops a2; tenant B changes its
	// ConfigMap in the same commit.
	f.grantTo(t, "team-a", nsB, "team-a-reads", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}})
	f.repo.Commit(t, "tenant A reaches out", map[string]string{
		"team-a/intruder.yaml":    configMap(nsB, "intruder", "one"),
		"team-a/clusterrole.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: " + nsA + "-reader\n",
		"team-b/b.yaml":           configMap(nsB, "b", "two"),
	})
	intrusion := f.repo.Remove(t, "team-a/a2.yaml")
	eventually(t, 30*time.Second, "tenant B at the new revision", func() bool { return f.status(t, "team-b").LastAppliedRevision == intrusion })
	if b, err := f.admin.CoreV1().ConfigMaps(nsB).Get(t.Context(), "b", metav1.GetOptions{}); err != nil || b.Data["two"] == "" {
		t.Errorf("tenant B's change was not applied beside tenant A's failure: %v %v", b.Data, err)
	}
	eventually(t, 30*time.Second, "tenant A failing", func() bool { return f.status(t, "team-a").LastAttemptedRevision == intrusion })
	st := f.status(t, "team-a")
	user := fmt.Sprintf("system:serviceaccount:%s:team-a", f.home)
	for _, want := range []string{
		fmt.Sprintf(`v1 ConfigMap %s/intruder: configmaps "intruder" is forbidden: User %q cannot patch resource "configmaps" in API group "" in the namespace %q`, nsB, user, nsB),
		fmt.Sprintf(`rbac.authorization.k8s.io/v1 ClusterRole %s-reader: clusterroles.rbac.authorization.k8s.io is forbidden: User %q cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`, nsA, user),
	} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("tenant A's error does not say\n\t%s\nit is:\n%s", want, st.Error)
		}
	}
	if st.Ready || st.Stalled || !f.exists(t, nsA, "a2") || f.exists(t, nsB, "intruder") {
		t.Errorf("tenant A after a forbidden apply: %+v, a2 kept %t; want failing and retried, nothing pruned, nothing written in %s",
			st, f.exists(t, nsA, "a2"), nsB)
	}

	// Granting the rights heals the sync within an interval, with no commit.
	f.grantTo(t, "team-a", nsB, "team-a", configMaps)
	grantCluster(t, f, "team-a", nsA+"-writes-clusterroles",
		rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}})
	eventually(t, 30*time.Second, "tenant A Ready once granted", func() bool { return f.status(t, "team-a").Ready })
	if st := f.status(t, "team-a"); st.LastAppliedRevision != intrusion || !f.exists(t, nsB, "intruder") || f.exists(t, nsA, "a2") {
		t.Errorf("tenant A after the grant: %+v; want %s applied and a2 pruned", st, intrusion)
	}

	// The tenants' first runs found no inventory and recovered it from what
	// they may list; the types they may not list are no cause for a warning.
	events, err := f.admin.EventsV1().Events(f.home).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == ReasonRecovered && e.Type == corev1.EventTypeWarning {
			t.Errorf("event %s on %s: %s", e.Reason, e.Regarding.Name, e.Note)
		}
	}
}

// grantCluster gives the fixture's ServiceAccount sa cluster-wide rules,
// through a ClusterRole and ClusterRoleBinding called name.
func grantCluster(t *testing.T, f *fixture, sa, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := f.admin.RbacV1().ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.home, Name: sa}},
	}
	if _, err := f.admin.RbacV1().ClusterRoleBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = f.admin.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}
