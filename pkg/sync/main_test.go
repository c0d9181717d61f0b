package sync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"

	gsync "github.com/gitsync-io/gitsync/pkg/sync"
	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// newSyncer returns the Syncer of the sync called name in ns, applying the
// root of repo to the cluster of cfg: pruning, not waiting for health,
// recording Events through the control plane.
func newSyncer(t *testing.T, cfg *rest.Config, repo *gitserver.Repo, ns, name string, mutate ...func(*gsync.Options)) *gsync.Syncer {
	t.Helper()
	s, err := gsync.New(cfg, syncOptions(t, repo, ns, name, mutate...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newManagedSyncer is newSyncer for a Syncer made the way a Manager makes
// its syncs (see gsync.NewAsManaged).
func newManagedSyncer(t *testing.T, cfg *rest.Config, repo *gitserver.Repo, ns, name string) *gsync.Syncer {
	t.Helper()
	s, err := gsync.NewAsManaged(cfg, syncOptions(t, repo, ns, name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func syncOptions(t *testing.T, repo *gitserver.Repo, ns, name string, mutate ...func(*gsync.Options)) gsync.Options {
	opts := gsync.DefaultOptions()
	opts.Name, opts.Namespace, opts.TargetNamespace = name, ns, ns
	opts.Source = source.Options{URL: repo.URL(), CacheDir: t.TempDir()}
	opts.Wait = false
	opts.Events = recorder(t)
	for _, m := range mutate {
		m(&opts)
	}
	return opts
}

// mustSync runs one sync that must succeed.
func mustSync(t *testing.T, s *gsync.Syncer) *gsync.Result {
	t.Helper()
	r, err := s.Once(t.Context())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return r
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// recorder returns an EventRecorder writing to the control plane until the
// test ends.
func recorder(t *testing.T) events.EventRecorder {
	t.Helper()
	b := events.NewEventBroadcasterAdapter(clientset(t))
	stop := make(chan struct{})
	b.StartRecordingToSink(stop)
	t.Cleanup(func() {
		b.Shutdown()
		close(stop)
	})
	return b.NewRecorder("gitsync")
}

// waitEvent waits until the ConfigMap of the sync called name in ns has an
// Event of reason whose note contains want.
func waitEvent(t *testing.T, ns, name, reason, want string) {
	t.Helper()
	cs := clientset(t)
	var notes []string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		notes = notes[:0]
		for _, e := range list.Items {
			if e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == inventory.ConfigMapName(name) && e.Reason == reason {
				notes = append(notes, e.Note)
				if strings.Contains(e.Note, want) {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no %s Event on the ConfigMap of sync %s says %q; its %s Events: %q", reason, name, want, reason, notes)
	}
}

// cm is a ConfigMap manifest.
func cm(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {value: '" + value + "'}\n"
}
