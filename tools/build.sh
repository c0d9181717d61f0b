#!/usr/bin/env bash
# Builds the binaries gitsync's demo and tests run, from source, cached by version.
#
#   tools/build.sh controlplane   what `make demo` runs: etcd, kube-apiserver,
#                                 kube-controller-manager, kube-scheduler, kubectl, kwok -> .cache/bin
#   tools/build.sh node           what the bootstrap tests install on test nodes: kubelet and
#                                 kubeadm -> .cache/node, containerd and runc -> .cache/containerd
#   tools/build.sh images         what the real-cluster test's images hold: kube-proxy, etcd
#                                 (the full server), CoreDNS, pause and the CNI reference
#                                 plugins -> .cache/images
#   tools/build.sh kustomize      kustomize itself, from the released module at the kustomize/api
#                                 version go.mod pins (gitsync builds with a patched copy of it,
#                                 third_party/kustomize-api): the render tests' reference -> .cache/kustomize
#   tools/build.sh helm           the released Helm CLI, at the version go.mod requires: the chart
#                                 render test's reference -> .cache/helm
#   tools/build.sh gitea          a real Gitea server, from its released module: the forge of the
#                                 commit status test (test/e2e) -> .cache/gitea
#   tools/build.sh all            all six
#
# Each set is cached outside the checkout ($GITSYNC_TOOLS_CACHE, default
# ~/.cache/gitsync/tools) so fresh clones on the same machine reuse it. A set's
# key names its pinned versions plus a digest of its module files and of its own
# build function below, so a version bump or a changed recipe builds that set
# anew and nothing else is ever rebuilt. The .cache/ links are git-ignored; the
# Go test packages read them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/tools
cache=${GITSYNC_TOOLS_CACHE:-$HOME/.cache/gitsync/tools}
export GOFLAGS=-buildvcs=false

