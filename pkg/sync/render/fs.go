package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// confinedFS is how render touches the disk, and (wrapped by kustomizeFS) the kustomize
// filesys.FileSystem krusty builds from. It serves one repository snapshot and nothing outside it:
// a path that leaves the snapshot, by `..`, by an absolute path or through a symlink, is refused,
// and the refusal is kept in failed so the render fails even when kustomize swallows the error.
// It never looks outside either: symlinks are followed one component at a time, each target
// checked before it is followed, and every access to a directory on disk goes through an
// os.Root; a snapshot given as a git Tree is read by its blobs, from no directory.
//
// Every question it answers (does this exist, what is in this file, which YAML files are in this
// directory) is recorded with its answer in seen: those are the render's inputs.
// One render owns a confinedFS; it is not safe for concurrent use.
type confinedFS struct {
	ctx         context.Context // of the render, for fetches
	remote      *Remote         // fetches remote files; nil refuses them
	virtual     map[string]virtualFile
	generated   *Generated // added to the render; recorded as read when it is
	virtualDirs map[string]bool
	files       files
	dir         string            // the snapshot's absolute path, symlinks resolved; for a Tree, treeRoot
	seen        inputs            // every question answered, with the answer
	resolved    map[string]node   // where paths resolved to, so far
	refs        map[string]string // referenced path → the file that referenced it
	origin      string            // where the render started: the referrer when none is closer
	failed      error             // the first refusal or unexpected error; it fails the render
	// blobs are the snapshot's git blobs by path, nil if unknown; contents
	// knows what the blobs read before hold.
	blobs    map[string]string
	contents *contents
	// tree lists each directory of the snapshot as blobs tell it, once a
	// directory is listed (see inTree).
	tree map[string][]dirent
	// readBlobs are the blobs of the files read, by path.
	readBlobs map[string]string
	// decryptor decrypts SOPS files; nil refuses them, naming the file.
	decryptor *Decryptor
	// decrypted are the files decrypted, and secrets the values they
	// held encrypted: such a render is never kept on disk, and what
	// prints it hides them.
	decrypted []string
	secrets   []string
	// listed are the YAML files of each directory listed so far: checking
	// a kept render and rendering again both list a plain directory, and
	// the second listing of 10,000 files would cost as much as the first.
	listed map[string]listing
}

// listing is what listYAML found in a directory.
type listing struct {
	names []string
	err   error
}

var _ filesys.FileSystem = (*confinedFS)(nil)

// virtualFile is a fetched remote file, served at a path that exists in no snapshot, so that
// kustomize reads it like any other resource file of the kustomization that listed its URL.
type virtualFile struct {
	url  string
	data []byte
}

// virtualDir is the directory, next to the kustomization that lists them, where remote files appear.
const virtualDir = ".gitsync-remote"

// node is where a repository-relative path really is.
type node struct {
	real string // repository-relative, symlinks resolved
	dir  bool
}

// maxLinks bounds symlink chains, as the kernel's ELOOP does.
const maxLinks = 40

const fixOutside = "keep every file the render uses inside the repository, and use relative paths"

func openRepository(root string) (*confinedFS, error) {
	dir, err := filepath.EvalSymlinks(root)
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return newConfinedFS(dirFiles{r}, dir), nil
}

// treeRoot is where kustomize sees a Tree's files: paths it hands back are
// turned into repository-relative ones, and none is looked for on disk.
const treeRoot = "/gitsync-snapshot"

// openTree serves the files of t.
func openTree(t Tree) *confinedFS {
	files := &treeFiles{tree: t}
	f := newConfinedFS(files, filepath.FromSlash(treeRoot))
	f.blobs, f.tree = t.Blobs, files.listing() // listing any directory needs all of them
	return f
}

func newConfinedFS(files files, dir string) *confinedFS {
	return &confinedFS{ctx: context.Background(), files: files, dir: dir, seen: inputs{}, resolved: map[string]node{}, refs: map[string]string{},
		virtual: map[string]virtualFile{}, virtualDirs: map[string]bool{}, contents: &contents{}, readBlobs: map[string]string{}}
}

func (f *confinedFS) Close() error { return f.files.close() }

// rel turns a path kustomize hands over (absolute, under dir) into a repository-relative one.
func (f *confinedFS) rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(f.dir, p)
	}
	rel, err := filepath.Rel(f.dir, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", f.fail(&Error{Problem: OutsideRepository, File: f.referrer("."),
			Detail: fmt.Sprintf("%q is outside the repository", rel), Fix: fixOutside})
	}
	return filepath.ToSlash(rel), nil
}

