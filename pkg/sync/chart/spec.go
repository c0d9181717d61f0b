package chart

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// Spec is a chart to render and how: where it comes from (one of Path, URL,
// or Repo with Name), and the release it is rendered as.
type Spec struct {
	// Path is the chart's directory in the repository.
	Path string `json:"path,omitempty"`
	// URL is a chart archive: https://host/name-1.2.3.tgz, optionally pinned
	// as …#sha256=<hex>.
	URL string `json:"url,omitempty"`
	// Repo is a chart repository, https://… (serving index.yaml) or
	// oci://host/path; Name is the chart in it.
	Repo string `json:"repo,omitempty"`
	Name string `json:"name,omitempty"`
	// Version is an exact version or a semver range (the newest match);
	// empty means the newest.
	Version string `json:"version,omitempty"`
	// PlainHTTP reaches an oci:// registry over http, not https.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Auth authenticates to Repo or URL.
	Auth Auth `json:"-"`

	// ReleaseName is .Release.Name; default the chart's name.
	ReleaseName string `json:"releaseName,omitempty"`
	// Namespace is .Release.Namespace.
	Namespace string `json:"namespace,omitempty"`
	// ValuesFiles are files of the repository, merged in order.
	ValuesFiles []string `json:"values,omitempty"`
	// Set are --set assignments (a.b=c, typed as helm types them), applied
	// in order after the files; SetLiteral are --set-literal ones (the value
	// a string, as written), applied after those.
	Set        []string `json:"set,omitempty"`
	SetLiteral []string `json:"setLiteral,omitempty"`
	// IncludeCRDs renders the chart's crds/ directory too.
	IncludeCRDs bool `json:"includeCRDs,omitempty"`
}

// Auth is a user name and password (or token) for a chart repository or
// registry. It never appears in messages.
type Auth struct {
	Username, Password string
}

// Validate checks that s names one chart and a valid release; each error
// names the field.
func (s Spec) Validate() error {
	var errs []error
	sources := 0
	for _, set := range []bool{s.Path != "", s.URL != "", s.Repo != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		errs = append(errs, errors.New("give one of chart (a directory of the repository), url (an archive), or repo with name"))
	case s.Path != "" && !local(s.Path):
		errs = append(errs, fmt.Errorf("chart %q: must be a directory inside the repository", s.Path))
	case s.Repo != "" && s.Name == "":
		errs = append(errs, fmt.Errorf("name: required with repo %s", s.Repo))
	case s.Repo != "" && !strings.HasPrefix(s.Repo, "oci://") && !isHTTP(s.Repo):
		errs = append(errs, fmt.Errorf("repo %q: want https://… (a chart repository) or oci://… (a registry)", s.Repo))
	case s.URL != "" && !isHTTP(s.URL):
		errs = append(errs, fmt.Errorf("url %q: want an http(s) URL of a chart archive", s.URL))
	}
	if s.Version != "" && s.Repo == "" {
		errs = append(errs, errors.New("version: only with repo (a directory or an archive has its own)"))
	}
	if s.ReleaseName != "" {
		if err := chartutil.ValidateReleaseName(s.ReleaseName); err != nil {
			errs = append(errs, fmt.Errorf("releaseName %q: %w", s.ReleaseName, err))
		}
	}
	for _, f := range s.ValuesFiles {
		if !local(f) {
			errs = append(errs, fmt.Errorf("values %q: must be a file inside the repository", f))
		}
	}
	for _, a := range slices.Concat(s.Set, s.SetLiteral) {
		if !strings.Contains(a, "=") {
			errs = append(errs, fmt.Errorf("set %q: want key=value", a))
		}
	}
	return errors.Join(errs...)
}

// String names the chart in messages: its source, without credentials.
func (s Spec) String() string {
	switch {
	case s.Path != "":
		return "chart " + s.Path
	case s.URL != "":
		return "chart " + redact(strings.SplitN(s.URL, "#", 2)[0])
	}
	v := s.Version
	if v == "" {
		v = "newest"
	}
	return fmt.Sprintf("chart %s %s from %s", s.Name, v, redact(s.Repo))
}

// local reports whether p is a relative path that stays inside its root.
func local(p string) bool {
	return !filepath.IsAbs(p) && filepath.IsLocal(path.Clean(filepath.ToSlash(p)))
}
