package ssh_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gitsync-io/gitsync/pkg/bootstrap/ssh"
)

func TestUploadReadFile(t *testing.T) {
	t.Parallel()
	h := newTestHost(t)
	c := h.dial(t)
	dir := t.TempDir() // the same machine: the host's view of it

	// Binary, larger than OutputTail and the SSH window, ending without a newline.
	large := bytes.Repeat([]byte("gitsync\x00\xff\n"), 30000)
	for _, tc := range []struct {
		name string
		path string
		mode os.FileMode
		data []byte
		sudo bool
	}{
		{"writes a file with its mode, creating parent directories", filepath.Join(dir, "new dir", "it's $x.conf"), 0o640, []byte("key: value\n"), false},
		{"writes a large binary file intact", filepath.Join(dir, "large.bin"), 0o600, large, false},
		{"writes an empty file", filepath.Join(dir, "empty"), 0o644, nil, false},
		{"writes as root with sudo", filepath.Join(dir, "etc", "root.conf"), 0o755, []byte("#!/bin/sh\n"), true},
		{"replaces an existing file and its mode", filepath.Join(dir, "new dir", "it's $x.conf"), 0o600, []byte("replaced"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Upload(t.Context(), tc.path, tc.mode, tc.data, tc.sudo); err != nil {
				t.Fatal(err)
			}
			res, err := c.Run(t.Context(), ssh.Command{Args: []string{"stat", "-c", "%a", tc.path}})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.TrimSpace(string(res.Stdout)), strconv.FormatUint(uint64(tc.mode.Perm()), 8); got != want {
				t.Errorf("stat -c %%a = %s, want %s", got, want)
			}
			got, err := c.ReadFile(t.Context(), tc.path, tc.sudo)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Errorf("ReadFile returned %d bytes, want the %d uploaded", len(got), len(tc.data))
			}
		})
	}

	t.Run("never logs file contents", func(t *testing.T) {
		path := filepath.Join(dir, "secret")
		if err := c.Upload(t.Context(), path, 0o600, []byte("TOP-SECRET-CONTENT"), false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadFile(t.Context(), path, false); err != nil {
			t.Fatal(err)
		}
		log := h.log.String()
		if strings.Contains(log, "TOP-SECRET-CONTENT") {
			t.Errorf("the log shows the file:\n%s", log)
		}
		if !strings.Contains(log, "(18 bytes not logged)") {
			t.Errorf("the log does not show the size of what ReadFile read:\n%s", log)
		}
	})

	t.Run("ReadFile of a missing file fails with cat's message", func(t *testing.T) {
		_, err := c.ReadFile(t.Context(), filepath.Join(dir, "missing"), false)
		var exit *ssh.ExitError
		if !errors.As(err, &exit) || !strings.Contains(err.Error(), "No such file or directory") {
			t.Errorf("ReadFile: %v, want an *ssh.ExitError saying No such file or directory", err)
		}
	})

	t.Run("Upload refuses a relative path and non-permission mode bits", func(t *testing.T) {
		if err := c.Upload(t.Context(), "relative", 0o644, nil, false); err == nil {
			t.Error("a relative path was accepted")
		}
		if err := c.Upload(t.Context(), filepath.Join(dir, "dir"), os.ModeDir|0o755, nil, false); err == nil {
			t.Error("os.ModeDir was accepted")
		}
	})
}
