package chart

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/chart/common"
	cutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/ignore"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/strvals"

	engine "github.com/gitsync-io/gitsync/third_party/helmengine"
)

// Capabilities are the target cluster's, as .Capabilities shows them.
type Capabilities struct {
	// KubeVersion is the API server's version, e.g. v1.37.2; empty means
	// Helm's default.
	KubeVersion string
	// APIVersions are "group/version" and "group/version/Kind" entries,
	// added to Helm's default set as `helm template --api-versions` adds them.
	APIVersions []string
}

// Output is a rendered chart.
type Output struct {
	// Text is what `helm template` prints for the same chart, values and
	// capabilities: CRDs (with IncludeCRDs), the manifests in Helm's install
	// order, then the hooks, each under a "# Source:" comment.
	Text []byte
	// Manifests are the objects to apply of Text: the CRDs (with
	// IncludeCRDs) and the manifests, without the hooks.
	Manifests []byte
	// Chart and Version name the chart rendered; Release is its release name.
	Chart, Version, Release string
	// Hooks are the hook documents of Text, but test hooks, in the order
	// Helm runs them: by weight, then name.
	Hooks []Hook
	// Cached says the render was reused.
	Cached bool
}

// Renderer renders charts, keeping the newest render of each chart source
// and release in memory, reused while everything it read is unchanged.
type Renderer struct {
	fetcher *Fetcher
	mu      sync.Mutex
	last    map[string]kept // by the chart's source and release
}

type kept struct {
	key string // digest of everything the render read
	out *Output
}

// New returns a Renderer fetching through f.
func New(f *Fetcher) *Renderer { return &Renderer{fetcher: f, last: map[string]kept{}} }

// Render renders the chart s names, with the values files read from the
// repository at root. Every failure names the chart; a template error names
// its file and line; bad input is a *RenderError, which is terminal.
func (r *Renderer) Render(ctx context.Context, root string, s Spec, caps Capabilities) (*Output, error) {
	if err := s.Validate(); err != nil {
		return nil, &RenderError{Chart: s.String(), Err: err}
	}
	repo, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("%s: open the repository: %w", s, err)
	}
	defer repo.Close()
	files, version, err := r.load(ctx, repo, s)
	if err != nil {
		return nil, err
	}
	values, valuesKey, err := readValues(repo, s)
	if err != nil {
		return nil, err
	}
	key := digest(files, valuesKey, s, caps)
	slot := s.String() + "\x00" + s.ReleaseName + "\x00" + s.Namespace
	r.mu.Lock()
	if k, ok := r.last[slot]; ok && k.key == key {
		r.mu.Unlock()
		out := *k.out
		out.Cached = true
		return &out, nil
	}
	r.mu.Unlock()
	out, err := render(files, values, s, caps)
	if err != nil {
		return nil, err
	}
	if version != "" {
		out.Version = version
	}
	r.mu.Lock()
	r.last[slot] = kept{key: key, out: out}
	r.mu.Unlock()
	return out, nil
}

// load returns the chart's files: from the repository, or its fetched
// archive (with the version picked, for a range).
func (r *Renderer) load(ctx context.Context, repo *os.Root, s Spec) ([]*archive.BufferedFile, string, error) {
	if s.Path != "" {
		files, err := readDir(repo, path.Clean(s.Path))
		if err != nil {
			return nil, "", &RenderError{Chart: s.String(), Err: err}
		}
		return files, "", nil
	}
	if r.fetcher == nil {
		return nil, "", &RenderError{Chart: s.String(), Err: errors.New("this command fetches no charts; render a chart of the repository, or sync")}
	}
	a, err := r.fetcher.fetch(ctx, s)
	if err != nil {
		return nil, "", err
	}
	files, err := archive.LoadArchiveFiles(bytes.NewReader(a.data))
	if err != nil {
		return nil, "", &RenderError{Chart: s.String(), Err: fmt.Errorf("the archive fetched is not a chart: %w", err)}
	}
	return files, a.version, nil
}

// readDir reads a chart directory of the repository as Helm's loader does
// (.helmignore and its defaults honoured), through repo, so that no file
// outside the repository is read, whatever its symbolic links say.
func readDir(repo *os.Root, dir string) ([]*archive.BufferedFile, error) {
	fsys := repo.FS()
	rules := ignore.Empty()
	if data, err := fs.ReadFile(fsys, path.Join(dir, ignore.HelmIgnore)); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, ignore.HelmIgnore), err)
		}
	}
	rules.AddDefaults()
	var files []*archive.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if rel == "" {
			return nil
		}
		info, err := fs.Stat(fsys, p) // follows a link inside the repository; one leaving it fails
		if err != nil {
			return err
		}
		if rules.Ignore(rel, info) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			return nil
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: rel, Data: bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such directory in the repository", dir)
	}
	return files, err
}

