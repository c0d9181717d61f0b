// Package source fetches one revision of a git repository (over HTTPS, SSH or
// from a local path) and keeps it: each blob once, by hash, in a store shared
// by the revisions, with a record of which blob each file of a revision
// holds. A revision is read file by file from the store (Source.ReadFile),
// or as an immutable, read-only directory written on demand (Source.Checkout;
// Artifact.Dir unless Options.NoCheckout). It fetches with credentials and
// host key verification, and keeps a few revisions. It owns go-git; it knows
// nothing of Kubernetes, rendering or what the files mean.
package source
