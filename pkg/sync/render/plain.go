package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path"
)

// renderPlain reads a directory without a kustomization: every *.yaml and *.yml file directly in
// it, sorted by name, each split into documents. It never calls kustomize, whose build time
// grows roughly quadratically with the number of resources
// (https://github.com/kubernetes-sigs/kustomize/issues/5084).
// Files unchanged since the last render of dir are not decoded again.
func renderPlain(ctx context.Context, fsys *confinedFS, dir string, files *decoded) ([]object, error) {
	names, err := fsys.yamlFiles(dir)
	if err != nil {
		return nil, err
	}
	objs, err := fsys.generatedObjects(files)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		docs, err := readObjects(fsys, path.Join(dir, name), files)
		if err != nil {
			return nil, err
		}
		objs = append(objs, docs...)
	}
	return objs, validate(objs)
}

// generatedObjects decodes the Generated objects of the render, if any,
// and records them as read.
func (f *confinedFS) generatedObjects(files *decoded) ([]object, error) {
	g := f.generated
	if g == nil {
		return nil, nil
	}
	f.seen.add(opGenerated, g.Name, contentAnswer(g.Data))
	return files.decode(g.Name, g.Data)
}

func readObjects(fsys *confinedFS, file string, files *decoded) ([]object, error) {
	if answer, ok := fsys.knownAnswer(file); ok {
		if objs, ok := files.reuse(file, answer); ok {
			fsys.knownContent(file)
			return objs, nil
		}
	}
	data, err := fsys.readFile(file)
	if err != nil {
		return nil, err
	}
	return files.decode(file, data)
}

// decoded remembers the objects decoded from each file of a plain render, by
// path and content, for the next render of the same directory: a commit that
// changes one file of a thousand decodes one file. The objects are shared,
// never modified: Render hands out deep copies.
type decoded struct {
	prev, cur map[fileKey][]object
	// order is the files decoded, in the order the render read them: their
	// objects, concatenated, are the render's.
	order []fileKey
	// decodes counts the files decoded rather than reused.
	decodes int
}

type fileKey struct {
	path string
	sum  [sha256.Size]byte
}

// fileKeyOf is the key of file with the content whose sha256 is hexSum.
func fileKeyOf(file, hexSum string) (fileKey, bool) {
	k := fileKey{path: file}
	sum, err := hex.DecodeString(hexSum)
	if err != nil || len(sum) != sha256.Size {
		return k, false
	}
	copy(k.sum[:], sum)
	return k, true
}

// next starts a render that may reuse what this one decoded; nil-safe.
func (d *decoded) next() *decoded {
	n := &decoded{cur: map[fileKey][]object{}}
	if d != nil {
		n.prev = d.cur
	}
	return n
}

// reuse returns the objects the last render decoded from file when its
// content had the answer (contentAnswer) it has now.
func (d *decoded) reuse(file, answer string) ([]object, bool) {
	k, ok := fileKeyOf(file, answer)
	if !ok {
		return nil, false
	}
	objs, ok := d.prev[k]
	if ok {
		d.cur[k] = objs
		d.order = append(d.order, k)
	}
	return objs, ok
}

func (d *decoded) decode(file string, data []byte) ([]object, error) {
	k := fileKey{file, sha256.Sum256(data)}
	objs, ok := d.prev[k]
	if !ok {
		var err error
		if objs, err = decodeFile(file, data); err != nil {
			return nil, err
		}
		d.decodes++
	}
	d.cur[k] = objs
	d.order = append(d.order, k)
	return objs, nil
}
