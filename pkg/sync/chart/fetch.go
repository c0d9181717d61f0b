package chart

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// Fetcher gets chart archives, through Mirrors, keeping each on disk by its
// URL and version: an exact version is fetched once, a range costs one read
// of the repository's index (or tag list) per render.
type Fetcher struct {
	// CacheDir holds the archives. Required.
	CacheDir string
	// Mirrors rewrite https:// and oci:// URLs before they are fetched.
	Mirrors []download.Mirror
	// Timeout bounds each request; zero means 60 seconds.
	Timeout time.Duration
	// Client makes the HTTP requests; nil means one that honours $HTTPS_PROXY.
	Client *http.Client
}

// The media types of a chart in an OCI registry, as Helm pushes it.
const (
	ociChartLayer  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	ociLegacyLayer = "application/tar+gzip" // Helm before 3.8 pushed these
)

// maxChartBytes bounds an archive and an index: Helm's own limit on a
// decompressed chart is 100 MiB, charts are a few hundred KiB.
const maxChartBytes = 32 << 20

// fetched is a chart archive fetched.
type fetched struct {
	data    []byte
	version string // the version picked, for a range
}

// FetchError is a chart that could not be fetched, or a version not found:
// both may come right without a commit (a network back, a chart pushed), so
// a sync retries.
type FetchError struct {
	Chart string // Spec.String()
	Err   error
}

func (e *FetchError) Error() string { return e.Chart + ": " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// fetch returns the archive of s, which names a URL or a repository.
func (f *Fetcher) fetch(ctx context.Context, s Spec) (fetched, error) {
	var a fetched
	var err error
	switch {
	case s.URL != "":
		a, err = f.fetchURL(ctx, s)
	case strings.HasPrefix(s.Repo, "oci://"):
		a, err = f.fetchOCI(ctx, s)
	default:
		a, err = f.fetchIndexed(ctx, s)
	}
	var mismatch *MismatchError
	if err != nil && !errors.As(err, &mismatch) {
		err = &FetchError{Chart: s.String(), Err: err}
	}
	return a, err
}

// MismatchError is an archive that does not match its pin or the digest the
// index gives: only trusting other content fixes it.
type MismatchError struct {
	Chart, Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: the archive served has sha256 %s, want %s; check what the repository (or your mirror) serves", e.Chart, e.Got, e.Want)
}

// Terminal says that retrying cannot help.
func (e *MismatchError) Terminal() bool { return true }

func (f *Fetcher) fetchURL(ctx context.Context, s Spec) (fetched, error) {
	raw, frag, _ := strings.Cut(s.URL, "#")
	want, err := pin(frag)
	if err != nil {
		return fetched{}, err
	}
	data, err := f.cached(ctx, raw, raw, want, s)
	return fetched{data: data}, err
}

// pin reads a #sha256=<hex> fragment.
func pin(frag string) (string, error) {
	if frag == "" {
		return "", nil
	}
	sum, ok := strings.CutPrefix(frag, "sha256=")
	if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fragment %q: the only fragment gitsync reads is #sha256=<64 hex digits>", frag)
	}
	return strings.ToLower(sum), nil
}

// cached returns the archive kept under key, else fetches it from u (through
// the mirrors), checks it against want (a sha256, or "") and keeps it.
func (f *Fetcher) cached(ctx context.Context, key, u, want string, s Spec) ([]byte, error) {
	cache := download.Cache{Dir: f.CacheDir}
	if data, ok := cache.Get(key); ok && (want == "" || sum(data) == want) {
		return data, nil
	}
	data, err := f.get(ctx, u, s)
	if err != nil {
		return nil, err
	}
	if want != "" && sum(data) != want {
		return nil, &MismatchError{Chart: s.String(), Want: want, Got: sum(data)}
	}
	if err := cache.Put(key, data); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	return data, nil
}

// get fetches u through the mirrors, with s's credentials.
func (f *Fetcher) get(ctx context.Context, u string, s Spec) ([]byte, error) {
	from := download.Rewrite(f.Mirrors, u)
	data, err := download.Get(ctx, from, download.Options{Client: f.Client, Timeout: f.timeout(), MaxBytes: maxChartBytes,
		Username: s.Auth.Username, Password: s.Auth.Password})
	if err != nil {
		where := "fetch " + redact(u)
		if from != u {
			where += " (from mirror " + redact(from) + ")"
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return data, nil
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return 60 * time.Second
}

// index is what gitsync reads of a chart repository's index.yaml (the file
// `helm repo index` writes): each chart's versions, where their archives
// are and their digests. Helm's own reader (helm.sh/helm/v4/pkg/repo) would
// link its plugin runtime and registry client.
type index struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
	} `json:"entries"`
}

// fetchIndexed picks the version from the repository's index, then fetches
// its archive. An exact version already on disk needs no index.
func (f *Fetcher) fetchIndexed(ctx context.Context, s Spec) (fetched, error) {
	key := strings.TrimSuffix(s.Repo, "/") + "/" + s.Name + "@"
	if exact(s.Version) {
		if data, ok := (download.Cache{Dir: f.CacheDir}).Get(key + s.Version); ok {
			return fetched{data: data, version: s.Version}, nil
		}
	}
	base := strings.TrimSuffix(s.Repo, "/") + "/"
	raw, err := f.get(ctx, base+"index.yaml", s)
	if err != nil {
		return fetched{}, err
	}
	var idx index
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return fetched{}, fmt.Errorf("%sindex.yaml: %w", redact(base), err)
	}
	entries := idx.Entries[s.Name]
	versions := make([]string, len(entries))
	for i, e := range entries {
		versions[i] = e.Version
	}
	i, err := choose(versions, s.Version)
	if err != nil {
		return fetched{}, fmt.Errorf("%sindex.yaml: %w", redact(base), err)
	}
	e := entries[i]
	if len(e.URLs) == 0 {
		return fetched{}, fmt.Errorf("%sindex.yaml: %s %s has no urls", redact(base), s.Name, e.Version)
	}
	u, err := resolve(base, e.URLs[0])
	if err != nil {
		return fetched{}, err
	}
	if !sameHost(base, u) { // as helm, credentials go to the repository's host only
		s.Auth = Auth{}
	}
	data, err := f.cached(ctx, key+e.Version, u, strings.TrimPrefix(e.Digest, "sha256:"), s)
	return fetched{data: data, version: e.Version}, err
}

