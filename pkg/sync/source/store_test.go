package source_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
	"github.com/gitsync-io/gitsync/test/gitserver"
)

// repoDir is the directory a Source keeps one repository's revisions in.
func repoDir(t *testing.T, cache string) string {
	t.Helper()
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the cache holds %v (%v); want one repository's directory", entries, err)
	}
	return filepath.Join(cache, entries[0].Name())
}

// storeNames lists the blobs the repository's store holds.
func storeNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// hashes returns the blobs' hashes, sorted, without repeats.
func hashes(blobs ...map[string]string) []string {
	var out []string
	for _, b := range blobs {
		for _, blob := range b {
			_, hash, _ := strings.Cut(blob, " ")
			out = append(out, hash)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestNoCheckout(t *testing.T) {
	repo := gitserver.NewRepo(t)
	files := manyFiles(40)
	repo.Commit(t, "first", files)
	files["run.sh"] = "#!/bin/sh\n"
	repo.Executable(t, "run.sh", files["run.sh"])
	repo.Symlink(t, "link.yaml", "apps/app01/cm0001.yaml")
	cache := t.TempDir()
	s := newSource(t, source.Options{URL: repo.URL(), Ref: "main", CacheDir: cache, NoCheckout: true, KeepSnapshots: 1})
	first := fetch(t, s)
	dir := repoDir(t, cache)

	t.Run("writes no directory, and reads every file from the store", func(t *testing.T) {
		if first.Dir != "" {
			t.Errorf("Dir = %q, want none", first.Dir)
		}
		if _, err := os.Stat(filepath.Join(dir, first.Revision)); !os.IsNotExist(err) {
			t.Errorf("the revision's directory: %v; want none", err)
		}
		want := lsTree(t, repo, first.Revision)
		if diff := cmp.Diff(want, first.Blobs); diff != "" {
			t.Errorf("Blobs (-git +got):\n%s", diff)
		}
		if diff := cmp.Diff(hashes(want), storeNames(t, dir)); diff != "" {
			t.Errorf("the store (-the revision's blobs +held):\n%s", diff)
		}
		for name := range files {
			if data, err := s.ReadFile(first, name); err != nil || string(data) != files[name] {
				t.Errorf("ReadFile(%q) = %q, %v; want %q", name, data, err, files[name])
			}
		}
		if target, err := s.ReadFile(first, "link.yaml"); err != nil || string(target) != "apps/app01/cm0001.yaml" {
			t.Errorf("ReadFile of the symlink = %q, %v; want its target", target, err)
		}
	})
	t.Run("checks the revision out when asked", func(t *testing.T) {
		checkout, err := s.Checkout(first)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"link.yaml": "-> apps/app01/cm0001.yaml"}
		for name, content := range files {
			want[name] = content
		}
		if diff := cmp.Diff(want, readTree(t, checkout)); diff != "" {
			t.Errorf("checkout (-want +got):\n%s", diff)
		}
		for name, mode := range map[string]os.FileMode{"run.sh": 0o555, "apps/app01/cm0001.yaml": 0o444} {
			if info, err := os.Stat(filepath.Join(checkout, name)); err != nil || info.Mode().Perm() != mode {
				t.Errorf("%s: %v, %v; want mode %v", name, info.Mode(), err, mode)
			}
		}
		if again, err := s.Checkout(first); err != nil || again != checkout {
			t.Errorf("a second Checkout = %q, %v; want %q", again, err, checkout)
		}
	})
	t.Run("keeps only the blobs a new commit adds, and drops the pruned revision's own", func(t *testing.T) {
		_, kept, _ := strings.Cut(first.Blobs["apps/app05/cm0005.yaml"], " ")
		before, err := os.Stat(filepath.Join(dir, "blobs", kept))
		if err != nil {
			t.Fatal(err)
		}
		repo.Commit(t, "one", map[string]string{"apps/app03/cm0003.yaml": "changed\n"})
		second := fetch(t, s)
		if data, err := s.ReadFile(second, "apps/app03/cm0003.yaml"); err != nil || string(data) != "changed\n" {
			t.Errorf("ReadFile of the changed file = %q, %v", data, err)
		}
		if after, err := os.Stat(filepath.Join(dir, "blobs", kept)); err != nil || !os.SameFile(before, after) {
			t.Errorf("the blob of a file the commit left alone was written again (%v)", err)
		}
		// KeepSnapshots is 1: the first revision is pruned, and the blob
		// only it held goes, in the background.
		want := hashes(second.Blobs)
		for deadline := time.Now().Add(10 * time.Second); !slices.Equal(storeNames(t, dir), want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the store after pruning (-want +got):\n%s", cmp.Diff(want, storeNames(t, dir)))
			}
		}
		if diff := cmp.Diff([]string{second.Revision}, snapshotNames(t, source.Artifact{Dir: filepath.Join(dir, second.Revision)})); diff != "" {
			t.Errorf("revisions kept (-want +got):\n%s", diff)
		}
	})
	t.Run("downloads a revision again whose record is damaged", func(t *testing.T) {
		art := fetch(t, s)
		record := filepath.Join(dir, art.Revision+".files")
		if err := os.Remove(record); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(record, []byte(`{"app`), 0o444); err != nil {
			t.Fatal(err)
		}
		// A new process: this one holds the record in memory.
		again := fetch(t, newSource(t, source.Options{URL: repo.URL(), Ref: "main", CacheDir: cache, NoCheckout: true, KeepSnapshots: 1}))
		if again.Cached || again.Revision != art.Revision || !cmp.Equal(again.Blobs, art.Blobs) {
			t.Errorf("the next fetch: revision %s, cached %v, %d blobs; want %s downloaded again with its %d", again.Revision, again.Cached, len(again.Blobs), art.Revision, len(art.Blobs))
		}
	})
	t.Run("downloads a revision again once a blob of it is found damaged", func(t *testing.T) {
		art := fetch(t, s)
		if !art.Cached {
			t.Fatal("the fetch of an unchanged remote is not cached")
		}
		_, hash, _ := strings.Cut(art.Blobs["apps/app07/cm0007.yaml"], " ")
		blob := filepath.Join(dir, "blobs", hash)
		if err := os.Chmod(blob, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blob, []byte("not what it was\n"), 0o444); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReadFile(art, "apps/app07/cm0007.yaml"); err == nil || !strings.Contains(err.Error(), "apps/app07/cm0007.yaml") {
			t.Errorf("ReadFile of a damaged blob: %v; want an error naming the file", err)
		}
		again := fetch(t, s)
		if again.Cached || again.Revision != art.Revision {
			t.Errorf("the next fetch: revision %s, cached %v; want %s downloaded again", again.Revision, again.Cached, art.Revision)
		}
		if data, err := s.ReadFile(again, "apps/app07/cm0007.yaml"); err != nil || string(data) != files["apps/app07/cm0007.yaml"] {
			t.Errorf("ReadFile after the fetch = %q, %v", data, err)
		}
	})
}

// A cache written before the blob store holds a directory per revision and
// a .blobs record beside it. It is no base for a fetch (its blobs are not
// in the store), and pruning removes it.
func TestCacheOfTheFormerLayout(t *testing.T) {
	repo := gitserver.NewRepo(t)
	old := repo.Commit(t, "first", map[string]string{"app.yaml": "v1"})
	cache := t.TempDir()
	fetch(t, newSource(t, source.Options{URL: repo.URL(), Ref: "main", CacheDir: cache}))
	dir := repoDir(t, cache)
	// Make it look as the former layout left it: the revision's directory
	// and its .blobs record, no record of the store's kind and no store.
	for _, rename := range [][2]string{{old + ".files", old + ".blobs"}} {
		if err := os.Rename(filepath.Join(dir, rename[0]), filepath.Join(dir, rename[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	sha := repo.Commit(t, "second", map[string]string{"app.yaml": "v2"})
	ctx, fellBack := fallbacks(t)
	art := fetchCtx(t, ctx, newSource(t, source.Options{URL: repo.URL(), Ref: "main", CacheDir: cache, KeepSnapshots: 1}))
	if art.Revision != sha || len(fellBack()) != 0 {
		t.Errorf("fetched %s (fell back %v); want %s, downloaded whole from the start", art.Revision, fellBack(), sha)
	}
	if diff := cmp.Diff(map[string]string{"app.yaml": "v2"}, readTree(t, art.Dir)); diff != "" {
		t.Errorf("checkout (-want +got):\n%s", diff)
	}
	for _, name := range []string{old, old + ".blobs", old + ".trees"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s of the former layout: %v; want it pruned", name, err)
		}
	}
}
