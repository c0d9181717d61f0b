package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gitsync-io/gitsync/pkg/sync/chart"
)

// helmFlags name a Helm chart to render, as the config file's helm: does.
type helmFlags struct {
	chart, url, repo, name, version string
	release, namespace              string
	values, set                     []string
	includeCRDs, plainHTTP          bool
	username, passwordFile          string
}

func (h *helmFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.chart, "helm-chart", "", "render this chart directory of the repository (alone without --path; with --path, as the first resource of its kustomization)")
	fs.StringVar(&h.url, "helm-chart-url", "", "render the chart archive at this URL, optionally pinned as URL#sha256=<hex>")
	fs.StringVar(&h.repo, "helm-repo", "", "render a chart of this repository: https://… (index.yaml) or oci://registry/path, with --helm-name")
	fs.StringVar(&h.name, "helm-name", "", "the chart's name in --helm-repo")
	fs.StringVar(&h.version, "helm-version", "", `the chart's version in --helm-repo, or a range such as ">=4.11.0 <5" (the newest match; default the newest)`)
	fs.StringVar(&h.release, "helm-release", "", "release name (default: the chart's name)")
	fs.StringVar(&h.namespace, "helm-namespace", "", "release namespace (default: --namespace)")
	fs.StringArrayVar(&h.values, "helm-values", nil, "values file of the repository (repeatable, merged in order)")
	fs.StringArrayVar(&h.set, "helm-set", nil, "set a value, as helm --set takes it: a.b=c (repeatable)")
	fs.BoolVar(&h.includeCRDs, "helm-include-crds", true, "apply the chart's crds/ too")
	fs.BoolVar(&h.plainHTTP, "helm-plain-http", false, "reach an oci:// --helm-repo over http")
	fs.StringVar(&h.username, "helm-username", "", "user name for --helm-repo or --helm-chart-url (the password comes from --helm-password-file)")
	fs.StringVar(&h.passwordFile, "helm-password-file", "", "file holding the password or token for --helm-repo or --helm-chart-url")
}

// spec returns the chart the flags name, nil if none.
func (h *helmFlags) spec() (*chart.Spec, error) {
	if h.chart == "" && h.url == "" && h.repo == "" {
		if h.name != "" || h.version != "" || len(h.values) > 0 || len(h.set) > 0 || h.release != "" {
			return nil, errors.New("--helm-* flags without a chart: give --helm-chart, --helm-chart-url or --helm-repo")
		}
		return nil, nil
	}
	s := &chart.Spec{Path: h.chart, URL: h.url, Repo: h.repo, Name: h.name, Version: h.version, PlainHTTP: h.plainHTTP,
		ReleaseName: h.release, Namespace: h.namespace, ValuesFiles: h.values, Set: h.set, IncludeCRDs: h.includeCRDs}
	if h.passwordFile != "" {
		p, err := readSecret("--helm-password-file", h.passwordFile)
		if err != nil {
			return nil, err
		}
		s.Auth.Password = p
	}
	s.Auth.Username = h.username
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("--helm-*: %w", err)
	}
	return s, nil
}
