package source

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEndpoint(t *testing.T) {
	cwd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw string
		want      endpoint
	}{
		{"takes the password and user out of an https URL", "https://alice:pw@example.com/org/repo.git",
			endpoint{protocol: "https", dial: "https://example.com/org/repo.git", display: "https://example.com/org/repo.git", user: "alice", password: "pw"}},
		{"takes a token user out of an http URL", "http://TOKEN@127.0.0.1:8080/repo",
			endpoint{protocol: "http", dial: "http://127.0.0.1:8080/repo", display: "http://127.0.0.1:8080/repo", user: "TOKEN"}},
		{"defaults the ssh user and port", "ssh://example.com/org/repo.git",
			endpoint{protocol: "ssh", dial: "ssh://git@example.com/org/repo.git", display: "ssh://git@example.com/org/repo.git", hostPort: "example.com:22"}},
		{"keeps the ssh user and port", "ssh://deploy@127.0.0.1:2222/repo.git",
			endpoint{protocol: "ssh", dial: "ssh://deploy@127.0.0.1:2222/repo.git", display: "ssh://deploy@127.0.0.1:2222/repo.git", user: "deploy", hostPort: "127.0.0.1:2222"}},
		{"keeps an scp-like address as written", "git@github.com:org/repo.git",
			endpoint{protocol: "ssh", dial: "git@github.com:org/repo.git", display: "git@github.com:org/repo.git", user: "git", hostPort: "github.com:22"}},
		{"keeps a file URL", "file:///srv/repo.git",
			endpoint{protocol: "file", dial: "file:///srv/repo.git", display: "file:///srv/repo.git"}},
		{"turns a relative path into an absolute file URL", "repos/app",
			endpoint{protocol: "file", dial: "file://" + cwd + "/repos/app", display: "file://" + cwd + "/repos/app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEndpoint(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(endpoint{})); diff != "" {
				t.Errorf("parseEndpoint(%q) (-want +got):\n%s", tc.raw, diff)
			}
		})
	}
}
