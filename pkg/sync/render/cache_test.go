package render

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCache(t *testing.T) {
	cases := []struct {
		name       string
		path       string
		change     func(t *testing.T, root string)
		wantCached bool
	}{
		{
			name:       "reuses an overlay from a new snapshot with the same content",
			path:       "overlays/prod",
			change:     func(*testing.T, string) {},
			wantCached: true,
		},
		{
			name: "reuses an overlay when only files it does not read changed",
			path: "overlays/prod",
			change: func(t *testing.T, root string) {
				writeTree(t, root, map[string]string{"overlays/dev/kustomization.yaml": "resources: [../../base]\n",
					"base/README.md": "notes\n", "plain/new.yaml": configMap})
			},
			wantCached: true,
		},
		{
			name: "rebuilds an overlay when a file of its base changed",
			path: "overlays/prod",
			change: func(t *testing.T, root string) {
				writeTree(t, root, map[string]string{"base/nginx.conf": "server { listen 8080; }\n"})
			},
		},
		{
			name: "builds a plain directory as a kustomization once one appears in it",
			path: "plain",
			change: func(t *testing.T, root string) {
				writeTree(t, root, map[string]string{"plain/kustomization.yaml": "resources: [00-namespace.yaml]\n"})
			},
		},
		{
			name: "reuses a plain directory when a file that is not YAML is added",
			path: "plain",
			change: func(t *testing.T, root string) {
				writeTree(t, root, map[string]string{"plain/NOTES.txt": "x\n", "plain/nested/more.yaml": configMap})
			},
			wantCached: true,
		},
		{
			name: "rereads a plain directory when a YAML file is added",
			path: "plain",
			change: func(t *testing.T, root string) {
				writeTree(t, root, map[string]string{"plain/zz.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: zz\n  namespace: web\n"})
			},
		},
		{
			name: "rereads a plain directory when a YAML file is removed",
			path: "plain",
			change: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, "plain/worker.yml")); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		for _, where := range []string{"in memory", "on disk, in a new process", "on disk, by processes that render once",
			"on disk, by processes that render once, lazily", "on disk, written behind, in a new process"} {
			t.Run(tc.name+", "+where, func(t *testing.T) {
				r := New()
				next := func() *Renderer { return r }
				if where != "in memory" {
					dir := t.TempDir()
					opts := Options{CacheDir: dir, Once: strings.Contains(where, "once"), WriteBehind: strings.Contains(where, "behind"),
						Lazy: strings.Contains(where, "lazily")}
					r = New(opts)
					next = func() *Renderer { return New(opts) }
				}
				first, err := r.Render(t.Context(), copyTree(t, repo), tc.path)
				if err != nil {
					t.Fatal(err)
				}
				first.Kept()
				// The caller owns what it gets: changing it changes no later render.
				for _, o := range first.Objects {
					o.SetLabels(map[string]string{"changed-by": "caller"})
				}
				snapshot := copyTree(t, repo)
				tc.change(t, snapshot)
				ctx := t.Context()
				if tc.wantCached {
					ctx = withoutKustomize(t)
				}
				second, err := next().Render(ctx, snapshot, tc.path)
				if err != nil {
					t.Fatal(err)
				}
				second.Kept() // before the directory is removed
				if first.Cached || second.Cached != tc.wantCached || (second.Digest == first.Digest) != tc.wantCached {
					t.Errorf("cached = %v then %v, same digest = %v; want cached and same digest = %v",
						first.Cached, second.Cached, second.Digest == first.Digest, tc.wantCached)
				}
				if tc.wantCached && (string(yamlOf(t, first)) != string(yamlOf(t, second)) || first.Len() != second.Len()) {
					t.Errorf("the reused render differs:\n%s\nwant:\n%s", yamlOf(t, second), yamlOf(t, first))
				}
				for _, o := range second.Objects {
					if o.GetLabels()["changed-by"] != "" {
						t.Errorf("%s/%s carries the label the caller set on the first render's copy", o.GetKind(), o.GetName())
					}
				}
			})
		}
	}
}

