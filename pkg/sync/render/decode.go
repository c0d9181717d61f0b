package render

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// object is one rendered object, its JSON form and the file it came from (for a kustomization,
// the kustomization file). u is nil for an object read back from a render kept on disk and
// not decoded yet (Options.Lazy); its head is always there.
type object struct {
	file string
	json []byte
	u    *unstructured.Unstructured
	head head
}

// head is what names an object. Read from its JSON, it costs a tenth of decoding the object.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func headOf(u *unstructured.Unstructured) head {
	h := head{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()}
	h.Metadata.Name, h.Metadata.Namespace = u.GetName(), u.GetNamespace()
	return h
}

// decode decodes o's JSON, unless it was.
func (o *object) decode() error {
	if o.u != nil {
		return nil
	}
	d, err := newObject(o.file, o.json)
	o.u = d.u
	return err
}

// decodeFile reads the objects in one YAML file the way kustomize reads a resource file (kyaml's
// kio reader, as kio.FromBytes runs it): documents split on `---` lines, empty documents
// skipped, anchors and merge keys resolved.
func decodeFile(file string, data []byte) ([]object, error) {
	nodes, err := (&kio.ByteReader{OmitReaderAnnotations: true, Reader: bytes.NewReader(data)}).Read()
	if err != nil {
		return nil, yamlError(file, data, err)
	}
	objs := make([]object, 0, len(nodes))
	for _, n := range nodes {
		if hasAnchors(n.YNode()) {
			if err := n.DeAnchor(); err != nil {
				return nil, yamlError(file, data, err)
			}
		}
		j, err := toJSON(n)
		if err != nil {
			return nil, yamlError(file, data, err)
		}
		o, err := newObject(file, j)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// hasAnchors reports whether n holds an anchor, an alias or a merge key: all
// that kyaml's DeAnchor, which kio.FromBytes runs on every document, changes.
// DeAnchor copies every mapping twice on the way (kyaml's mergeAll), merge
// key or not: decoding 10,000 files without anchors allocated 256 MB for it.
func hasAnchors(n *kyaml.Node) bool {
	if n.Anchor != "" || n.Kind == kyaml.AliasNode || n.Tag == kyaml.MergeTag {
		return true
	}
	return slices.ContainsFunc(n.Content, hasAnchors)
}

// toJSON is kyaml's RNode.MarshalJSON, from which kustomize writes its output, without its detour
// through YAML text (writing the node out and parsing it again), which costs three quarters of
// its time: the node is decoded directly, into the same type.
func toJSON(n *kyaml.RNode) ([]byte, error) {
	if n.YNode().Kind == kyaml.SequenceNode {
		var a []any
		err := n.YNode().Decode(&a)
		return marshalDecoded(a, err)
	}
	m := map[string]any{}
	err := n.YNode().Decode(&m)
	return marshalDecoded(m, err)
}

func marshalDecoded(v any, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// newObject makes an object from its JSON form, integers kept as int64 as unstructured expects.
func newObject(file string, j []byte) (object, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(j, &m); err != nil || m == nil {
		return object{}, &Error{Problem: InvalidObject, File: file, Err: err,
			Detail: "a document is not a YAML mapping", Fix: "make each document one Kubernetes object"}
	}
	u := &unstructured.Unstructured{Object: m}
	return object{file: file, json: j, u: u, head: headOf(u)}, nil
}

var (
	// yamlLine finds the line in a YAML parser's message.
	yamlLine = regexp.MustCompile(`line (\d+): (.*)`)
	// separator is kio's document separator (kyaml/kio splitDocuments).
	separator = regexp.MustCompile(`\n---.*\n`)
)

// yamlError names the file and, when the parser gives it, the line of a YAML syntax error. kio
// parses each document on its own, so the line it reports is moved past the documents before.
func yamlError(file string, data []byte, err error) *Error {
	e := &Error{Problem: InvalidYAML, File: file, Detail: err.Error(), Fix: "correct the YAML syntax", Err: err}
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	e.Line, _ = strconv.Atoi(m[1])
	e.Line += linesBeforeFailingDocument(data)
	e.Detail = m[2]
	return e
}

// linesBeforeFailingDocument counts the lines before the first document that does not parse.
func linesBeforeFailingDocument(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	start := 0
	for _, loc := range separator.FindAllStringIndex(s, -1) {
		if !parses(s[start:loc[0]] + "\n") {
			break
		}
		start = loc[1]
	}
	return strings.Count(s[:start], "\n")
}

func parses(doc string) bool {
	err := kyaml.NewDecoder(strings.NewReader(doc)).Decode(&kyaml.Node{})
	return err == nil || err == io.EOF
}
