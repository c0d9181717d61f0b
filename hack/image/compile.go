package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// compile builds the static gitsync binary for linux/o.GOARCH into dir and
// returns its path. The flags are the Dockerfile's: CGO off, -trimpath, no
// symbol table, version and commit linked in. GOFLAGS from the environment is
// ignored so that a developer's settings cannot change the image.
func compile(ctx context.Context, o Options, dir string) (string, error) {
	out := filepath.Join(dir, binaryPath)
	ldflags := fmt.Sprintf("-s -w -X %s=%s -X %s=%s", versionVar, o.Version, commitVar, o.Commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags, "-o", out, "./cmd/gitsync")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.GOARCH, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gitsync (GOOS=linux GOARCH=%s): %w\n%s", o.GOARCH, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
