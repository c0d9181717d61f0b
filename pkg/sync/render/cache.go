package render

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// cache remembers, per repository-relative path, the last successful render and the inputs it
// read. It is keyed by path alone, not by snapshot: reuse is decided by asking the new snapshot
// the same questions, so a path rendered from two repositories is never mixed up, only rebuilt.
// It holds one entry per path rendered and never shrinks.
type cache struct {
	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	inputs inputs
	result *Result
	files  *decoded // what a plain render decoded, per file
}

// files returns what the last render of path decoded, nil if none.
func (c *cache) files(path string) *decoded {
	e, _ := c.lookup(path)
	return e.files
}

func (c *cache) lookup(path string) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	return e, ok
}

func (c *cache) store(path string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]entry{}
	}
	c.entries[path] = e
}

// reuse returns a copy of the cached result for path (sharing its objects if shared) if the
// snapshot fsys answers every question the cached render asked as it did then.
func (c *cache) reuse(fsys *confinedFS, path string, shared bool) (*Result, bool) {
	e, ok := c.lookup(path)
	if !ok || !fsys.unchanged(e.inputs) {
		return nil, false
	}
	return e.result.handOut(true, shared), true
}

// handOut copies the result for a caller: deeply, so that the caller may change what it
// gets, or sharing the objects, which the caller must then leave alone.
func (r *Result) handOut(cached, shared bool) *Result {
	objs := r.Objects
	if !shared {
		objs = make([]*unstructured.Unstructured, len(r.Objects))
		for i, o := range r.Objects {
			objs[i] = o.DeepCopy()
		}
	}
	// docs are never modified, so the copy shares them.
	return &Result{Objects: objs, Digest: r.Digest, Inputs: slices.Clone(r.Inputs), Cached: cached, docs: r.docs,
		Decrypted: slices.Clone(r.Decrypted), secrets: r.secrets}
}
