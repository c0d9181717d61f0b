package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/internal/cores"
	"github.com/gitsync-io/gitsync/internal/version"
)

// Renderer renders directories of repository snapshots. It is safe for concurrent use and
// holds the render cache, so one Renderer should serve all syncs of a process. Kustomize
// builds run one at a time process-wide (see guard.go); plain directories render in parallel.
type Renderer struct {
	cache       cache
	disk        diskCache
	remote      *Remote
	once        bool
	lazy        bool
	shared      bool
	writeBehind bool
	contents    contents

	mu        sync.Mutex
	decryptor *Decryptor               // see SetDecryptor
	writing   map[string]chan struct{} // by render key: the last write behind, closed once done
}

// Options configure a Renderer.
type Options struct {
	// Remote fetches the http(s) resource files kustomizations list. Nil refuses them.
	Remote *Remote
	// CacheDir, if set, keeps each path's last render on disk too, with the digests of what it
	// read: a new process (gitsync sync, a restart) of the same gitsync build reuses it when the
	// snapshot answers the same. Renderers of different repositories should not share one.
	CacheDir string
	// Once says each path is rendered once (gitsync sync, diff): nothing is kept in memory for a
	// next render, so results are handed out as they are instead of as copies.
	Once bool
	// Shared hands out results whose objects are the ones kept for the next render, not
	// copies: the caller must not modify them. A sync shares them (its applier copies the
	// metadata it stamps, and nothing else is changed); copying 10,000 objects at each render
	// took 19 MB and a tenth of a second.
	Shared bool
	// Lazy, for a Renderer that renders once, hands out the objects as Docs, each decoded
	// only when asked (Doc.Object): a render read back from disk after a commit that changed
	// a few files decodes only theirs, and a sync that finds the other objects as it left them
	// (apply.Known) never decodes them. At 10,000 objects decoding them all took 0.11 s of CPU
	// and stamping them 0.14. Result.Objects stays nil until Result.Decode.
	Lazy bool
	// WriteBehind keeps each render in CacheDir in the background: only a later process reads
	// it, and writing 10,000 objects took 35 ms of CPU and an fsync that a sync's apply need
	// not wait for. Result.Kept waits for the write.
	WriteBehind bool
	// Decryptor decrypts the SOPS-encrypted files the render reads. Nil
	// fails a render that meets one, naming the file and its recipients.
	Decryptor *Decryptor
}

// New returns a Renderer with an empty cache. It takes at most one Options.
func New(opts ...Options) *Renderer {
	r := &Renderer{}
	for _, o := range opts {
		r.remote, r.disk, r.once, r.shared, r.decryptor = o.Remote, diskCache{dir: o.CacheDir, build: version.Build()}, o.Once, o.Shared, o.Decryptor
		r.writeBehind, r.lazy = o.WriteBehind, o.Lazy && o.Once
	}
	return r
}

// SetDecryptor replaces the keys later renders decrypt with (a sync reads
// its keys again at each run, so a rotated key takes effect). A render
// reused from memory is not decrypted again: a Renderer that decrypts
// should serve one sync, whose keys it holds.
func (r *Renderer) SetDecryptor(d *Decryptor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decryptor = d
}

func (r *Renderer) currentDecryptor() *Decryptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.decryptor
}

// Result is one rendered directory.
type Result struct {
	// Objects are the rendered objects in output order. They belong to the caller, unless the
	// Renderer is Shared: then they must not be modified. Nil for a Lazy Renderer until Decode.
	Objects []*unstructured.Unstructured
	// Docs are the objects of a Lazy Renderer's render, in output order, undecoded; nil for
	// other Renderers.
	Docs []*Doc
	// Digest is "sha256:<hex>" over exactly the inputs the render read: each repository-relative
	// path with the content of the file, plus each existence check and directory listing it
	// made. A snapshot that changes none of them gives the same digest.
	Digest string
	// Inputs are the repository-relative paths of the files read and directories listed, sorted.
	Inputs []string
	// Cached reports that the result was reused: none of the inputs changed since the last
	// Render of this path.
	Cached bool
	// Decrypted are the SOPS files the render decrypted, in memory only: a render that
	// decrypted is never kept on disk, and YAML hides what they held unless ShowSecrets.
	Decrypted []string

	secrets []string // the values the decrypted files held encrypted

	// docs is each object's JSON, in output order; YAML encodes them on demand,
	// since a sync never needs the text (it costs a third of a plain render).
	docs [][]byte
	// kept is closed once the render is kept on disk, if it is being
	// written behind (Kept).
	kept chan struct{}
}

