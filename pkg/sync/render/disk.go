package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// diskFormat is bumped when diskEntry changes: an entry of another format
// is ignored and replaced.
const diskFormat = 2

// diskEntry is a render kept on disk: the questions it asked with their
// answers (digests, never file contents), and its objects. A new process
// reuses it as the memory cache would, when the snapshot answers the same.
//
// The file is the entry as one line of JSON, then each object's JSON on a
// line of its own (compact JSON has no line breaks), so that reading it back
// splits the objects apart without parsing them, and writing it copies them.
type diskEntry struct {
	Format int `json:"format"`
	// Build is the gitsync build that rendered (version.Build): another
	// build may render the same inputs differently, so it renders again.
	Build  string      `json:"build"`
	Path   string      `json:"path"`
	Inputs []diskInput `json:"inputs"`
	Digest string      `json:"digest"`
	Paths  []string    `json:"paths"`
	// Objects is how many object lines follow.
	Objects int `json:"objects"`
	// Files, for a directory of plain YAML, are the files read in order and how
	// many of the objects each gave: a render after a commit that changed some
	// of them decodes only those (decoded).
	Files []diskFile `json:"files,omitempty"`
	// Blobs are the git blobs of the files read, by path, where the snapshot
	// said: the next process knows their content without reading them.
	Blobs map[string]string `json:"blobs,omitempty"`

	docs [][]byte
}

type diskFile struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Objects int    `json:"objects"`
}

type diskInput struct {
	Op     op     `json:"op"`
	Path   string `json:"path"`
	Answer string `json:"answer"`
}

var newline = []byte{'\n'}

// diskCache keeps one entry per rendered path in dir, for the build named
// build.
type diskCache struct{ dir, build string }

func (d diskCache) file(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:])+".json")
}

// load returns the entry of path, or nil if there is none or it cannot be
// read (the render then runs, and replaces it).
func (d diskCache) load(path string) *diskEntry {
	if d.dir == "" {
		return nil
	}
	data, err := os.ReadFile(d.file(path))
	if err != nil {
		return nil
	}
	header, rest, _ := bytes.Cut(data, newline)
	var e diskEntry
	if json.Unmarshal(header, &e) != nil || e.Format != diskFormat || e.Build != d.build || e.Path != path {
		return nil
	}
	if e.Objects == 0 && len(rest) == 0 {
		return &e
	}
	// Each object ends its line: a count that differs is a file cut short or
	// one holding more than it says.
	if bytes.Count(rest, newline) != e.Objects || !bytes.HasSuffix(rest, newline) {
		return nil
	}
	e.docs = bytes.Split(rest[:len(rest)-1], newline)
	return &e
}

// store writes the entry of path. Failing to is not an error of the render:
// the next process renders again.
func (d diskCache) store(path string, in inputs, blobs map[string]string, res *Result, files *decoded) error {
	if d.dir == "" {
		return nil
	}
	e := diskEntry{Format: diskFormat, Build: d.build, Path: path, Digest: res.Digest, Paths: res.Inputs, Objects: len(res.docs), Blobs: blobs}
	for _, q := range in.sorted() {
		e.Inputs = append(e.Inputs, diskInput{Op: q.op, Path: q.path, Answer: in[q]})
	}
	if files != nil {
		for _, k := range files.order {
			e.Files = append(e.Files, diskFile{Path: k.path, SHA256: hex.EncodeToString(k.sum[:]), Objects: len(files.cur[k])})
		}
	}
	header, err := json.Marshal(e)
	if err != nil {
		return err
	}
	size := len(header) + 1
	for _, doc := range res.docs {
		size += len(doc) + 1
	}
	data := make([]byte, 0, size)
	data = append(append(data, header...), newline...)
	for _, doc := range res.docs {
		if bytes.Contains(doc, newline) { // never from json.Marshal; be sure
			var buf bytes.Buffer
			if err := json.Compact(&buf, doc); err != nil {
				return err
			}
			doc = buf.Bytes()
		}
		data = append(append(data, doc...), newline...)
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return atomicfile.Write(d.file(path), data, 0o600)
}

// inputs returns the entry's questions and answers.
func (e *diskEntry) inputs() inputs {
	in := inputs{}
	for _, q := range e.Inputs {
		in.add(q.Op, q.Path, q.Answer)
	}
	return in
}

// result decodes the entry's objects.
func (e *diskEntry) result() (*Result, error) {
	res := &Result{Digest: e.Digest, Inputs: e.Paths,
		Objects: make([]*unstructured.Unstructured, len(e.docs)), docs: make([][]byte, len(e.docs))}
	// Decoding is most of reading a large render back; every core takes a share.
	var g errgroup.Group
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		g.Go(func() error {
			for i := w; i < len(e.docs); i += workers {
				o, err := newObject(e.Path, e.docs[i])
				if err != nil {
					return err
				}
				res.Objects[i], res.docs[i] = o.u, o.json
			}
			return nil
		})
	}
	return res, g.Wait()
}

// decoded returns the objects of each file of a plain render, for a render
// of the same directory after a commit that changed some files (decoded.next);
// nil if the entry is no plain render or does not add up.
func (e *diskEntry) decoded(res *Result) *decoded {
	if len(e.Files) == 0 {
		return nil
	}
	d := &decoded{cur: make(map[fileKey][]object, len(e.Files))}
	at := 0
	for _, f := range e.Files {
		k, ok := fileKeyOf(f.Path, f.SHA256)
		if !ok || f.Objects < 0 || at+f.Objects > len(res.Objects) {
			return nil
		}
		objs := make([]object, f.Objects)
		for i := range objs {
			objs[i] = object{u: res.Objects[at+i], json: res.docs[at+i]}
		}
		d.cur[k] = objs
		at += f.Objects
	}
	if at != len(res.Objects) {
		return nil
	}
	return d
}
