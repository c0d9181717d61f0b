package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gitsync-io/gitsync/internal/cores"
	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// diskFormat is bumped when the file changes: an entry of another format
// is ignored and replaced.
const diskFormat = 4

// diskEntry is a render kept on disk: the questions it asked with their
// answers (digests, never file contents), and its objects. A new process
// reuses it as the memory cache would, when the snapshot answers the same.
//
// The file is diskHeader as a line of JSON, then lines of fields, each field
// ended by a tab but the last: one line per question the render asked (op,
// path, answer, and the git blob of a file read if the snapshot said); one
// per file of a plain directory, in the order read (path, sha256 of its
// content, how many objects it gave); one per object (apiVersion, kind,
// namespace, name, then its JSON). Reading it back splits lines and fields,
// and parses nothing: compact JSON holds no tab or line break, and an entry
// whose paths or names do is not kept. As one JSON document, reading the
// questions and files of 10,000 files back took 60 ms of CPU, and reading
// what names each object from its JSON 60 more. Sum finds damage instead.
type diskEntry struct {
	diskHeader
	inputs inputs
	paths  []string          // Result.Inputs
	blobs  map[string]string // of the files read, by path: the next process knows their content without reading them
	// files, for a directory of plain YAML, are the files read in order and
	// how many of the objects each gave: a render after a commit that
	// changed some of them decodes only those (decoded).
	files []diskFile
	lines [][]byte // of the objects
}

type diskHeader struct {
	Format int `json:"format"`
	// Build is the gitsync build that rendered (version.Build): another
	// build may render the same inputs differently, so it renders again.
	Build  string `json:"build"`
	Path   string `json:"path"`
	Digest string `json:"digest"`
	// Inputs, Files and Objects count the lines of each that follow.
	Inputs  int `json:"inputs"`
	Files   int `json:"files"`
	Objects int `json:"objects"`
	// Sum is the sha256 of the lines.
	Sum string `json:"sum"`
}

type diskFile struct {
	path    string
	sha256  string
	objects int
}

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
	header, rest, _ := bytes.Cut(data, []byte{'\n'})
	e := &diskEntry{inputs: inputs{}, blobs: map[string]string{}}
	if json.Unmarshal(header, &e.diskHeader) != nil || e.Format != diskFormat || e.Build != d.build || e.Path != path {
		return nil
	}
	sum := sha256.Sum256(rest)
	lines := bytes.Split(rest, []byte{'\n'})
	if e.Sum != hex.EncodeToString(sum[:]) || min(e.Inputs, e.Files, e.Objects) < 0 ||
		len(lines) != e.Inputs+e.Files+e.Objects+1 || len(lines[len(lines)-1]) != 0 {
		return nil // damaged, cut short or holding more than it says
	}
	for _, line := range lines[:e.Inputs] {
		f, ok := fields(line, 3, 4)
		if !ok {
			return nil
		}
		q := input{op(f[0]), f[1]}
		e.inputs[q] = f[2]
		if q.op != opStat {
			e.paths = append(e.paths, q.path)
		}
		if len(f) == 4 {
			e.blobs[q.path] = f[3]
		}
	}
	for _, line := range lines[e.Inputs : e.Inputs+e.Files] {
		f, ok := fields(line, 3, 3)
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			return nil
		}
		e.files = append(e.files, diskFile{path: f[0], sha256: f[1], objects: n})
	}
	e.lines = lines[e.Inputs+e.Files : len(lines)-1]
	return e
}

// fields splits line at its tabs into at least least and at most most fields.
func fields(line []byte, least, most int) ([]string, bool) {
	f := strings.Split(string(line), "\t")
	return f, len(f) >= least && len(f) <= most
}