// sameHost reports whether URLs a and b name the same scheme, host and port.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host
}

// resolve makes an index's archive URL absolute.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("archive URL %q: %w", ref, err)
	}
	return b.ResolveReference(r).String(), nil
}

// fetchOCI picks the version from the repository's tags, then pulls the
// chart layer of that tag's manifest.
func (f *Fetcher) fetchOCI(ctx context.Context, s Spec) (fetched, error) {
	ref := strings.TrimSuffix(download.Rewrite(f.Mirrors, s.Repo), "/") + "/" + s.Name
	key := strings.TrimSuffix(s.Repo, "/") + "/" + s.Name + "@"
	if exact(s.Version) {
		if data, ok := (download.Cache{Dir: f.CacheDir}).Get(key + s.Version); ok {
			return fetched{data: data, version: s.Version}, nil
		}
	}
	var opts []name.Option
	if s.PlainHTTP {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(strings.TrimPrefix(ref, "oci://"), opts...)
	if err != nil {
		return fetched{}, fmt.Errorf("repository %s: %w", ref, err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout())
	defer cancel()
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(f.authenticator(s))}
	if f.Client != nil && f.Client.Transport != nil {
		ropts = append(ropts, remote.WithTransport(f.Client.Transport))
	}
	version := s.Version
	if !exact(version) {
		tags, err := remote.List(repo, ropts...)
		if err != nil {
			return fetched{}, fmt.Errorf("list the tags of %s: %w", ref, err)
		}
		versions := make([]string, len(tags))
		for i, t := range tags {
			versions[i] = strings.ReplaceAll(t, "_", "+") // OCI tags cannot hold +
		}
		i, err := choose(versions, version)
		if err != nil {
			return fetched{}, fmt.Errorf("%s: %w", ref, err)
		}
		version = versions[i]
	}
	img, err := remote.Image(repo.Tag(strings.ReplaceAll(version, "+", "_")), ropts...)
	if err != nil {
		return fetched{}, fmt.Errorf("pull %s:%s: %w", ref, version, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fetched{}, fmt.Errorf("pull %s:%s: %w", ref, version, err)
	}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil || (mt != ociChartLayer && mt != ociLegacyLayer) {
			continue
		}
		rc, err := l.Compressed() // the archive itself; its digest is checked as it is read
		if err != nil {
			return fetched{}, fmt.Errorf("pull %s:%s: %w", ref, version, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxChartBytes+1))
		rc.Close()
		if err != nil {
			return fetched{}, fmt.Errorf("pull %s:%s: %w", ref, version, err)
		}
		if len(data) > maxChartBytes {
			return fetched{}, fmt.Errorf("pull %s:%s: the chart is over %d MiB", ref, version, maxChartBytes>>20)
		}
		if err := (download.Cache{Dir: f.CacheDir}).Put(key+version, data); err != nil {
			return fetched{}, fmt.Errorf("chart cache: %w", err)
		}
		return fetched{data: data, version: version}, nil
	}
	return fetched{}, fmt.Errorf("%s:%s holds no Helm chart (no layer of type %s)", ref, version, types.MediaType(ociChartLayer))
}

func (f *Fetcher) authenticator(s Spec) authn.Authenticator {
	if s.Auth.Username == "" && s.Auth.Password == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: s.Auth.Username, Password: s.Auth.Password}
}

// exact reports whether v names one version rather than a range.
func exact(v string) bool {
	_, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	return err == nil
}

// choose returns the index of the version in versions that constraint
// picks: one equal to it, else the newest that satisfies it (any, if it is
// empty). Versions that are not semver are ignored.
func choose(versions []string, constraint string) (int, error) {
	for i, v := range versions {
		if v == constraint {
			return i, nil
		}
	}
	c, err := semver.NewConstraint(cmpOr(constraint, "*"))
	if err != nil {
		return 0, fmt.Errorf("version %q is neither a version nor a range: %w", constraint, err)
	}
	best, newest := -1, (*semver.Version)(nil)
	for i, v := range versions {
		sv, err := semver.NewVersion(v)
		if err != nil || !c.Check(sv) {
			continue
		}
		if newest == nil || sv.GreaterThan(newest) {
			best, newest = i, sv
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("no version matches %q (it has %s)", cmpOr(constraint, "*"), describeVersions(versions))
	}
	return best, nil
}

func describeVersions(versions []string) string {
	if len(versions) == 0 {
		return "none"
	}
	const shown = 5
	s := strings.Join(versions[:min(shown, len(versions))], ", ")
	if len(versions) > shown {
		s += fmt.Sprintf(" and %d more", len(versions)-shown)
	}
	return s
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// redact hides a password in a URL's user info.
func redact(s string) string { return download.Redact(s) }

func isHTTP(s string) bool { return download.IsHTTP(s) }
