package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkerDropsMethodsNothingCalls builds gitsync and checks that the
// linker removed the exported methods no code calls. One reachable call of
// reflect's Method or MethodByName with a name known only at run time (as in
// the standard library's text/template and html/template) makes it keep every
// exported method of every type: the binary grew from 45 to 73 MB, and every
// process holds more of it (third_party/README.md).
func TestLinkerDropsMethodsNothingCalls(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gitsync")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-dumpdep", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	var deps bytes.Buffer
	build.Stderr = &deps
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, tail(deps.String()))
	}

	// -dumpdep prints each reachable edge; a caller marked <ReflectMethod>
	// is what turns the pruning off.
	culprits := map[string]bool{}
	lines := bufio.NewScanner(&deps)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		if caller, _, ok := strings.Cut(lines.Text(), " <ReflectMethod> -> "); ok {
			culprits[caller] = true
		}
	}
	for caller := range culprits {
		t.Errorf("%s calls a method by a name known only at run time; find who reaches it with go build -ldflags=-dumpdep ./cmd/gitsync", caller)
	}

	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	symbols := string(out)
	if !strings.Contains(symbols, " k8s.io/api/core/v1.(*Pod).DeepCopyObject\n") {
		t.Fatalf("go tool nm does not list (*Pod).DeepCopyObject, which the scheme calls: is this the binary?")
	}
	if strings.Contains(symbols, " k8s.io/api/core/v1.Pod.SwaggerDoc\n") {
		t.Errorf("the binary holds Pod.SwaggerDoc, which nothing calls: the linker kept every exported method")
	}
}

// tail is the end of a long output.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
