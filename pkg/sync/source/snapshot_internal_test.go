package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestPublish(t *testing.T) {
	rev := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	write := func(content string) func(string) error {
		return func(dir string) error { return os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o444) }
	}
	t.Run("publishes no checkout when writing fails", func(t *testing.T) {
		s := snapshots{dir: t.TempDir()}
		if _, err := s.publish(rev, func(string) error { return errors.New("disk full") }); err == nil {
			t.Fatal("publish succeeded")
		}
		if entries, _ := os.ReadDir(s.dir); len(entries) != 0 {
			t.Errorf("left %d entries behind", len(entries))
		}
	})
	t.Run("keeps the first checkout when the same revision is published twice", func(t *testing.T) {
		s := snapshots{dir: t.TempDir()}
		first, err1 := s.publish(rev, write("first"))
		second, err2 := s.publish(rev, write("second"))
		data, _ := os.ReadFile(filepath.Join(second, "f"))
		if err := errors.Join(err1, err2); err != nil || first != second || string(data) != "first" {
			t.Errorf("publish twice = %s, %s, %q, %v; want the first snapshot unchanged", first, second, data, err)
		}
	})
	t.Run("prunes unfinished snapshots once they are stale", func(t *testing.T) {
		s := newSnapshots(t.TempDir(), "https://example.invalid/repo.git")
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stale, fresh := filepath.Join(s.dir, tempPrefix+"stale"), filepath.Join(s.dir, tempPrefix+"fresh")
		for _, dir := range []string{stale, fresh} {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-2 * staleTemp)
		if err := errors.Join(os.Chtimes(stale, old, old), s.prune(1, rev)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Errorf("stale temporary directory survived: %v", err)
		}
		if _, err := os.Stat(fresh); err != nil {
			t.Errorf("fresh temporary directory, maybe being written, was removed: %v", err)
		}
	})
}

func TestSweep(t *testing.T) {
	s := newSnapshots(t.TempDir(), "https://example.invalid/repo.git")
	kept, dropped := []byte("kept\n"), []byte("dropped\n")
	keptHash, droppedHash := plumbing.ComputeHash(plumbing.BlobObject, kept), plumbing.ComputeHash(plumbing.BlobObject, dropped)
	for _, b := range [][]byte{kept, dropped} {
		if err := s.store.write(plumbing.ComputeHash(plumbing.BlobObject, b), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.recordBlobs(plumbing.ComputeHash(plumbing.CommitObject, nil), blobs{"a.yaml": "0100644 " + keptHash.String()}); err != nil {
		t.Fatal(err)
	}
	held := func() map[plumbing.Hash]bool {
		h, err := s.store.listing()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	t.Run("waits while a fetch holds the lock, which may have written blobs it has not recorded", func(t *testing.T) {
		unlock, err := s.lock.shared()
		if err != nil {
			t.Fatal(err)
		}
		s.clean(true)
		unlock()
		if h := held(); !h[droppedHash] || !h[keptHash] {
			t.Errorf("the store holds %v; want both blobs while the lock is held", h)
		}
	})
	t.Run("removes what no record holds", func(t *testing.T) {
		s.clean(true)
		if h := held(); h[droppedHash] || !h[keptHash] {
			t.Errorf("the store holds %v; want only %s", h, keptHash)
		}
	})
}

// referenced finds every blob a record names, reading it as bytes; a path
// that looks like a value only keeps one more blob.
func TestReferenced(t *testing.T) {
	a, b := plumbing.ComputeHash(plumbing.BlobObject, []byte("a")), plumbing.ComputeHash(plumbing.BlobObject, []byte("b"))
	odd := plumbing.ComputeHash(plumbing.BlobObject, []byte("a path"))
	record := blobs{
		"apps/a.yaml":          "0100644 " + a.String(),
		"link":                 "0120000 " + b.String(),
		"run.sh":               "0100755 " + a.String(),
		"with space.yaml":      "0100644 " + b.String(),
		odd.String() + ".yaml": "0100644 " + b.String(),
		"x " + odd.String():    "0100644 " + b.String(),
	}
	data, err := json.Marshal(record)
	if err != nil {
		t.Fatal(err)
	}
	used := map[plumbing.Hash]bool{}
	referenced(data, used)
	if want := map[plumbing.Hash]bool{a: true, b: true, odd: true}; !maps.Equal(used, want) {
		t.Errorf("referenced = %v, want %v", used, want)
	}
}

func BenchmarkReferenced(b *testing.B) {
	record := blobs{}
	for i := range 10000 {
		record[fmt.Sprintf("apps/app%02d/cm%04d.yaml", i%20, i)] = "0100644 " + plumbing.ComputeHash(plumbing.BlobObject, fmt.Appendf(nil, "%d", i)).String()
	}
	data, err := json.Marshal(record)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			used := map[plumbing.Hash]bool{}
			if json.Valid(data) {
				referenced(data, used)
			}
		}
	})
	b.Run("decode", func(b *testing.B) { // as readBlobs reads a record
		for b.Loop() {
			var r blobs
			if err := json.Unmarshal(data, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
