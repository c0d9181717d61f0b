package render

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// upstream stands in for a release host; every URL the tests write names it, and only a mirror
// to the local server makes them reachable, so nothing leaves the machine.
const upstream = "https://releases.upstream.invalid/operator/v1.2.3/"

const (
	remoteCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`
	remoteDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: operator
  namespace: operator
spec:
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec: {containers: [{name: operator, image: example.com/operator:v1.2.3}]}
`
)

// fileServer serves files by path and counts the requests for each.
type fileServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]string
	requests map[string]int
}

func newFileServer(t *testing.T, files map[string]string) *fileServer {
	s := &fileServer{files: files, requests: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		body, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fileServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

func pin(content string) string { return "#sha256=" + contentAnswer([]byte(content)) }

func TestRemoteResources(t *testing.T) {
	server := newFileServer(t, map[string]string{
		"/mirror/operator/v1.2.3/crds.yaml":     remoteCRD,
		"/mirror/operator/v1.2.3/operator.yaml": remoteDeployment,
	})
	mirror := Mirror{From: "https://releases.upstream.invalid/", To: server.URL + "/mirror/"}
	kustomization := "resources:\n- " + upstream + "crds.yaml" + pin(remoteCRD) + "\n- " + upstream + "operator.yaml\n- local.yaml\n"
	local := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: operator}\n"
	root := t.TempDir()
	writeTree(t, root, map[string]string{"calico/kustomization.yaml": kustomization, "calico/local.yaml": local})
	cacheDir := t.TempDir()
	remote := func() *Remote { return &Remote{CacheDir: cacheDir, Mirrors: []Mirror{mirror}} }

	t.Run("fetches through the mirror and builds as if the files were in the repository", func(t *testing.T) {
		res, err := New(Options{Remote: remote()}).Render(t.Context(), root, "calico")
		if err != nil {
			t.Fatal(err)
		}
		copied := t.TempDir()
		writeTree(t, copied, map[string]string{
			"kustomization.yaml": "resources: [crds.yaml, operator.yaml, local.yaml]\n",
			"crds.yaml":          remoteCRD, "operator.yaml": remoteDeployment, "local.yaml": local,
		})
		want, err := New().Render(t.Context(), copied, ".")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(yamlOf(t, want), yamlOf(t, res)); diff != "" {
			t.Errorf("render (-files in the repository +fetched):\n%s", diff)
		}
		if got := server.count(); got != 2 {
			t.Errorf("requests = %d, want 2 (one per URL)", got)
		}
		if !strings.Contains(strings.Join(res.Inputs, " "), upstream+"crds.yaml") {
			t.Errorf("inputs %q do not name the URL", res.Inputs)
		}
	})
	t.Run("a cache hit makes no request, also in a new process", func(t *testing.T) {
		before := server.count()
		for range 2 { // a new Renderer each time: only the disk cache is shared
			res, err := New(Options{Remote: remote()}).Render(t.Context(), root, "calico")
			if err != nil || len(res.Objects) != 3 {
				t.Fatalf("objects %d, err %v", len(res.Objects), err)
			}
		}
		if got := server.count() - before; got != 0 {
			t.Errorf("requests = %d, want 0", got)
		}
	})
	t.Run("with remote files off, a file fetched and rendered before is refused, and no request made", func(t *testing.T) {
		renders := t.TempDir()
		if _, err := New(Options{Remote: remote(), CacheDir: renders}).Render(t.Context(), root, "calico"); err != nil {
			t.Fatal(err)
		}
		before := server.count()
		off := remote()
		off.NoFiles = true
		_, err := New(Options{Remote: off, CacheDir: renders}).Render(t.Context(), root, "calico")
		var e *Error
		if !errors.As(err, &e) || e.Problem != RemoteRefused || !e.Terminal() {
			t.Fatalf("render with remote files off: %v, want a terminal %q", err, RemoteRefused)
		}
		for _, part := range []string{"calico/kustomization.yaml: ", `resources entry "` + upstream + `crds.yaml`, "remote.files: false", "--no-remote-files"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not contain %q", err, part)
			}
		}
		if got := server.count() - before; got != 0 {
			t.Errorf("requests = %d, want 0", got)
		}
	})
	t.Run("reuses the render when neither the repository nor the fetched files changed", func(t *testing.T) {
		r := New(Options{Remote: remote()})
		first, err := r.Render(t.Context(), root, "calico")
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.Render(t.Context(), root, "calico")
		if err != nil || !again.Cached || again.Digest != first.Digest {
			t.Errorf("second render cached=%v digest equal=%v err=%v: want a reused render", again.Cached, again.Digest == first.Digest, err)
		}
	})
}

