// Package sync is gitsync's reconcile pipeline: fetch a git revision, render
// it, apply the objects, prune what left git, wait for health and record the
// outcome in the cluster (Syncer.Once), plus the loop that repeats it on an
// interval or on demand (Loop). The steps live in the sub-packages; this
// package only orders them and turns their outcome into status and logs.
package sync
