package apply

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/object"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// Known is what the last sync found of its live objects, kept for the next
// process that syncs them (gitsync sync): the version of each object it found
// up to date with the digest it wanted, and Current. A LIST that finds such
// an object at that very version (its uid and resourceVersion: any write, a
// hand edit or the controller's, makes a new one) while its target wants the
// same digest does not decode it: it was up to date and Current, so it still
// is. At 10,000 objects decoding the live objects is most of a sync that
// changes one.
type Known map[object.ObjMetadata]Version

// Version is one version of a live object, the digest it matched and, if the
// object was given as rendered (PlanKnown), the sum of its rendered JSON,
// which stamps to that digest.
type Version struct {
	UID             types.UID
	ResourceVersion string
	Digest          string
	Rendered        string
}

// knownHeader starts the file WriteKnown writes; it is bumped when the
// file's meaning changes, and a file with another is not read. Then each
// line is "<uid> <resourceVersion> <digest> <rendered> <id>" (rendered "-"
// for none; id is object.ObjMetadata's String; none of them holds a space):
// reading and writing 10,000 of them as JSON took 36 ms each.
const knownHeader = "gitsync-known 2\n"

// ReadKnown reads what WriteKnown wrote to path. A file that is missing, of
// another format or damaged is nothing known: every live object is decoded.
func ReadKnown(path string) Known {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	data, ok := bytes.CutPrefix(data, []byte(knownHeader))
	if !ok || len(data) > 0 && data[len(data)-1] != '\n' {
		return nil // another format, or cut short
	}
	k := make(Known, bytes.Count(data, []byte{'\n'}))
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f := strings.Fields(string(line))
		if len(f) != 5 {
			return nil
		}
		id, err := object.ParseObjMetadata(f[4])
		if err != nil {
			return nil
		}
		v := Version{UID: types.UID(f[0]), ResourceVersion: f[1], Digest: f[2], Rendered: f[3]}
		if v.Rendered == "-" {
			v.Rendered = ""
		}
		k[id] = v
	}
	return k
}

// WriteKnown replaces the file at path with k, whole or not at all.
func WriteKnown(path string, k Known) error {
	var buf bytes.Buffer
	buf.Grow(len(knownHeader) + 160*len(k))
	buf.WriteString(knownHeader)
	for id, v := range k {
		rendered := v.Rendered
		if rendered == "" {
			rendered = "-"
		}
		if strings.ContainsAny(string(v.UID)+v.ResourceVersion+v.Digest+rendered, " \n") || v.UID == "" || v.ResourceVersion == "" || v.Digest == "" {
			continue // cannot be written so; read again next time
		}
		for _, field := range []string{string(v.UID), " ", v.ResourceVersion, " ", v.Digest, " ", rendered, " ", id.String(), "\n"} {
			buf.WriteString(field)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes(), 0o600)
}

// knows reports whether the live object at (uid, rv) is the version k holds
// for the target t.
func (k Known) knows(t *target, uid types.UID, rv string) bool {
	v, ok := k[t.id]
	return ok && v.UID == uid && v.ResourceVersion == rv && v.Digest == t.digest && uid != "" && rv != ""
}

// Know makes ApplyPlan trust k: a live object of a target at the version k
// holds, while the target wants the digest k holds, is not read again (see
// Known) and its Change is Unchanged with Known set.
func (p *Plan) Know(k Known) { p.known = k }
