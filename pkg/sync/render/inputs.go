package render

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
)

// op is one kind of question a render asks the repository.
type op string

const (
	opStat  op = "stat"  // does the path exist, is it a directory, where does it resolve to
	opRead  op = "read"  // the content of a file
	opList  op = "list"  // the YAML files a plain directory holds
	opFetch op = "fetch" // the content of a remote file, by its URL as written
	// opGenerated is the content of objects made outside the repository
	// (a Helm chart's), by Generated.Name.
	opGenerated op = "generated"
)

// input is one question asked of the repository, by repository-relative path (or, for a
// fetch, by URL).
type input struct {
	op   op
	path string
}

// inputs maps every question a render asked to the answer it got. Asking the same questions of
// another snapshot and getting the same answers proves the render would come out the same.
type inputs map[input]string

func (in inputs) add(op op, path, answer string) { in[input{op, path}] = answer }

// digest is a sha256 over every question and answer, in a fixed order; it depends on nothing else.
func (in inputs) digest() string {
	h := sha256.New()
	for _, k := range in.sorted() {
		fmt.Fprintf(h, "%s %s %s\n", k.op, strconv.Quote(k.path), in[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// paths lists the files read and directories listed, sorted, without repeats.
func (in inputs) paths() []string {
	var paths []string
	for _, k := range in.sorted() {
		if k.op != opStat {
			paths = append(paths, k.path)
		}
	}
	return slices.Compact(paths)
}

func (in inputs) sorted() []input {
	return slices.SortedFunc(maps.Keys(in), func(a, b input) int {
		return cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.op, b.op))
	})
}

// contentAnswer is the recorded answer for a file's content.
func contentAnswer(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// contents maps git blobs to the answer for reading a file that holds them:
// two files with the same blob hold the same bytes, so a blob hashed once
// need not be read again, in this snapshot or the next.
type contents struct {
	mu      sync.Mutex
	answers map[string]string
}

func (c *contents) learn(blob, answer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answers == nil {
		c.answers = map[string]string{}
	}
	c.answers[blob] = answer
}

func (c *contents) of(blob string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.answers[blob]
	return a, ok
}
