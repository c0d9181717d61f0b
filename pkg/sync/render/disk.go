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
	"strings"

	"github.com/gitsync-io/gitsync/internal/cores"
	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// diskFormat is bumped when diskEntry changes: an entry of another format
// is ignored and replaced.
const diskFormat = 3

// diskEntry is a render kept on disk: the questions it asked with their
// answers (digests, never file contents), and its objects. A new process
// reuses it as the memory cache would, when the snapshot answers the same.
//
// The file is the entry as one line of JSON, then a line per object: what
// names it (head: apiVersion, kind, namespace and name), each field ended by
// a tab, then its JSON. Compact JSON holds no tab or line break, so reading
// it back splits the objects and their names apart without parsing them
// (reading 10,000 heads from the JSON took 60 ms of CPU), and writing it
// copies them. Sum guards the lines against damage instead.
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
	// Sum is the sha256 of the object lines.
	Sum string `json:"sum"`

	lines [][]byte
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
	sum := sha256.Sum256(rest)
	if e.Sum != hex.EncodeToString(sum[:]) || bytes.Count(rest, newline) != e.Objects || !bytes.HasSuffix(rest, newline) {
		return nil // damaged, cut short or holding more than it says
	}
	e.lines = bytes.Split(rest[:len(rest)-1], newline)
	return &e
}

// headFields is how many fields of an object's line name it.
const headFields = 4

// appendLine appends o's line to data; false if its head holds a tab or line
// break, which the line cannot.
func appendLine(data []byte, o object) ([]byte, bool) {
	h := o.head
	for _, f := range [headFields]string{h.APIVersion, h.Kind, h.Metadata.Namespace, h.Metadata.Name} {
		if strings.ContainsAny(f, "\t\n") {
			return data, false
		}
		data = append(append(data, f...), '\t')
	}
	return append(append(data, o.json...), '\n'), true
}

// parseLine reads an object's line.
func parseLine(file string, line []byte) (object, bool) {
	var f [headFields]string
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

// store writes the entry of path. Failing to is not an error of the render:
// the next process renders again.
func (d diskCache) store(path string, in inputs, blobs map[string]string, res *Result, files *decoded) error {
	if d.dir == "" {
		return nil
	}
	lines := make([]byte, 0, 64*len(res.docs))
	for i, doc := range res.docs {
		o := object{json: doc}
		if res.Docs != nil {
			o.head = res.Docs[i].o.head
		} else {
			o.head = headOf(res.Objects[i])
		}
		if bytes.ContainsAny(doc, "\t\n") { // never from json.Marshal; be sure
			var buf bytes.Buffer
			if err := json.Compact(&buf, doc); err != nil {
				return err
			}
			o.json = buf.Bytes()
		}
		var ok bool
		if lines, ok = appendLine(lines, o); !ok {
			return fmt.Errorf("%s cannot be kept: a tab or line break in what names it", o.head)
		}
	}
	sum := sha256.Sum256(lines)
	e := diskEntry{Format: diskFormat, Build: d.build, Path: path, Digest: res.Digest, Paths: res.Inputs, Objects: len(res.docs), Blobs: blobs,
		Sum: hex.EncodeToString(sum[:])}
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
	data := make([]byte, 0, len(header)+1+len(lines))
	data = append(append(append(data, header...), newline...), lines...)
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

// objects returns the entry's objects, decoded if decode, else named only.
func (e *diskEntry) objects(decode bool) ([]object, error) {
	objs := make([]object, len(e.lines))
	return objs, cores.Each(len(e.lines), func(i int) error {
		o, ok := parseLine(e.Path, e.lines[i])
		if !ok {
			return errors.New("a damaged object line")
		}
		if decode {
			var err error
			o, err = newObject(e.Path, o.json)
			if err != nil {
				return err
			}
		}
		objs[i] = o
		return nil
	})
}

// decoded returns the objects of each file of a plain render, for a render
// of the same directory after a commit that changed some files (decoded.next);
// nil if the entry is no plain render or does not add up.
func (e *diskEntry) decoded(objs []object) *decoded {
	if len(e.Files) == 0 {
		return nil
	}
	d := &decoded{cur: make(map[fileKey][]object, len(e.Files))}
	at := 0
	for _, f := range e.Files {
		k, ok := fileKeyOf(f.Path, f.SHA256)
		if !ok || f.Objects < 0 || at+f.Objects > len(objs) {
			return nil
		}
		d.cur[k] = objs[at : at+f.Objects : at+f.Objects]
		at += f.Objects
	}
	if at != len(objs) {
		return nil
	}
	return d
}