// resolve finds where rel really is: its parent first, then the last component, following a
// symlink only after checking that its target stays inside the repository. Answers are
// remembered, since a snapshot does not change while it is rendered.
func (f *confinedFS) resolve(rel string) (node, error) { return f.resolveFollowing(path.Clean(rel), 0) }

func (f *confinedFS) resolveFollowing(rel string, links int) (node, error) {
	if rel == "." {
		return node{real: ".", dir: true}, nil
	}
	if n, ok := f.resolved[rel]; ok {
		return n, nil
	}
	if _, ok := f.virtual[rel]; ok {
		return node{real: rel}, nil
	}
	if f.virtualDirs[rel] {
		return node{real: rel, dir: true}, nil
	}
	parent, err := f.resolveFollowing(path.Dir(rel), links)
	if err != nil {
		return node{}, err
	}
	real := path.Join(parent.real, path.Base(rel))
	kind, err := f.files.kind(real)
	if err != nil {
		return node{}, err
	}
	n := node{real: real, dir: kind == fs.ModeDir}
	if kind == fs.ModeSymlink {
		n, err = f.resolveLink(real, rel, links+1)
	}
	if err == nil {
		f.resolved[rel] = n
	}
	return n, err
}

// resolveLink resolves the symlink at real, met while resolving asked.
func (f *confinedFS) resolveLink(real, asked string, links int) (node, error) {
	if links > maxLinks {
		return node{}, &Error{Problem: MissingFile, File: f.referrer(asked),
			Detail: fmt.Sprintf("%q: too many levels of symbolic links", asked), Fix: "break the symlink loop"}
	}
	target, err := f.follow(real, asked)
	if err != nil {
		return node{}, err
	}
	return f.resolveFollowing(target, links)
}

// follow reads the symlink link (met while resolving asked) and returns its target relative to
// the repository, or refuses it when the target is outside.
func (f *confinedFS) follow(link, asked string) (string, error) {
	target, err := f.files.readlink(link)
	if err != nil {
		return "", err
	}
	abs := target
	if !filepath.IsAbs(target) {
		abs = filepath.Join(f.dir, path.Dir(link), target)
	}
	rel, err := filepath.Rel(f.dir, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return "", &Error{Problem: OutsideRepository, File: f.referrer(asked),
			Detail: fmt.Sprintf("%q is a symlink to %q, outside the repository", link, target), Fix: fixOutside}
	}
	return filepath.ToSlash(rel), nil
}

// referrer names the file that referenced rel or one of its parent directories, as the
// kustomization check recorded it; failing that, where the render started.
func (f *confinedFS) referrer(rel string) string {
	for p := rel; ; p = path.Dir(p) {
		if file, ok := f.refs[p]; ok {
			return file
		}
		if p == "." || p == "/" {
			return f.origin
		}
	}
}

func (f *confinedFS) read(rel string) ([]byte, error) {
	if v, ok := f.virtual[rel]; ok {
		return v.data, nil
	}
	n, err := f.resolve(rel)
	if err != nil {
		return nil, err
	}
	return f.files.readFile(n.real)
}

// listYAML names the *.yaml and *.yml files directly in dir, sorted, from
// the directory the first time and from memory after that.
func (f *confinedFS) listYAML(dir string) ([]string, error) {
	if l, ok := f.listed[dir]; ok {
		return l.names, l.err
	}
	names, err := f.readYAMLDir(dir)
	if f.listed == nil {
		f.listed = map[string]listing{}
	}
	f.listed[dir] = listing{names, err}
	return names, err
}

func (f *confinedFS) readYAMLDir(dir string) ([]string, error) {
	if f.virtualDirs[dir] {
		return f.virtualYAML(dir), nil
	}
	n, err := f.resolve(dir)
	if err != nil {
		return nil, err
	}
	var entries []dirent
	if f.blobs != nil && n.dir {
		entries = f.inTree(n.real)
	} else {
		entries, err = f.files.readDir(n.real)
	}
	var names []string
	for _, e := range entries {
		if isYAML(e.name) && !f.isDir(path.Join(dir, e.name), e.typ) {
			names = append(names, e.name)
		}
	}
	slices.Sort(names)
	return names, err
}

// dirent is an entry of a directory: its name and type.
type dirent struct {
	name string
	typ  fs.FileMode
}

