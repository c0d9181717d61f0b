package render

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRemoteBase(t *testing.T) {
	for in, want := range map[string]remoteBase{
		"https://github.com/acme/platform//deploy/base?ref=v1.2.0": {repo: "https://github.com/acme/platform", dir: "deploy/base", ref: "v1.2.0"},
		"git::https://git.example/acme/platform.git//base":         {repo: "https://git.example/acme/platform.git", dir: "base"},
		"https://git.example/acme/platform.git/base?version=v2":    {repo: "https://git.example/acme/platform.git", dir: "base", ref: "v2"},
		"ssh://git@git.example/acme/platform.git//base?ref=main":   {repo: "ssh://git@git.example/acme/platform.git", dir: "base", ref: "main"},
		"git@git.example:acme/platform.git//base":                  {repo: "git@git.example:acme/platform.git", dir: "base"},
		"github.com/acme/platform//base?ref=v1":                    {repo: "https://github.com/acme/platform", dir: "base", ref: "v1"},
		"https://git.example/acme/platform":                        {repo: "https://git.example/acme/platform"},
	} {
		got, err := parseRemoteBase(in)
		if err != nil || got != want {
			t.Errorf("parseRemoteBase(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := parseRemoteBase("https://git.example/acme/platform//../../etc"); err == nil {
		t.Error("a directory leaving the repository was accepted")
	}
}

func TestRemoteBases(t *testing.T) {
	platform := t.TempDir() // what the fetcher returns: a snapshot of the base's repository
	writeTree(t, platform, map[string]string{
		"base/kustomization.yaml": "resources: [configmap.yaml]\ncomponents: [../components/labels]\n",
		"base/configmap.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: platform}\ndata: {from: base}\n",
		"components/labels/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" +
			"labels: [{pairs: {team: platform}}]\n",
	})
	entry := "https://git.upstream.invalid/acme/platform.git//base?ref=v1.0.0"
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"app/kustomization.yaml": "namespace: web\nresources:\n- " + entry + "\n",
	})
	var fetched []string
	git := func(_ context.Context, url, ref string) (string, string, error) {
		fetched = append(fetched, url+" "+ref)
		return platform, "0123456789abcdef0123456789abcdef01234567", nil
	}
	mirrors := []Mirror{{From: "https://git.upstream.invalid/", To: "https://git.mirror.example/"}}

	t.Run("are refused unless turned on", func(t *testing.T) {
		_, err := New(Options{Remote: &Remote{CacheDir: t.TempDir()}}).Render(t.Context(), root, "app")
		if got := renderError(t, err); got.Problem != RemoteRefused || !strings.Contains(err.Error(), "--allow-remote-bases") {
			t.Errorf("err = %v, want a refusal naming --allow-remote-bases", err)
		}
	})
	t.Run("are fetched through the mirror and built like a local base", func(t *testing.T) {
		r := New(Options{Remote: &Remote{CacheDir: t.TempDir(), Mirrors: mirrors, Git: git}})
		res, err := r.Render(t.Context(), root, "app")
		if err != nil {
			t.Fatal(err)
		}
		want := "apiVersion: v1\ndata:\n  from: base\nkind: ConfigMap\nmetadata:\n  labels:\n    team: platform\n  name: platform\n  namespace: web\n"
		if diff := cmp.Diff(want, string(yamlOf(t, res))); diff != "" {
			t.Errorf("render (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"https://git.mirror.example/acme/platform.git v1.0.0"}, fetched); diff != "" {
			t.Errorf("fetches (-want +got):\n%s", diff)
		}
		again, err := r.Render(t.Context(), root, "app")
		if err != nil || !again.Cached {
			t.Errorf("the same revision again: cached=%v err=%v, want the render reused", again.Cached, err)
		}
	})
	t.Run("an unreachable repository is named and worth retrying", func(t *testing.T) {
		failing := func(context.Context, string, string) (string, string, error) {
			return "", "", errors.New("connection refused")
		}
		_, err := New(Options{Remote: &Remote{CacheDir: t.TempDir(), Git: failing}}).Render(t.Context(), root, "app")
		var e *Error
		if !errors.As(err, &e) || e.Problem != RemoteUnreachable || e.Terminal() || e.File != "app/kustomization.yaml" ||
			!strings.Contains(err.Error(), entry) {
			t.Errorf("err = %v, want an unreachable remote base naming the file and the entry", err)
		}
	})
}
