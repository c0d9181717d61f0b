# gitsync container image, for machines with Docker (BuildKit). Without Docker,
# `go run ./hack/image --out bin/gitsync-image.tar` builds the same file system
# (static binary on a distroless-style nonroot base) reproducibly.
#
#   docker build -t ghcr.io/gitsync-io/gitsync:dev \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) .
#
# Behind a slow or filtered network, take the base images and Go modules from
# mirrors (any registry that mirrors Docker Hub and gcr.io, any GOPROXY):
#
#   docker build --build-arg GO_IMAGE=registry.example.cn/library/golang:1.26 \
#     --build-arg BASE_IMAGE=registry.example.cn/distroless/static-debian12:nonroot \
#     --build-arg GOPROXY=https://goproxy.example.cn,direct -t gitsync .
#
# Pin both images by digest (name:tag@sha256:...) for reproducible builds.
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG GOPROXY
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
COPY third_party ./third_party
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# The flags are hack/image's: static (no cgo), no local paths, no symbol table.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS= \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/gitsync-io/gitsync/internal/version.Version=${VERSION} -X github.com/gitsync-io/gitsync/internal/version.Commit=${COMMIT}" \
      -o /out/gitsync ./cmd/gitsync

# distroless static:nonroot: CA certificates, /etc/passwd with nonroot
# (65532), /tmp 1777, no shell, no package manager.
FROM ${BASE_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.source="https://github.com/gitsync-io/gitsync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.title="gitsync"
COPY --from=build /out/gitsync /gitsync
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/gitsync"]
