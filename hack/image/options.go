package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Options say what to build and where to put it.
type Options struct {
	// Root is the main module's directory (where go.mod is).
	Root string
	// Out is the tarball to write; its directory is created.
	Out string
	// Tags name the image in the tarball: what `docker load` tags it as.
	Tags []string
	// GOARCH is the target architecture; the OS is always linux.
	GOARCH string
	// Version and Commit are linked into the binary (`gitsync version`) and
	// become the org.opencontainers.image.version and .revision labels.
	Version, Commit string
	// Created is the image's creation time and every file's modification time.
	Created time.Time
	// CACerts is the CA bundle copied to /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Source is the org.opencontainers.image.source label.
	Source string
}

// Image layout and metadata shared with the Dockerfile.
const (
	defaultTag     = "ghcr.io/gitsync-io/gitsync:latest"
	defaultSource  = "https://github.com/gitsync-io/gitsync"
	debianCABundle = "/etc/ssl/certs/ca-certificates.crt"
	binaryPath     = "gitsync" // in the image: /gitsync
	nonroot        = 65532
	versionVar     = "github.com/gitsync-io/gitsync/internal/version.Version"
	commitVar      = "github.com/gitsync-io/gitsync/internal/version.Commit"
)

// DefaultOptions describes the checkout that contains dir the way the
// Makefile does: version from `git describe --tags --always --dirty`, commit
// from `git rev-parse --short HEAD`, and the creation time from
// SOURCE_DATE_EPOCH, else the commit time, else the Unix epoch.
func DefaultOptions(ctx context.Context, dir string) (Options, error) {
	root, err := moduleRoot(ctx, dir)
	if err != nil {
		return Options{}, err
	}
	created, err := creationTime(ctx, root)
	if err != nil {
		return Options{}, err
	}
	goarch := os.Getenv("GOARCH")
	if goarch == "" {
		goarch = "amd64"
	}
	return Options{
		Root:    root,
		Out:     filepath.Join(root, "bin", "gitsync-image.tar"),
		Tags:    []string{defaultTag},
		GOARCH:  goarch,
		Version: gitOr(ctx, root, "dev", "describe", "--tags", "--always", "--dirty"),
		Commit:  gitOr(ctx, root, "unknown", "rev-parse", "--short", "HEAD"),
		Created: created,
		CACerts: debianCABundle,
		Source:  defaultSource,
	}, nil
}

// Validate reports the first option that cannot work, naming its flag.
func (o Options) Validate() error {
	switch {
	case o.Out == "":
		return errors.New("--out: give the tarball to write, e.g. --out bin/gitsync-image.tar")
	case len(o.Tags) == 0:
		return errors.New("--tag: give at least one tag, e.g. --tag " + defaultTag)
	case o.GOARCH == "":
		return errors.New("--goarch: give the target architecture, e.g. --goarch amd64")
	case strings.ContainsAny(o.Version+o.Commit, " \t\n'\""):
		return fmt.Errorf("--version %q / --commit %q: no spaces or quotes (they go into -ldflags)", o.Version, o.Commit)
	}
	for _, t := range o.Tags {
		if _, err := name.NewTag(t, name.StrictValidation); err != nil {
			return fmt.Errorf("--tag %q: %w; give name:tag, e.g. %s", t, err, defaultTag)
		}
	}
	return nil
}

// moduleRoot is the directory of the main module's go.mod, as seen from dir.
func moduleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s is not inside the gitsync module: run from the repository", dir)
	}
	return filepath.Dir(gomod), nil
}

// creationTime is SOURCE_DATE_EPOCH if set, else HEAD's commit time, else 0.
func creationTime(ctx context.Context, root string) (time.Time, error) {
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		epoch = gitOr(ctx, root, "0", "log", "-1", "--format=%ct")
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970 (e.g. $(git log -1 --format=%%ct))", epoch)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// gitOr runs git in dir and returns its trimmed output, or fallback when git
// fails (no git, or not a checkout: a source tarball still builds).
func gitOr(ctx context.Context, dir, fallback string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if s := strings.TrimSpace(string(out)); err == nil && s != "" {
		return s
	}
	return fallback
}
