package sync

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
	"github.com/gitsync-io/gitsync/test/testenv"
)

// fixture is a git repository and a namespace holding the syncs' inventories
// and status.
type fixture struct {
	repo  *gitserver.Repo
	home  string
	cache string
	admin kubernetes.Interface
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{repo: gitserver.NewRepo(t), home: testenv.Namespace(t), cache: t.TempDir(), admin: cs}
}

// options are those of a sync called name, of the repository's directory path.
func (f *fixture) options(name, path string) Options {
	o := DefaultOptions()
	o.Name, o.Namespace, o.Path, o.Timeout = name, f.home, path, 30*time.Second
	o.Source = source.Options{URL: f.repo.URL(), CacheDir: f.cache}
	return o
}

// status is the recorded status of the sync called name; zero before it has one.
func (f *fixture) status(t *testing.T, name string) Status {
	t.Helper()
	statuses, err := Statuses(t.Context(), testenv.Config(t), f.home, name)
	if err != nil || len(statuses) == 0 {
		return Status{}
	}
	return statuses[0]
}

// exists tells whether the ConfigMap namespace/name exists.
func (f *fixture) exists(t *testing.T, namespace, name string) bool {
	t.Helper()
	_, err := f.admin.CoreV1().ConfigMaps(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// createNamespace creates the namespace name, as someone fixing the cluster
// by hand would, and deletes it when the test ends.
func (f *fixture) createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := f.admin.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// unusedNamespace is the name of a namespace that does not exist.
func unusedNamespace() string { return "later-" + rand.String(6) }

// configMap is a ConfigMap manifest with one data key.
func configMap(namespace, name, key string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  %q: value\n", name, namespace, key)
}

// applies records the apply requests (PATCH) sent for each ConfigMap, by
// "namespace/name", as the time each was sent.
type applies struct {
	mu   gosync.Mutex
	sent map[string][]time.Time
}

// client returns a copy of cfg whose requests a records.
func (a *applies) client(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if _, after, ok := strings.Cut(req.URL.Path, "/api/v1/namespaces/"); ok && req.Method == http.MethodPatch {
				if ns, name, ok := strings.Cut(after, "/configmaps/"); ok {
					a.mu.Lock()
					if a.sent == nil {
						a.sent = map[string][]time.Time{}
					}
					a.sent[ns+"/"+name] = append(a.sent[ns+"/"+name], time.Now())
					a.mu.Unlock()
				}
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// of returns when the ConfigMap namespace/name was applied, oldest first.
func (a *applies) of(namespace, name string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.sent[namespace+"/"+name]...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// run runs start (a Loop's or a Manager's) in the background until the test
// ends, and checks that it then returns nil.
func run(t *testing.T, start func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v after its context ended, want nil", err)
		}
	})
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
