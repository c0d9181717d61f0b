package chart_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/sync/chart"
	"github.com/gitsync-io/gitsync/test/charts"
)

// TestRenderLoadsNoSchemaFromOutside: a values schema that refers to a URL
// or a file is refused before Helm's validator would load it, so a chart
// from git can neither make gitsync call a server nor read gitsync's own
// files (the base of a relative reference is file:///values.schema.json).
func TestRenderLoadsNoSchemaFromOutside(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"type": "object"}`))
	}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(secret, []byte(`{"enum": ["s3cret-token"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, tc := range []struct {
		name, schema, libSchema, want string
	}{
		{name: "a URL", schema: `{"properties": {"image": {"$ref": "` + srv.URL + `/image.json"}}}`,
			want: `chart app 1.0.0: values.schema.json: $ref "` + srv.URL + `/image.json" at /properties/image: gitsync loads no schema from outside the chart`},
		{name: "a file of gitsync's machine", schema: `{"properties": {"replicas": {"$ref": "file://` + secret + `"}}}`,
			want: `chart app 1.0.0: values.schema.json: $ref "file://` + secret + `" at /properties/replicas: gitsync loads no schema from outside the chart`},
		{name: "a relative path", schema: `{"allOf": [{"$ref": "defs.json#/replicas"}]}`,
			want: `chart app 1.0.0: values.schema.json: $ref "defs.json#/replicas" at /allOf/0: gitsync loads no schema from outside the chart`},
		{name: "a meta-schema of its own", schema: `{"$schema": "` + srv.URL + `/meta.json"}`,
			want: `chart app 1.0.0: values.schema.json: $schema "` + srv.URL + `/meta.json" at the top: gitsync loads no schema from outside the chart`},
		{name: "a subchart's schema", libSchema: `{"$dynamicRef": "` + srv.URL + `/lib.json"}`,
			want: `chart app 1.0.0: charts/lib/values.schema.json: $dynamicRef "` + srv.URL + `/lib.json" at the top: gitsync loads no schema from outside the chart`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("charts", strings.ReplaceAll(tc.name, " ", "-"))
			copyApp(t, root, dir)
			if tc.schema != "" {
				write(t, root, filepath.Join(dir, "values.schema.json"), tc.schema)
			}
			if tc.libSchema != "" {
				write(t, root, filepath.Join(dir, "charts/lib/values.schema.json"), tc.libSchema)
			}
			_, err := chart.New(nil).Render(t.Context(), root, chart.Spec{Path: dir}, caps)
			var re *chart.RenderError
			if !errors.As(err, &re) || !re.Terminal() || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want one terminal line starting %q", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), `"#/$defs/`) {
				t.Errorf("error %v; want the fix (refer to #/$defs/…)", err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %v shows the file gitsync must not read", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the schema server got %d requests; want none", n)
	}

	// References inside the schema, and the drafts' own meta-schemas, still work.
	dir := filepath.Join("charts", "local-refs")
	copyApp(t, root, dir)
	write(t, root, filepath.Join(dir, "values.schema.json"), `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$defs": {"count": {"type": "integer", "minimum": 1}},
  "properties": {"replicas": {"$ref": "#/$defs/count"}}
}`)
	if _, err := chart.New(nil).Render(t.Context(), root, chart.Spec{Path: dir}, caps); err != nil {
		t.Errorf("a schema with references inside itself: %v", err)
	}
	_, err := chart.New(nil).Render(t.Context(), root, chart.Spec{Path: dir, Set: []string{"replicas=0"}}, caps)
	if want := "at '/replicas': minimum: got 0, want 1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("replicas=0 against #/$defs/count: error %v; want %q", err, want)
	}
}

// copyApp copies the App test chart to dir in root.
func copyApp(t *testing.T, root, dir string) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(root, dir), os.DirFS(charts.Dir(t, charts.App))); err != nil {
		t.Fatal(err)
	}
}

// TestRenderLooksUpNoHost: getHostByName answers "" as in helm template
// without --enable-dns, so a chart cannot make gitsync query DNS (and so
// tell a name server what its values hold). With lookups on, "localhost"
// would answer 127.0.0.1 or ::1 from /etc/hosts.
func TestRenderLooksUpNoHost(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join("charts", "dns")
	copyApp(t, root, dir)
	write(t, root, filepath.Join(dir, "templates/dns.yaml"),
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dns\ndata:\n  localhost: {{ getHostByName \"localhost\" | quote }}\n")
	out, err := chart.New(nil).Render(t.Context(), root, chart.Spec{Path: dir}, caps)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Manifests, []byte("name: dns\ndata:\n  localhost: \"\"\n")) {
		t.Errorf("getHostByName \"localhost\" answered, or the ConfigMap dns is missing; want \"\" (no lookup):\n%s", out.Manifests)
	}
}