// TestWriteBehindRendersWhileItWrites renders commits while the renders of
// the ones before are still being written, as two syncs of one path may: a
// new render reuses the objects a write is reading (go test -race checks that
// neither changes them), the writes of a path run in order, and the next
// process reuses the newest render.
func TestWriteBehindRendersWhileItWrites(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("many/cm-%03d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\ndata: {k: v}\n", i)
	}
	r := New(Options{CacheDir: dir, Shared: true, WriteBehind: true})
	var last *Result
	for i := range 3 {
		files["many/cm-007.yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-007\ndata: {k: v%d}\n", i)
		root := t.TempDir()
		writeTree(t, root, files)
		res, err := r.RenderSnapshot(t.Context(), root, blobsOf(files), "many")
		if err != nil {
			t.Fatal(err)
		}
		last = res
	}
	last.Kept()
	root := t.TempDir()
	writeTree(t, root, files)
	again, err := New(Options{CacheDir: dir}).RenderSnapshot(withoutKustomize(t), root, blobsOf(files), "many")
	if err != nil || !again.Cached || again.Digest != last.Digest {
		t.Errorf("a new process: cached %v, same digest %v (%v); want the newest render reused from disk",
			again != nil && again.Cached, again != nil && again.Digest == last.Digest, err)
	}
}

func TestPlainRenderDecodesOnlyChangedFiles(t *testing.T) {
	for _, where := range []string{"in memory", "on disk, in a new process"} {
		t.Run("after a commit that changes one file of many, "+where, func(t *testing.T) {
			files := map[string]string{}
			for i := range 50 {
				files[fmt.Sprintf("many/cm-%02d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata: {k: v}\n", i)
			}
			root := t.TempDir()
			writeTree(t, root, files)
			dir := t.TempDir()
			r := New(Options{CacheDir: dir})
			if _, err := r.Render(t.Context(), root, "many"); err != nil {
				t.Fatal(err)
			}
			if where != "in memory" {
				r = New(Options{CacheDir: dir})
			}
			snapshot := copyTree(t, root)
			writeTree(t, snapshot, map[string]string{"many/cm-07.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-07\ndata: {k: changed}\n"})
			got, err := r.Render(t.Context(), snapshot, "many")
			if err != nil {
				t.Fatal(err)
			}
			if n := r.cache.files("many").decodes; n != 1 {
				t.Errorf("%d files decoded, want the one that changed", n)
			}
			want, err := New().Render(t.Context(), snapshot, "many")
			if err != nil {
				t.Fatal(err)
			}
			if got.Cached || got.Digest != want.Digest || string(yamlOf(t, got)) != string(yamlOf(t, want)) {
				t.Errorf("cached %v, digest %s; want a render like a fresh one (%s):\n%s", got.Cached, got.Digest, want.Digest, yamlOf(t, got))
			}
		})
	}
}

// TestLazyRenderDecodesOnlyWhatChanged renders lazily, as a sync run once
// does, in a new process each time: what it hands out is what a render that
// decodes everything gives, and only the objects of changed files are decoded.
func TestLazyRenderDecodesOnlyWhatChanged(t *testing.T) {
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("many/cm-%02d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata: {k: v}\n", i)
	}
	files["many/two.yaml"] = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: web}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
	root := t.TempDir()
	writeTree(t, root, files)
	opts := Options{CacheDir: t.TempDir(), Once: true, Lazy: true}
	render := func(t *testing.T, ctx context.Context, root, path string) *Result {
		t.Helper()
		got, err := New(opts).Render(ctx, root, path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := New().Render(t.Context(), root, path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Objects != nil || len(got.Docs) != len(want.Objects) || got.Digest != want.Digest {
			t.Fatalf("%d objects, %d docs, digest %s; want no objects and the %d docs of a render that decodes them (%s)",
				len(got.Objects), len(got.Docs), got.Digest, len(want.Objects), want.Digest)
		}
		for i, d := range got.Docs {
			apiVersion, kind, namespace, name := d.Head()
			w := want.Objects[i]
			if head := []string{apiVersion, kind, namespace, name}; !slices.Equal(head, []string{w.GetAPIVersion(), w.GetKind(), w.GetNamespace(), w.GetName()}) {
				t.Errorf("doc %d named %q, want %s", i, head, describe(w))
			}
			if string(d.JSON()) != string(want.docs[i]) {
				t.Errorf("doc %d: %s, want %s", i, d.JSON(), want.docs[i])
			}
		}
		return got
	}
	decoded := func(res *Result) []string {
		var names []string
		for _, d := range res.Docs {
			if d.o.u != nil {
				names = append(names, d.o.u.GetName())
			}
		}
		return names
	}
	render(t, t.Context(), root, "many")

	t.Run("nothing is decoded of a render reused", func(t *testing.T) {
		res := render(t, withoutKustomize(t), copyTree(t, root), "many")
		if names := decoded(res); !res.Cached || len(names) > 0 {
			t.Errorf("cached %v, decoded %q; want reused, nothing decoded", res.Cached, names)
		}
	})
	t.Run("the objects of a changed file are decoded, and only they", func(t *testing.T) {
		snapshot := copyTree(t, root)
		writeTree(t, snapshot, map[string]string{"many/cm-07.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-07\ndata: {k: changed}\n"})
		res := render(t, t.Context(), snapshot, "many")
		if names := decoded(res); res.Cached || !slices.Equal(names, []string{"cm-07"}) {
			t.Errorf("cached %v, decoded %q; want rendered, cm-07 decoded", res.Cached, names)
		}
	})
	t.Run("a doc decodes to the object a render that decodes everything gives", func(t *testing.T) {
		res := render(t, withoutKustomize(t), copyTree(t, root), "many")
		if err := res.Decode(); err != nil {
			t.Fatal(err)
		}
		want, err := New().Render(t.Context(), root, "many")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Objects, res.Objects); diff != "" {
			t.Errorf("decoded (-want +got):\n%s", diff)
		}
	})
}

