package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

// upstream names a release host no test reaches: only --mirror makes its URLs resolve, to a
// server on loopback.
const upstream = "https://releases.upstream.invalid/"

// TestRemoteResources syncs a kustomization that lists a remote file, then commits changes
// that make the fetch fail: each fails with one line naming the URL, and prunes nothing.
func TestRemoteResources(t *testing.T) {
	remote := configMap("remote", "fetched")
	var requests atomic.Int32
	files := http.StripPrefix("/mirror", http.FileServerFS(fstest.MapFS{"v1/extra.yaml": {Data: []byte(remote)}}))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	mirror := "--mirror=" + upstream + "=" + server.URL + "/mirror/"
	kustomization := func(url string, files ...string) map[string]string {
		return map[string]string{"app/kustomization.yaml": "resources:\n- " + strings.Join(append(files, url), "\n- ") + "\n"}
	}
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	f.repo.Commit(t, "a remote file", kustomization(upstream+"v1/extra.yaml", "a.yaml", "b.yaml", "deployment.yaml", "service.yaml"))
	f.mustSync(mirror)
	if got := data(f.get(configMaps, "remote")); got != "fetched" {
		t.Fatalf("ConfigMap remote = %q, want the fetched one", got)
	}
	good := f.repo.Head(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	sum := sha256.Sum256([]byte("not what the mirror serves"))
	for _, tc := range []struct {
		name   string
		url    string
		mirror string
		want   []string
	}{
		{"an unreachable URL", upstream + "v2/extra.yaml", "--mirror=" + upstream + "=" + closed,
			[]string{"app/kustomization.yaml", upstream + "v2/extra.yaml", "unreachable", closed}},
		{"a file the mirror does not have", upstream + "v2/extra.yaml", mirror,
			[]string{upstream + "v2/extra.yaml", "404"}},
		{"a file that does not match its pin", upstream + "v1/extra.yaml#sha256=" + hex.EncodeToString(sum[:]), mirror,
			[]string{upstream + "v1/extra.yaml", "the pin says " + hex.EncodeToString(sum[:])}},
	} {
		t.Run("refuses "+tc.name+" and prunes nothing", func(t *testing.T) {
			f.repo.Commit(t, tc.name, kustomization(tc.url, "a.yaml", "deployment.yaml", "service.yaml")) // b.yaml left git
			r := f.sync(tc.mirror)
			if r.Code == 0 {
				t.Fatalf("sync succeeded:\n%s", r)
			}
			oneLine(t, r, tc.want...)
			if f.get(configMaps, "b") == nil || data(f.get(configMaps, "remote")) != "fetched" {
				t.Error("ConfigMap b or remote is gone: something was pruned after a failed render")
			}
			if st := f.status(); st["lastAppliedRevision"] != good || st["objects"] != float64(5) {
				t.Errorf("status = %v, want last applied %s with 5 objects", st, good)
			}
		})
	}
	// The lockdown of a gitsync that teams share: no file from the network,
	// not even one fetched and cached before.
	t.Run("with --no-remote-files refuses a file it fetched before, and prunes nothing", func(t *testing.T) {
		f.repo.Commit(t, "the good remote file again", kustomization(upstream+"v1/extra.yaml", "a.yaml", "deployment.yaml", "service.yaml"))
		before := requests.Load()
		r := f.sync(mirror, "--no-remote-files")
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, "app/kustomization.yaml", upstream+"v1/extra.yaml", "--no-remote-files", "copy the file into the repository")
		if got := requests.Load() - before; got != 0 {
			t.Errorf("the mirror got %d requests, want none", got)
		}
		if f.get(configMaps, "b") == nil || data(f.get(configMaps, "remote")) != "fetched" {
			t.Error("ConfigMap b or remote is gone: something was pruned after a failed render")
		}
		if st := f.status(); st["lastAppliedRevision"] != good {
			t.Errorf("status = %v, want last applied %s", st, good)
		}
	})
}

// TestRemoteBases syncs a kustomization whose base lives in another git repository, served
// over HTTP: refused unless turned on, then fetched through the mirror at the tag asked for.
func TestRemoteBases(t *testing.T) {
	platform := gitserver.NewRepo(t)
	platform.Commit(t, "base", map[string]string{
		"base/kustomization.yaml": "resources: [platform.yaml]\n",
		"base/platform.yaml":      configMap("platform", "v1"),
	})
	platform.Tag(t, "v1")
	platform.Commit(t, "not yet released", map[string]string{"base/platform.yaml": configMap("platform", "v2")})
	server := gitserver.StartHTTP(t, platform.Root(), gitserver.Options{})
	mirror := "--mirror=https://git.upstream.invalid/=" + server.URL + "/"

	f := newFixture(t)
	f.repo.Commit(t, "a remote base", map[string]string{
		"app/kustomization.yaml": "resources:\n- a.yaml\n- https://git.upstream.invalid/" + platform.Name() + "//base?ref=v1\n",
		"app/a.yaml":             configMap("a", "one"),
	})
	r := f.sync(mirror)
	if r.Code == 0 {
		t.Fatalf("sync succeeded without --allow-remote-bases:\n%s", r)
	}
	oneLine(t, r, "app/kustomization.yaml", "--allow-remote-bases")
	if server.Requests() != 0 {
		t.Errorf("the base's server saw %d requests before remote bases were allowed", server.Requests())
	}

	f.mustSync(mirror, "--allow-remote-bases")
	if got := data(f.get(configMaps, "platform")); got != "v1" {
		t.Errorf("ConfigMap platform = %q, want v1: the base at the tag asked for", got)
	}
}
