// Package apply makes the cluster match a set of rendered objects: staged,
// parallel server-side apply with field manager gitsync, drift detection that
// writes only what differs, conflict and immutable-field handling, server-side
// dry-run diffs, and prune of ids the caller says left git. A Secret's values
// never leave it: diffs and errors show masks in their place. It does not
// read git, render manifests, keep the inventory or wait for health.
package apply