modver() { (cd "$tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# digest FUNCTION MODULE_DIR...: the recipe (the set's function and the helpers
# every set uses) and the module files a set is built from.
digest() {
  local fn=$1
  shift
  { declare -f "$fn" gobuild k8s_ldflags; (cd "$tools" && find "$@" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) |
    LC_ALL=C sort | xargs sha256sum); } | sha256sum | cut -c1-12
}

# cached KEY LINK FUNCTION: builds FUNCTION into a temporary directory unless
# KEY is cached, moves it into place, and points .cache/LINK at it.
cached() {
  local key=$1 link=$2 fn=$3 out=$cache/$1 start=$SECONDS
  if [ -f "$out/.complete" ]; then
    echo "tools: cached $out"
  else
    echo "tools: building $key"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    "$fn" "$tmp"
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
    trap - EXIT
    echo "tools: built $key in $((SECONDS - start))s"
  fi
  mkdir -p "$root/.cache"
  ln -sfn "$out" "$root/.cache/$link"
}

# gobuild OUT_DIR MODULE_DIR PACKAGE [go build flags...]: one binary, timed.
gobuild() {
  local out=$1 dir=$2 pkg=$3 start=$SECONDS
  shift 3
  (cd "$tools/$dir" && go build -trimpath "$@" -o "$out" "$pkg")
  echo "tools: built $(basename "$out") in $((SECONDS - start))s"
}

# Without a stamped version /version reports v0.0.0-master and clients that
# parse the server version (kubectl version, discovery, kubeadm) fail.
k8s_ldflags() {
  local k8s=$1 minor
  minor=$(echo "$k8s" | cut -d. -f2)
  echo "-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$k8s"
}

# Static, as upstream builds them (CGO_ENABLED=0): no C toolchain needed, and the
# node binaries run on whatever C library a test node has.
build_controlplane() {
  local out=$1 ldflags b
  ldflags=$(k8s_ldflags "$k8s")
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    CGO_ENABLED=0 gobuild "$out/$b" controlplane "./$b" -ldflags "$ldflags"
  done
  CGO_ENABLED=0 gobuild "$out/kwok" kwok sigs.k8s.io/kwok/cmd/kwok -ldflags "-s -w"
}

build_node() {
  local out=$1 ldflags b
  ldflags=$(k8s_ldflags "$k8s")
  for b in kubelet kubeadm; do
    CGO_ENABLED=0 gobuild "$out/$b" controlplane "./$b" -ldflags "$ldflags"
  done
}

# containerd and runc laid out as a release mirror (mirrors.containerd in a cluster file):
#   v$V/containerd-$V-linux-$ARCH.tar.gz{,.sha256sum}   bin/containerd, bin/containerd-shim-runc-v2, bin/ctr
#   runc/v$R/runc.$ARCH, runc/v$R/runc.sha256sum
build_containerd() {
  local out=$1 name=containerd-${ctd#v}-linux-$arch pkg=github.com/containerd/containerd/v2 b tags
  mkdir -p "$out/$name/bin" "$out/$ctd" "$out/runc/$runc"
  # As upstream's Makefile, minus cgo: static, and the btrfs snapshotter (cgo) is left out.
  for b in containerd containerd-shim-runc-v2 ctr; do
    tags=urfave_cli_no_docs
    [ "$b" = containerd-shim-runc-v2 ] && tags+=" no_grpc"
    CGO_ENABLED=0 gobuild "$out/$name/bin/$b" containerd "$pkg/cmd/$b" -tags "$tags" \
      -ldflags "-s -w -X $pkg/version.Version=$ctd -X $pkg/version.Package=$pkg"
  done
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$out/$ctd/$name.tar.gz" -C "$out/$name" bin
  (cd "$out/$ctd" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256sum")
  rm -rf "${out:?}/$name"
  # As upstream's `make static`: cgo (nsenter), libseccomp linked in, static PIE; pure-Go
  # pathrs-lite instead of the Rust libpathrs.
  CGO_ENABLED=1 gobuild "$out/runc/$runc/runc.$arch" containerd/runc github.com/opencontainers/runc \
    -buildmode=pie -tags "seccomp urfave_cli_no_docs netgo osusergo" \
    -ldflags "-s -w -linkmode external -extldflags -static-pie"
  (cd "$out/runc/$runc" && sha256sum "runc.$arch" >runc.sha256sum)
}

# The binaries of the real-cluster test's images (test/images):
#   kube-proxy, etcd-server (etcdmain, every flag kubeadm's static pod passes), pause, coredns
#   cni/{bridge,host-local,loopback,portmap}, podnet (the pod network's node agent) and probe (an HTTP client in a pod)
build_images() {
  local out=$1 ldflags b
  ldflags=$(k8s_ldflags "$k8s")
  CGO_ENABLED=0 gobuild "$out/kube-proxy" images ./kube-proxy -ldflags "$ldflags"
  CGO_ENABLED=0 gobuild "$out/etcd-server" images ./etcd -ldflags "-s -w"
  CGO_ENABLED=0 gobuild "$out/pause" images ./pause -ldflags "-s -w"
  CGO_ENABLED=0 gobuild "$out/probe" images ./probe -ldflags "-s -w"
  CGO_ENABLED=0 gobuild "$out/coredns" coredns github.com/coredns/coredns -ldflags "-s -w"
  for b in main/bridge ipam/host-local main/loopback meta/portmap; do
    CGO_ENABLED=0 gobuild "$out/cni/$(basename $b)" cni "github.com/containernetworking/plugins/plugins/$b" -ldflags "-s -w"
  done
  CGO_ENABLED=0 gobuild "$out/podnet" cni ./podnet -ldflags "-s -w"
}

# The released kustomize CLI. Its kustomize/api must be the version go.mod pins
# and replaces with third_party/kustomize-api, or the render tests would compare
# gitsync's patch against a different kustomize.
build_kustomize() {
  local out=$1 want
  want=$(cd "$root" && go list -m -f '{{.Version}}' sigs.k8s.io/kustomize/api)
  [ "$(modver kustomize sigs.k8s.io/kustomize/api)" = "$want" ] || {
    echo "tools/kustomize builds kustomize/api $(modver kustomize sigs.k8s.io/kustomize/api), go.mod replaces $want" >&2
    return 1
  }
  CGO_ENABLED=0 gobuild "$out/kustomize" kustomize sigs.k8s.io/kustomize/kustomize/v5 -ldflags "-s -w"
}

# The released Helm CLI. It must be the helm.sh/helm/v4 go.mod requires, or the
# chart render test would compare gitsync against a different Helm.
build_helm() {
  local out=$1 want have
  want=$(cd "$root" && go list -m -f '{{.Version}}' helm.sh/helm/v4)
  have=$(modver helm helm.sh/helm/v4)
  [ "$have" = "$want" ] || {
    echo "tools/helm builds helm.sh/helm/v4 $have, go.mod requires $want" >&2
    return 1
  }
  # Not stamped with the release's version: gitsync links Helm's engine
  # unstamped, so both render .Capabilities.HelmVersion as the module's
  # default ("v4.3"), and `helm version` says the same.
  CGO_ENABLED=0 gobuild "$out/helm" helm helm.sh/helm/v4/cmd/helm -ldflags "-s -w"
}

# Gitea's go.mod has replace directives, so it cannot be required by a tools
# module (they would not apply): its version is pinned here.
gitea_version=v1.27.3

# Gitea as upstream's `make backend` builds it with TAGS=bindata: pure Go (its
# default SQLite driver is), the templates, translations and assets embedded.
build_gitea() {
  local out=$1 src dir d start=$SECONDS
  dir=$(cd "$out" && GOFLAGS= go mod download -json "code.gitea.io/gitea@$gitea_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "tools: go mod download code.gitea.io/gitea@$gitea_version gave no directory" >&2; return 1; }
  src=$out/src
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  for d in options templates public migration; do
    (cd "$src/modules/$d" && go generate -tags bindata -run generate-bindata ./)
  done
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -tags bindata \
    -ldflags "-s -w -X main.Version=${gitea_version#v} -X main.Tags=bindata" -o "$out/gitea" .)
  rm -rf "$src"
  echo "tools: built gitea in $((SECONDS - start))s"
}

k8s=$(modver controlplane k8s.io/kubernetes)

controlplane() {
  local etcd kwok
  etcd=$(modver controlplane go.etcd.io/etcd/server/v3)
  kwok=$(modver kwok sigs.k8s.io/kwok)
  cached "controlplane-$k8s.etcd-$etcd.kwok-$kwok.$(digest build_controlplane controlplane kwok)" bin build_controlplane
}

node() {
  ctd=$(modver containerd github.com/containerd/containerd/v2)
  runc=$(modver containerd/runc github.com/opencontainers/runc)
  arch=$(go env GOARCH)
  cached "node-$k8s.$(digest build_node controlplane)" node build_node
  cached "containerd-$ctd.runc-$runc.$arch.$(digest build_containerd containerd)" containerd build_containerd
}

images() {
  local etcd coredns cni
  etcd=$(modver images go.etcd.io/etcd/server/v3)
  coredns=$(modver coredns github.com/coredns/coredns)
  cni=$(modver cni github.com/containernetworking/plugins)
  cached "images-$k8s.etcd-$etcd.coredns-$coredns.cni-$cni.$(digest build_images images coredns cni)" images build_images
}

kustomize() {
  cached "kustomize-$(modver kustomize sigs.k8s.io/kustomize/kustomize/v5).$(digest build_kustomize kustomize)" kustomize build_kustomize
}

helm() {
  cached "helm-$(modver helm helm.sh/helm/v4).$(digest build_helm helm)" helm build_helm
}

gitea() {
  cached "gitea-$gitea_version.$(declare -f build_gitea | sha256sum | cut -c1-12)" gitea build_gitea
}

case ${1:-} in
controlplane) controlplane ;;
node) node ;;
images) images ;;
kustomize) kustomize ;;
helm) helm ;;
gitea) gitea ;;
all) controlplane && node && images && kustomize && helm && gitea ;;
*)
  echo "usage: tools/build.sh controlplane|node|images|kustomize|helm|gitea|all" >&2
  exit 2
  ;;
esac
