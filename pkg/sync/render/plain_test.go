package render

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlainDirectoryProblems(t *testing.T) {
	cases := []badRepo{
		{
			name:   "reports invalid YAML with the line in the file, past earlier documents",
			files:  map[string]string{"web/app.yaml": configMap + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad: x\n"},
			path:   "web",
			want:   Error{Problem: InvalidYAML, File: "web/app.yaml", Line: 10},
			detail: "mapping values are not allowed in this context",
		},
		{
			name:   "reports a document separator with content after it",
			files:  map[string]string{"web/app.yaml": configMap + "--- oops\n" + configMap},
			path:   "web",
			want:   Error{Problem: InvalidYAML, File: "web/app.yaml"},
			detail: "invalid document separator",
		},
		{
			name:   "reports an object without apiVersion, kind and name, naming what is missing",
			files:  map[string]string{"web/a.yaml": configMap, "web/b.yaml": "metadata:\n  namespace: web\ndata:\n  a: b\n"},
			path:   "web",
			want:   Error{Problem: InvalidObject, File: "web/b.yaml"},
			detail: "missing apiVersion, kind, metadata.name",
		},
		{
			name:   "reports an object without a name, identifying it by kind",
			files:  map[string]string{"web/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: web\n"},
			path:   "web",
			want:   Error{Problem: InvalidObject, File: "web/svc.yaml", Object: "v1 Service"},
			detail: "missing metadata.name",
		},
		{
			name:   "reports a document that is not a mapping",
			files:  map[string]string{"web/list.yaml": "- a\n- b\n"},
			path:   "web",
			want:   Error{Problem: InvalidObject, File: "web/list.yaml"},
			detail: "not a YAML mapping",
		},
		{
			name: "reports the same object in two files, naming both",
			files: map[string]string{"web/a.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nginx\n  namespace: web\n",
				"web/b.yml": "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata:\n  name: nginx\n  namespace: web\n"},
			path:   "web",
			want:   Error{Problem: DuplicateObject, File: "web/b.yml", Object: "apps/v1beta2 Deployment web/nginx"},
			detail: "also defined in web/a.yaml",
		},
		{
			name:   "refuses a file that is a symlink to /etc/passwd",
			files:  map[string]string{"web/a.yaml": configMap},
			links:  map[string]string{"web/passwd.yaml": "/etc/passwd"},
			path:   "web",
			want:   Error{Problem: OutsideRepository, File: "web"},
			detail: `"web/passwd.yaml" is a symlink to "/etc/passwd", outside the repository`,
		},
		{
			name:   "refuses a path to render that is a symlink outside",
			links:  map[string]string{"web": "OUTSIDE"},
			path:   "web",
			want:   Error{Problem: OutsideRepository, File: "web"},
			detail: `"web" is a symlink to`,
		},
		{
			name:   "refuses a path to render that leaves the repository",
			path:   "../outside",
			want:   Error{Problem: OutsideRepository, File: "../outside"},
			detail: "must stay inside the repository",
		},
		{
			name:   "refuses an absolute path to render",
			path:   "/etc",
			want:   Error{Problem: OutsideRepository, File: "/etc"},
			detail: "must stay inside the repository",
		},
		{
			name:   "reports a path to render that does not exist",
			files:  map[string]string{"web/a.yaml": configMap},
			path:   "api",
			want:   Error{Problem: MissingFile, File: "api"},
			detail: "not a directory of the repository",
		},
		{
			name:   "reports a path to render that is a file",
			files:  map[string]string{"web/a.yaml": configMap},
			path:   "web/a.yaml",
			want:   Error{Problem: MissingFile, File: "web/a.yaml"},
			detail: "not a directory",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.test)
	}
}

func TestPlainDirectoryAccepts(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		links map[string]string
		want  []string
	}{
		{
			name:  "renders an empty directory as no objects",
			files: map[string]string{"web/README.md": "nothing yet\n"},
			want:  []string{},
		},
		{
			name: "keeps objects that differ only in namespace or API group",
			files: map[string]string{"web/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: a\n",
				"web/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: b\n---\n" +
					"apiVersion: example.com/v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: a\n"},
			want: []string{"v1 ConfigMap a/x", "v1 ConfigMap b/x", "example.com/v1 ConfigMap a/x"},
		},
		{
			name:  "follows a symlink that stays inside the repository",
			files: map[string]string{"shared/cm.yaml": configMap},
			links: map[string]string{"web/cm.yaml": "../shared/cm.yaml", "web/dir.yaml": "../shared"},
			want:  []string{"v1 ConfigMap app"},
		},
		{
			name:  "reads Windows line endings",
			files: map[string]string{"web/a.yaml": "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: crlf\r\n---\r\n"},
			want:  []string{"v1 ConfigMap crlf"},
		},
		{
			name:  "takes no directory for a file, even one named like YAML",
			files: map[string]string{"web/a.yaml": configMap, "web/more.yaml/b.yaml": strings.Replace(configMap, "app", "b", 1)},
			want:  []string{"v1 ConfigMap app"},
		},
	}
	// A snapshot's git blobs list its directories too: a render given them
	// must find what the directory holds. To show that it lists the tree, the
	// directory also holds a file the tree does not.
	for _, from := range []string{"the directory", "the git tree"} {
		for _, tc := range cases {
			t.Run(tc.name+", listing "+from, func(t *testing.T) {
				root := t.TempDir()
				writeTree(t, root, tc.files)
				if err := os.MkdirAll(filepath.Join(root, "web"), 0o755); err != nil {
					t.Fatal(err)
				}
				for link, target := range tc.links {
					if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
						t.Fatal(err)
					}
				}
				var blobs map[string]string
				if from == "the git tree" {
					blobs = blobsOf(tc.files)
					for link, target := range tc.links {
						blobs[link] = fmt.Sprintf("0120000 %x", sha1.Sum([]byte(target)))
					}
					writeTree(t, root, map[string]string{"web/not-in-the-tree.yaml": "not: [yaml"})
				}
				res, err := New().RenderSnapshot(t.Context(), root, blobs, "web")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, describeAll(res.Objects)); diff != "" {
					t.Errorf("objects (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestDecodedReusesUnchangedFiles(t *testing.T) {
	first := (*decoded)(nil).next()
	a, err := first.decode("app/a.yaml", []byte(configMap))
	if err != nil {
		t.Fatal(err)
	}
	second := first.next()
	again, _ := second.decode("app/a.yaml", []byte(configMap))
	changed, _ := second.decode("app/b.yaml", []byte(configMap))
	if &again[0] != &a[0] {
		t.Error("an unchanged file was decoded again")
	}
	if &changed[0] == &a[0] {
		t.Error("another file got the first file's objects")
	}
	third := second.next()
	edited, _ := third.decode("app/a.yaml", []byte(strings.Replace(configMap, "name:", "name: x", 1)))
	if &edited[0] == &a[0] {
		t.Error("a changed file was not decoded again")
	}
	if len(third.prev) != 2 || len(third.cur) != 1 {
		t.Errorf("the memo keeps %d files from the last render and %d now, want 2 and 1", len(third.prev), len(third.cur))
	}
}
