package inventory

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// formatVersion is bumped when the encoding changes incompatibly.
const formatVersion = 1

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
