package download

import (
	"fmt"
	"net/url"
	"strings"
)

// Mirror replaces the prefix From of a URL with To: an upstream release host,
// chart repository or registry, served by a regional or in-house mirror.
type Mirror struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ParseMirror parses FROM=TO, as --mirror takes it.
func ParseMirror(s string) (Mirror, error) {
	from, to, ok := strings.Cut(s, "=")
	m := Mirror{From: strings.TrimSpace(from), To: strings.TrimSpace(to)}
	if !ok || m.From == "" || m.To == "" {
		return Mirror{}, fmt.Errorf("mirror %q: want FROM=TO, e.g. https://raw.githubusercontent.com/=https://mirror.example/raw/", s)
	}
	return m, m.Validate()
}

// Validate checks that both sides are http(s) URLs, or both oci:// registry
// references (a chart registry and its mirror).
func (m Mirror) Validate() error {
	if isOCI(m.From) && isOCI(m.To) {
		return nil
	}
	for _, u := range []string{m.From, m.To} {
		if !IsHTTP(u) {
			return fmt.Errorf("mirror %s=%s: %q is not an http:// or https:// URL (or both sides oci://)", m.From, m.To, u)
		}
	}
	return nil
}

// Rewrite applies the longest of mirrors whose From is a prefix of u.
func Rewrite(mirrors []Mirror, u string) string {
	best := Mirror{}
	for _, m := range mirrors {
		if strings.HasPrefix(u, m.From) && len(m.From) > len(best.From) {
			best = m
		}
	}
	if best.From == "" {
		return u
	}
	return best.To + strings.TrimPrefix(u, best.From)
}

// IsHTTP reports whether s is an http:// or https:// URL.
func IsHTTP(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

func isOCI(s string) bool { return strings.HasPrefix(strings.ToLower(s), "oci://") }

// Redact hides a password in a URL's user info, for messages.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
