package browser

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "chromium")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name       string
		env        string
		candidates []string
		want       string
		wantErr    string
	}{
		{"takes GITSYNC_CHROMIUM first", exe, []string{missing}, exe, ""},
		{"names GITSYNC_CHROMIUM when it is wrong", missing, []string{exe}, "",
			"GITSYNC_CHROMIUM=" + missing + ": exec: \"" + missing + "\": stat " + missing + ": no such file or directory"},
		{"takes the first candidate that exists", "", []string{missing, exe}, exe, ""},
		{"says how to install Chromium when none exists", "", []string{missing}, "",
			"headless Chromium is missing: run make deps-test (or: apt-get install -y chromium-headless-shell)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := find(tt.env, tt.candidates...)
			if gotErr := errString(err); got != tt.want || gotErr != tt.wantErr {
				t.Errorf("find = %q, %q; want %q, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
