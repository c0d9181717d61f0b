package e2e

import (
	"net"
	"strings"
	"testing"
)

// Every bad input must fail the sync with one clear line naming the file or
// object, exit non-zero, prune nothing and keep the last good state.
func TestBadInputKeepsTheLastGoodState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // in the error line
	}{
		{
			name:  "invalid YAML",
			files: map[string]string{"app/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b\n"},
			want:  []string{"app/b.yaml"},
		},
		{
			name:  "a kustomization referencing a missing file",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- a.yaml\n- missing.yaml\n"},
			want:  []string{"missing.yaml"},
		},
		{
			name:  "a path escaping the repository",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- a.yaml\n- ../../outside\n"},
			want:  []string{"../../outside"},
		},
		{
			name:  "an object without apiVersion",
			files: map[string]string{"app/b.yaml": "kind: ConfigMap\nmetadata:\n  name: b\n"},
			want:  []string{"app/b.yaml", "apiVersion"},
		},
		{
			name:  "an object without kind",
			files: map[string]string{"app/b.yaml": "apiVersion: v1\nmetadata:\n  name: b\n"},
			want:  []string{"app/b.yaml", "kind"},
		},
		{
			name:  "an object without a name",
			files: map[string]string{"app/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
			want:  []string{"app/b.yaml", "name"},
		},
		{
			name:  "an unknown kind",
			files: map[string]string{"app/gadget.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n"},
			want:  []string{"Gadget", "g"},
		},
		{
			name:  "an object the API server rejects",
			files: map[string]string{"app/service.yaml": strings.Replace(service, "port: 80", "port: 99999", 1)},
			want:  []string{"Service", "/web", "99999"},
		},
		{
			name:  "the same object twice",
			files: map[string]string{"app/c.yaml": configMap("a", "again")},
			want:  []string{"ConfigMap", "a"},
		},
		{
			name:  "a render with no objects",
			files: map[string]string{"app/a.yaml": "", "app/b.yaml": "", "app/deployment.yaml": "", "app/service.yaml": "", "app/README.md": "nothing here"},
			want:  []string{"no objects", "--allow-empty"},
		},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			f, good := syncedFixture(t)
			f.repo.Commit(t, tc.name, tc.files)
			r := f.sync()
			if r.Code == 0 {
				t.Fatalf("sync succeeded:\n%s", r)
			}
			oneLine(t, r, tc.want...)
			f.expectLastGoodState(good)
		})
	}

	t.Run("refuses a symlink pointing out of the repository", func(t *testing.T) {
		f, good := syncedFixture(t)
		f.repo.Symlink(t, "app/passwd.yaml", "/etc/passwd")
		r := f.sync()
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, "app/passwd.yaml")
		f.expectLastGoodState(good)
	})

	t.Run("refuses a namespaced object without a namespace when --namespace is not given", func(t *testing.T) {
		f := newFixture(t)
		f.repo.Commit(t, "first", map[string]string{"app/a.yaml": configMap("a", "one")})
		r := gitsync(t, []string{"GITSYNC_PASSWORD=" + gitPassword}, "sync", "--repo", f.repoURL(), "--path", "app",
			"--username", gitUser, "--kubeconfig", f.api.Kubeconfig, "--cache-dir", f.cache, "--name", "no-ns-"+f.ns[len(f.ns)-5:])
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, "ConfigMap a", "namespace")
	})

	t.Run("refuses a ref that does not exist", func(t *testing.T) {
		f, good := syncedFixture(t)
		r := f.sync("--ref", "no-such-branch")
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, "no-such-branch")
		f.expectLastGoodState(good)
	})

	t.Run("refuses wrong credentials without showing them", func(t *testing.T) {
		f, good := syncedFixture(t)
		args := []string{"sync", "--repo", f.repoURL(), "--path", "app", "--name", "e2e", "--username", gitUser,
			"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", f.cache}
		r := gitsync(t, []string{"GITSYNC_PASSWORD=wrong-Pa55word"}, args...)
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, f.repoURL())
		if strings.Contains(r.Stdout+r.Stderr, "wrong-Pa55word") {
			t.Errorf("the password appears in the output:\n%s", r)
		}
		f.expectLastGoodState(good)
	})

	t.Run("reports an unreachable repository", func(t *testing.T) {
		f, good := syncedFixture(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String() + "/repo"
		l.Close()
		r := gitsync(t, nil, "sync", "--repo", closed, "--path", "app", "--name", "e2e",
			"--kubeconfig", f.api.Kubeconfig, "--namespace", f.ns, "--cache-dir", f.cache)
		if r.Code == 0 {
			t.Fatalf("sync succeeded:\n%s", r)
		}
		oneLine(t, r, l.Addr().String())
		f.expectLastGoodState(good)
	})
}

// syncedFixture returns a fixture whose base app is synced, and that revision.
func syncedFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	f.repo.Commit(t, "first", baseApp())
	f.mustSync()
	return f, f.repo.Head(t)
}

// expectLastGoodState checks that the objects of the good revision are all
// there, unchanged, and the status still names that revision.
func (f *fixture) expectLastGoodState(good string) {
	f.t.Helper()
	if a, b := data(f.get(configMaps, "a")), data(f.get(configMaps, "b")); a != "one" || b != "two" {
		f.t.Errorf("ConfigMaps a=%q b=%q, want the last good one and two", a, b)
	}
	if f.get(deployments, "web") == nil || f.get(services, "web") == nil {
		f.t.Error("the Deployment or Service of the last good revision is gone")
	}
	st := f.status()
	if st["lastAppliedRevision"] != good || st["objects"] != float64(4) || st["ready"] != false || st["error"] == nil {
		f.t.Errorf("status = %v, want last applied %s, 4 objects, not ready, an error", st, good)
	}
}
