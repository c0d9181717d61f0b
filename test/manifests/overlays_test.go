package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestOverlays syncs each overlay with the gitsync binary from a git
// repository holding manifests/ and overlays/, into the local control plane.
// `gitsync sync` waits until every applied object is Current, so a pass
// means the API server admitted every object, the controllers and the
// scheduler ran the pods, and the Services found them. Each overlay is its
// own sync in its own namespace, removed at the end of its subtest.
func TestOverlays(t *testing.T) {
	cs := clientset(t)
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "manifests and overlays", shipped(t))

	t.Run("dev runs one small nginx on node port 30080", func(t *testing.T) {
		syncOverlay(t, cs, repo, "dev")
		d, err := cs.AppsV1().Deployments("dev").Get(t.Context(), "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.ReadyReplicas != 1 {
			t.Errorf("Deployment dev/nginx has %d ready replicas, want 1", d.Status.ReadyReplicas)
		}
		if got := d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu(); got.Cmp(resource.MustParse("10m")) != 0 {
			t.Errorf("dev nginx requests %s CPU, want 10m", got)
		}
		assertNodePort(t, cs, "dev", 30080)
		waitForEndpoints(t, cs, "dev", map[string]int{"": 1})
	})
	t.Run("prod runs three spread nginx under an autoscaler and a disruption budget", func(t *testing.T) {
		syncOverlay(t, cs, repo, "prod")
		hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers("prod").Get(t.Context(), "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if hpa.Spec.ScaleTargetRef.Name != "nginx" || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 10 {
			t.Errorf("HorizontalPodAutoscaler prod/nginx scales %s from %d to %d, want nginx from 3 to 10", hpa.Spec.ScaleTargetRef.Name, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		// git sets no replica count: the autoscaler raises it to its minimum.
		waitFor(t, "Deployment prod/nginx to have 3 ready replicas", func() (bool, error) {
			d, err := cs.AppsV1().Deployments("prod").Get(t.Context(), "nginx", metav1.GetOptions{})
			return err == nil && *d.Spec.Replicas == 3 && d.Status.ReadyReplicas == 3 && d.Status.UpdatedReplicas == 3, err
		})
		waitFor(t, "PodDisruptionBudget prod/nginx to count at least 2 healthy pods", func() (bool, error) {
			pdb, err := cs.PolicyV1().PodDisruptionBudgets("prod").Get(t.Context(), "nginx", metav1.GetOptions{})
			return err == nil && pdb.Status.CurrentHealthy >= 2 && pdb.Status.DisruptionsAllowed == 1, err
		})
		pods, err := cs.CoreV1().Pods("prod").List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=nginx"})
		if err != nil {
			t.Fatal(err)
		}
		nodes := map[string]int{}
		for _, p := range pods.Items {
			nodes[p.Spec.NodeName]++
		}
		if len(nodes) != 2 {
			t.Errorf("prod pods by node %v, want them spread over both nodes", nodes)
		}
		assertNodePort(t, cs, "prod", 30081)
	})
	t.Run("canary serves both tracks behind one Service", func(t *testing.T) {
		syncOverlay(t, cs, repo, "canary")
		waitForEndpoints(t, cs, "canary", map[string]int{"stable": 3, "canary": 1})
		assertNodePort(t, cs, "canary", 30082)
	})
	t.Run("loadbalancer asks for a load balancer and serves on an allocated node port meanwhile", func(t *testing.T) {
		syncOverlay(t, cs, repo, "loadbalancer")
		svc, err := cs.CoreV1().Services("loadbalancer").Get(t.Context(), "nginx-http", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ClusterIP == "" {
			t.Errorf("Service loadbalancer/nginx-http is %s with cluster IP %q, want LoadBalancer with one", svc.Spec.Type, svc.Spec.ClusterIP)
		}
		if p := svc.Spec.Ports[0].NodePort; p == 0 || p == 30080 || p == 30081 || p == 30082 {
			t.Errorf("node port %d, want one the cluster allocated", p)
		}
		if len(svc.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("ingress %v without a load-balancer controller, want none (<pending>)", svc.Status.LoadBalancer.Ingress)
		}
		waitForEndpoints(t, cs, "loadbalancer", map[string]int{"": 2})
	})
}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// shipped is what a user's repository would hold: the bases, the components
// and the overlays.
func shipped(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, dir := range []string{"manifests", "components", "overlays"} {
		maps.Copy(files, gitserver.Tree(t, repoRoot(t), dir))
	}
	return files
}

// syncResult is the part of `gitsync sync -o json` the tests read.
type syncResult struct {
	Revision string         `json:"revision"`
	Objects  int            `json:"objects"`
	Counts   map[string]int `json:"counts"`
}

// syncOverlay syncs overlays/<overlay> from repo as sync "overlay-<overlay>",
// checks every rendered object was applied, and deletes the overlay's
// namespace when the test ends.
func syncOverlay(t *testing.T, cs kubernetes.Interface, repo *gitserver.Repo, overlay string) {
	t.Helper()
	deleteNamespaceAtEnd(t, cs, overlay)
	res := syncPath(t, repo, "overlays/"+overlay, "overlay-"+overlay)
	rendered := len(renderPath(t, repoRoot(t), "overlays/"+overlay))
	if applied := res.Counts["created"] + res.Counts["configured"] + res.Counts["unchanged"]; res.Objects != rendered || applied != rendered {
		t.Errorf("synced %d objects, counts %v; want all %d rendered objects applied", res.Objects, res.Counts, rendered)
	}
}

// syncPath runs `gitsync sync` of path in repo, waiting for health, and
// returns its result; it fails the test unless gitsync exits 0.
//
// The tests of this package share one control plane, and an overlay's node
// port may still be allocated after the earlier test's Service that held it
// is gone: CI saw "provided port is already allocated" twice, under load,
// with no Service holding the port. The API server then leaked it (a
// deleted Service's port is released by a write that can fail), and its
// repair loop frees a leaked port on its third pass, 3 minutes apart
// (kube-apiserver's portallocator repair): that refusal alone is tried
// again, for up to 10 minutes, saying who holds node ports.
func syncPath(t *testing.T, repo *gitserver.Repo, path, name string) syncResult {
	t.Helper()
	args := []string{"sync", "--repo", repo.URL(), "--path", path, "--name", name,
		"--kubeconfig", testenv.Kubeconfig(t), "--namespace", "default",
		"--cache-dir", t.TempDir(), "--timeout", "60s", "-o", "json"}
	out, err := tryGitsync(t, args...)
	for deadline := time.Now().Add(10 * time.Minute); err != nil && strings.Contains(err.Error(), "provided port is already allocated") && time.Now().Before(deadline); {
		t.Logf("a node port is still allocated; Services with node ports: %v", nodePorts(t))
		time.Sleep(10 * time.Second)
		out, err = tryGitsync(t, args...)
	}
	if err != nil {
		t.Fatal(err)
	}
	var res syncResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("gitsync sync -o json: %v\n%s", err, out)
	}
	return res
}

// deleteNamespaceAtEnd deletes namespace ns when the test ends and waits
// until it is gone, so that the next test (the control plane is shared by
// the package) finds neither the namespace nor its objects.
func deleteNamespaceAtEnd(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
			return
		}
		// No kubelet stops containers here, so the pods can go at once;
		// otherwise the namespace controller waits for them by an estimate
		// from their grace period (about 5 s more per namespace).
		now := int64(0)
		if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete the pods of namespace %s: %v", ns, err)
		}
		err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("namespace %s still there after deletion: %v", ns, err)
		}
	})
}

