package render

import (
	"context"
	"path"
)

// renderPlain reads a directory without a kustomization: every *.yaml and *.yml file directly in
// it, sorted by name, each split into documents. It never calls kustomize, whose build time
// grows roughly quadratically with the number of resources
// (https://github.com/kubernetes-sigs/kustomize/issues/5084).
func renderPlain(ctx context.Context, fsys *confinedFS, dir string) ([]object, error) {
	names, err := fsys.yamlFiles(dir)
	if err != nil {
		return nil, err
	}
	var objs []object
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		docs, err := readObjects(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		objs = append(objs, docs...)
	}
	return objs, validate(objs)
}

func readObjects(fsys *confinedFS, file string) ([]object, error) {
	data, err := fsys.readFile(file)
	if err != nil {
		return nil, err
	}
	return decodeFile(file, data)
}