// store writes the entry of path. Failing to is not an error of the render:
// the next process renders again.
func (d diskCache) store(path string, in inputs, blobs map[string]string, res *Result, files *decoded) error {
	if d.dir == "" {
		return nil
	}
	queries := in.sorted()
	size := 0
	for _, doc := range res.docs {
		size += len(doc) + 64 // its head: apiVersion, kind, namespace and name
	}
	w := lineWriter{data: make([]byte, 0, size+160*(len(queries)+len(res.docs)))} // one buffer: 4.4 MB at 10,000 objects
	for _, q := range queries {
		w.line(string(q.op), q.path, in[q])
		if blob, ok := blobs[q.path]; ok && q.op == opRead {
			w.field(blob)
		}
	}
	var kept []fileKey
	if files != nil {
		kept = files.order
	}
	for _, k := range kept {
		w.line(k.path, hex.EncodeToString(k.sum[:]), strconv.Itoa(len(files.cur[k])))
	}
	for i, doc := range res.docs {
		h := headAt(res, i)
		if bytes.ContainsAny(doc, "\t\n") { // never from json.Marshal; be sure
			var buf bytes.Buffer
			if err := json.Compact(&buf, doc); err != nil {
				return err
			}
			doc = buf.Bytes()
		}
		w.line(h.APIVersion, h.Kind, h.Metadata.Namespace, h.Metadata.Name)
		w.compactJSON(doc)
	}
	if w.bad != "" {
		return fmt.Errorf("the render cannot be kept: %q holds a tab or line break", w.bad)
	}
	w.end()
	sum := sha256.Sum256(w.data)
	header, err := json.Marshal(diskHeader{Format: diskFormat, Build: d.build, Path: path, Digest: res.Digest,
		Inputs: len(queries), Files: len(kept), Objects: len(res.docs), Sum: hex.EncodeToString(sum[:])})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return atomicfile.WriteParts(d.file(path), 0o600, header, []byte{'\n'}, w.data)
}

// lineWriter writes lines of tab-separated fields.
type lineWriter struct {
	data []byte
	n    int    // fields of the line being written
	bad  string // the first field that held a tab or line break
}

// line ends the line before and starts one with fields.
func (w *lineWriter) line(fields ...string) {
	w.end()
	for _, f := range fields {
		w.field(f)
	}
}

// field adds f to the line.
func (w *lineWriter) field(f string) {
	if w.n > 0 {
		w.data = append(w.data, '\t')
	}
	w.n++
	if strings.ContainsAny(f, "\t\n") && w.bad == "" {
		w.bad = f
	}
	w.data = append(w.data, f...)
}

// compactJSON adds doc to the line as it is, without a copy of it as a
// string: compact JSON holds no tab or line break.
func (w *lineWriter) compactJSON(doc []byte) {
	if w.n > 0 {
		w.data = append(w.data, '\t')
	}
	w.n++
	w.data = append(w.data, doc...)
}

// end ends the line being written.
func (w *lineWriter) end() {
	if w.n > 0 {
		w.data = append(w.data, '\n')
		w.n = 0
	}
}

// headAt returns what names the object at i of res, whichever form it holds
// the objects in.
func headAt(res *Result, i int) head {
	if res.Docs != nil {
		return res.Docs[i].o.head
	}
	return headOf(res.Objects[i])
}

// decoded returns the objects of each file of a plain render, for a render
// of the same directory after a commit that changed some files (decoded.next);
// nil if the entry is no plain render or does not add up.
func (e *diskEntry) decoded(objs []object) *decoded {
	if len(e.files) == 0 {
		return nil
	}
	d := &decoded{cur: make(map[fileKey][]object, len(e.files))}
	at := 0
	for _, f := range e.files {
		k, ok := fileKeyOf(f.path, f.sha256)
		if !ok || f.objects < 0 || at+f.objects > len(objs) {
			return nil
		}
		d.cur[k] = objs[at : at+f.objects : at+f.objects]
		at += f.objects
	}
	if at != len(objs) {
		return nil
	}
	return d
}

// objects returns the entry's objects, decoded if decode, else named only.
func (e *diskEntry) objects(decode bool) ([]object, error) {
	objs := make([]object, len(e.lines))
	return objs, cores.Each(len(e.lines), func(i int) error {
		o, ok := parseObject(e.Path, e.lines[i])
		if !ok {
			return errors.New("a damaged object line")
		}
		if decode {
			var err error
			if o, err = newObject(e.Path, o.json); err != nil {
				return err
			}
		}
		objs[i] = o
		return nil
	})
}

// parseObject reads an object's line: what names it, then its JSON.
func parseObject(file string, line []byte) (object, bool) {
	var f [4]string
	for i := range f {
		field, rest, ok := bytes.Cut(line, []byte{'\t'})
		if !ok {
			return object{}, false
		}
		f[i], line = string(field), rest
	}
	o := object{file: file, json: line}
	o.head.APIVersion, o.head.Kind, o.head.Metadata.Namespace, o.head.Metadata.Name = f[0], f[1], f[2], f[3]
	return o, true
}
