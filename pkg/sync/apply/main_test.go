package apply_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/sync/apply"
	"github.com/gitsync-io/gitsync/test/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// requests counts the API requests of one client by HTTP method.
type requests struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		r.counts[req.Method]++
		r.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// writes returns the number of PATCH, POST, PUT and DELETE requests so far.
func (r *requests) writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts["PATCH"] + r.counts["POST"] + r.counts["PUT"] + r.counts["DELETE"]
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newApplier returns an applier for a fresh namespace (also its sync's name
// and default namespace) and its request counter.
func newApplier(t *testing.T, mutate ...func(*apply.Options)) (*apply.Applier, *requests, string) {
	t.Helper()
	return newApplierFor(t, testenv.Namespace(t), mutate...)
}

func admin(t *testing.T) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// objects parses YAML documents separated by "---".
func objects(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for doc := range strings.SplitSeq(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("bad test YAML: %v\n%s", err, doc)
		}
		out = append(out, u)
	}
	return out
}

// actions summarises a ChangeSet as "created=2 unchanged=1".
func actions(cs *apply.ChangeSet) string {
	var parts []string
	counts := cs.Counts()
	for _, a := range apply.Actions() {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", a, counts[a]))
		}
	}
	return strings.Join(parts, " ")
}
