package aptrepo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Repository is one minor version's repository, served at
// <base>/<Minor>/deb/ as pkgs.k8s.io serves it: a flat repository (apt's
// "deb URL /") with InRelease, Release, Release.gpg, Release.key and
// Packages, and the packages under <architecture>/.
type Repository struct {
	// Minor is the directory, "v1.37".
	Minor string
	Debs  []Deb
	// Signer signs Release (InRelease and Release.gpg).
	Signer *Key
	// Published is the key served at Release.key; nil means Signer. A
	// repository whose Published key is not its Signer does not verify.
	Published *Key
}

// file is one file of a repository: in memory, or on disk (a .deb).
type file struct {
	content []byte
	path    string
}

// files renders the repository, by path below its directory.
func (r Repository) files() (map[string]file, error) {
	files := map[string]file{}
	var packages strings.Builder
	for _, d := range r.Debs {
		name := d.Architecture + "/" + d.FileName()
		stanza, err := indexStanza(d, name)
		if err != nil {
			return nil, err
		}
		packages.WriteString(stanza + "\n")
		files[name] = file{path: d.Path}
	}
	files["Packages"] = file{content: []byte(packages.String())}
	release := releaseFile(r, files["Packages"].content)
	inRelease, err := r.Signer.clearsign(release)
	if err != nil {
		return nil, fmt.Errorf("sign InRelease: %w", err)
	}
	detached, err := r.Signer.detachSign(bytes.NewReader(release))
	if err != nil {
		return nil, fmt.Errorf("sign Release: %w", err)
	}
	published := r.Published
	if published == nil {
		published = r.Signer
	}
	files["Release"] = file{content: release}
	files["InRelease"] = file{content: inRelease}
	files["Release.gpg"] = file{content: detached}
	files["Release.key"] = file{content: []byte(published.Armored())}
	return files, nil
}

// indexStanza is the package's entry in Packages: its control file plus
// where it is, its size and digest.
func indexStanza(d Deb, name string) (string, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%sFilename: %s\nSize: %d\nSHA256: %s\n", d.Control, name, size, hex.EncodeToString(h.Sum(nil))), nil
}

// releaseFile lists the index with its digest; apt checks Packages against it.
func releaseFile(r Repository, packages []byte) []byte {
	sum := sha256.Sum256(packages)
	archs := map[string]bool{}
	var list []string
	for _, d := range r.Debs {
		if !archs[d.Architecture] {
			archs[d.Architecture] = true
			list = append(list, d.Architecture)
		}
	}
	return fmt.Appendf(nil, "Origin: gitsync tests\nLabel: Kubernetes %s (gitsync tests)\nArchitectures: %s\nDate: %s\nSHA256:\n %s %d Packages\n",
		r.Minor, strings.Join(list, " "), time.Now().UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(packages))
}