// Len returns how many objects the render gave.
func (r *Result) Len() int { return len(r.docs) }

// Decode sets Objects, for a render of a Lazy Renderer: the objects, decoded.
func (r *Result) Decode() error {
	if r.Objects != nil || r.Docs == nil {
		return nil
	}
	objs := make([]*unstructured.Unstructured, len(r.Docs))
	for i, d := range r.Docs {
		var err error
		if objs[i], err = d.Object(); err != nil {
			return err
		}
	}
	r.Objects = objs
	return nil
}

// Doc is one object of a Lazy render, undecoded: what names it, its JSON, and
// the object on demand.
type Doc struct{ o object }

// Head returns what names the object, as rendered.
func (d *Doc) Head() (apiVersion, kind, namespace, name string) {
	h := d.o.head
	return h.APIVersion, h.Kind, h.Metadata.Namespace, h.Metadata.Name
}

// JSON returns the object as compact JSON with sorted keys: the same object
// renders to the same bytes. It must not be modified.
func (d *Doc) JSON() []byte { return d.o.json }

// Object returns the object, decoded now unless the render decoded it; the
// caller must not modify it (as with Options.Shared).
func (d *Doc) Object() (*unstructured.Unstructured, error) {
	o := d.o
	if err := o.decode(); err != nil {
		return nil, err
	}
	return o.u, nil
}

// Kept returns once the render is kept on disk, if the Renderer writes
// behind (Options.WriteBehind) and this render is being written. Call it
// before the process ends, or the next process renders again.
func (r *Result) Kept() {
	if r.kept != nil {
		<-r.kept
	}
}

