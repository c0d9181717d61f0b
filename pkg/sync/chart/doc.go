// Package chart renders Helm charts in-process, as `helm template` of the
// same Helm version prints them: client-only, no release Secret, with the
// target cluster's Kubernetes version and API versions as .Capabilities.
//
// A chart comes from a directory of the synced repository, an archive URL
// (pinned with #sha256=<hex>), an HTTP chart repository (its index.yaml) or
// an OCI registry, where a semver range picks the newest matching version.
// Remote charts are fetched through the same mirror map as remote resource
// files and kept on disk by URL and version; a render is kept in memory by
// the digest of everything it read.
//
// Rendering uses Helm's engine, chart loader and manifest sorter directly,
// not its action package, which would link Helm's storage drivers, plugin
// runtime and registry client into gitsync (+60 MiB).
package chart
