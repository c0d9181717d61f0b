package aptrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// TestRepository serves a repository of one small package and reads it as apt does: the
// signature of InRelease against Release.key, Packages against its digest in Release, and
// the package against its digest in Packages.
func TestRepository(t *testing.T) {
	deb := Deb{Package: "kubectl", Version: "1.37.2-1.1", Architecture: "amd64", Path: filepath.Join(t.TempDir(), "kubectl.deb"),
		Control: "Package: kubectl\nVersion: 1.37.2-1.1\nArchitecture: amd64\n"}
	if err := os.WriteFile(deb.Path, []byte("not really a deb"), 0o644); err != nil {
		t.Fatal(err)
	}
	signer, other := NewKey(t, "signer"), NewKey(t, "other")
	s := Serve(t, netip.MustParseAddr("127.0.0.1"),
		Repository{Minor: "v1.37", Debs: []Deb{deb}, Signer: signer},
		Repository{Minor: "v1.38", Debs: []Deb{deb}, Signer: other, Published: signer})

	t.Run("InRelease verifies with Release.key and lists Packages, which lists the package", func(t *testing.T) {
		release := verify(t, s.URL+"/v1.37/deb/")
		packages := get(t, s.URL+"/v1.37/deb/Packages")
		if !strings.Contains(release, " "+digest(packages)+fmt.Sprintf(" %d Packages\n", len(packages))) {
			t.Errorf("Release does not list Packages' digest and size:\n%s", release)
		}
		if want := "Filename: amd64/kubectl_1.37.2-1.1_amd64.deb\nSize: 16\nSHA256: " + digest("not really a deb"); !strings.Contains(packages, want) {
			t.Errorf("Packages lacks %q:\n%s", want, packages)
		}
		if got := get(t, s.URL+"/v1.37/deb/amd64/kubectl_1.37.2-1.1_amd64.deb"); got != "not really a deb" {
			t.Errorf("the package: %q", got)
		}
	})
	t.Run("a repository signed by another key than Release.key does not verify", func(t *testing.T) {
		block, _ := clearsign.Decode([]byte(get(t, s.URL+"/v1.38/deb/InRelease")))
		keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(get(t, s.URL+"/v1.38/deb/Release.key")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := block.VerifySignature(keys, nil); err == nil {
			t.Error("the signature verified")
		}
	})
	t.Run("requests are recorded, what is missing is not found", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/v1.39/deb/InRelease")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last := s.Requests()[len(s.Requests())-1]
		if resp.StatusCode != http.StatusNotFound || last.Path != "/v1.39/deb/InRelease" || last.Status != http.StatusNotFound ||
			last.From != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("status %d, last request %+v", resp.StatusCode, last)
		}
	})
}

// verify checks InRelease's signature against Release.key and returns the signed text.
func verify(t *testing.T, dir string) string {
	t.Helper()
	block, _ := clearsign.Decode([]byte(get(t, dir+"InRelease")))
	if block == nil {
		t.Fatal("InRelease is not clear-signed")
	}
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(get(t, dir+"Release.key")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := block.VerifySignature(keys, nil); err != nil {
		t.Fatalf("InRelease: %v", err)
	}
	if release := get(t, dir+"Release"); release != string(block.Plaintext)+"\n" && release != string(block.Plaintext) {
		t.Errorf("Release differs from what InRelease signs:\n%s\n---\n%s", release, block.Plaintext)
	}
	return string(block.Plaintext)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
