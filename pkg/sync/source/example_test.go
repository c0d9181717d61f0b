package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gitsync-io/gitsync/pkg/sync/source"
)

// A sync loop fetches on every tick; an unchanged remote costs one round
// trip and returns the same snapshot with Cached set.
func Example() {
	home, _ := os.UserHomeDir()
	src, err := source.New(source.Options{
		URL:      "git@github.com:example/fleet.git",
		Ref:      "main",
		CacheDir: filepath.Join(os.TempDir(), "gitsync-cache"),
		Auth: source.Auth{
			SSHKeyFile:     filepath.Join(home, ".ssh", "id_ed25519"),
			KnownHostsFile: filepath.Join(home, ".ssh", "known_hosts"),
		},
	})
	if err != nil {
		fmt.Println(err) // one line, naming the field to fix
		return
	}
	art, err := src.Fetch(context.Background())
	var terminal interface{ Terminal() bool }
	switch {
	case errors.As(err, &terminal) && terminal.Terminal():
		fmt.Println("stalled until the configuration changes:", err)
	case err != nil:
		fmt.Println("retrying later:", err)
	case art.Cached:
		fmt.Println("unchanged at", art.Revision)
	default:
		fmt.Println("new revision", art.Revision, "in", art.Dir)
	}
}