// inTree lists the directory real of the snapshot from its git tree, as the
// blobs tell it, without reading the directory (treeDirs).
func (f *confinedFS) inTree(real string) []dirent {
	if f.tree == nil {
		f.tree = treeDirs(f.blobs)
	}
	return f.tree[real]
}

// isDir tells directories (also behind symlinks) from files. A symlink it cannot resolve
// counts as a file, so that reading it reports why.
func (f *confinedFS) isDir(rel string, typ fs.FileMode) bool {
	if typ&fs.ModeSymlink == 0 {
		return typ.IsDir()
	}
	n, err := f.resolve(rel)
	return err == nil && n.dir
}

func isYAML(name string) bool {
	ext := path.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// check answers whether rel exists and what it is, and records the answer. A fetched remote
// file is recorded by its fetch instead.
func (f *confinedFS) check(rel string) (node, error) {
	n, err := f.resolve(rel)
	if f.isVirtual(rel) {
		return n, nil
	}
	return n, f.record(opStat, rel, statAnswer(rel, n, err), err)
}

// readFile reads rel and records its content.
func (f *confinedFS) readFile(rel string) ([]byte, error) {
	data, err := f.read(rel)
	if f.isVirtual(rel) {
		return data, nil
	}
	answer := readAnswer(data, err)
	if blob, ok := f.blob(rel); ok && err == nil {
		f.contents.learn(blob, answer)
		f.readBlobs[rel] = blob
	}
	if err := f.record(opRead, rel, answer, err); err != nil {
		return data, err
	}
	if file, ok := loadSOPS(rel, data); ok { // recorded encrypted: the inputs hold no plain text
		return f.decrypt(file)
	}
	return data, nil
}

// decrypt decrypts a SOPS file, in memory.
func (f *confinedFS) decrypt(file *sopsFile) ([]byte, error) {
	plain, values, err := f.decryptor.decrypt(file)
	if err != nil {
		return nil, f.fail(err)
	}
	f.decrypted = append(f.decrypted, file.name)
	f.secrets = append(f.secrets, values...)
	return plain, nil
}

// knownContent returns the recorded answer for reading rel if its blob was
// read before, without reading it, and records it as readFile would.
func (f *confinedFS) knownContent(rel string) (string, bool) {
	answer, ok := f.knownAnswer(rel)
	if ok {
		f.readBlobs[rel] = f.blobs[rel]
		f.seen.add(opRead, rel, answer)
	}
	return answer, ok
}

// knownAnswer is what reading rel would answer, if the snapshot holds a
// regular file there whose blob was read before.
func (f *confinedFS) knownAnswer(rel string) (string, bool) {
	blob, ok := f.blob(rel)
	if !ok {
		return "", false
	}
	return f.contents.of(blob)
}

// blob returns the git blob of the regular file at rel. A path the tree
// holds as a file has no symbolic link above it (git cannot store a file
// under a link), so reading rel reads that blob.
func (f *confinedFS) blob(rel string) (string, bool) {
	b, ok := f.blobs[rel]
	if !ok || f.isVirtual(rel) || !(strings.HasPrefix(b, "0100644 ") || strings.HasPrefix(b, "0100755 ")) {
		return "", false
	}
	return b, true
}

// isVirtual reports whether rel is a fetched file or a directory of them, which are recorded
// by their fetch.
func (f *confinedFS) isVirtual(rel string) bool {
	_, ok := f.virtual[rel]
	return ok || f.virtualDirs[rel]
}

// fetch fetches a remote file and records its content. The refusal when there is no Remote
// names the kustomization file, which the caller knows.
func (f *confinedFS) fetch(url string) ([]byte, error) {
	data, err := f.remote.Fetch(f.ctx, url)
	if err != nil {
		return nil, err
	}
	f.seen.add(opFetch, url, contentAnswer(data))
	return data, nil
}

// yamlFiles lists the YAML files in dir and records the listing.
func (f *confinedFS) yamlFiles(dir string) ([]string, error) {
	names, err := f.listYAML(dir)
	return names, f.record(opList, dir, listAnswer(names, err), err)
}

// record notes the answer to a question. A missing path is an answer like any other; any other
// error (a refusal, an unreadable file) is not, and fails the render.
func (f *confinedFS) record(op op, rel, answer string, err error) error {
	if settle(err) != nil {
		return f.fail(err)
	}
	f.seen.add(op, rel, answer)
	return err
}

// fail remembers the first error that must fail the render, and returns err.
func (f *confinedFS) fail(err error) error {
	if f.failed == nil {
		f.failed = err
	}
	return err
}

// answer asks a recorded question again, recording nothing.
func (f *confinedFS) answer(q input) (string, error) {
	switch q.op {
	case opStat:
		n, err := f.resolve(q.path)
		return statAnswer(q.path, n, err), settle(err)
	case opRead:
		if answer, ok := f.knownAnswer(q.path); ok {
			return answer, nil
		}
		data, err := f.read(q.path)
		return readAnswer(data, err), settle(err)
	case opFetch:
		return f.answerFetch(q.path)
	case opGenerated:
		if g := f.generated; g != nil && g.Name == q.path {
			return contentAnswer(g.Data), nil
		}
		return "", errors.New("not generated")
	default:
		names, err := f.listYAML(q.path)
		return listAnswer(names, err), settle(err)
	}
}

// unchanged reports whether this snapshot answers every recorded question as before.
func (f *confinedFS) unchanged(in inputs) bool {
	for q, want := range in {
		if got, err := f.answer(q); err != nil || got != want {
			return false
		}
	}
	return true
}

func statAnswer(rel string, n node, err error) string {
	if err != nil {
		return "absent"
	}
	kind := "file"
	if n.dir {
		kind = "dir"
	}
	if n.real != rel {
		kind += " -> " + strconv.Quote(n.real)
	}
	return kind
}

func readAnswer(data []byte, err error) string {
	if err != nil {
		return "absent"
	}
	return contentAnswer(data)
}

func listAnswer(names []string, err error) string {
	if err != nil {
		return "absent"
	}
	return contentAnswer([]byte(strings.Join(names, "\n")))
}

// settle drops the errors that merely say a path is absent (or could not exist).
func settle(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
		return nil
	}
	return err
}

