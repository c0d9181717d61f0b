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
// the kustomization file).
type object struct {
	file string
	json []byte
	u    *unstructured.Unstructured
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
	return object{file: file, json: j, u: &unstructured.Unstructured{Object: m}}, nil
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