func TestRemoteResourceFailures(t *testing.T) {
	server := newFileServer(t, map[string]string{"/mirror/operator/v1.2.3/crds.yaml": remoteCRD})
	mirror := Mirror{From: "https://releases.upstream.invalid/", To: server.URL + "/mirror/"}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens at its address any more
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)

	cases := []struct {
		name     string
		entry    string
		remote   *Remote
		problem  Problem
		terminal bool
		message  []string
	}{
		{
			name:     "a pin that does not match fails before anything is built",
			entry:    upstream + "crds.yaml" + pin("something else"),
			remote:   &Remote{Mirrors: []Mirror{mirror}},
			problem:  RemoteMismatch,
			terminal: true,
			message:  []string{"kustomization.yaml: ", upstream + "crds.yaml", "from mirror " + server.URL + "/mirror/operator/v1.2.3/crds.yaml", "the pin says"},
		},
		{
			name:     "a malformed pin is named",
			entry:    upstream + "crds.yaml#sha256=abc",
			remote:   &Remote{Mirrors: []Mirror{mirror}},
			problem:  RemoteMismatch,
			terminal: true,
			message:  []string{"#sha256=<64 hex digits>"},
		},
		{
			name:    "an unreachable mirror names the URL and is worth retrying",
			entry:   upstream + "crds.yaml",
			remote:  &Remote{Mirrors: []Mirror{{From: "https://releases.upstream.invalid/", To: closed.URL + "/"}}},
			problem: RemoteUnreachable,
			message: []string{"kustomization.yaml: ", "fetch " + upstream + "crds.yaml (from mirror " + closed.URL + "/operator/v1.2.3/crds.yaml)", "connection refused"},
		},
		{
			name:    "a file the mirror does not have gives the HTTP status",
			entry:   upstream + "missing.yaml",
			remote:  &Remote{Mirrors: []Mirror{mirror}},
			problem: RemoteUnreachable,
			message: []string{"404 Not Found"},
		},
		{
			name:    "a mirror that does not answer times out",
			entry:   upstream + "crds.yaml",
			remote:  &Remote{Mirrors: []Mirror{{From: "https://releases.upstream.invalid/", To: slow.URL + "/"}}, Timeout: 200 * time.Millisecond},
			problem: RemoteUnreachable,
			message: []string{"no answer within 200ms"},
		},
		{
			name:    "credentials in a mirror URL stay out of the message",
			entry:   upstream + "crds.yaml",
			remote:  &Remote{Mirrors: []Mirror{{From: "https://releases.upstream.invalid/", To: "http://user:s3cr3t@" + strings.TrimPrefix(closed.URL, "http://") + "/"}}},
			problem: RemoteUnreachable,
			message: []string{"user:xxxxx@"},
		},
		{
			name:     "without a fetcher a remote file is refused",
			entry:    upstream + "crds.yaml",
			problem:  RemoteRefused,
			terminal: true,
			message:  []string{"resources entry \"" + upstream + "crds.yaml\" would be fetched"},
		},
		{
			name:     "a remote git base is refused even with a fetcher",
			entry:    "https://github.com/acme/platform//base?ref=v1.0.0",
			remote:   &Remote{Mirrors: []Mirror{mirror}},
			problem:  RemoteRefused,
			terminal: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"kustomization.yaml": "resources:\n- " + tc.entry + "\n"})
			if tc.remote != nil {
				tc.remote.CacheDir = t.TempDir()
			}
			_, err := New(Options{Remote: tc.remote}).Render(t.Context(), root, ".")
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not a *render.Error", err, err)
			}
			if got.Problem != tc.problem || got.Terminal() != tc.terminal {
				t.Errorf("problem %q terminal %v, want %q %v: %v", got.Problem, got.Terminal(), tc.problem, tc.terminal, err)
			}
			for _, part := range tc.message {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q shows the password", err)
			}
			if tc.remote != nil {
				if files, _ := os.ReadDir(tc.remote.CacheDir); len(files) != 0 {
					t.Errorf("the cache holds %d files after a failed fetch, want none", len(files))
				}
			}
		})
	}
}

func TestRemotePinChangeRefetches(t *testing.T) {
	server := newFileServer(t, map[string]string{"/m/operator/v1.2.3/crds.yaml": remoteCRD})
	remote := &Remote{CacheDir: t.TempDir(), Mirrors: []Mirror{{From: "https://releases.upstream.invalid/", To: server.URL + "/m/"}}}
	url := upstream + "crds.yaml"
	if _, err := remote.Fetch(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	server.mu.Lock()
	server.files["/m/operator/v1.2.3/crds.yaml"] = remoteDeployment // the mirror now serves something else
	server.mu.Unlock()
	data, err := remote.Fetch(t.Context(), url+pin(remoteDeployment))
	if err != nil || string(data) != remoteDeployment || server.count() != 2 {
		t.Errorf("after the pin changed: requests %d, err %v, got the pinned content %v", server.count(), err, string(data) == remoteDeployment)
	}
}

func TestMirrors(t *testing.T) {
	r := &Remote{Mirrors: []Mirror{
		{From: "https://raw.githubusercontent.com/", To: "https://mirror.example/raw/"},
		{From: "https://raw.githubusercontent.com/projectcalico/", To: "https://calico-mirror.example/"},
	}}
	cases := map[string]string{
		"https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/operator-crds.yaml": "https://calico-mirror.example/calico/v3.32.1/manifests/operator-crds.yaml",
		"https://raw.githubusercontent.com/other/x.yaml":                                              "https://mirror.example/raw/other/x.yaml",
		"https://example.org/x.yaml":                                                                  "https://example.org/x.yaml",
	}
	for in, want := range cases {
		if got := r.rewrite(in); got != want {
			t.Errorf("rewrite(%s) = %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"https://a.example/", "=https://b.example/", "https://a.example/=ftp://b.example/"} {
		if _, err := ParseMirror(bad); err == nil {
			t.Errorf("ParseMirror(%q) accepted it", bad)
		}
	}
	if m, err := ParseMirror("https://a.example/=https://b.example/x/"); err != nil || m.To != "https://b.example/x/" {
		t.Errorf("ParseMirror = %+v, %v", m, err)
	}
}

func TestIsRemoteFile(t *testing.T) {
	for in, want := range map[string]bool{
		"https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/operator-crds.yaml": true,
		"https://example.org/a.yml#sha256=00":             true,
		"http://example.org/a.json":                       true,
		"https://github.com/acme/platform//base?ref=v1":   false,
		"https://example.org/acme/platform.git":           false,
		"https://example.org/a.yaml?ref=main":             false,
		"https://example.org/repo//deploy/kustomize.yaml": false,
		"local.yaml": false,
	} {
		if got := isRemoteFile(in); got != want {
			t.Errorf("isRemoteFile(%q) = %v, want %v", in, got, want)
		}
	}
}
