// Package source fetches one revision of a git repository (over HTTPS, SSH or
// from a local path) into an immutable, read-only snapshot directory per
// commit, with credentials, host key verification and a small cache of
// snapshots. It owns go-git; it knows nothing of Kubernetes, rendering or
// what the files mean.
package source
