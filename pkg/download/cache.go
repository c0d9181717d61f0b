package download

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
)

// Cache keeps downloaded files in a directory, one per URL (FileName), each next to the
// SHA-256 of the content it was stored with (the same name, plus .sha256): a file that no
// longer matches it is not served. A URL's file is never fetched again while it matches, so
// the URLs cached should name a release, not a branch. Files are replaced atomically:
// several gitsyncs may share the directory. The zero Cache keeps nothing.
type Cache struct {
	Dir string // created when missing; "" keeps nothing
}

// Path is where the cache keeps rawURL's file.
func (c Cache) Path(rawURL string) string { return filepath.Join(c.Dir, FileName(rawURL)) }

// Get returns the content kept for rawURL, if any and whole.
func (c Cache) Get(rawURL string) ([]byte, bool) {
	if c.Dir == "" {
		return nil, false
	}
	file := c.Path(rawURL)
	sum, err := os.ReadFile(file + ".sha256")
	if err != nil {
		return nil, false
	}
	data, err := os.ReadFile(file)
	if err != nil || SHA256(data) != strings.TrimSpace(string(sum)) {
		return nil, false
	}
	return data, true
}

// Put keeps data as rawURL's content.
func (c Cache) Put(rawURL string, data []byte) error {
	if c.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	file := c.Path(rawURL)
	if err := atomicfile.Write(file, data, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(file+".sha256", []byte(SHA256(data)+"\n"), 0o600)
}

// FileName names a URL's file: a digest of the URL, and its last path element for people
// looking, in characters safe in any file system.
func FileName(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return hex.EncodeToString(sum[:12]) + "-" + safeBase(rawURL)
}

func safeBase(rawURL string) string {
	base := path.Base(strings.SplitN(rawURL, "?", 2)[0])
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, base)
}

// SHA256 is the lowercase hex SHA-256 of data, as sha256sum prints it.
func SHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
