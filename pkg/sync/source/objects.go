package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// objectsDir, beside the snapshots, keeps the commit and tag objects of the
// revisions fetched, as git stores loose objects but uncompressed: "<type>
// <size>\0<content>", named by their hash. A signature can then be checked
// again without a fetch: by a new process, with other keys, or for a
// revision that failed verification before (which is not downloaded again).
const objectsDir = "objects"

func (s snapshots) objectPath(h plumbing.Hash) string {
	return filepath.Join(s.dir, objectsDir, h.String())
}

// saveObjects copies the objects of hashes from st, skipping zero hashes.
func (s snapshots) saveObjects(st storer.EncodedObjectStorer, hashes ...plumbing.Hash) error {
	if err := os.MkdirAll(filepath.Join(s.dir, objectsDir), 0o755); err != nil {
		return err
	}
	for _, h := range hashes {
		if h.IsZero() {
			continue
		}
		o, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := appendObject(&buf, o); err != nil {
			return err
		}
		if err := writeFile(s.objectPath(h), &buf); err != nil {
			return err
		}
	}
	return nil
}

// errNoObject means the object was never saved, or was pruned.
var errNoObject = errors.New("object not kept")

// loadObject reads a saved object, checking that its content hashes to its
// name, and marks it as just used.
func (s snapshots) loadObject(h plumbing.Hash) (plumbing.EncodedObject, error) {
	data, err := os.ReadFile(s.objectPath(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoObject
	}
	if err != nil {
		return nil, err
	}
	o, rest, err := nextObject(data)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("kept object %s is damaged", h)
	}
	if o.Hash() != h {
		return nil, fmt.Errorf("kept object %s does not hash to its name", h)
	}
	_ = touch(s.objectPath(h))
	return o, nil
}

// appendObject appends o to buf as a loose object holds it, uncompressed:
// "<type> <size>\0<content>".
func appendObject(buf *bytes.Buffer, o plumbing.EncodedObject) error {
	content, err := readAll(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(buf, "%s %d\x00", o.Type(), len(content))
	buf.Write(content)
	return nil
}

// nextObject reads the object appendObject wrote at the start of data, and
// returns it with what follows it.
func nextObject(data []byte) (plumbing.EncodedObject, []byte, error) {
	header, rest, ok := bytes.Cut(data, []byte{0})
	kind, size, _ := bytes.Cut(header, []byte(" "))
	t, err := plumbing.ParseObjectType(string(kind))
	n, aerr := strconv.Atoi(string(size))
	if !ok || err != nil || aerr != nil || n < 0 || n > len(rest) {
		return nil, nil, errors.New("not an object")
	}
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	if _, err := o.Write(rest[:n]); err != nil {
		return nil, nil, err
	}
	return o, rest[n:], nil
}

func (s snapshots) loadCommit(h plumbing.Hash) (*object.Commit, error) {
	o, err := s.loadObject(h)
	if err != nil {
		return nil, err
	}
	c := &object.Commit{}
	return c, c.Decode(o)
}

func (s snapshots) loadTag(h plumbing.Hash) (*object.Tag, error) {
	o, err := s.loadObject(h)
	if err != nil {
		return nil, err
	}
	t := &object.Tag{}
	return t, t.Decode(o)
}

// pruneObjects keeps the commits of the revisions pruning keeps, and
// removes the others' and every other object (tags, commits refused) not
// used for staleTemp.
func (s snapshots) pruneObjects(kept, gone map[string]bool) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, objectsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-staleTemp)
	var errs []error
	for _, e := range entries {
		if !kept[e.Name()] && modTime(e).Before(cutoff) || gone[e.Name()] {
			errs = append(errs, os.Remove(filepath.Join(s.dir, objectsDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
