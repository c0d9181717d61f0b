package render

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeOptions are the options `kustomize build DIR` runs with when given no flags
// (sigs.k8s.io/kustomize/kustomize/v5 commands/build): the legacy output order unless the
// kustomization sets sortOptions (krusty.MakeDefaultOptions alone would keep input order), files
// only from inside each kustomization's root, builtin plugins only (no exec, container or Go
// plugins), helm off, no managed-by label.
func kustomizeOptions() *krusty.Options {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.AddManagedbyLabel = false
	return opts
}

// kustomizationIn returns the kustomization file in dir, or "" when there is none.
func (f *confinedFS) kustomizationIn(dir string) (string, error) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		file := path.Join(dir, name)
		n, err := f.check(file)
		if settle(err) != nil {
			return "", err
		}
		if err == nil && !n.dir {
			return file, nil
		}
	}
	return "", nil
}

// renderKustomization builds the kustomization file with krusty, behind the guard.
func renderKustomization(ctx context.Context, fsys *confinedFS, file string) ([]object, error) {
	kfs := newKustomizeFS(fsys)
	dir := filepath.Join(fsys.dir, filepath.FromSlash(path.Dir(file)))
	docs, err := guarded(ctx, func() ([][]byte, error) { return kustomizeBuild(kfs, dir) })
	if err != nil || kfs.failed != nil {
		return nil, kfs.explain(file, err)
	}
	objs := make([]object, 0, len(docs))
	for _, doc := range docs {
		o, err := newObject(file, doc)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	if err := validate(objs); err != nil {
		return nil, kfs.explain(file, err)
	}
	return objs, nil
}

// kustomizeBuild is `kustomize build dir`, returning each object's JSON form in output order.
func kustomizeBuild(fsys filesys.FileSystem, dir string) ([][]byte, error) {
	m, err := krusty.MakeKustomizer(kustomizeOptions()).Run(fsys, dir)
	if err != nil {
		return nil, err
	}
	docs := make([][]byte, 0, m.Size())
	for _, res := range m.Resources() {
		doc, err := toJSON(&res.RNode)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// explain turns a failed build into the most precise error available: a refusal by the file
// system, a cancelled wait, a panic, a problem found in the resource files themselves, or
// kustomize's own message with the snapshot's absolute path taken out.
func (k *kustomizeFS) explain(file string, err error) error {
	var panicked *panicError
	var precise *Error
	switch {
	case k.failed != nil:
		return k.failed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &panicked):
		return &Error{Problem: BuildPanicked, File: file, Detail: k.relative(err.Error()), Err: err,
			Fix: "kustomize crashed on this input; change the kustomization (a custom openapi schema is a known cause)"}
	}
	if diagnosed := k.diagnose(); diagnosed != nil {
		return diagnosed
	}
	if errors.As(err, &precise) {
		return err
	}
	return &Error{Problem: BuildFailed, File: file, Detail: k.relative(err.Error()), Err: err,
		Fix: "correct the kustomization; `gitsync render` shows the same error locally"}
}

// diagnose looks for the mistakes kustomize reports without naming the file (invalid YAML, an
// object without a kind or name, the same object twice) in the resource files each
// kustomization listed.
func (k *kustomizeFS) diagnose() error {
	for _, kustomization := range k.kustomizations {
		var objs []object
		for _, file := range k.resources[kustomization] {
			data, err := k.read(file)
			if err != nil {
				return nil // kustomize's own error says more than this one would
			}
			docs, err := decodeFile(file, data)
			if err != nil {
				return err
			}
			objs = append(objs, docs...)
		}
		if err := validate(objs); err != nil {
			return err
		}
	}
	return nil
}

// relative takes the snapshot's absolute path out of a kustomize message, leaving
// repository-relative paths.
func (k *kustomizeFS) relative(msg string) string {
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, k.dir+string(filepath.Separator), ""), k.dir, ".")
	for local, v := range k.virtual {
		msg = strings.ReplaceAll(msg, local, v.url)
	}
	return msg
}
