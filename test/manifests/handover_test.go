package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/bootstrap"
	"github.com/gitsync-io/gitsync/pkg/bootstrap/handover"
	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/render"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// TestHandover runs the end of gitsync bootstrap against the local control plane, as it runs
// once kubeadm has made a cluster: Calico synced from the repository and waited for, the
// cluster file's nodes Ready, gitsync installed from the repository with its credentials, and
// a gitsync replica leading. kwok runs no containers, so the replica that leads is the same
// binary started here with the configuration the install put into the cluster, as the pod
// would be.
func TestHandover(t *testing.T) {
	dc := dynamicClient(t)
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	deleteOwnedAtEnd(t, system, "calico", "gitsync", "apps")
	uninstallAtEnd(t, cs, "prod", "tigera-operator")
	mirror, _ := calicoMirror(t)
	repo := gitserver.NewRepo(t)
	config := inClusterConfig(t, repo.URL(), mirror)
	files := gitserver.Tree(t, repoRoot(t), "manifests")
	for path, content := range gitserver.Tree(t, repoRoot(t), "overlays") {
		files[path] = content
	}
	files[cluster+"/config.yaml"] = string(config)
	repo.Commit(t, "the cluster", files)

	// The test's two simulated nodes play the cluster file's machines.
	clusterFile := func(repoURL string, extra ...string) *bootstrap.Cluster {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: gitsync.io/v1alpha1\nkind: Cluster\nname: test\nssh: {agent: true}\ngitops: {repo: %s}\nnodes:\n", repoURL)
		for i, name := range append([]string{"kwok-node-0", "kwok-node-1"}, extra...) {
			role := map[bool]string{true: "control-plane", false: "worker"}[i == 0]
			fmt.Fprintf(&b, "- {name: %s, address: 198.18.0.%d, role: %s}\n", name, 10+i, role)
		}
		c, err := bootstrap.ParseCluster([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	run := func(ctx context.Context, c *bootstrap.Cluster, timeout time.Duration, secret map[string][]byte, ev *events) error {
		return handover.Run(ctx, testenv.Config(t), c, handover.Options{
			CacheDir: t.TempDir(), Remote: render.Remote{Mirrors: []render.Mirror{mirror}},
			Secret: secret, Timeout: timeout, Report: ev.add,
		})
	}

	operator := t // the statuses it reports stay for the whole test
	t.Run("the Calico step waits for the operator to report Available", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		ev := &events{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, clusterFile(repo.URL()), time.Minute, nil, ev) }()
		waitFor(t, "the calico sync to apply the Installation", func() (bool, error) {
			_, err := dc.Resource(installations).Get(t.Context(), "default", metav1.GetOptions{})
			return err == nil, err
		})
		time.Sleep(time.Second)
		if got := ev.kinds("calico") + "|" + ev.kinds("nodes"); got != "checking|" {
			t.Fatalf("before the operator reports, the steps say %q, want calico checking and nothing after", got)
		}
		setTigeraStatus(operator, dc, "calico", "True")
		setTigeraStatus(operator, dc, "apiserver", "True")
		waitFor(t, "the handover to go on to the nodes", func() (bool, error) { return ev.kinds("nodes") != "", nil })
		cancel()
		<-done
	})

	t.Run("a node of the cluster file that never registers is named", func(t *testing.T) {
		ev := &events{}
		err := run(t.Context(), clusterFile(repo.URL(), "kwok-node-9"), 3*time.Second, nil, ev)
		if err == nil || !strings.Contains(err.Error(), "step nodes") || !strings.Contains(err.Error(), "kwok-node-9: not registered") ||
			strings.Contains(err.Error(), "kwok-node-1") {
			t.Fatalf("got %v, want the nodes step to name kwok-node-9 alone", err)
		}
		if got := ev.kinds("calico"); got != "checking done" {
			t.Errorf("calico step: %s, want checking done (applied by the subtest before)", got)
		}
		if got := ev.kinds("gitsync"); got != "" {
			t.Errorf("the gitsync step ran although a node is missing: %s", got)
		}
	})

	t.Run("gitsync is installed with its credentials and the handover waits until it leads", func(t *testing.T) {
		// The replica the Deployment would run, with the configuration it mounts, started
		// with the handover: it syncs the same names into the same namespace at the same
		// time, as the pod does once it runs, and both must come through.
		mounted := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(mounted, config, 0o600); err != nil {
			t.Fatal(err)
		}
		replica := start(t, "run", "--config", mounted, "--kubeconfig", testenv.Kubeconfig(t), "--namespace", system,
			"--leader-elect", "--cache-dir", t.TempDir())
		ev := &events{}
		done := make(chan error, 1)
		go func() {
			done <- run(t.Context(), clusterFile(repo.URL()), 90*time.Second, map[string][]byte{"password": []byte("s3cret")}, ev)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("handover: %v\nthe replica says:\n%s", err, replica.output())
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("the handover did not end; the replica says:\n%s", replica.output())
		}
		for step, want := range map[string]string{"calico": "checking done", "nodes": "checking done", "gitsync": "checking applied"} {
			if got := ev.kinds(step); got != want {
				t.Errorf("step %s: %s, want %s", step, got, want)
			}
		}
		t.Logf("gitsync-leads: %s", ev.reason("gitsync-leads"))
		if leads := ev.reason("gitsync-leads"); !strings.Contains(leads, " leads; syncs: ") || !strings.Contains(leads, "calico Ready") {
			t.Errorf("gitsync-leads says %q, want the holder of the Lease and the syncs' states", leads)
		}
		cm, err := cs.CoreV1().ConfigMaps(system).Get(t.Context(), "gitsync-config", metav1.GetOptions{})
		if err != nil || cm.Data["config.yaml"] != string(config) {
			t.Errorf("ConfigMap gitsync-config (%v) is not the configuration in git", err)
		}
		if got := ev.reason("nodes"); got != "2 nodes Ready" {
			t.Errorf("nodes step says %q", got)
		}
		secret, err := cs.CoreV1().Secrets(system).Get(t.Context(), "gitsync-git", metav1.GetOptions{})
		if err != nil || string(secret.Data["password"]) != "s3cret" {
			t.Errorf("Secret gitsync-git: %v %v, want the password the handover was given", secret.Data, err)
		}

		again := &events{}
		if err := run(t.Context(), clusterFile(repo.URL()), 30*time.Second, map[string][]byte{"password": []byte("s3cret")}, again); err != nil {
			t.Fatalf("a second handover: %v", err)
		}
		for _, step := range []string{"repository", "calico", "nodes", "gitsync", "gitsync-leads"} {
			if got := again.kinds(step); got != "checking done" {
				t.Errorf("second handover, step %s: %s, want checking done", step, got)
			}
		}
		if after, err := cs.CoreV1().Secrets(system).Get(t.Context(), "gitsync-git", metav1.GetOptions{}); err != nil || after.ResourceVersion != secret.ResourceVersion {
			t.Errorf("the second handover wrote Secret gitsync-git again (%v)", err)
		}
	})

	t.Run("an install configured for another repository is refused before anything is applied, naming the fix", func(t *testing.T) {
		fork := gitserver.NewRepo(t) // a copy whose configuration still syncs the original
		fork.Commit(t, "the cluster", files)
		ev := &events{}
		err := run(t.Context(), clusterFile(fork.URL()), 30*time.Second, nil, ev)
		want := "step repository: the gitsync overlays/cluster installs syncs " + repo.URL() + ", not the cluster file's gitops.repo " + fork.URL() +
			": set sources[].url in overlays/cluster/config.yaml to " + fork.URL()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error containing %q", err, want)
		}
		if got := ev.kinds("calico"); got != "" {
			t.Errorf("the calico step ran (%s): nothing is to be applied from a repository that would not keep the cluster", got)
		}
	})
}

// inClusterConfig is overlays/cluster/config.yaml made to sync the test's repository: public,
// without the webhook (its secret file exists only in the pod), Calico's upstream files from
// the test's mirror.
func inClusterConfig(t *testing.T, url string, mirror render.Mirror) []byte {
	t.Helper()
	cfg, err := gsync.LoadConfig(filepath.Join(repoRoot(t), cluster, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sources[0].URL, cfg.Sources[0].Auth = url, gsync.AuthConfig{}
	cfg.Webhook = nil
	cfg.Remote.Mirrors = []render.Mirror{mirror}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// events records what the handover reported.
type events struct {
	mu  sync.Mutex
	all []bootstrap.Event
}

func (e *events) add(ev bootstrap.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// kinds are the kinds of step's events, space-separated.
func (e *events) kinds(step string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Step == step {
			out = append(out, ev.Kind.String())
		}
	}
	return strings.Join(out, " ")
}

// reason is the last reason step gave.
func (e *events) reason(step string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var r string
	for _, ev := range e.all {
		if ev.Step == step && ev.Reason != "" {
			r = ev.Reason
		}
	}
	return r
}
