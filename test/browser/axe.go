package browser

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// axeVersion is the version of the embedded axe-core; see testdata/README.md.
const axeVersion = "4.14.1"

//go:embed testdata/axe.min.js.gz
var axeGzip []byte

// axeScript is axe.min.js, decompressed on first use.
var axeScript = sync.OnceValues(func() (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(axeGzip))
	if err != nil {
		return "", fmt.Errorf("axe: testdata/axe.min.js.gz: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("axe: testdata/axe.min.js.gz: %w", err)
	}
	return string(b), nil
})

// Impact is how much a violation hinders users, as axe-core rates it.
type Impact string

const (
	Minor    Impact = "minor"
	Moderate Impact = "moderate"
	Serious  Impact = "serious"
	Critical Impact = "critical"
)

// Violation is an axe-core rule that the page breaks, with the elements that
// break it.
type Violation struct {
	ID      string `json:"id"` // the rule, such as "image-alt" or "label"
	Impact  Impact `json:"impact"`
	Help    string `json:"help"` // what the rule asks, in one sentence
	HelpURL string `json:"helpUrl"`
	Nodes   []Node `json:"nodes"`
}

// Node is an element that breaks a rule.
type Node struct {
	// Target is a CSS selector per frame, outermost first; the hops into
	// shadow roots within a frame are joined by " >>> ".
	Target []string `json:"target"`
	HTML   string   `json:"html"` // the element's outer HTML, shortened by axe-core
}

// String is the violation on one line: rule, impact, help, and the first
// elements' selectors and HTML.
func (v Violation) String() string {
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s:", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == shown {
			fmt.Fprintf(&b, " and %d more", len(v.Nodes)-shown)
			break
		}
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s %s", strings.Join(n.Target, " "), n.HTML)
	}
	return b.String()
}

// axeRun runs axe-core on the document and returns its violations in the
// shape of Violation.
const axeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
	nodes: v.nodes.map(n => ({
		target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t),
		html: n.html,
	})),
})))`

// Axe checks the page in the browser's tab with axe-core's default rules
// (WCAG 2.x A and AA, and best practices) and returns the rules it breaks; none
// is a pass. It injects axe-core into the page unless it is there already.
// Only the top document is checked, not the contents of iframes.
func Axe(ctx context.Context) ([]Violation, error) {
	if err := injectAxe(ctx); err != nil {
		return nil, err
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("axe: run: %w", err)
	}
	return vs, nil
}

// injectAxe evaluates axe.min.js in the page when the page has no axe-core
// of the embedded version.
func injectAxe(ctx context.Context) error {
	const version = `typeof axe === 'object' ? axe.version : ''`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](version))
	if err != nil {
		return fmt.Errorf("axe: inject: %w", err)
	}
	if v == axeVersion {
		return nil
	}
	src, err := axeScript()
	if err != nil {
		return err
	}
	v, err = chromedp.Run(ctx, chromedp.Evaluate[string](src+";\n"+version))
	if err != nil {
		return fmt.Errorf("axe: inject: %w", err)
	}
	if v != axeVersion {
		return fmt.Errorf("axe: testdata/axe.min.js.gz is axe-core %q, want %s", v, axeVersion)
	}
	return nil
}
