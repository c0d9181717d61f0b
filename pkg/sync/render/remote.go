package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// Remote fetches the http(s) files that kustomizations list as resources, such as an upstream
// operator's manifests at a release URL. kustomize's own download is never used: Remote
// rewrites URLs through the mirror map, keeps what it fetched on disk keyed by the URL as
// written, and checks the sha256 a URL may carry as `#sha256=<hex>` (a fragment, so plain
// `kustomize build` still fetches the same URL).
//
// A file in the cache is never fetched again: give URLs that name a release, not a branch.
type Remote struct {
	// CacheDir holds fetched files, one per URL. Required.
	CacheDir string
	// Mirrors rewrite URLs before they are fetched; the longest matching From wins.
	Mirrors []Mirror
	// Timeout bounds each fetch; zero means DefaultRemoteTimeout.
	Timeout time.Duration
	// Client makes the requests; nil means one that honours $HTTPS_PROXY.
	Client *http.Client
	// NoFiles refuses every http(s) resource file, even one fetched before:
	// what a kustomization lists must then come from the repository. It is the
	// lockdown of a gitsync that teams share (Flux's --no-remote-bases), whose
	// repositories should not make gitsync's pod fetch from the network.
	NoFiles bool
	// Git fetches remote bases (kustomization entries naming a directory of a git
	// repository), whose URLs go through Mirrors too. Nil refuses them: remote bases are off
	// unless the caller turns them on.
	Git GitFetcher
}

// Mirror replaces the prefix From of a URL with To.
type Mirror = download.Mirror

const fixNoFiles = "this gitsync fetches no remote files (remote.files: false in its config, or --no-remote-files); " +
	"copy the file into the repository and list its path"

// DefaultRemoteTimeout bounds a fetch when Remote.Timeout is zero.
const DefaultRemoteTimeout = 30 * time.Second

// maxRemoteBytes bounds one remote file; upstream CRD bundles are a few MiB.
const maxRemoteBytes = 64 << 20

// ParseMirror parses FROM=TO, as --mirror takes it.
func ParseMirror(s string) (Mirror, error) { return download.ParseMirror(s) }

// pinned is a remote file reference: the URL to fetch and the sha256 it must have, if pinned.
type pinned struct {
	url    string // as written, without the pin
	sha256 string // lowercase hex, or ""
}

// parsePinned splits off a `#sha256=<hex>` fragment.
func parsePinned(raw string) (pinned, error) {
	u, frag, _ := strings.Cut(raw, "#")
	p := pinned{url: u}
	if frag == "" {
		return p, nil
	}
	sum, ok := strings.CutPrefix(frag, "sha256=")
	if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size {
		return p, fmt.Errorf("fragment %q: the only fragment gitsync reads is #sha256=<64 hex digits>", frag)
	}
	p.sha256 = strings.ToLower(sum)
	return p, nil
}

// Fetch returns the content of raw (a URL, optionally with #sha256=…): from the cache if it
// holds it, else from the (mirrored) URL, then cached. A pin that does not match is a terminal
// *Error; an unreachable URL is an *Error that is not terminal.
func (r *Remote) Fetch(ctx context.Context, raw string) ([]byte, error) {
	if r.NoFiles {
		return nil, &Error{Problem: RemoteRefused, Detail: fmt.Sprintf("resources entry %q would be fetched from the network", redact(raw)), Fix: fixNoFiles}
	}
	p, err := parsePinned(raw)
	if err != nil {
		return nil, &Error{Problem: RemoteMismatch, Detail: redact(raw) + ": " + err.Error(),
			Fix: "pin the file as <url>#sha256=<hex>, or drop the fragment"}
	}
	cache := download.Cache{Dir: r.CacheDir}
	if data, ok := cache.Get(p.url); ok && r.verify(p, "", data, "") == nil {
		return data, nil // a copy that no longer matches a (changed) pin is fetched again
	}
	from := r.rewrite(p.url)
	data, err := download.Get(ctx, from, r.downloadOptions())
	if err != nil {
		return nil, &Error{Problem: RemoteUnreachable, Detail: describeFetch(p.url, from) + ": " + err.Error(), Err: err,
			Fix: "check the network or the mirror (--mirror FROM=TO); gitsync retries"}
	}
	if err := r.verify(p, from, data, "the file served"); err != nil {
		return nil, err
	}
	if err := cache.Put(p.url, data); err != nil {
		return data, fmt.Errorf("remote cache: %w", err)
	}
	return data, nil
}

