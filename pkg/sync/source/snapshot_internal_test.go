package source

import (
	"errors"
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
	t.Run("publishes nothing when writing fails", func(t *testing.T) {
		s := snapshots{dir: t.TempDir()}
		if _, err := s.publish(rev, func(string) error { return errors.New("disk full") }); err == nil {
			t.Fatal("publish succeeded")
		}
		if entries, _ := os.ReadDir(s.dir); len(entries) != 0 {
			t.Errorf("left %d entries behind", len(entries))
		}
		if _, ok := s.lookup(rev); ok {
			t.Error("lookup found a snapshot that failed to publish")
		}
	})
	t.Run("keeps the first snapshot when the same revision is published twice", func(t *testing.T) {
		s := snapshots{dir: t.TempDir()}
		first, err1 := s.publish(rev, write("first"))
		second, err2 := s.publish(rev, write("second"))
		data, _ := os.ReadFile(filepath.Join(second, "f"))
		if err := errors.Join(err1, err2); err != nil || first != second || string(data) != "first" {
			t.Errorf("publish twice = %s, %s, %q, %v; want the first snapshot unchanged", first, second, data, err)
		}
	})
	t.Run("prunes unfinished snapshots once they are stale", func(t *testing.T) {
		s := snapshots{dir: t.TempDir()}
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
