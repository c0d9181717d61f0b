package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Result describes the image written.
type Result struct {
	// Out is the tarball: a `docker save` archive (manifest.json, config, layers).
	Out string
	// Tags are the names `docker load` gives the image.
	Tags []string
	// Digest is the image manifest's digest: the digest a registry reports
	// after `crane push Out REF` (Docker v2 schema 2 media types).
	Digest v1.Hash
	// ConfigDigest is what `docker load` reports as the image ID.
	ConfigDigest v1.Hash
	// Size is the tarball's size in bytes.
	Size int64
	// Platform is linux/GOARCH.
	Platform string
}

// Build compiles gitsync and writes the image tarball: a pipeline of
// compile → layers → config → write.
func Build(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	base, err := baseEntries(o.CACerts) // fail on a missing CA bundle before compiling
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gitsync-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin, err := compile(ctx, o, tmp)
	if err != nil {
		return nil, err
	}
	img, err := assemble(o, base, bin)
	if err != nil {
		return nil, err
	}
	return write(o, img)
}

// assemble makes the image from scratch: a base layer, the binary's layer,
// and the run configuration.
func assemble(o Options, base []entry, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	baseLayer, err := layer(base, o.Created)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]entry{{name: binaryPath, mode: 0o755, data: data}}, o.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created}
	img, err := mutate.ConfigFile(empty.Image, configFile(o))
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: baseLayer, History: v1.History{Created: created, CreatedBy: "hack/image: /etc/passwd, /etc/group, CA certificates, /home/nonroot, /tmp"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created, CreatedBy: "hack/image: /gitsync (go build, CGO_ENABLED=0, -trimpath)"}},
	)
}

// configFile is the image configuration, the same as the Dockerfile's.
func configFile(o Options) *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: o.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: o.Created},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{"/" + binaryPath},
			User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
			WorkingDir: "/",
			Env:        []string{"SSL_CERT_FILE=" + debianCABundle},
			Labels: map[string]string{
				"org.opencontainers.image.source":   o.Source,
				"org.opencontainers.image.version":  o.Version,
				"org.opencontainers.image.revision": o.Commit,
				"org.opencontainers.image.title":    "gitsync",
			},
		},
	}
}

// write writes img under its tags to a temporary file beside o.Out and
// renames it, so a failed build never leaves half a tarball.
func write(o Options, img v1.Image) (*Result, error) {
	refs := map[name.Reference]v1.Image{}
	for _, t := range o.Tags {
		tag, err := name.NewTag(t, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("--tag %q: %w", t, err)
		}
		refs[tag] = img
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(o.Out), ".gitsync-image-*.tar")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(f.Name(), o.Out); err != nil {
		return nil, err
	}
	return describe(o, img)
}

func describe(o Options, img v1.Image) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(o.Out)
	if err != nil {
		return nil, err
	}
	return &Result{Out: o.Out, Tags: o.Tags, Digest: digest, ConfigDigest: cfg, Size: st.Size(), Platform: "linux/" + o.GOARCH}, nil
}
