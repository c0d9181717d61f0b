// Command image builds the gitsync container image without Docker: it compiles
// the static binary with `go build` and assembles an image FROM SCRATCH with
// go-containerregistry, written as a `docker save` tarball that `docker load`
// and `podman load` accept.
//
//	go run ./hack/image --out bin/gitsync-image.tar [--tag ghcr.io/gitsync-io/gitsync:latest]
//
// The image holds only /gitsync, the build machine's Debian CA bundle,
// /etc/passwd and /etc/group entries for nonroot (65532), its home and an empty
// /tmp (1777) — the same file system as the Dockerfile's distroless
// static:nonroot stage. Its digest is reproducible: every timestamp is the
// commit time (or SOURCE_DATE_EPOCH, or 0), so two builds of one commit with
// one Go toolchain give the same digest.
//
// It does not push, sign or build multi-arch indexes.
package main
