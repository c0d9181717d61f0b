package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
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
// SSH, and needs no internet access, no curl and no wget. Verified files are kept in dir,
// keyed by URL (a release URL names a version, whose files do not change), so a later run,
// or another node, uses them without downloading again. Safe for concurrent use: nodes
// applying at once download each file once.
type releaseFetcher struct {
	client *http.Client
	dir    string // the cache; "" keeps nothing

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
		client: &http.Client{Timeout: 15 * time.Minute},
		dir:    dir,
	}
}

// get returns the verified content of r, from the cache or downloaded.
func (f *releaseFetcher) get(ctx context.Context, r release) ([]byte, error) {
	unlock := f.lock(r.URL)
	defer unlock()
	if data, ok := f.cached(r.URL); ok {
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
	if got := sha256Hex(data); got != want {
		return nil, fmt.Errorf("%s: sha256 %s, but %s says %s: a damaged download, or a mirror serving other files than upstream", r.URL, got, r.SumURL, want)
	}
	f.keep(r.URL, data, want)
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the URL
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s (is the version released, and does the mirror hold it?)", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(data)) > limit:
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
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

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// The cache holds, per URL, the file (KEY-NAME) and the SHA-256 it was verified against
// (KEY-NAME.sha256); KEY is a digest of the URL. A file that no longer matches is fetched
// again.

func (f *releaseFetcher) cachePath(u string) string {
	return filepath.Join(f.dir, sha256Hex([]byte(u))[:16]+"-"+path.Base(u))
}

func (f *releaseFetcher) cached(u string) ([]byte, bool) {
	if f.dir == "" {
		return nil, false
	}
	p := f.cachePath(u)
	want, err := os.ReadFile(p + ".sha256")
	if err != nil {
		return nil, false
	}
	data, err := os.ReadFile(p)
	if err != nil || sha256Hex(data) != strings.TrimSpace(string(want)) {
		return nil, false
	}
	return data, true
}

// keep stores a verified file; a cache that cannot be written only costs a download later.
func (f *releaseFetcher) keep(u string, data []byte, sum string) {
	if f.dir == "" || os.MkdirAll(f.dir, 0o755) != nil {
		return
	}
	p := f.cachePath(u)
	if writeAtomic(p, data) == nil {
		_ = writeAtomic(p+".sha256", []byte(sum+"\n"))
	}
}

// writeAtomic writes through a temporary file and a rename: another gitsync reading the
// cache sees the whole file or none.
func writeAtomic(p string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}
