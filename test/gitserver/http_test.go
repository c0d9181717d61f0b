package gitserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gitsync-io/gitsync/test/gitserver"
)

func TestStartHTTP(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(t, "first", map[string]string{"app.yaml": "kind: ConfigMap"})
	srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{Username: "alice", Password: "s3cret"})
	refsURL := srv.URL + "/" + repo.Name() + "/info/refs?service=git-upload-pack"

	for _, tc := range []struct {
		name, user, password string
		want                 int
	}{
		{"refuses a request without credentials", "", "", http.StatusUnauthorized},
		{"refuses a wrong password", "alice", "wrong", http.StatusUnauthorized},
		{"refuses a wrong user", "bob", "s3cret", http.StatusUnauthorized},
		{"serves the advertisement with the right credentials", "alice", "s3cret", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, refsURL, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	t.Run("lets the git CLI clone with credentials", func(t *testing.T) {
		url := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/" + repo.Name()
		if diff := cmp.Diff(map[string]string{"app.yaml": "kind: ConfigMap"}, clone(t, nil, url, "main")); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("counts every request, refused ones too", func(t *testing.T) {
		before := srv.Requests()
		for range 2 {
			resp, err := http.Get(refsURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if got := srv.Requests() - before; got != 2 {
			t.Errorf("requests = %d, want 2", got)
		}
	})
}

func TestStartHTTPWithoutCredentials(t *testing.T) {
	t.Run("serves anyone when no credentials are configured", func(t *testing.T) {
		repo := gitserver.NewRepo(t)
		repo.Commit(t, "first", map[string]string{"a": "1"})
		srv := gitserver.StartHTTP(t, repo.Root(), gitserver.Options{})
		if diff := cmp.Diff(map[string]string{"a": "1"}, clone(t, nil, srv.URL+"/"+repo.Name(), "main")); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
}
