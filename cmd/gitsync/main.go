// Command gitsync keeps a Kubernetes cluster equal to a git repository.
package main

import (
	"os"

	"github.com/gitsync-io/gitsync/internal/cli"
)

func main() { os.Exit(cli.Main()) }
