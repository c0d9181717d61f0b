package manifests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

const canaryKustomization = "overlays/canary/kustomization.yaml"

// TestCanary walks a release through overlays/canary/README.md, every step a
// commit synced by gitsync: the canary as shipped, the promote commit, then
// `git revert` of the promote. kwok runs no containers, so the pods' images
// are read from their specs.
func TestCanary(t *testing.T) {
	cs := clientset(t)
	stable, canary := canaryImages(t)
	files := shipped(t)
	repo := gitserver.NewRepo(t)
	deleteNamespaceAtEnd(t, cs, "canary")
	sync := func(t *testing.T, commit string) {
		t.Helper()
		if res := syncPath(t, repo, "overlays/canary", "canary-release"); res.Revision != commit {
			t.Fatalf("synced revision %s, want %s", res.Revision, commit)
		}
	}

	shippedCommit := repo.Commit(t, "overlays/canary as shipped", files)
	t.Run("as shipped, stable pods run the old tag and one canary pod the new", func(t *testing.T) {
		sync(t, shippedCommit)
		waitForPods(t, cs, map[string]int{"stable " + stable: 3, "canary " + canary: 1})
	})

	promote := repo.Commit(t, "canary: promote "+canary, map[string]string{
		canaryKustomization: promoted(t, files[canaryKustomization], stable, canary),
	})
	t.Run("the promote commit moves every pod to the new tag and ends the canary", func(t *testing.T) {
		sync(t, promote)
		waitForPods(t, cs, map[string]int{"stable " + canary: 3})
		d, err := cs.AppsV1().Deployments("canary").Get(t.Context(), "nginx-canary", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 0 {
			t.Errorf("Deployment nginx-canary has %d replicas after the promote, want 0", *d.Spec.Replicas)
		}
	})

	revert := repo.Revert(t, promote)
	t.Run("reverting the promote brings the canary back", func(t *testing.T) {
		sync(t, revert)
		waitForPods(t, cs, map[string]int{"stable " + stable: 3, "canary " + canary: 1})
	})
}

// canaryImages returns the stable and the canary image of overlays/canary as
// shipped.
func canaryImages(t *testing.T) (stable, canary string) {
	t.Helper()
	objs := renderPath(t, repoRoot(t), "overlays/canary")
	stable = typed[appsv1.Deployment](t, find(t, objs, "Deployment", "canary", "nginx")).Spec.Template.Spec.Containers[0].Image
	canary = typed[appsv1.Deployment](t, find(t, objs, "Deployment", "canary", "nginx-canary")).Spec.Template.Spec.Containers[0].Image
	if stable == canary {
		t.Fatalf("overlays/canary ships the same image %s on both tracks; the canary should run another image", stable)
	}
	return stable, canary
}

// promoted is the kustomization after the promote README.md describes: the
// stable track's image set to the canary's, the canary scaled to 0.
func promoted(t *testing.T, kustomization, stable, canary string) string {
	t.Helper()
	for _, edit := range []struct{ old, new string }{
		{"image: " + stable + "\n", "image: " + canary + "\n"},
		{"replicas: 1\n", "replicas: 0\n"},
	} {
		if n := strings.Count(kustomization, edit.old); n != 1 {
			t.Fatalf("%s has %q %d times, want once: update the promote in overlays/canary/README.md and here", canaryKustomization, edit.old, n)
		}
		kustomization = strings.Replace(kustomization, edit.old, edit.new, 1)
	}
	return kustomization
}

// waitForPods waits until the nginx pods in namespace canary (not counting
// terminating ones) are exactly want, counted by "<track> <image>".
func waitForPods(t *testing.T, cs kubernetes.Interface, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("canary").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=nginx"})
		if last = err; err != nil {
			return false, nil
		}
		got = map[string]int{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				got[p.Labels["track"]+" "+p.Spec.Containers[0].Image]++
			}
		}
		return cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("nginx pods in canary by track and image %v, want %v: %v (last error: %v)", got, want, err, last)
	}
}