// CleanedAbs is filesys.FileSystem's: the real directory and file name p resolves to.
func (f *confinedFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	n, err := f.checkPath(p)
	if err != nil {
		return "", "", err
	}
	abs := filepath.Join(f.dir, filepath.FromSlash(n.real))
	if n.dir {
		return filesys.ConfirmedDir(abs), "", nil
	}
	return filesys.ConfirmedDir(filepath.Dir(abs)), filepath.Base(abs), nil
}

// ReadFile is filesys.FileSystem's.
func (f *confinedFS) ReadFile(p string) ([]byte, error) {
	rel, err := f.rel(p)
	if err != nil {
		return nil, err
	}
	return f.readFile(rel)
}

// IsDir is filesys.FileSystem's.
func (f *confinedFS) IsDir(p string) bool {
	n, err := f.checkPath(p)
	return err == nil && n.dir
}

// Exists is filesys.FileSystem's.
func (f *confinedFS) Exists(p string) bool {
	_, err := f.checkPath(p)
	return err == nil
}

func (f *confinedFS) checkPath(p string) (node, error) {
	rel, err := f.rel(p)
	if err != nil {
		return node{}, err
	}
	return f.check(rel)
}

// The rest of filesys.FileSystem. kustomize build does not use these, and the snapshot is
// read-only; a call fails the render rather than letting an unrecorded answer in.

func (f *confinedFS) Create(p string) (filesys.File, error) { return nil, f.refuse("create", p) }
func (f *confinedFS) Mkdir(p string) error                  { return f.refuse("mkdir", p) }
func (f *confinedFS) MkdirAll(p string) error               { return f.refuse("mkdir", p) }
func (f *confinedFS) RemoveAll(p string) error              { return f.refuse("remove", p) }
func (f *confinedFS) WriteFile(p string, _ []byte) error    { return f.refuse("write", p) }
func (f *confinedFS) Open(p string) (filesys.File, error)   { return nil, f.refuse("open", p) }
func (f *confinedFS) ReadDir(p string) ([]string, error)    { return nil, f.refuse("list", p) }
func (f *confinedFS) Glob(p string) ([]string, error)       { return nil, f.refuse("glob", p) }
func (f *confinedFS) Walk(p string, _ filepath.WalkFunc) error {
	return f.refuse("walk", p)
}

func (f *confinedFS) refuse(verb, p string) error {
	return f.fail(&Error{Problem: Unsupported, File: f.origin,
		Detail: fmt.Sprintf("kustomize tried to %s %q; gitsync renders from a read-only snapshot", verb, p)})
}
