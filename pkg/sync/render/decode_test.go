package render

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

func TestDecodeFile(t *testing.T) {
	cases := []struct {
		name string
		data string
		want []string
	}{
		{"reads one document", configMap, []string{"v1 ConfigMap app"}},
		{"splits documents on --- lines", configMap + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n", []string{"v1 ConfigMap app", "v1 Secret s"}},
		{"skips empty and comment-only documents", "---\n# nothing\n---\n\n---\n" + configMap + "---\n", []string{"v1 ConfigMap app"}},
		{"accepts a comment after a separator", configMap + "--- # next\n" + configMap, []string{"v1 ConfigMap app", "v1 ConfigMap app"}},
		{"reads nothing from an empty file", "", []string{}},
		{"unwraps a file that is a List", "apiVersion: v1\nkind: List\nitems:\n- " + "apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n", []string{"v1 ConfigMap a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := decodeFile("f.yaml", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, o := range objs {
				got = append(got, describe(o.u))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeFileReportsTheLine(t *testing.T) {
	cases := []struct {
		name string
		data string
		line int
	}{
		{"in the first document", "a: 1\nb:\n  c: d\n   e: f\n", 4},
		{"in a later document", "a: 1\n---\nb: 2\n---\nc:\n  d: e\n   f: g\n", 7},
		{"after a separator with a comment", "a: 1\n--- # two\nb:\n  c: d\n   e: f\n", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeFile("f.yaml", []byte(tc.data))
			var e *Error
			if !errors.As(err, &e) || e.Problem != InvalidYAML || e.Line != tc.line {
				t.Errorf("error %v: want invalid YAML at line %d", err, tc.line)
			}
		})
	}
}

func TestEncodeWritesLikeKustomize(t *testing.T) {
	objs, err := decodeFile("f.yaml", []byte("kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\ndata: {z: '1', a: yes}\n---\n"+configMap))
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{}
	for _, o := range objs {
		res.Objects, res.docs = append(res.Objects, o.u), append(res.docs, o.json)
	}
	got := yamlOf(t, res)
	want := "apiVersion: v1\ndata:\n  a: \"yes\"\n  z: \"1\"\nkind: ConfigMap\nmetadata:\n  name: a\n---\n" + configMap
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("YAML (-want +got):\n%s", diff)
	}
}

func TestToJSONMatchesKyaml(t *testing.T) {
	// toJSON must give exactly what kyaml's RNode.MarshalJSON gives, since kustomize's output
	// is written from that.
	docs := []struct{ name, yaml string }{
		{"a Deployment", benchObject(1)},
		{"anchors, aliases and merge keys", "base: &b {a: 1, b: [x, y]}\nuse: *b\nmerged:\n  <<: *b\n  c: 3\n"},
		{"YAML 1.1 and 1.2 scalars", "a: yes\nb: on\nc: 0o17\nd: 017\ne: 0x1F\nf: 1e3\ng: .inf\nh: ~\ni: 2024-01-01\nj: 2024-01-01T10:00:00Z\nk: '1.0'\nl: 12345678901234567890\n"},
		{"keys that are not strings", "1: one\ntrue: yes\nnull: nothing\n3.5: half\n"},
		{"block and folded strings", "a: |\n  line 1\n  line 2\nb: >-\n  folded\n  text\nc: \"tab\\there\"\n"},
		{"tagged values", "a: !!str 123\nb: !!binary aGVsbG8=\nc: !!float 1\n"},
		{"empty values", "a:\nb: []\nc: {}\nd: ''\n"},
		{"a sequence", "- a\n- 1\n- {b: c}\n"},
	}
	for _, tc := range docs {
		t.Run("converts "+tc.name, func(t *testing.T) {
			nodes, err := kio.FromBytes([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				want, wantErr := n.MarshalJSON()
				got, err := toJSON(n)
				if diff := cmp.Diff(string(want), string(got)); diff != "" || (err == nil) != (wantErr == nil) {
					t.Errorf("toJSON = %v (-MarshalJSON +toJSON):\n%s", err, diff)
				}
			}
		})
	}
}

// TestDecodeFileResolvesAnchorsAsKioDoes: decodeFile runs kyaml's DeAnchor
// only on documents with an anchor, an alias or a merge key; every document
// must still decode to what kio.FromBytes, which runs it on all, gives.
func TestDecodeFileResolvesAnchorsAsKioDoes(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"
	docs := []struct{ name, yaml string }{
		{"a Deployment", benchObject(1)},
		{"an anchor and an alias", fmt.Sprintf(cm, "a") + "data: &d {a: '1', b: '2'}\nbinaryData: *d\n"},
		{"a merge key", fmt.Sprintf(cm, "m") + "x-base: &b {a: '1', b: '2'}\ndata:\n  <<: *b\n  c: '3'\n"},
		{"a merge key of a literal map", fmt.Sprintf(cm, "l") + "data:\n  <<: {a: '1'}\n  b: '2'\n"},
		{"merge keys in a list of maps", "apiVersion: v1\nkind: List\nitems:\n- &first\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n- <<: *first\n  metadata: {name: two}\n"},
		{"an anchor in a later document", fmt.Sprintf(cm, "plain") + "data: {a: '1'}\n---\n" + fmt.Sprintf(cm, "anchored") + "data: &x {a: '1'}\nbinaryData: *x\n"},
	}
	for _, tc := range docs {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := kio.FromBytes([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, n := range nodes {
				j, err := toJSON(n)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, string(j))
			}
			objs, err := decodeFile("f.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, string(o.json))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects (-kio.FromBytes +decodeFile):\n%s", diff)
			}
		})
	}
}
