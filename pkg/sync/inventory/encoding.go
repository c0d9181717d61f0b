package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// formatVersion is bumped when the encoding changes incompatibly.
const formatVersion = 1

// compressAbove is the size of an encoded inventory above which it is
// stored gzipped: a ConfigMap holds at most 1 MiB, and 50,000 ids encode to
// about 1.3 MiB but compress to a few dozen KiB. Smaller ones stay readable
// with kubectl.
const compressAbove = 256 << 10

// maxDecompressed bounds what a compressed inventory may expand to.
const maxDecompressed = 64 << 20

// encodeObjects encodes ids as text, or as gzip when the text is larger than
// compressAbove. The gzip output is deterministic too.
func encodeObjects(ids object.ObjMetadataSet) (text string, gz []byte, err error) {
	enc, err := Encode(ids)
	if err != nil || len(enc) <= compressAbove {
		return string(enc), nil, err
	}
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", nil, err
	}
	if _, err := w.Write(enc); err != nil {
		return "", nil, err
	}
	if err := w.Close(); err != nil {
		return "", nil, err
	}
	return "", buf.Bytes(), nil
}

// decodeObjects reads the ids of an inventory ConfigMap, compressed or not;
// found reports whether it holds a list at all.
func decodeObjects(cm *corev1.ConfigMap) (ids object.ObjMetadataSet, found bool, err error) {
	if gz, ok := cm.BinaryData[keyObjectsCompressed]; ok {
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, true, fmt.Errorf("decode inventory: %w", err)
		}
		enc, err := io.ReadAll(io.LimitReader(r, maxDecompressed))
		if err != nil {
			return nil, true, fmt.Errorf("decode inventory: %w", err)
		}
		ids, err := Decode(enc)
		return ids, true, err
	}
	text, ok := cm.Data[keyObjects]
	ids, err = Decode([]byte(text))
	return ids, ok, err
}

// encoded groups ids by group/kind, then namespace, so each of those is written
// once: 10,000 objects with 20-character names take about 250 KiB.
type encoded struct {
	Version int           `json:"v"`
	Kinds   []encodedKind `json:"kinds"`
}

type encodedKind struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	// Namespaces maps a namespace ("" for cluster-scoped) to sorted names.
	Namespaces map[string][]string `json:"namespaces"`
}

// Encode writes a set of ids compactly and deterministically: the same set
// always encodes to the same bytes, so an unchanged inventory is not rewritten.
func Encode(ids object.ObjMetadataSet) ([]byte, error) {
	byKind := map[schema.GroupKind]map[string][]string{}
	for _, id := range ids {
		if byKind[id.GroupKind] == nil {
			byKind[id.GroupKind] = map[string][]string{}
		}
		byKind[id.GroupKind][id.Namespace] = append(byKind[id.GroupKind][id.Namespace], id.Name)
	}
	out := encoded{Version: formatVersion, Kinds: []encodedKind{}}
	for _, gk := range slices.SortedFunc(maps.Keys(byKind), compareGroupKind) {
		nss := byKind[gk]
		for _, names := range nss {
			slices.Sort(names)
		}
		out.Kinds = append(out.Kinds, encodedKind{Group: gk.Group, Kind: gk.Kind, Namespaces: nss})
	}
	return json.Marshal(out)
}

// Decode reads what Encode wrote; no data is an empty set (a ConfigMap that
// only holds annotations, made by gitsync suspend before the first sync).
func Decode(data []byte) (object.ObjMetadataSet, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var in encoded
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if in.Version != formatVersion {
		return nil, fmt.Errorf("decode inventory: format version %d, this gitsync reads %d", in.Version, formatVersion)
	}
	var ids object.ObjMetadataSet
	for _, k := range in.Kinds {
		for ns, names := range k.Namespaces {
			for _, name := range names {
				ids = append(ids, object.ObjMetadata{GroupKind: schema.GroupKind{Group: k.Group, Kind: k.Kind}, Namespace: ns, Name: name})
			}
		}
	}
	return ids, nil
}

func compareGroupKind(a, b schema.GroupKind) int {
	if a.Group != b.Group {
		if a.Group < b.Group {
			return -1
		}
		return 1
	}
	switch {
	case a.Kind < b.Kind:
		return -1
	case a.Kind > b.Kind:
		return 1
	}
	return 0
}
