package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestRunAsServiceAccounts runs gitsync run --config with one sync naming
// its ServiceAccount and one naming none under --default-service-account:
// the first applies with its account's rights, the second is refused with
// the default account's (none), although gitsync's own are cluster-admin.
// A third lists a remote file under --no-remote-files, the other flag of the
// tenants variant: refused, with no request made.
func TestRunAsServiceAccounts(t *testing.T) {
	f := newFixture(t)
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	team := testenv.Namespace(t)
	for _, sa := range []string{"team", "nobody"} {
		if _, err := cs.CoreV1().ServiceAccounts(f.ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "team"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: f.ns, Name: "team"}},
	}
	if _, err := cs.RbacV1().RoleBindings(team).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte(configMap("remote", "fetched")))
	}))
	t.Cleanup(server.Close)
	f.repo.Commit(t, "three syncs", map[string]string{
		"team/app.yaml":            strings.Replace(configMap("app", "v1"), "metadata:", "metadata:\n  namespace: "+team, 1),
		"other/app.yaml":           strings.Replace(configMap("other", "v1"), "metadata:", "metadata:\n  namespace: "+team, 1),
		"fetch/kustomization.yaml": "namespace: " + team + "\nresources:\n- " + upstream + "v1/remote.yaml\n",
	})
	config := f.writeConfig("300ms", `- {name: team, source: repo, path: team, serviceAccountName: team}
- {name: other, source: repo, path: other}
- {name: fetch, source: repo, path: fetch, serviceAccountName: team}`)
	p, _ := f.runConfig(config, "--default-service-account", "nobody", "--no-remote-files", "--mirror", upstream+"="+server.URL+"/")

	p.eventually("sync team Ready", 30*time.Second, func() bool { return f.statusOf("team")["ready"] == true })
	p.eventually("sync other failing", 30*time.Second, func() bool {
		err, _ := f.statusOf("other")["error"].(string)
		return err != ""
	})
	want := `configmaps is forbidden: User "system:serviceaccount:` + f.ns + `:nobody" cannot list resource "configmaps" in API group "" in the namespace "` + team + `"`
	if err, _ := f.statusOf("other")["error"].(string); !strings.Contains(err, "v1 ConfigMap "+team+"/other: "+want) {
		t.Errorf("sync other's error %q; want it to name the object and say %s", err, want)
	}
	if _, err := cs.CoreV1().ConfigMaps(team).Get(t.Context(), "other", metav1.GetOptions{}); err == nil {
		t.Error("the sync naming no ServiceAccount applied its ConfigMap with gitsync's own rights")
	}
	p.eventually("sync fetch failing", 30*time.Second, func() bool {
		err, _ := f.statusOf("fetch")["error"].(string)
		return err != ""
	})
	if err, _ := f.statusOf("fetch")["error"].(string); !strings.Contains(err, "fetch/kustomization.yaml") || !strings.Contains(err, upstream+"v1/remote.yaml") || !strings.Contains(err, "--no-remote-files") {
		t.Errorf("sync fetch's error %q; want it to name the kustomization, the URL and --no-remote-files", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the mirror got %d requests under --no-remote-files, want none", n)
	}
	if err := p.stop(); err != nil {
		t.Errorf("gitsync run exited with %v; logs:\n%s", err, p.logs.String())
	}
}
