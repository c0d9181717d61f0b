package manifests

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestInstall installs gitsync the way a cluster would get it: `gitsync sync`
// from a git repository holding manifests/gitsync, into the local control
// plane, server-side applied. kwok runs no containers, so the image is never
// pulled; the Deployment still becomes Available, which proves the pods pass
// the API server's admission (Pod Security "restricted" in gitsync-system),
// the scheduler (anti-affinity) and the controllers. Then the same sync
// switches to the namespaced variant and the cluster-wide rights are pruned.
func TestInstall(t *testing.T) {
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	uninstallAtEnd(t, cs, "dev", "prod", "team-a", "team-b") // the variants create them, and never prune them
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "gitsync install manifests", gitserver.Tree(t, repoRoot(t), base))
	sync := func(t *testing.T, path string) map[string]int {
		t.Helper()
		out := gitsync(t, "sync", "--repo", repo.URL(), "--path", path, "--name", "gitsync",
			"--kubeconfig", testenv.Kubeconfig(t), "--namespace", "default",
			"--cache-dir", t.TempDir(), "--timeout", "60s", "-o", "json")
		var res struct {
			Counts map[string]int `json:"counts"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("gitsync sync -o json: %v\n%s", err, out)
		}
		return res.Counts
	}

	t.Run("the cluster-wide variant installs and its Deployment becomes Available", func(t *testing.T) {
		counts := sync(t, base)
		if counts["created"] != len(renderPath(t, repoRoot(t), base)) {
			t.Errorf("counts %v, want every rendered object created", counts)
		}
		assertAvailable(t, cs)
	})
	t.Run("its two replicas run on different nodes", func(t *testing.T) {
		pods, err := cs.CoreV1().Pods(system).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=gitsync"})
		if err != nil {
			t.Fatal(err)
		}
		nodes := map[string]bool{}
		for _, p := range pods.Items {
			nodes[p.Spec.NodeName] = true
		}
		if len(pods.Items) != 2 || len(nodes) != 2 {
			t.Errorf("%d pods on nodes %v, want 2 pods on 2 nodes", len(pods.Items), nodes)
		}
	})
	t.Run("its disruption budget lets a drain evict one replica, not two", func(t *testing.T) {
		waitFor(t, "PodDisruptionBudget gitsync to allow 1 disruption", func() (bool, error) {
			pdb, err := cs.PolicyV1().PodDisruptionBudgets(system).Get(t.Context(), "gitsync", metav1.GetOptions{})
			return err == nil && pdb.Status.CurrentHealthy == 2 && pdb.Status.DisruptionsAllowed == 1, err
		})
	})
	t.Run("its Service reaches both replicas on the http port", func(t *testing.T) {
		waitFor(t, "Service gitsync to have 2 ready endpoints on 8080", func() (bool, error) {
			slices, err := cs.DiscoveryV1().EndpointSlices(system).List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=gitsync"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, s := range slices.Items {
				if len(s.Ports) != 1 || s.Ports[0].Port == nil || *s.Ports[0].Port != 8080 {
					continue
				}
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready {
						ready++
					}
				}
			}
			return ready == 2, nil
		})
	})
	t.Run("its namespace refuses a pod that is not restricted", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "privileged"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		_, err := cs.CoreV1().Pods(system).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
			t.Errorf("a pod without a security context was not refused by Pod Security: %v", err)
		}
	})
	t.Run("gitsync may apply and prune anything, anywhere", func(t *testing.T) {
		for _, a := range []authorizationv1.ResourceAttributes{
			{Verb: "create", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
			{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
			{Verb: "delete", Group: "", Resource: "namespaces"},
			{Verb: "patch", Group: "apps", Resource: "daemonsets", Namespace: "kube-system"},
		} {
			assertAllowed(t, cs, a, true)
		}
	})

	repo.Commit(t, "namespaced variant", gitserver.Tree(t, repoRoot(t), namespaced))
	t.Run("switching to the namespaced variant prunes the cluster-wide rights", func(t *testing.T) {
		counts := sync(t, namespaced)
		if counts["deleted"] != 2 {
			t.Errorf("counts %v, want the ClusterRole and its binding deleted", counts)
		}
		if _, err := cs.RbacV1().ClusterRoles().Get(t.Context(), "gitsync", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole gitsync after the switch: %v, want NotFound", err)
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Get(t.Context(), "gitsync", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRoleBinding gitsync after the switch: %v, want NotFound", err)
		}
		assertAvailable(t, cs)
	})
	t.Run("gitsync may then work in its namespaces and its own state only", func(t *testing.T) {
		for _, tc := range []struct {
			attrs authorizationv1.ResourceAttributes
			want  bool
		}{
			{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "dev"}, true},
			{authorizationv1.ResourceAttributes{Verb: "delete", Group: "", Resource: "services", Namespace: "prod"}, true},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "prod"}, true},
			{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: system}, true},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "", Resource: "configmaps", Namespace: system}, true},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: system}, true},
			{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "default"}, false},
			{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: system}, false},
			{authorizationv1.ResourceAttributes{Verb: "get", Group: "", Resource: "secrets", Namespace: system}, false},
			{authorizationv1.ResourceAttributes{Verb: "get", Group: "", Resource: "secrets", Namespace: system, Name: "sops-age"}, true},
			{authorizationv1.ResourceAttributes{Verb: "list", Group: "", Resource: "secrets", Namespace: system}, false},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "", Resource: "namespaces"}, false},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, false},
			{authorizationv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "deployments"}, false},
		} {
			assertAllowed(t, cs, tc.attrs, tc.want)
		}
	})

	repo.Commit(t, "tenants variant", gitserver.Tree(t, repoRoot(t), tenants))
	t.Run("switching to the tenants variant leaves gitsync no rights outside its own state", func(t *testing.T) {
		counts := sync(t, tenants)
		if counts["deleted"] != 4 {
			t.Errorf("counts %v, want the Roles and RoleBindings of dev and prod deleted", counts)
		}
		assertAvailable(t, cs)
		for _, tc := range []struct {
			attrs authorizationv1.ResourceAttributes
			want  bool
		}{
			{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: system, Name: "team-a"}, true},
			{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: system, Name: "team-b"}, true},
			{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: system, Name: "default"}, false},
			{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: "kube-system", Name: "team-a"}, false},
			{authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users"}, false},
			{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "team-a"}, false},
			{authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "dev"}, false},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "", Resource: "namespaces"}, false},
			{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: system}, true},
			{authorizationv1.ResourceAttributes{Verb: "create", Group: "", Resource: "configmaps", Namespace: system}, true},
		} {
			assertAllowed(t, cs, tc.attrs, tc.want)
		}
	})
	t.Run("as gitsync, a team's sync writes in the team's namespace and nowhere else", func(t *testing.T) {
		kubeconfig := tokenKubeconfig(t, cs, system, "gitsync")
		teams := gitserver.NewRepo(t)
		teams.Commit(t, "team-a's app", map[string]string{
			"tenants/team-a/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: team-a\n",
		})
		syncAs := func(sa string) (string, error) {
			return tryGitsync(t, "sync", "--repo", teams.URL(), "--path", "tenants/team-a", "--name", "team-a",
				"--kubeconfig", kubeconfig, "--namespace", system, "--service-account", sa,
				"--cache-dir", t.TempDir(), "--timeout", "60s")
		}
		if out, err := syncAs("team-a"); err != nil {
			t.Fatalf("team-a's sync: %v\n%s", err, out)
		}
		if _, err := cs.CoreV1().ConfigMaps("team-a").Get(t.Context(), "app", metav1.GetOptions{}); err != nil {
			t.Errorf("team-a's ConfigMap: %v", err)
		}
		teams.Commit(t, "team-a reaches into team-b", map[string]string{
			"tenants/team-a/intruder.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: intruder\n  namespace: team-b\n",
		})
		_, err := syncAs("team-a")
		want := `configmaps is forbidden: User "system:serviceaccount:gitsync-system:team-a" cannot list resource "configmaps" in API group "" in the namespace "team-b"`
		if err == nil || !strings.Contains(err.Error(), "v1 ConfigMap team-b/intruder: "+want) {
			t.Errorf("team-a's sync of an object in team-b: %v; want it refused with %s", err, want)
		}
		if _, err := cs.CoreV1().ConfigMaps("team-b").Get(t.Context(), "intruder", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap team-b/intruder: %v, want NotFound", err)
		}
		_, err = syncAs("default")
		want = `User "system:serviceaccount:gitsync-system:gitsync" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "gitsync-system"`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a sync as the default ServiceAccount: %v; want %s", err, want)
		}
	})
}

// tokenKubeconfig writes a kubeconfig authenticating as the ServiceAccount
// namespace/name with a token good for an hour.
func tokenKubeconfig(t *testing.T, cs kubernetes.Interface, namespace, name string) string {
	t.Helper()
	hour := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(testenv.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range cfg.Contexts {
		cfg.AuthInfos[ctx.AuthInfo] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertAvailable waits for Deployment gitsync to have 2 available replicas
// of its newest template.
func assertAvailable(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	waitFor(t, "Deployment gitsync to become Available with 2 replicas", func() (bool, error) {
		d, err := cs.AppsV1().Deployments(system).Get(t.Context(), "gitsync", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2, nil
			}
		}
		return false, nil
	})
}

// assertAllowed asks the API server whether the gitsync ServiceAccount may
// do a.
func assertAllowed(t *testing.T, cs kubernetes.Interface, a authorizationv1.ResourceAttributes, want bool) {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + system + ":gitsync",
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
		ResourceAttributes: &a,
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status.Allowed != want {
		t.Errorf("gitsync may %s %s.%s in %q: %v, want %v (%s)", a.Verb, a.Resource, a.Group, a.Namespace, res.Status.Allowed, want, res.Status.Reason)
	}
}

func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, err, last)
	}
}
