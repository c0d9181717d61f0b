package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gitsync-io/gitsync/test/internal/syncbuf"
)

// WindowWidth and WindowHeight are the size of the browser window, and so of
// the viewport, in CSS pixels.
const (
	WindowWidth  = 1280
	WindowHeight = 900
)

// timeout bounds one test's browser: it is killed when the timeout ends.
const timeout = 2 * time.Minute

// errMissing is Path's error when no Chromium is installed.
var errMissing = errors.New("headless Chromium is missing: run make deps-test (or: apt-get install -y chromium-headless-shell)")

// Path is the Chromium binary the tests run: $GITSYNC_CHROMIUM when set, else
// Debian's chromium-headless-shell, else chromium-headless-shell or chromium
// from PATH.
func Path() (string, error) {
	return find(os.Getenv("GITSYNC_CHROMIUM"),
		"/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell", "chromium")
}

// find is Path with the value of $GITSYNC_CHROMIUM and the binaries to look
// for in order, as absolute paths or names in PATH.
func find(env string, candidates ...string) (string, error) {
	if env != "" {
		if _, err := exec.LookPath(env); err != nil {
			return "", fmt.Errorf("GITSYNC_CHROMIUM=%s: %w", env, err)
		}
		return env, nil
	}
	for _, c := range candidates {
		if path, err := exec.LookPath(c); err == nil {
			return path, nil
		}
	}
	return "", errMissing
}

// New starts a headless Chromium for the test with a fresh profile and a
// 1280x900 window, showing about:blank, and returns its context for the other
// functions of this package and for chromedp. The browser stops when the test
// ends or after two minutes, whichever comes first. New fails the test when
// Chromium is missing or does not start.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{} // what the browser prints, for the log of a failed test
	opts := append(chromedp.DefaultExecAllocatorOptions[:], loopbackOnly()...)
	opts = append(opts,
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(WindowWidth, WindowHeight),
		chromedp.CombinedOutput(out),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser() // waits for the browser to exit
		cancelAlloc()
		if s := out.String(); t.Failed() && s != "" {
			t.Logf("browser: %s output:\n%s", path, s)
		}
	})
	// The first action starts the browser and ties it to ctx's timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v", path, err)
	}
	return ctx
}

// loopbackOnly is the command line that keeps the browser off every network
// but loopback, on top of chromedp's defaults (which already turn off
// background networking, sync, extensions, default apps, crash reports and
// safe-browsing updates; they are repeated here so the policy reads in one
// place).
func loopbackOnly() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		// Only 127.0.0.1 resolves. Every other host, localhost and IP
		// literals included, fails with ERR_NAME_NOT_RESOLVED before any
		// DNS query or connection.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("dns-prefetch-disable", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"+
			"AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions"),
		// The sandbox refuses to run as root and needs unprivileged user
		// namespaces, which many CI machines lack; the tests load only pages
		// they serve themselves.
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
	}
}