// TestSnapshotBlobsSpareReads renders snapshots whose git blobs are known. To
// show that a file whose blob the renderer has seen is not read again, the
// test changes such a file's bytes behind the renderer's back: the render
// keeps what the blob holds.
func TestSnapshotBlobsSpareReads(t *testing.T) {
	cm := func(name, value string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata: {k: %s}\n", name, value)
	}
	tree := func(t *testing.T, files map[string]string) (string, map[string]string) {
		root := t.TempDir()
		writeTree(t, root, files)
		return root, blobsOf(files)
	}
	files := map[string]string{}
	for i := range 20 {
		files[fmt.Sprintf("many/cm-%02d.yaml", i)] = cm(fmt.Sprintf("cm-%02d", i), "v")
	}
	files["app/kustomization.yaml"] = "resources: [cm.yaml]\nnamePrefix: p-\n"
	files["app/cm.yaml"] = cm("settings", "v")

	for _, where := range []string{"in memory", "on disk, in a new process"} {
		t.Run("a plain directory after a commit, "+where, func(t *testing.T) {
			dir := t.TempDir()
			r := New(Options{CacheDir: dir})
			root, blobs := tree(t, files)
			if _, err := r.RenderSnapshot(t.Context(), root, blobs, "many"); err != nil {
				t.Fatal(err)
			}
			if where != "in memory" {
				r = New(Options{CacheDir: dir})
			}
			next := maps.Clone(files)
			next["many/cm-07.yaml"] = cm("cm-07", "changed")
			root, blobs = tree(t, next)
			writeTree(t, root, map[string]string{"many/cm-03.yaml": cm("cm-03", "not-what-the-blob-holds")})
			got, err := r.RenderSnapshot(t.Context(), root, blobs, "many")
			if err != nil {
				t.Fatal(err)
			}
			if n := r.cache.files("many").decodes; n != 1 {
				t.Errorf("%d files decoded, want the one whose blob changed", n)
			}
			wantRoot, _ := tree(t, next)
			want, err := New().Render(t.Context(), wantRoot, "many")
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != want.Digest || string(yamlOf(t, got)) != string(yamlOf(t, want)) {
				t.Errorf("render with blobs:\n%s\nwant what the blobs hold:\n%s", yamlOf(t, got), yamlOf(t, want))
			}
		})
		t.Run("a kustomization whose files kept their blobs is reused, "+where, func(t *testing.T) {
			dir := t.TempDir()
			r := New(Options{CacheDir: dir})
			root, blobs := tree(t, files)
			first, err := r.RenderSnapshot(t.Context(), root, blobs, "app")
			if err != nil {
				t.Fatal(err)
			}
			if where != "in memory" {
				r = New(Options{CacheDir: dir})
			}
			root, blobs = tree(t, files)
			writeTree(t, root, map[string]string{"app/cm.yaml": cm("settings", "not-what-the-blob-holds")})
			second, err := r.RenderSnapshot(withoutKustomize(t), root, blobs, "app")
			if err != nil || !second.Cached || second.Digest != first.Digest {
				t.Errorf("second render: cached %v, same digest %v (%v); want the first reused", second != nil && second.Cached, second != nil && second.Digest == first.Digest, err)
			}
		})
	}
	t.Run("a file that is not a regular file in the tree is read", func(t *testing.T) {
		r := New()
		root, blobs := tree(t, files)
		if _, err := r.RenderSnapshot(t.Context(), root, blobs, "app"); err != nil {
			t.Fatal(err)
		}
		root, blobs = tree(t, files)
		blobs["app/cm.yaml"] = strings.Replace(blobs["app/cm.yaml"], "0100644", "0120000", 1)
		writeTree(t, root, map[string]string{"app/cm.yaml": cm("settings", "changed")})
		res, err := r.RenderSnapshot(t.Context(), root, blobs, "app")
		if err != nil || res.Cached || !strings.Contains(string(yamlOf(t, res)), "changed") {
			t.Errorf("cached %v (%v):\n%s\nwant the file read again", res != nil && res.Cached, err, yamlOf(t, res))
		}
	})
}

