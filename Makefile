# gitsync — see README.md. Every target does its own setup.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/gitsync-io/gitsync/internal/version.Version=$(VERSION) -X github.com/gitsync-io/gitsync/internal/version.Commit=$(COMMIT)
CLUSTER_DIR := .cache/cluster
export GOFLAGS := -buildvcs=false

.PHONY: all build image deps-demo deps-test tools tools-all test bench cluster-up cluster-down demo lint clean

all: build

# CGO_ENABLED=0: static, and without cgo kustomize's import of "plugin" does
# not make the linker export every symbol (a 122 MB binary, 78 MB RSS at
# start-up, against 37 MB and 33 MB).
build: ## the gitsync binary, in bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o bin/gitsync ./cmd/gitsync

image: ## container image without Docker: bin/gitsync-image.tar (docker load -i / podman load -i)
	$(GO) run ./hack/image --out bin/gitsync-image.tar --version $(VERSION) --commit $(COMMIT)

deps-demo: ## the Debian packages make demo needs (installed as root or with sudo, else the line to run)
	@bash hack/deps.sh demo

deps-test: ## the Debian packages make test needs
	@bash hack/deps.sh test

tools: deps-demo ## what make demo runs, built from source and cached by version: etcd, the control plane, kubectl, kwok
	@bash tools/build.sh controlplane

tools-all: deps-test ## also what the bootstrap tests install on nodes (kubelet, kubeadm, containerd, runc), the real cluster's images, kustomize, Helm and Gitea
	@bash tools/build.sh all

test: tools-all ## every test, against the real local control plane and real git servers
	$(GO) test -count=1 -timeout 20m ./...

bench: tools-all ## benchmarks, with peers side by side; prints the tables used in the README
	$(GO) test -count=1 -p 1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

cluster-up: tools ## a local control plane in the background; kubeconfig in .cache/cluster/kubeconfig
	@$(GO) run ./test/cluster up --dir $(CLUSTER_DIR)

cluster-down: ## stop the local control plane and remove its state
	@$(GO) run ./test/cluster down --dir $(CLUSTER_DIR)

demo: cluster-up build ## the main job: local control plane + local git repo from overlays/, synced by gitsync
	@bash hack/demo.sh

# Manifests are linted as they are synced: each overlay renders a whole
# application. The bases under manifests/ are linted through the overlays that
# compose them, not alone: manifests/nginx-http by itself is a Service whose
# pods are in another base, which lint rightly reports as selecting nothing.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@set -e; for dir in overlays/*/; do echo "gitsync lint --path $$dir"; $(GO) run ./cmd/gitsync lint --path "$$dir"; done

clean: cluster-down
	rm -rf bin
