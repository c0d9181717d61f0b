package download_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/pkg/download"
)

const releaseURL = "https://example.com/releases/v1.2.3/app.tar.gz"

func TestCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, c download.Cache) // after Put
		want    *string                              // nil: a miss
	}{
		{name: "serves what it was given", want: new("content")},
		{name: "serves the last content it was given", want: new("new content"),
			prepare: func(t *testing.T, c download.Cache) { put(t, c, "new content") }},
		{name: "misses a file damaged on disk",
			prepare: func(t *testing.T, c download.Cache) { write(t, c.Path(releaseURL), "bit rot") }},
		{name: "misses a file without its SHA-256",
			prepare: func(t *testing.T, c download.Cache) { remove(t, c.Path(releaseURL)+".sha256") }},
		{name: "misses a SHA-256 without its file",
			prepare: func(t *testing.T, c download.Cache) { remove(t, c.Path(releaseURL)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := download.Cache{Dir: filepath.Join(t.TempDir(), "cache")}
			put(t, c, "content")
			if tc.prepare != nil {
				tc.prepare(t, c)
			}
			var got *string
			if data, ok := c.Get(releaseURL); ok {
				got = new(string(data))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
			if _, ok := c.Get(releaseURL + ".other"); ok {
				t.Error("another URL hit")
			}
		})
	}
	t.Run("keeps a file and its SHA-256 readable by the owner alone, and nothing else", func(t *testing.T) {
		c := download.Cache{Dir: filepath.Join(t.TempDir(), "cache")}
		put(t, c, "content")
		entries, err := os.ReadDir(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]fs.FileMode{}
		for _, e := range entries {
			info, _ := e.Info()
			got[e.Name()] = info.Mode().Perm()
		}
		name := download.FileName(releaseURL)
		if diff := cmp.Diff(map[string]fs.FileMode{name: 0o600, name + ".sha256": 0o600}, got); diff != "" {
			t.Errorf("cache directory (-want +got):\n%s", diff)
		}
	})
	t.Run("without a directory keeps nothing", func(t *testing.T) {
		var c download.Cache
		put(t, c, "content")
		if _, ok := c.Get(releaseURL); ok {
			t.Error("the zero Cache served a file")
		}
	})
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ name, url, suffix string }{
		{"ends in the URL's last path element", releaseURL, "-app.tar.gz"},
		{"leaves the query out", "https://example.com/a/b.yaml?token=x", "-b.yaml"},
		{"replaces what a file system may not take", "https://example.com/a/b%20c:d.yaml", "-b_20c_d.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := download.FileName(tc.url)
			if !strings.HasSuffix(got, tc.suffix) || len(got) != 24+len(tc.suffix) {
				t.Errorf("FileName(%q) = %q, want 24 hex digits and %q", tc.url, got, tc.suffix)
			}
		})
	}
	t.Run("differs for URLs with the same last element", func(t *testing.T) {
		if a, b := download.FileName("https://a.example/v1/app.tar.gz"), download.FileName("https://a.example/v2/app.tar.gz"); a == b {
			t.Errorf("both %q", a)
		}
	})
}

func put(t *testing.T, c download.Cache, content string) {
	t.Helper()
	if err := c.Put(releaseURL, []byte(content)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