// YAML is what `gitsync render` prints: for a kustomization the exact bytes of
// `kustomize build`; for a plain directory the documents written the same way.
func (r *Result) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, doc := range r.docs {
		y, err := yaml.JSONToYAML(doc)
		if err != nil {
			var h head
			_ = json.Unmarshal(doc, &h)
			return nil, fmt.Errorf("render: encode %s: %w", h, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// Render renders path, relative to root, where root is a repository snapshot and the boundary
// nothing is read outside of; "" and "." mean root itself. A directory with a kustomization
// (kustomization.yaml, kustomization.yml or Kustomization) is built as `kustomize build` would;
// any other directory yields the objects of its *.yaml and *.yml files.
//
// Errors caused by the repository content are *Error values (joined with errors.Join when there
// are several) whose Terminal method reports true; other errors, such as a cancelled ctx or an
// unreadable snapshot, are worth retrying.
func (r *Renderer) Render(ctx context.Context, root, path string) (*Result, error) {
	return r.RenderSnapshot(ctx, root, nil, path)
}

// RenderSnapshot is Render of a snapshot whose files' git blobs are known
// (source.Artifact.Blobs): a file whose blob was read before is known to hold
// what it held then, so the renderer checks and reuses it without reading it.
func (r *Renderer) RenderSnapshot(ctx context.Context, root string, blobs map[string]string, path string) (*Result, error) {
	return r.RenderWith(ctx, root, blobs, path, nil)
}

// Generated are objects made outside the repository, rendered with it: a
// Helm chart's output. A kustomization at the path gets them as its first
// resource (so it can patch them, as Flux's post-renderers do); a plain
// directory gets them before its own files' objects; an empty path renders
// them alone. They are an input of the render like a file it read.
type Generated struct {
	// Name names them in messages and in the render's inputs: "helm release web".
	Name string
	// Data is YAML documents.
	Data []byte
}

// generatedOnly is the path of a render of Generated alone.
const generatedOnly = "\x00generated"

// RenderWith is RenderSnapshot with gen (nil for none) added; see Generated.
func (r *Renderer) RenderWith(ctx context.Context, root string, blobs map[string]string, path string, gen *Generated) (*Result, error) {
	return r.renderFrom(ctx, path, gen, func() (*confinedFS, error) {
		fsys, err := openRepository(root)
		if err == nil {
			fsys.blobs = blobs
		}
		return fsys, err
	})
}

// RenderTree is RenderWith of a snapshot given as a git Tree: it reads the
// files it needs through the Tree, and no directory. The output is the same
// as RenderWith's of a directory holding that tree.
func (r *Renderer) RenderTree(ctx context.Context, t Tree, path string, gen *Generated) (*Result, error) {
	return r.renderFrom(ctx, path, gen, func() (*confinedFS, error) { return openTree(t), nil })
}

// renderFrom renders path, with gen, of the snapshot open serves.
func (r *Renderer) renderFrom(ctx context.Context, path string, gen *Generated, open func() (*confinedFS, error)) (*Result, error) {
	rel, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	key := rel // of the render in the caches: a render with Generated is another
	switch {
	case path == "" && gen != nil:
		rel, key = generatedOnly, generatedOnly+" "+gen.Name
	case gen != nil:
		key = rel + "\x00generated " + gen.Name
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render %s: %w", rel, err)
	}
	fsys, err := open()
	if err != nil {
		return nil, fmt.Errorf("render %s: open repository: %w", rel, err)
	}
	defer fsys.Close()
	fsys.ctx, fsys.remote, fsys.generated = ctx, r.remote, gen
	fsys.contents, fsys.decryptor = &r.contents, r.currentDecryptor()
	if res, ok := r.cache.reuse(fsys, key, r.shared); ok {
		return res, nil
	}
	// A render this Renderer kept of key tells what changed as well as the
	// one on disk would, without reading and decoding it (0.1 s at 10,000
	// objects); a render another process kept of this very revision is
	// then not found, and the path renders again.
	last := r.cache.files(key)
	if last == nil {
		res, kept, ok := r.reuseDisk(fsys, key)
		if ok {
			return res, nil
		}
		last = kept
	}
	files := last.next()
	res, err := render(ctx, fsys, rel, files, r.lazy)
	if err != nil {
		return nil, err
	}
	out := r.keep(key, entry{inputs: fsys.seen, result: res, files: files}, false)
	// Decrypted values never touch the disk: a new process decrypts again.
	if len(res.Decrypted) == 0 && r.disk.dir != "" {
		log, seen, readBlobs := logr.FromContextOrDiscard(ctx), fsys.seen, fsys.readBlobs
		store := func() {
			if err := r.disk.store(key, seen, readBlobs, res, files); err != nil {
				log.Error(err, "keeping the render on disk failed; the next process renders again", "path", rel)
			}
		}
		if r.writeBehind {
			out.kept = r.writeBehindOf(key, store)
		} else {
			store()
		}
	}
	return out, nil
}

// writeBehindOf runs store, the write of a render of key, in the background,
// after the write of key's render before it, so that the newest is the one
// kept. The channel it returns is closed once store has run.
func (r *Renderer) writeBehindOf(key string, store func()) chan struct{} {
	kept := make(chan struct{})
	r.mu.Lock()
	before := r.writing[key]
	if r.writing == nil {
		r.writing = map[string]chan struct{}{}
	}
	r.writing[key] = kept
	r.mu.Unlock()
	go func() {
		defer close(kept)
		if before != nil {
			<-before
		}
		store()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.writing[key] == kept {
			delete(r.writing, key)
		}
	}()
	return kept
}

// keep keeps e in memory for the next render of rel and returns a copy of its
// result for the caller (one that shares its objects, if the Renderer is
// Shared); a Renderer that renders once keeps nothing and returns the result
// itself.
func (r *Renderer) keep(rel string, e entry, cached bool) *Result {
	if r.once {
		e.result.Cached = cached
		return e.result
	}
	r.cache.store(rel, e)
	return e.result.handOut(cached, r.shared)
}

// reuseDisk returns the render of rel kept on disk if the snapshot answers
// every question it asked as before, and keeps it in memory too. If some
// answer changed and the kept render is of plain YAML, it returns the objects
// of each file it read instead, so that only the changed files are decoded.
func (r *Renderer) reuseDisk(fsys *confinedFS, rel string) (res *Result, kept *decoded, ok bool) {
	e := r.disk.load(rel)
	if e == nil {
		return nil, nil, false
	}
	in := e.inputs
	for path, blob := range e.blobs {
		if answer, ok := in[input{opRead, path}]; ok {
			r.contents.learn(blob, answer)
		}
	}
	unchanged := fsys.unchanged(in)
	if !unchanged && len(e.files) == 0 {
		return nil, nil, false
	}
	// Decoding the objects is most of reading a render back: a Lazy
	// Renderer decodes only what names them, and only a changed file's.
	objs, err := e.objects(!r.lazy)
	if err != nil {
		return nil, nil, false
	}
	if !unchanged {
		return nil, e.decoded(objs), false
	}
	res, err = resultOf(objs, r.lazy)
	if err != nil {
		return nil, nil, false
	}
	res.Digest, res.Inputs = e.Digest, e.paths
	return r.keep(rel, entry{inputs: in, result: res, files: e.decoded(objs)}, true), nil, true
}

// render renders dir: a pipeline of find the kustomization → build or read → validate → encode.
func render(ctx context.Context, fsys *confinedFS, dir string, files *decoded, lazy bool) (*Result, error) {
	fsys.origin = dir
	var objs []object
	var err error
	if dir == generatedOnly {
		objs, err = fsys.generatedObjects(files)
		if err == nil {
			err = validate(objs)
		}
	} else {
		objs, err = renderDir(ctx, fsys, dir, files)
	}
	if err != nil {
		return nil, err
	}
	res, err := resultOf(objs, lazy)
	if err != nil {
		return nil, err
	}
	res.Digest, res.Inputs, res.Decrypted, res.secrets = fsys.seen.digest(), fsys.seen.paths(), fsys.decrypted, fsys.secrets
	return res, nil
}

// resultOf is the result holding objs: as Docs if lazy, else decoded (those
// read back from disk are not yet), on every core.
func resultOf(objs []object, lazy bool) (*Result, error) {
	res := &Result{docs: make([][]byte, len(objs))}
	for i, o := range objs {
		res.docs[i] = o.json
	}
	if lazy {
		res.Docs = make([]*Doc, len(objs))
		for i, o := range objs {
			res.Docs[i] = &Doc{o: o}
		}
		return res, nil
	}
	res.Objects = make([]*unstructured.Unstructured, len(objs))
	err := cores.Each(len(objs), func(i int) error {
		o := objs[i]
		err := o.decode()
		res.Objects[i] = o.u
		return err
	})
	return res, err
}

func renderDir(ctx context.Context, fsys *confinedFS, dir string, files *decoded) ([]object, error) {
	n, err := fsys.check(dir)
	switch {
	case settle(err) != nil:
		return nil, err
	case err != nil:
		return nil, notADirectory(dir, "it does not exist")
	case !n.dir:
		return nil, notADirectory(dir, "it is a file")
	}
	file, err := fsys.kustomizationIn(dir)
	if err != nil {
		return nil, err
	}
	if file == "" {
		return renderPlain(ctx, fsys, dir, files)
	}
	fsys.origin = file
	return renderKustomization(ctx, fsys, file)
}

func notADirectory(dir, why string) error {
	return &Error{Problem: MissingFile, File: dir, Detail: "the path to render is not a directory of the repository: " + why,
		Fix: "point the sync's path at a directory of the repository"}
}

// cleanPath makes the path to render repository-relative and refuses one that leaves it.
func cleanPath(p string) (string, error) {
	rel := filepath.ToSlash(filepath.Clean("./" + p))
	if filepath.IsAbs(p) || !filepath.IsLocal(rel) {
		return "", &Error{Problem: OutsideRepository, File: p, Detail: "the path to render must stay inside the repository",
			Fix: "give the path relative to the repository root, without leading ../"}
	}
	return rel, nil
}