func (r *Remote) verify(p pinned, from string, data []byte, what string) error {
	if p.sha256 == "" {
		return nil
	}
	if got := contentAnswer(data); got != p.sha256 {
		return &Error{Problem: RemoteMismatch,
			Detail: fmt.Sprintf("%s: %s has sha256 %s, the pin says %s", describeFetch(p.url, from), what, got, p.sha256),
			Fix:    "check what the URL (or your mirror) serves; change the pin only if the new content is trusted"}
	}
	return nil
}

func (r *Remote) downloadOptions() download.Options {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultRemoteTimeout
	}
	return download.Options{Client: r.Client, Timeout: timeout, MaxBytes: maxRemoteBytes}
}

// rewrite applies the longest matching mirror.
func (r *Remote) rewrite(u string) string { return download.Rewrite(r.Mirrors, u) }

func describeFetch(u, from string) string {
	if from == "" || from == u {
		return "fetch " + redact(u)
	}
	return "fetch " + redact(u) + " (from mirror " + redact(from) + ")"
}

// redact hides a password in a URL's user info.
func redact(s string) string { return download.Redact(s) }

func isHTTP(s string) bool { return download.IsHTTP(s) }

// isRemoteFile reports whether a resources entry is an http(s) file Remote fetches: a URL whose
// path ends in .yaml, .yml or .json. Any other URL is a remote base, which kustomize would
// clone with git.
func isRemoteFile(s string) bool {
	if !isHTTP(s) {
		return false
	}
	u, err := url.Parse(strings.SplitN(s, "#", 2)[0])
	if err != nil || u.RawQuery != "" || strings.Contains(strings.TrimPrefix(u.Path, "/"), "//") {
		return false
	}
	switch path.Ext(u.Path) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// fetchResource fetches the remote resource file url listed in the kustomization file and
// serves it beside file; it returns the entry that replaces url there.
func (k *kustomizeFS) fetchResource(file, url string) (string, error) {
	if k.remote == nil {
		return "", &Error{Problem: RemoteRefused, File: file, Detail: fmt.Sprintf("resources entry %q would be fetched from the network", url),
			Fix: "this render fetches nothing; use a command that syncs or renders with a remote cache, or copy the file into the repository"}
	}
	data, err := k.fetch(url)
	var e *Error
	if errors.As(err, &e) {
		e.File = file
	}
	if err != nil {
		return "", err
	}
	p, _ := parsePinned(url)
	local := path.Join(virtualDir, download.FileName(p.url))
	k.addVirtual(path.Join(path.Dir(file), local), virtualFile{url: url, data: data})
	return local, nil
}

// prependResource is replaceResources, then local made the first entry of
// the kustomization's resources.
func prependResource(file string, data []byte, with map[string]string, local string) ([]byte, error) {
	data, err := replaceResources(file, data, with)
	if err != nil {
		return nil, err
	}
	doc, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, kustomizationError(file, data, err)
	}
	list, err := doc.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "resources"))
	if err != nil {
		return nil, kustomizationError(file, data, err)
	}
	entry := kyaml.NewScalarRNode(local).YNode()
	list.YNode().Content = append([]*kyaml.Node{entry}, list.YNode().Content...)
	out, err := doc.String()
	return []byte(out), err
}

// replaceResources rewrites the resources (and legacy bases) entries of a kustomization.
func replaceResources(file string, data []byte, with map[string]string) ([]byte, error) {
	if len(with) == 0 {
		return data, nil
	}
	doc, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, kustomizationError(file, data, err)
	}
	for _, field := range []string{"resources", "bases", "components"} {
		list := doc.Field(field)
		if list == nil {
			continue
		}
		for _, entry := range list.Value.YNode().Content {
			if local, ok := with[entry.Value]; ok {
				entry.Value = local
			}
		}
	}
	out, err := doc.String()
	return []byte(out), err
}
