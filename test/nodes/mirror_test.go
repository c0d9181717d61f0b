package nodes

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDebianMirror(t *testing.T) {
	t.Setenv(mirrorEnv, "")
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // empty: an error
	}{
		{
			name: "reads the deb822 entry that serves the suite, not security",
			files: map[string]string{"etc/apt/sources.list.d/debian.sources": `Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

# comment
Types: deb deb-src
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
`},
			want: "http://mirror.example/debian",
		},
		{
			name: "skips disabled deb822 entries and deb-src",
			files: map[string]string{"etc/apt/sources.list.d/a.sources": `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs:
 http://on.example/debian
Suites: bookworm
`},
			want: "http://on.example/debian",
		},
		{
			name: "reads one-line entries with options",
			files: map[string]string{"etc/apt/sources.list": `# deb http://old.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://opt.example/debian bookworm main contrib
`},
			want: "http://opt.example/debian",
		},
		{
			name: "ignores files apt ignores",
			files: map[string]string{
				"etc/apt/sources.list.d/x.list.disabled": "deb http://no.example/debian bookworm main\n",
				"etc/apt/sources.list.d/y.list":          "deb http://yes.example/debian bookworm main\n",
			},
			want: "http://yes.example/debian",
		},
		{
			name: "on a Debian host of another release, uses that release's archive",
			files: map[string]string{
				"etc/os-release":       "ID=debian\nVERSION_CODENAME=trixie\n",
				"etc/apt/sources.list": "deb http://sec.example/debian-security trixie-security main\ndeb http://main.example/debian trixie main\n",
			},
			want: "http://main.example/debian",
		},
		{
			name: "fails on a host without a Debian archive",
			files: map[string]string{
				"etc/os-release":       "ID=ubuntu\nVERSION_CODENAME=noble\n",
				"etc/apt/sources.list": "deb http://ubuntu.example/ubuntu noble main\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := debianMirror(root, "bookworm")
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	t.Run("the environment overrides the apt configuration", func(t *testing.T) {
		t.Setenv(mirrorEnv, "http://env.example/debian")
		if got, err := debianMirror(t.TempDir(), "bookworm"); err != nil || got != "http://env.example/debian" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}