func assertNodePort(t *testing.T, cs kubernetes.Interface, ns string, want int32) {
	t.Helper()
	svc, err := cs.CoreV1().Services(ns).Get(t.Context(), "nginx-http", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != want {
		t.Errorf("Service %s/nginx-http is %s on node port %d, want NodePort %d", ns, svc.Spec.Type, svc.Spec.Ports[0].NodePort, want)
	}
}

// waitForEndpoints waits until Service nginx-http in ns has exactly the
// ready endpoints want counts, by the track label of their pods ("" for
// pods without one).
func waitForEndpoints(t *testing.T, cs kubernetes.Interface, ns string, want map[string]int) {
	t.Helper()
	var got map[string]int
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, last = endpointTracks(ctx, cs, ns)
		return last == nil && cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("Service %s/nginx-http: ready endpoints by track %v, want %v: %v (last error: %v)", ns, got, want, err, last)
	}
}

// endpointTracks counts the ready endpoints of Service nginx-http in ns by
// the track label of the pod behind each.
func endpointTracks(ctx context.Context, cs kubernetes.Interface, ns string) (map[string]int, error) {
	slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=nginx-http"})
	if err != nil {
		return nil, err
	}
	tracks := map[string]int{}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || !*e.Conditions.Ready || e.TargetRef == nil || e.TargetRef.Kind != "Pod" {
				continue
			}
			pod, err := cs.CoreV1().Pods(ns).Get(ctx, e.TargetRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			tracks[pod.Labels["track"]]++
		}
	}
	return tracks, nil
}

// nodePorts lists the Services that hold node ports, as namespace/name:port.
func nodePorts(t *testing.T) []string {
	t.Helper()
	svcs, err := clientset(t).CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, s := range svcs.Items {
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				out = append(out, fmt.Sprintf("%s/%s:%d", s.Namespace, s.Name, p.NodePort))
			}
		}
	}
	return out
}