// readValues merges the values files and --set assignments as `helm
// template -f … --set …` does, and returns a key of what they said.
func readValues(repo *os.Root, s Spec) (map[string]any, string, error) {
	base := map[string]any{}
	h := sha256.New()
	for _, f := range s.ValuesFiles {
		data, err := repo.ReadFile(path.Clean(f))
		if err != nil {
			return nil, "", &RenderError{Chart: s.String(), File: f, Err: fmt.Errorf("values file: %w", errors.Unwrap(err))}
		}
		h.Write(data)
		h.Write([]byte{0})
		vals, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, "", &RenderError{Chart: s.String(), File: f, Err: fmt.Errorf("values file does not parse: %w", err)}
		}
		base = loader.MergeMaps(base, vals)
	}
	for _, a := range s.Set {
		if err := strvals.ParseInto(a, base); err != nil {
			return nil, "", &RenderError{Chart: s.String(), Err: fmt.Errorf("set %q: %w", a, err)}
		}
	}
	for _, a := range s.SetLiteral {
		if err := strvals.ParseLiteralInto(a, base); err != nil {
			return nil, "", &RenderError{Chart: s.String(), Err: fmt.Errorf("set %q: %w", a, err)}
		}
	}
	return base, hex.EncodeToString(h.Sum(nil)), nil
}

// digest is the key of a render: the chart's files, the values, the rest of
// the spec and the capabilities.
func digest(files []*archive.BufferedFile, values string, s Spec, caps Capabilities) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	fmt.Fprintf(h, "%s\x00%q\x00%q\x00%s\x00%s\x00%t\x00%s\x00%q", values, s.Set, s.SetLiteral, s.ReleaseName, s.Namespace, s.IncludeCRDs, caps.KubeVersion, caps.APIVersions)
	return hex.EncodeToString(h.Sum(nil))
}

