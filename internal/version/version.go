// Package version is what a gitsync build says of itself: the release and
// commit the Makefile and the image build stamp into it, and what Go recorded.
package version

import "runtime/debug"

// Stamped at link time: -X github.com/gitsync-io/gitsync/internal/version.Version=...
// and .Commit=... (the Makefile, the Dockerfile and hack/image do).
var (
	Version = "dev"
	Commit  = "unknown"
)

// Build names this build, for what one process keeps on disk for the next:
// a process of another build must not trust it. It is the stamped release and
// commit, and the main module's version as Go derived it from version
// control, which names the commit (and "+dirty") even where nothing was
// stamped.
func Build() string {
	module := "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		module = bi.Main.Version
	}
	return Version + " " + Commit + " " + module
}