func TestDigestDependsOnlyOnTheInputs(t *testing.T) {
	for _, path := range []string{"overlays/canary", "plain"} {
		t.Run("gives "+path+" the same digest in a fresh renderer and another snapshot", func(t *testing.T) {
			a, err := New().Render(t.Context(), repo, path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := New().Render(t.Context(), copyTree(t, repo), path)
			if err != nil {
				t.Fatal(err)
			}
			if a.Cached || b.Cached || a.Digest != b.Digest || string(yamlOf(t, a)) != string(yamlOf(t, b)) {
				t.Errorf("digests %s and %s (cached %v, %v): want equal and fresh", a.Digest, b.Digest, a.Cached, b.Cached)
			}
		})
	}
}

// withoutKustomize holds the kustomize slot for the rest of the test and returns a context
// that gives up on it quickly: a render that still calls kustomize fails instead of building.
func withoutKustomize(t *testing.T) context.Context {
	t.Helper()
	kustomizeSlot <- struct{}{}
	t.Cleanup(func() { <-kustomizeSlot })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestDiskCacheOfAnotherBuildIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(Options{CacheDir: dir}).Render(t.Context(), repo, "plain"); err != nil {
		t.Fatal(err)
	}
	upgraded := func() *Renderer {
		r := New(Options{CacheDir: dir})
		r.disk.build = "v9.9.9 0123abc v9.9.9"
		return r
	}
	first, err := upgraded().Render(t.Context(), repo, "plain")
	if err != nil || first.Cached {
		t.Fatalf("the first render of another build: cached %v (%v), want a render of its own", first != nil && first.Cached, err)
	}
	again, err := upgraded().Render(t.Context(), repo, "plain")
	if err != nil || !again.Cached {
		t.Errorf("the next process of that build: cached %v (%v), want its own entry reused", again != nil && again.Cached, err)
	}
}

func TestDiskCacheThatCannotBeReadIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(kept []byte) []byte
	}{
		{"a torn first line", func([]byte) []byte { return []byte(`{"format":4,"path":"plain","objects":`) }},
		{"an entry of another format", func(kept []byte) []byte { return bytes.Replace(kept, []byte(`"format":4`), []byte(`"format":3`), 1) }},
		{"more lines of questions than it says", func(kept []byte) []byte {
			return bytes.Replace(kept, []byte(`"inputs":`), []byte(`"inputs":1`), 1)
		}},
		{"a count below zero", func(kept []byte) []byte { return bytes.Replace(kept, []byte(`"files":`), []byte(`"files":-`), 1) }},
		{"objects cut short", func(kept []byte) []byte {
			return kept[:bytes.LastIndexByte(kept[:len(kept)-1], '\n')+1]
		}},
		{"more objects than it says", func(kept []byte) []byte { return append(kept, "{}\n"...) }},
		{"an object that is not JSON", func(kept []byte) []byte { return append(kept[:len(kept)-2], "\n"...) }},
		{"a value changed", func(kept []byte) []byte {
			return bytes.Replace(kept, []byte(`"name":"web"`), []byte(`"name":"wab"`), 1)
		}},
		{"a name changed", func(kept []byte) []byte { return bytes.Replace(kept, []byte("\tweb\t"), []byte("\twab\t"), 1) }},
		{"a field less", func(kept []byte) []byte {
			last := bytes.LastIndexByte(kept[:len(kept)-1], '\n') + 1
			return append(kept[:last:last], kept[bytes.IndexByte(kept[last:], '\t')+last+1:]...)
		}},
	} {
		for _, lazy := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, lazy %v", tc.name, lazy), func(t *testing.T) {
				spoilt(t, Options{CacheDir: t.TempDir(), Once: lazy, Lazy: lazy}, tc.spoil)
			})
		}
	}
}

