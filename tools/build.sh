#!/usr/bin/env bash
# Builds the local control plane's binaries from source and caches them by version.
#
#   tools/build.sh            build if missing, then point .cache/bin at the cached set
#
# The cache lives outside the checkout ($GITSYNC_TOOLS_CACHE, default
# ~/.cache/gitsync/tools) so fresh clones on the same machine reuse it. Its key
# names the pinned versions plus a digest of the tool modules, so a version bump
# builds a new set and an unchanged one is never rebuilt. .cache/bin is a
# git-ignored symlink to the current set; the Go test package reads it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/tools
cache=${GITSYNC_TOOLS_CACHE:-$HOME/.cache/gitsync/tools}
export GOFLAGS=-buildvcs=false

modver() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
k8s=$(modver "$tools/controlplane" k8s.io/kubernetes)
etcd=$(modver "$tools/controlplane" go.etcd.io/etcd/server/v3)
kwok=$(modver "$tools/kwok" sigs.k8s.io/kwok)
digest=$(cd "$tools" && find controlplane kwok build.sh -type f \( -name '*.go' -o -name 'go.*' -o -name '*.sh' \) |
  LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
key="k8s-$k8s.etcd-$etcd.kwok-$kwok.$digest"
out=$cache/$key

if [ -x "$out/kube-apiserver" ]; then
  echo "tools: cached $out"
else
  echo "tools: building $key (cold: about 10 minutes on 2 cores)"
  tmp=$(mktemp -d "$cache.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/.tmp.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  minor=$(echo "$k8s" | cut -d. -f2)
  # Without a stamped version /version reports v0.0.0-master and clients that
  # parse the server version (kubectl version, discovery) fail.
  ldflags="-s -w"
  ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm etcd; do
    start=$SECONDS
    (cd "$tools/controlplane" && go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "./$b")
    echo "tools: built $b in $((SECONDS - start))s"
  done
  start=$SECONDS
  (cd "$tools/kwok" && go build -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
  echo "tools: built kwok in $((SECONDS - start))s"
  mkdir -p "$cache"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
fi

mkdir -p "$root/.cache"
ln -sfn "$out" "$root/.cache/bin"