// render is `helm template`'s install path without a cluster: the chart's
// dependencies and values processed, the schema checked, the templates
// rendered, NOTES.txt dropped, hooks split off and everything sorted in
// Helm's install order.
func render(files []*archive.BufferedFile, values map[string]any, s Spec, caps Capabilities) (*Output, error) {
	chrt, err := loader.LoadFiles(files) // a fresh chart: processing dependencies changes it
	if err != nil {
		return nil, &RenderError{Chart: s.String(), Err: err}
	}
	name := s.ReleaseName
	if name == "" {
		name = chrt.Name()
	}
	what := fmt.Sprintf("chart %s %s", chrt.Name(), chrt.Metadata.Version)
	fail := func(err error) error { return &RenderError{Chart: what, Err: err} }
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return nil, fail(fmt.Errorf("release name %q: %w", name, err))
	}
	if t := chrt.Metadata.Type; t != "" && t != "application" {
		return nil, fail(fmt.Errorf("a chart of type %q cannot be rendered on its own", t))
	}
	if missing := missingDependencies(chrt); len(missing) > 0 {
		return nil, fail(fmt.Errorf("Chart.yaml lists dependencies missing from charts/: %s; vendor them (helm dependency build) and commit them", strings.Join(missing, ", ")))
	}
	if err := chartutil.ProcessDependencies(chrt, values); err != nil {
		return nil, fail(err)
	}
	if err := checkSchemas(chrt, ""); err != nil {
		return nil, fail(err)
	}
	c := common.DefaultCapabilities.Copy()
	if caps.KubeVersion != "" {
		kv, err := common.ParseKubeVersion(caps.KubeVersion)
		if err != nil {
			return nil, fail(err)
		}
		c.KubeVersion = *kv
	}
	c.APIVersions = append(c.APIVersions, caps.APIVersions...)
	ns := s.Namespace
	if ns == "" {
		ns = "default" // as helm template without -n or a kubeconfig
	}
	opts := common.ReleaseOptions{Name: name, Namespace: ns, Revision: 1, IsInstall: true}
	rendered, err := cutil.ToRenderValuesWithSchemaValidation(chrt, values, opts, c, false)
	if err != nil {
		return nil, fail(err)
	}
	if kc := chrt.Metadata.KubeVersion; kc != "" && !chartutil.IsCompatibleRange(kc, c.KubeVersion.String()) {
		return nil, fail(fmt.Errorf("it requires Kubernetes %s; the cluster runs %s", kc, c.KubeVersion.Version))
	}
	var e engine.Engine // no cluster: lookup finds nothing, and no DNS: getHostByName answers "", as in helm template
	docs, err := e.Render(chrt, rendered)
	if err != nil {
		return nil, fail(err)
	}
	for f := range docs {
		if strings.HasSuffix(f, "NOTES.txt") {
			delete(docs, f)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(docs, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fail(err)
	}
	objs := objects(chrt, manifests, s.IncludeCRDs)
	return &Output{Text: text(objs, hooks), Manifests: objs, Chart: chrt.Name(), Version: chrt.Metadata.Version, Release: name, Hooks: runnable(hooks)}, nil
}

// objects are the CRDs (if crds) and the manifests, as helm template prints
// them.
func objects(chrt *chartv2.Chart, manifests []releaseutil.Manifest, crds bool) []byte {
	var b bytes.Buffer
	if crds {
		for _, c := range chrt.CRDObjects() {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", c.Filename, c.File.Data)
		}
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.Bytes()
}

// text is what `helm template` prints: the objects, then the hooks.
func text(objs []byte, hooks []*release.Hook) []byte {
	var out bytes.Buffer
	out.WriteString(strings.TrimSpace(string(objs)) + "\n")
	for _, h := range hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return out.Bytes()
}

// Hook is a hook of a chart: an object applied before or after the others
// when the chart is installed or upgraded, as Argo CD runs Helm's hooks.
type Hook struct {
	// Name is the object's; Path the template it came from; Manifest the
	// object's YAML.
	Name, Path string
	Manifest   []byte
	// Events are when it runs: pre-install, pre-upgrade, post-install,
	// post-upgrade (test hooks are never run, and not listed).
	Events []string
	// Weight orders the hooks of an event: lower first.
	Weight int
	// DeleteBefore deletes the object left by an earlier run before it is
	// applied (before-hook-creation, Helm's default); DeleteSucceeded and
	// DeleteFailed delete it once it is healthy, or once it failed.
	DeleteBefore, DeleteSucceeded, DeleteFailed bool
}

// Runs reports whether h runs at one of events.
func (h Hook) Runs(events ...string) bool {
	return slices.ContainsFunc(h.Events, func(e string) bool { return slices.Contains(events, e) })
}

// The hook events gitsync runs.
const (
	PreInstall  = string(release.HookPreInstall)
	PreUpgrade  = string(release.HookPreUpgrade)
	PostInstall = string(release.HookPostInstall)
	PostUpgrade = string(release.HookPostUpgrade)
)

// runnable are the hooks of events gitsync runs, sorted as Helm runs them.
func runnable(hooks []*release.Hook) []Hook {
	var out []Hook
	for _, h := range hooks {
		hk := Hook{Name: h.Name, Path: h.Path, Manifest: []byte(h.Manifest), Weight: h.Weight}
		for _, e := range h.Events {
			switch e {
			case release.HookPreInstall, release.HookPreUpgrade, release.HookPostInstall, release.HookPostUpgrade:
				hk.Events = append(hk.Events, string(e))
			}
		}
		if len(hk.Events) == 0 {
			continue // test, pre/post-delete, pre/post-rollback: nothing gitsync does
		}
		hk.DeleteBefore = len(h.DeletePolicies) == 0
		for _, p := range h.DeletePolicies {
			switch p {
			case release.HookBeforeHookCreation:
				hk.DeleteBefore = true
			case release.HookSucceeded:
				hk.DeleteSucceeded = true
			case release.HookFailed:
				hk.DeleteFailed = true
			}
		}
		out = append(out, hk)
	}
	slices.SortStableFunc(out, func(a, b Hook) int { return cmp.Or(cmp.Compare(a.Weight, b.Weight), cmp.Compare(a.Name, b.Name)) })
	return out
}

// missingDependencies are the dependencies Chart.yaml lists that charts/
// does not hold.
func missingDependencies(chrt *chartv2.Chart) []string {
	var missing []string
	for _, d := range chrt.Metadata.Dependencies {
		if !slices.ContainsFunc(chrt.Dependencies(), func(c *chartv2.Chart) bool { return c.Name() == d.Name }) {
			missing = append(missing, d.Name)
		}
	}
	return missing
}

// RenderError is a chart that does not render: a template, values or schema
// error, a missing dependency. Only a change in git (or in the chart
// pushed) fixes it.
type RenderError struct {
	Chart string
	File  string // the values file, when it is at fault
	Err   error
}

// Error is one line: the chart, the file and line where Helm says, the cause.
func (e *RenderError) Error() string {
	msg := e.Chart + ": "
	if e.File != "" {
		msg += e.File + ": "
	}
	return msg + oneLine(e.Err.Error())
}

func (e *RenderError) Unwrap() error  { return e.Err }
func (e *RenderError) Terminal() bool { return true }

var (
	afterColon = regexp.MustCompile(`:[ \t]*\n\s*`)
	newLines   = regexp.MustCompile(`\s*\n\s*`)
)

// oneLine folds Helm's multi-line messages (a schema's violations, a nil
// pointer's template trace) onto one line.
func oneLine(s string) string {
	s = afterColon.ReplaceAllString(strings.TrimSpace(s), ": ")
	return newLines.ReplaceAllString(s, "; ")
}
