package sync

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestManagerHealsFixesOutsideGit: what gitsync run does when the cause of a
// failure is fixed in the cluster, not in git.
func TestManagerHealsFixesOutsideGit(t *testing.T) {
	for _, tc := range []struct {
		name string
		// broken returns the client the sync runs with and the namespace of
		// its object, which the sync cannot apply until fix runs.
		broken func(t *testing.T, f *fixture) (cfg *rest.Config, target string, fix func())
		cause  string
	}{
		{"applies into a namespace created by hand, within one interval and with no new commit", missingNamespace, "not found"},
		{"applies once a missing permission is granted by hand, within one interval and with no new commit", missingPermission, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const interval = time.Second
			f := newFixture(t)
			cfg, target, fix := tc.broken(t, f)
			rev := f.repo.Commit(t, "app", map[string]string{"app/app.yaml": configMap(target, "app", "key")})
			var sent applies
			m, err := NewManager(sent.client(cfg), []Managed{{Options: f.options("app", "app"), Interval: interval}}, ManagerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			run(t, m.Start)

			// Four failures in a row: an uncapped backoff would now wait 8s.
			eventually(t, 30*time.Second, "four attempts to apply", func() bool { return len(sent.of(target, "app")) >= 4 })
			st := f.status(t, "app")
			if st.Ready || st.Stalled || !strings.HasPrefix(st.Error, "retrying in 1s: ") || !strings.Contains(st.Error, tc.cause) ||
				st.RetryIn == nil || st.RetryIn.Duration != interval {
				t.Fatalf("status while failing: %+v; want not ready, not stalled, %q retrying in 1s", st, tc.cause)
			}
			fix()
			fixed := time.Now()
			eventually(t, 10*time.Second, "the object applied", func() bool { return f.exists(t, target, "app") })
			if took := time.Since(fixed); took > interval+2*time.Second {
				t.Errorf("applied %s after the fix, want within the interval (%s) and the sync's own time", took, interval)
			}
			eventually(t, 10*time.Second, "a Ready status", func() bool { return f.status(t, "app").Ready })
			if st := f.status(t, "app"); st.LastAppliedRevision != rev || st.Error != "" || st.RetryIn != nil {
				t.Errorf("status after the fix: %+v; want %s applied and no error", st, rev)
			}
		})
	}
}

// missingNamespace: the object's namespace does not exist (the inventory's does).
func missingNamespace(t *testing.T, f *fixture) (*rest.Config, string, func()) {
	target := unusedNamespace()
	return testenv.Config(t), target, func() { f.createNamespace(t, target) }
}

// missingPermission: the sync runs as a ServiceAccount that may read
// ConfigMaps in the object's namespace but not write them.
func missingPermission(t *testing.T, f *fixture) (*rest.Config, string, func()) {
	target := testenv.Namespace(t)
	cfg := f.serviceAccount(t, "gitsync")
	f.grant(t, f.home, "inventory", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
		rbacv1.PolicyRule{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}})
	f.grant(t, target, "read", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}})
	return cfg, target, func() {
		f.grant(t, target, "write", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "patch"}})
	}
}

// serviceAccount creates the ServiceAccount name in the fixture's namespace
// and returns a client configuration authenticating with its token.
func (f *fixture) serviceAccount(t *testing.T, name string) *rest.Config {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := f.admin.CoreV1().ServiceAccounts(f.home).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hour := int64(3600)
	tok, err := f.admin.CoreV1().ServiceAccounts(f.home).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(testenv.Config(t))
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// grant gives the fixture's "gitsync" ServiceAccount rules in namespace,
// through a Role and RoleBinding called name.
func (f *fixture) grant(t *testing.T, namespace, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	f.grantTo(t, "gitsync", namespace, name, rules...)
}

// grantTo gives the fixture's ServiceAccount sa rules in namespace, through
// a Role and RoleBinding called name.
func (f *fixture) grantTo(t *testing.T, sa, namespace, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := f.admin.RbacV1().Roles(namespace).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.home, Name: sa}},
	}
	if _, err := f.admin.RbacV1().RoleBindings(namespace).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestManagerDependencies: dependsOn holds a sync back until its dependency
