// Package render turns one directory of an immutable repository snapshot into Kubernetes objects:
// a kustomization is built in-process with kustomize (krusty), byte-for-byte like `kustomize
// build`, and a plain directory of YAML files is parsed directly; every file read is confined to
// the snapshot and recorded, so an unchanged set of inputs is neither rebuilt nor given a new digest.
//
// Remote resource files and (when allowed) remote git bases come through its own fetcher, cached,
// pinned and mirrored; kustomize never downloads. It runs no helm and no plugins that execute,
// does not talk to a cluster, and does not decide namespaces or scope: objects come out exactly as
// rendered.
package render
