package browser_test

import (
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/browser"
)

// pages are what serve serves, by path.
var pages = map[string]string{
	"/accessible": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sync status</title></head>
<body><main>
<h1>Sync status</h1>
<img src="/logo.svg" alt="gitsync">
<form><label for="repo">Repository</label> <input id="repo" name="repo"></form>
</main></body></html>`,

	"/broken": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sync status</title></head>
<body><main>
<h1>Sync status</h1>
<img src="/logo.svg">
<form><input id="repo" name="repo"></form>
</main></body></html>`,

	// tall is taller than the window: white, then a red band at the bottom.
	"/tall": `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tall</title></head>
<body style="margin:0">
<main style="height:1500px">Top</main>
<footer style="height:500px;background:#c00"></footer>
</body></html>`,

	"/logo.svg": `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16"/></svg>`,
}

// serve serves pages on 127.0.0.1 until the test ends, and returns the base URL.
func serve(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	for path, body := range pages {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(path, ".svg") {
				w.Header().Set("Content-Type", "image/svg+xml")
			} else {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
			}
			// No inline scripts and no eval: the helpers must work on
			// pages that send a strict policy.
			w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
			w.Write([]byte(body))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestNavigate(t *testing.T) {
	url := serve(t)
	ctx := browser.New(t)

	t.Run("loads a page from 127.0.0.1 and reads its text", func(t *testing.T) {
		if err := browser.Navigate(ctx, url+"/accessible"); err != nil {
			t.Fatal(err)
		}
		got, err := browser.Text(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got != "Sync status" {
			t.Errorf("h1 = %q, want %q", got, "Sync status")
		}
	})
	for _, host := range []string{"example.com", "192.0.2.1", "localhost"} {
		t.Run("does not reach "+host, func(t *testing.T) {
			err := browser.Navigate(ctx, "http://"+host+":8080/")
			if err == nil || !strings.Contains(err.Error(), "ERR_NAME_NOT_RESOLVED") {
				t.Errorf("Navigate = %v, want ERR_NAME_NOT_RESOLVED", err)
			}
		})
	}
}

func TestAxe(t *testing.T) {
	url := serve(t)
	ctx := browser.New(t)

	tests := []struct {
		name string
		page string
		want []string // "rule-id target", sorted
	}{
		{"finds nothing on an accessible page", "/accessible", nil},
		{"reports an image without alt text and an input without a label", "/broken",
			[]string{"image-alt img", "label #repo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := browser.Navigate(ctx, url+tt.page); err != nil {
				t.Fatal(err)
			}
			vs, err := browser.Axe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				t.Log(v)
				for _, n := range v.Nodes {
					got = append(got, v.ID+" "+strings.Join(n.Target, " "))
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("runs again on a page that has axe-core already", func(t *testing.T) {
		// The page still has axe-core from the last subtest; a second run
		// reuses it and gives the same answer.
		vs, err := browser.Axe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Errorf("second run: %d violations, want 2: %v", len(vs), vs)
		}
	})
}

func TestViolationString(t *testing.T) {
	node := browser.Node{Target: []string{"img"}, HTML: `<img src="/logo.svg">`}
	tests := []struct {
		name string
		v    browser.Violation
		want string
	}{
		{"names the rule, its impact, its help and the element",
			browser.Violation{ID: "image-alt", Impact: browser.Critical, Help: "Images must have alternative text", Nodes: []browser.Node{node}},
			`image-alt (critical): Images must have alternative text: img <img src="/logo.svg">`},
		{"lists the first three elements and counts the rest",
			browser.Violation{ID: "image-alt", Impact: browser.Critical, Help: "Images must have alternative text", Nodes: []browser.Node{node, node, node, node, node}},
			`image-alt (critical): Images must have alternative text: img <img src="/logo.svg">; img <img src="/logo.svg">; img <img src="/logo.svg"> and 2 more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.String(); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestScreenshot(t *testing.T) {
	url := serve(t)
	ctx := browser.New(t)

	t.Run("saves the whole page as a PNG at the window's width", func(t *testing.T) {
		if err := browser.Navigate(ctx, url+"/tall"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "shots", "tall.png")
		if err := browser.Screenshot(ctx, path); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != browser.WindowWidth || b.Dy() != 2000 {
			t.Errorf("size = %dx%d, want %dx2000 (the whole page, not the %d px window)",
				b.Dx(), b.Dy(), browser.WindowWidth, browser.WindowHeight)
		}
		red := color.RGBAModel.Convert(color.RGBA{0xcc, 0, 0, 0xff})
		if got := color.RGBAModel.Convert(img.At(10, 1900)); got != red {
			t.Errorf("pixel in the footer below the window = %v, want %v", got, red)
		}
	})
}