// is Ready, and a failing sync holds back nothing else.
func TestManagerDependencies(t *testing.T) {
	f := newFixture(t)
	late := unusedNamespace()
	f.repo.Commit(t, "apps", map[string]string{
		"a/a.yaml": configMap(late, "a", "key"),
		"b/b.yaml": configMap(f.home, "b", "key"),
		"c/c.yaml": configMap(f.home, "c", "key"),
	})
	// b and c run at start and then only when woken: an hour is never.
	m, err := NewManager(testenv.Config(t), []Managed{
		{Options: f.options("a", "a"), Interval: time.Second},
		{Options: f.options("b", "b"), Interval: time.Hour, DependsOn: []string{"a"}},
		{Options: f.options("c", "c"), Interval: time.Hour},
	}, ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m.Start)

	t.Run("a failing sync does not hold up the others", func(t *testing.T) {
		eventually(t, 30*time.Second, "c applied", func() bool { return f.exists(t, f.home, "c") })
		eventually(t, 10*time.Second, "a failed", func() bool { return f.status(t, "a").Error != "" })
		if st := f.status(t, "a"); st.Ready {
			t.Errorf("a is Ready before its namespace exists: %+v", st)
		}
	})
	t.Run("a sync waits while a sync it depends on is not Ready", func(t *testing.T) {
		eventually(t, 10*time.Second, "b waiting", func() bool {
			return strings.Contains(f.status(t, "b").Waiting, "dependency a is not ready")
		})
		if f.exists(t, f.home, "b") {
			t.Error("b applied while a is not Ready")
		}
	})
	t.Run("a sync runs as soon as the sync it depends on becomes Ready", func(t *testing.T) {
		f.createNamespace(t, late)
		eventually(t, 10*time.Second, "a applied", func() bool { return f.exists(t, late, "a") })
		eventually(t, 10*time.Second, "b applied", func() bool { return f.exists(t, f.home, "b") })
		eventually(t, 10*time.Second, "b Ready", func() bool { st := f.status(t, "b"); return st.Ready && st.Waiting == "" })
	})
}

