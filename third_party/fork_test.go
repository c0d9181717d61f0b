// Package thirdparty holds the modules gitsync builds from a patched copy;
// README.md says which and why. Its test holds each copy to the released
// module plus the patch beside it, so nothing else can drift in.
package thirdparty

import (
	"bytes"
	"encoding/json"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKustomizeAPIIsTheReleasePlusThePatch downloads the kustomize/api
// release go.mod requires, formats it as gofmt does (the release predates
// Go 1.26's doc comment rules), applies kustomize-api.patch and compares the
// result with kustomize-api/, file by file.
func TestKustomizeAPIIsTheReleasePlusThePatch(t *testing.T) {
	checkPatchedCopy(t, "sigs.k8s.io/kustomize/api", "", "kustomize-api", "testutils/")
}

// TestJSONSchemaIsTheReleasePlusThePatch does the same for
// santhosh-tekuri/jsonschema and jsonschema.patch.
func TestJSONSchemaIsTheReleasePlusThePatch(t *testing.T) {
	checkPatchedCopy(t, "github.com/santhosh-tekuri/jsonschema/v6", "", "jsonschema", "testdata/")
}

// TestTemplateIsTheReleasePlusThePatch does the same for DataDog's copy of
// text/template and html/template and template.patch.
func TestTemplateIsTheReleasePlusThePatch(t *testing.T) {
	checkPatchedCopy(t, "github.com/DataDog/datadog-agent/pkg/template", "", "template")
}

// TestHelmEngineIsTheReleasePlusThePatch does the same for Helm's
// pkg/engine and helmengine.patch.
func TestHelmEngineIsTheReleasePlusThePatch(t *testing.T) {
	checkPatchedCopy(t, "helm.sh/helm/v4", "pkg/engine", "helmengine")
}

// checkPatchedCopy holds the directory fork to the directory sub of the
// release of module that go.mod requires, formatted as gofmt does, with
// fork.patch applied: every file of fork is that (its LICENSE is the
// module's), and every Go file of the release a build uses (none under the
// directories skip names) is in fork.
func checkPatchedCopy(t *testing.T, module, sub, fork string, skip ...string) {
	t.Helper()
	version := required(t, module)

	root := download(t, module, version)
	release := filepath.Join(root, sub)
	patch, err := filepath.Abs(fork + ".patch")
	if err != nil {
		t.Fatal(err)
	}
	diff, err := os.ReadFile(patch)
	if err != nil {
		t.Fatal(err)
	}

	files := filesUnder(t, fork)
	expected := t.TempDir()
	for _, name := range files {
		if bytes.Contains(diff, []byte("--- /dev/null\n+++ b/"+name+"\n")) {
			continue // the patch adds it
		}
		from := filepath.Join(release, name)
		if name == "LICENSE" {
			from = filepath.Join(root, name)
		}
		data, err := os.ReadFile(from)
		if err != nil {
			t.Errorf("%s/%s is not in the release %s@%s: %v", fork, name, module, version, err)
			continue
		}
		if strings.HasSuffix(name, ".go") {
			if data, err = gofmt(data); err != nil {
				t.Fatalf("gofmt the release's %s: %v", name, err)
			}
		}
		writeFile(t, filepath.Join(expected, name), data)
	}
	if t.Failed() {
		return
	}
	apply := exec.Command("git", "apply", patch)
	apply.Dir = expected
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("git apply %s to %s@%s: %v\n%s", patch, module, version, err, out)
	}
	for _, name := range files {
		want, _ := os.ReadFile(filepath.Join(expected, name))
		got, _ := os.ReadFile(filepath.Join(fork, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s is not %s@%s with %s.patch applied: regenerate the patch (README.md)", fork, name, module, version, fork)
		}
	}

	// Every Go file of the release that a build uses is in the copy.
	for _, name := range filesUnder(t, release) {
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !slices.ContainsFunc(skip, func(dir string) bool { return strings.HasPrefix(name, dir) }) {
			if _, err := os.Stat(filepath.Join(fork, name)); err != nil {
				t.Errorf("%s/%s is missing: copy it from the release (README.md)", fork, name)
			}
		}
	}
}

// sopsStandIns are the packages of third_party/sops that are gitsync's own
// stand-ins for SOPS's (README.md): each is one file, standin.go.
var sopsStandIns = []string{"audit", "azkv", "config", "gcpkms", "hckms", "hcvault", "internal/standin", "keyservice", "kms", "pgp"}

// TestSOPSIsTheReleaseWithStandIns downloads the SOPS release go.mod
// requires and checks that every package of sops/ but the stand-ins is the
// release's, file for file (formatted as gofmt does), and complete; go.mod
// and go.sum are the release's tidied for the packages copied.
func TestSOPSIsTheReleaseWithStandIns(t *testing.T) {
	const module = "github.com/getsops/sops/v3"
	version := required(t, module)
	release := download(t, module, version)
	fork := "sops"
	standIn := func(name string) bool {
		for _, dir := range sopsStandIns {
			if filepath.Dir(name) == dir {
				return true
			}
		}
		return false
	}
	copied := map[string]bool{}
	for _, name := range filesUnder(t, fork) {
		switch {
		case standIn(name):
			if filepath.Base(name) != "standin.go" {
				t.Errorf("%s/%s: a stand-in package is one file, standin.go", fork, name)
			}
		case name == "go.mod" || name == "go.sum":
		default:
			copied[filepath.Dir(name)] = true
			want, err := os.ReadFile(filepath.Join(release, name))
			if err != nil {
				t.Errorf("%s/%s is not in the release %s@%s: %v", fork, name, module, version, err)
				continue
			}
			if strings.HasSuffix(name, ".go") {
				if want, err = gofmt(want); err != nil {
					t.Fatalf("gofmt the release's %s: %v", name, err)
				}
			}
			if got, _ := os.ReadFile(filepath.Join(fork, name)); !bytes.Equal(got, want) {
				t.Errorf("%s/%s differs from the release %s@%s: copy it again (README.md)", fork, name, module, version)
			}
		}
	}
	for _, name := range filesUnder(t, release) {
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && copied[filepath.Dir(name)] {
			if _, err := os.Stat(filepath.Join(fork, name)); err != nil {
				t.Errorf("%s/%s is missing: copy it from the release (README.md)", fork, name)
			}
		}
	}
	for _, dir := range sopsStandIns {
		if _, err := os.Stat(filepath.Join(fork, dir, "standin.go")); err != nil {
			t.Errorf("stand-in %s: %v", dir, err)
		}
	}
}

// download fetches module@version from the module proxy and returns its
// directory in the module cache.
func download(t *testing.T, module, version string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = t.TempDir() // outside gitsync's module, so its replace does not apply
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s@%s: %v\n%s", module, version, err, out)
	}
	var release struct{ Dir string }
	if err := json.Unmarshal(out, &release); err != nil || release.Dir == "" {
		t.Fatalf("go mod download %s@%s printed no directory: %v\n%s", module, version, err, out)
	}
	return release.Dir
}

// gofmt formats Go source as gofmt -w does, run until nothing changes: a
// doc comment can take two passes.
func gofmt(src []byte) ([]byte, error) {
	for {
		out, err := format.Source(src)
		if err != nil || bytes.Equal(out, src) {
			return out, err
		}
		src = out
	}
}

// required returns the version of module that gitsync's go.mod requires.
func required(t *testing.T, module string) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

// filesUnder lists the regular files under dir, relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
