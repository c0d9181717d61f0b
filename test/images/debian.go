package images

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gitsync-io/gitsync/pkg/atomicfile"
	"github.com/gitsync-io/gitsync/pkg/download"
)

// debPackage is a binary package's entry in the archive's Packages index.
type debPackage struct {
	name, version, filename, sha256 string
}

// debianPackages reads the Packages index of the main component of suite and returns the
// entries of names.
func debianPackages(ctx context.Context, mirror, suite string, names ...string) (map[string]debPackage, error) {
	url := fmt.Sprintf("%s/dists/%s/main/binary-%s/Packages.gz", strings.TrimSuffix(mirror, "/"), suite, runtime.GOARCH)
	data, err := download.Get(ctx, url, downloadOptions)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := map[string]debPackage{}
	var cur debPackage
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if want[cur.name] {
				found[cur.name] = cur
			}
			cur = debPackage{}
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "Package":
			cur.name = v
		case "Version":
			cur.version = v
		case "Filename":
			cur.filename = v
		case "SHA256":
			cur.sha256 = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if want[cur.name] {
		found[cur.name] = cur
	}
	for _, n := range names {
		if _, ok := found[n]; !ok {
			return nil, fmt.Errorf("%s: no package %s", url, n)
		}
	}
	return found, nil
}

// fetchDeb downloads a package into dir (once: the file name holds its version) and checks
// its SHA-256 against the index.
func fetchDeb(ctx context.Context, mirror, dir string, p debPackage) (string, error) {
	out := filepath.Join(dir, filepath.Base(p.filename))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	url := strings.TrimSuffix(mirror, "/") + "/" + p.filename
	data, err := download.Get(ctx, url, downloadOptions)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if got := download.SHA256(data); got != p.sha256 {
		return "", fmt.Errorf("%s: SHA-256 %s, the index says %s", p.filename, got, p.sha256)
	}
	return out, atomicfile.Write(out, data, 0o644)
}

// downloadOptions bound the index (about 9 MiB) and a package.
var downloadOptions = download.Options{Timeout: 5 * time.Minute, MaxBytes: 256 << 20}

// unpackDeb extracts a package's files into dir, with dpkg-deb.
func unpackDeb(ctx context.Context, deb, dir string) error {
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "--extract", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb --extract %s: %v: %s", deb, err, out)
	}
	return nil
}
