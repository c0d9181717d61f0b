package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// release is one file of a release and the checksum file published next to it, in
// sha256sum's format ("HEX  NAME" lines; containerd publishes one per tarball, runc one
// for all its binaries).
type release struct {
	URL    string
	SumURL string
}

// name is the file's name, as the checksum file lists it.
func (r release) name() string { return path.Base(r.URL) }

// Limits on what a download may be: containerd's tarball is about 30 MB, runc about 12 MB.
const (
	maxReleaseSize  = 512 << 20
	maxChecksumSize = 1 << 20
)

// releaseFetcher downloads release files on the machine running gitsync and verifies them
// against their published checksums: every node gets the same verified bytes, uploaded over
// SSH, and needs no internet access, no curl and no wget. Verified files are kept in cache,
// keyed by URL (a release URL names a version, whose files do not change), so a later run,
// or another node, uses them without downloading again. Safe for concurrent use: nodes
// applying at once download each file once.
type releaseFetcher struct {
	timeout time.Duration
	cache   download.Cache

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per URL
}

// newReleaseFetcher keeps its downloads under the user's cache directory, in
// gitsync/downloads, or nowhere when there is none.
func newReleaseFetcher() *releaseFetcher {
	dir := ""
	if cache, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(cache, "gitsync", "downloads")
	}
	return &releaseFetcher{
		// A whole download, tens of MB, over a slow line; ctx cancels it sooner.
		timeout: 15 * time.Minute,
		cache:   download.Cache{Dir: dir},
	}
}

// get returns the verified content of r, from the cache or downloaded.
func (f *releaseFetcher) get(ctx context.Context, r release) ([]byte, error) {
	unlock := f.lock(r.URL)
	defer unlock()
	if data, ok := f.cache.Get(r.URL); ok {
		return data, nil
	}
	sums, err := f.download(ctx, r.SumURL, maxChecksumSize)
	if err != nil {
		return nil, fmt.Errorf("%s: its checksum: %w", r.URL, err)
	}
	want, err := checksumOf(sums, r.name())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.SumURL, err)
	}
	data, err := f.download(ctx, r.URL, maxReleaseSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.URL, err)
	}
	if got := download.SHA256(data); got != want {
		return nil, fmt.Errorf("%s: sha256 %s, but %s says %s: a damaged download, or a mirror serving other files than upstream", r.URL, got, r.SumURL, want)
	}
	_ = f.cache.Put(r.URL, data) // a cache that cannot be written only costs a download later
	return data, nil
}

// lock serializes the fetches of one URL.
func (f *releaseFetcher) lock(u string) (unlock func()) {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[string]*sync.Mutex{}
	}
	l := f.locks[u]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[u] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (f *releaseFetcher) download(ctx context.Context, u string, limit int64) ([]byte, error) {
	data, err := download.Get(ctx, u, download.Options{Timeout: f.timeout, MaxBytes: limit})
	var status *download.StatusError
	if errors.As(err, &status) {
		return nil, fmt.Errorf("%w (is the version released, and does the mirror hold it?)", err)
	}
	return data, err
}

// checksumOf finds name's SHA-256 in sha256sum output ("HEX  NAME", or "HEX *NAME" for
// binary mode).
func checksumOf(sums []byte, name string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name && isSHA256(f[0]) {
			return strings.ToLower(f[0]), nil
		}
	}
	return "", fmt.Errorf("no SHA-256 of %s in it", name)
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