// TestRenderThatCannotBeKeptRendersAgain renders a file whose name holds a
// tab, which the lines of a render kept on disk cannot: the render is right,
// and the next process renders again.
func TestRenderThatCannotBeKeptRendersAgain(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"tabs/a\tb.yaml": configMap, "tabs/c.yaml": strings.ReplaceAll(configMap, "name: ", "name: c")})
	opts := Options{CacheDir: t.TempDir(), Once: true, Lazy: true}
	for i := range 2 {
		res, err := New(opts).Render(t.Context(), root, "tabs")
		if err != nil {
			t.Fatal(err)
		}
		if res.Cached || res.Len() != 2 {
			t.Errorf("process %d: cached %v, %d objects; want 2 objects rendered", i, res.Cached, res.Len())
		}
	}
}

// spoilt renders plain with opts, spoils the render kept on disk and checks
// that the next process renders again, and keeps what it rendered.
func spoilt(t *testing.T, opts Options, spoil func([]byte) []byte) {
	t.Helper()
	want, err := New().Render(t.Context(), repo, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(opts).Render(t.Context(), repo, "plain"); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(opts.CacheDir, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("cache files %v (%v), want one", files, err)
	}
	kept, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], spoil(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := New(opts).Render(t.Context(), repo, "plain")
	if err != nil {
		t.Fatalf("render over a spoilt cache file: %v", err)
	}
	if res.Cached || string(yamlOf(t, res)) != string(yamlOf(t, want)) {
		t.Fatalf("render over a spoilt cache file: cached %v; want a fresh render:\n%s", res.Cached, yamlOf(t, res))
	}
	again, err := New(opts).Render(t.Context(), repo, "plain")
	if err != nil || !again.Cached || string(yamlOf(t, again)) != string(yamlOf(t, want)) {
		t.Errorf("the next process: cached %v (%v), want the replaced entry reused", again != nil && again.Cached, err)
	}
}

// TestRendererTrustsWhatItKeptOverTheDisk shows that a Renderer that
// rendered a path before does not read the render kept on disk: another
// process keeps there a render of the next revision that holds what a file
// held behind its blob's back, and this Renderer, asked for that revision,
// renders what the blob holds.
func TestRendererTrustsWhatItKeptOverTheDisk(t *testing.T) {
	cm := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: {k: " + value + "}\n"
	}
	tree := func(t *testing.T, files map[string]string, behind map[string]string) (string, map[string]string) {
		root := t.TempDir()
		writeTree(t, root, files)
		blobs := map[string]string{}
		for name, content := range files {
			blobs[name] = fmt.Sprintf("0100644 %x", sha1.Sum([]byte(content)))
		}
		writeTree(t, root, behind)
		return root, blobs
	}
	dir := t.TempDir()
	warm := New(Options{CacheDir: dir})
	root, blobs := tree(t, map[string]string{"app/a.yaml": cm("v1"), "app/b.yaml": strings.Replace(cm("b"), "name: cm", "name: b", 1)}, nil)
	if _, err := warm.RenderSnapshot(t.Context(), root, blobs, "app"); err != nil {
		t.Fatal(err)
	}
	next := map[string]string{"app/a.yaml": cm("v2"), "app/b.yaml": strings.Replace(cm("b"), "name: cm", "name: b", 1)}
	poisoned, blobs := tree(t, next, map[string]string{"app/a.yaml": cm("not-what-the-blob-holds")})
	if _, err := New(Options{CacheDir: dir}).RenderSnapshot(t.Context(), poisoned, blobs, "app"); err != nil {
		t.Fatal(err)
	}
	root, blobs = tree(t, next, nil)
	got, err := warm.RenderSnapshot(t.Context(), root, blobs, "app")
	if err != nil {
		t.Fatal(err)
	}
	if y := string(yamlOf(t, got)); !strings.Contains(y, "k: v2") {
		t.Errorf("the warm Renderer rendered:\n%s\nwant what the blobs hold (k: v2), not the render another process kept", y)
	}
}

// TestOneRenderListsADirectoryOnce: the listing a render checks its kept
// result against is the one it renders from.
func TestOneRenderListsADirectoryOnce(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"app/a.yaml": "x", "app/b.yml": "y", "app/c.txt": "z"})
	fsys, err := openRepository(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	first, err := fsys.listYAML("app")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "app", "a.yaml")); err != nil {
		t.Fatal(err)
	}
	second, err := fsys.listYAML("app")
	if err != nil || strings.Join(first, ",") != "a.yaml,b.yml" || strings.Join(second, ",") != strings.Join(first, ",") {
		t.Errorf("listings %v then %v (%v); want [a.yaml b.yml] both times", first, second, err)
	}
}