// TestManagerRetriesStalledRevisionWhenAsked: an explicit request tries a
// stalled revision again at once, whatever the interval.
func TestManagerRetriesStalledRevisionWhenAsked(t *testing.T) {
	f := newFixture(t)
	f.repo.Commit(t, "invalid", map[string]string{"app/bad.yaml": configMap(f.home, "bad", "no spaces allowed")})
	var sent applies
	syncs := []Managed{{Options: f.options("app", "app"), Interval: time.Hour}}
	m, err := NewManager(sent.client(testenv.Config(t)), syncs, ManagerOptions{Namespace: f.home})
	if err != nil {
		t.Fatal(err)
	}
	standby, err := NewManager(testenv.Config(t), syncs, ManagerOptions{Namespace: f.home})
	if err != nil {
		t.Fatal(err)
	}
	run(t, m.Start)
	eventually(t, 30*time.Second, "a stalled status", func() bool { return f.status(t, "app").Stalled })
	if st := f.status(t, "app"); !strings.Contains(st.Error, "Invalid value") || st.RetryIn == nil || st.RetryIn.Duration != 10*time.Hour {
		t.Fatalf("stalled status %+v; want the invalid key and a retry in ten intervals", st)
	}

	store := inventory.NewStore(f.admin.CoreV1(), f.home, "app")
	repo := func(url, _ string) bool { return url == f.repo.URL() }
	for i, tc := range []struct {
		name string
		ask  func(t *testing.T)
	}{
		{"gitsync sync --now tries it again", func(t *testing.T) {
			if err := store.RequestSync(t.Context(), time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"a webhook push tries it again", func(t *testing.T) {
			if n, err := m.TriggerRepository(t.Context(), repo); n != 1 || err != nil {
				t.Fatalf("TriggerRepository asked %d syncs (%v), want 1", n, err)
			}
		}},
		{"a push passed on by a standby replica tries it again", func(t *testing.T) {
			if n, err := standby.RequestRepository(t.Context(), repo); n != 1 || err != nil {
				t.Fatalf("RequestRepository asked %d syncs (%v), want 1", n, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ask(t)
			eventually(t, 10*time.Second, "another attempt", func() bool { return len(sent.of(f.home, "bad")) >= i+2 })
		})
	}
	if n := len(sent.of(f.home, "bad")); n != 4 {
		t.Errorf("the invalid object was sent %d times, want 4: once, then once per request", n)
	}
}

// TestStandbyPassesAPushOnInOneWrite: a push that reaches a standby replica
// costs one write, however many syncs follow the repository, and the leader
// syncs them all.
// apps commits n ConfigMaps, app-00 and on, each in a directory of its own,
// and returns the files and a sync of each directory with an interval of an
// hour: only a push runs them again.
func apps(t *testing.T, f *fixture, n int) (map[string]string, []Managed) {
	t.Helper()
	files := map[string]string{}
	var syncs []Managed
	for i := range n {
		name := fmt.Sprintf("app-%02d", i)
		files[name+"/cm.yaml"] = configMap(f.home, name, "v1")
		syncs = append(syncs, Managed{Options: f.options(name, name), Interval: time.Hour})
	}
	f.repo.Commit(t, "first", files)
	return files, syncs
}

// changeApps commits every ConfigMap of apps anew, with the data key v2.
func changeApps(t *testing.T, f *fixture, files map[string]string) {
	t.Helper()
	for path := range files {
		files[path] = configMap(f.home, strings.TrimSuffix(path, "/cm.yaml"), "v2")
	}
	f.repo.Commit(t, "second", files)
}

// appsChanged waits until the n ConfigMaps of changeApps are applied.
func appsChanged(t *testing.T, f *fixture, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("app-%02d", i)
		eventually(t, 30*time.Second, name+" at v2", func() bool {
			cm, err := f.admin.CoreV1().ConfigMaps(f.home).Get(t.Context(), name, metav1.GetOptions{})
			return err == nil && cm.Data["v2"] == "value"
		})
	}
}

// TestStaticShardsPassAPushOn runs the syncs of one repository in two static
// shards (gitsync run --shard-index), each Manager with its own sync
// interval of an hour: a push that reaches one shard's Manager reaches the
// other shard's syncs too, through one request both Managers act on. A sync
// of the second shard depends on one of the first.
func TestStaticShardsPassAPushOn(t *testing.T) {
	const n, shards = 8, 2
	f := newFixture(t)
	files, syncs := apps(t, f, n)
	managers := make([]*Manager, shards)
	var first string // a sync of shard 0
	for k := range shards {
		mine, others := InShard(syncs, k, shards)
		if len(mine) == 0 || len(mine)+len(others) != n {
			t.Fatalf("shard %d of %d runs %d syncs and leaves %d to the other: rename the syncs so that each shard runs some", k, shards, len(mine), len(others))
		}
		if k == 0 {
			first = mine[0].Options.Name
		} else {
			mine[0].DependsOn = []string{first}
		}
		m, err := NewManager(testenv.Config(t), mine, ManagerOptions{Namespace: f.home, Others: others})
		if err != nil {
			t.Fatal(err)
		}
		managers[k] = m
		run(t, m.Start)
	}
	eventually(t, 60*time.Second, "every sync applied", func() bool {
		for i := range n {
			if !f.exists(t, f.home, fmt.Sprintf("app-%02d", i)) {
				return false
			}
		}
		return true
	})

	changeApps(t, f, files)
	asked, err := managers[0].TriggerRepository(t.Context(), func(url, _ string) bool { return url == f.repo.URL() })
	if asked != n || err != nil {
		t.Fatalf("TriggerRepository asked %d syncs (%v), want %d: both shards'", asked, err, n)
	}
	appsChanged(t, f, n)
}

func TestStandbyPassesAPushOnInOneWrite(t *testing.T) {
	const n = 20
	f := newFixture(t)
	files, syncs := apps(t, f, n)
	leader, err := NewManager(testenv.Config(t), syncs, ManagerOptions{Namespace: f.home})
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	cfg := rest.CopyConfig(testenv.Config(t))
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	standby, err := NewManager(cfg, syncs, ManagerOptions{Namespace: f.home})
	if err != nil {
		t.Fatal(err)
	}
	run(t, leader.Start)
	eventually(t, 60*time.Second, "every sync applied", func() bool { return f.exists(t, f.home, fmt.Sprintf("app-%02d", n-1)) && f.status(t, "app-00").Ready })

	changeApps(t, f, files)
	asked, err := standby.RequestRepository(t.Context(), func(url, _ string) bool { return url == f.repo.URL() })
	if asked != n || err != nil {
		t.Fatalf("RequestRepository asked %d syncs (%v), want %d", asked, err, n)
	}
	if got := writes.Load(); got != 1 {
		t.Errorf("the standby made %d writes, want 1", got)
	}
	appsChanged(t, f, n)
}
