package charts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// The media types of a chart in an OCI registry (helm's pkg/registry).
const (
	ConfigMediaType     types.MediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartLayerMediaType types.MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Registry is an OCI registry (go-containerregistry's, in memory) serving plain
// HTTP on 127.0.0.1, which Push fills with charts as `helm push` does.
type Registry struct {
	Host string // 127.0.0.1:port
	URL  string // oci://127.0.0.1:port, what helm takes (with --plain-http)

	log requestLog
}

// StartRegistry serves an empty OCI registry on 127.0.0.1 until the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{}
	srv := httptest.NewServer(r.log.record(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	r.URL = "oci://" + r.Host
	return r
}

// Requests returns the path of every request the registry has received so
// far, in order: "/v2/", "/v2/charts/app/manifests/1.0.0", ….
func (r *Registry) Requests() []string { return r.log.list() }

// Push packages the chart directory dir at version (see Package) and pushes it
// as `helm push` does to Host/repository/<chart name>:<tag>, the tag being the
// version with "+" replaced by "_" (OCI tags cannot hold "+"): an OCI image
// manifest whose config is the chart's Chart.yaml as JSON and whose one layer
// is the archive, annotated like helm's. The manifest's created annotation is
// SourceDateEpoch, so pushes are reproducible. It returns the manifest digest.
func (r *Registry) Push(t testing.TB, repository, dir, version string) string {
	t.Helper()
	archive := Package(t, dir, version)
	img, meta, err := chartImage(archive)
	if err != nil {
		t.Fatalf("charts: make the OCI manifest of %s at %s: %v", dir, version, err)
	}
	ref, err := name.NewTag(fmt.Sprintf("%s/%s/%s:%s", r.Host, repository, meta.Name, strings.ReplaceAll(version, "+", "_")), name.Insecure)
	if err != nil {
		t.Fatalf("charts: %v", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("charts: push %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatalf("charts: digest of %s: %v", ref, err)
	}
	return digest.String()
}

// chartImage is the chart archive as helm's registry.Client.Push lays it out.
func chartImage(archive []byte) (v1.Image, *chart.Metadata, error) {
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, nil, err
	}
	config, err := json.Marshal(ch.Metadata)
	if err != nil {
		return nil, nil, err
	}
	a := &artifact{config: config, layer: static.NewLayer(archive, ChartLayerMediaType)}
	configDesc, err := partial.Descriptor(static.NewLayer(config, ConfigMediaType))
	if err != nil {
		return nil, nil, err
	}
	layerDesc, err := partial.Descriptor(a.layer)
	if err != nil {
		return nil, nil, err
	}
	created := time.Unix(SourceDateEpoch, 0).UTC().Format(time.RFC3339)
	a.manifest, err = json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        *configDesc,
		Layers:        []v1.Descriptor{*layerDesc},
		Annotations:   annotations(ch.Metadata, created),
	})
	if err != nil {
		return nil, nil, err
	}
	img, err := partial.CompressedToImage(a)
	return img, ch.Metadata, err
}

// artifact is a manifest with a config that is not an image's and one layer.
type artifact struct {
	manifest, config []byte
	layer            v1.Layer
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := a.layer.Digest(); err != nil || d != h {
		return nil, fmt.Errorf("the chart manifest has no layer %s", h)
	}
	return a.layer, nil
}

// annotations are the manifest annotations helm push writes (helm's
// generateOCIAnnotations): the OCI ones it derives from Chart.yaml, then the
// chart's own annotations, which cannot override the title or the version.
func annotations(meta *chart.Metadata, created string) map[string]string {
	const oci = "org.opencontainers.image."
	ann := map[string]string{}
	set := func(key, value string) {
		if strings.TrimSpace(value) != "" {
			ann[key] = value
		}
	}
	set(oci+"description", meta.Description)
	set(oci+"title", meta.Name)
	set(oci+"version", meta.Version)
	set(oci+"url", meta.Home)
	set(oci+"created", created)
	if len(meta.Sources) > 0 {
		set(oci+"source", meta.Sources[0])
	}
	set(oci+"authors", authors(meta.Maintainers))
	for k, v := range meta.Annotations {
		if k != oci+"title" && k != oci+"version" {
			ann[k] = v
		}
	}
	return ann
}

// authors is "Name (email), Name (email)", as helm writes the maintainers.
func authors(maintainers []*chart.Maintainer) string {
	var parts []string
	for _, m := range maintainers {
		s := m.Name
		if m.Email != "" {
			s += " (" + m.Email + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
