#!/usr/bin/env bash
# Builds the local control plane's binaries from source and caches them by version.
#
#   tools/build.sh            build if missing, then point .cache/bin at the cached set
#                             (and .cache/containerd at containerd and runc, for the bootstrap tests)
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
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm kubelet etcd; do
    start=$SECONDS
    # The node binaries are static, as upstream's are: the bootstrap tests package them
    # (test/aptrepo) for Debian test nodes, whatever C library this machine has.
    cgo=; case $b in kubelet | kubeadm | kubectl) cgo=CGO_ENABLED=0 ;; esac
    (cd "$tools/controlplane" && env $cgo go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "./$b")
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

# containerd and runc for the bootstrap tests, laid out as a release mirror
# (mirrors.containerd in a cluster file), under a key of their own:
#   v$V/containerd-$V-linux-$ARCH.tar.gz{,.sha256sum}   bin/containerd, bin/containerd-shim-runc-v2, bin/ctr
#   runc/v$R/runc.$ARCH, runc/v$R/runc.sha256sum
# .cache/containerd points at it.
ctd=$(modver "$tools/containerd" github.com/containerd/containerd/v2)
runc=$(modver "$tools/containerd/runc" github.com/opencontainers/runc)
arch=$(go env GOARCH)
digest=$(cd "$tools" && find containerd build.sh -type f \( -name '*.go' -o -name 'go.*' -o -name '*.sh' \) |
  LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
key="containerd-$ctd.runc-$runc.$arch.$digest"
out=$cache/$key
if [ -f "$out/runc/$runc/runc.sha256sum" ]; then
  echo "tools: cached $out"
else
  echo "tools: building $key (cold: about 5 minutes on 2 cores)"
  tmp=$(mktemp -d "$cache.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/.tmp.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  name=containerd-${ctd#v}-linux-$arch
  mkdir -p "$tmp/$name/bin" "$tmp/$ctd" "$tmp/runc/$runc"
  pkg=github.com/containerd/containerd/v2
  # As upstream's Makefile, minus cgo: static, and the btrfs snapshotter (cgo) is left out.
  ldflags="-s -w -X $pkg/version.Version=$ctd -X $pkg/version.Package=$pkg"
  for b in containerd containerd-shim-runc-v2 ctr; do
    start=$SECONDS
    tags=urfave_cli_no_docs
    [ "$b" = containerd-shim-runc-v2 ] && tags+=" no_grpc"
    (cd "$tools/containerd" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp/$name/bin/$b" "$pkg/cmd/$b")
    echo "tools: built $b in $((SECONDS - start))s"
  done
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$tmp/$ctd/$name.tar.gz" -C "$tmp/$name" bin
  (cd "$tmp/$ctd" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256sum")
  rm -rf "${tmp:?}/$name"
  # As upstream's `make static`: cgo (nsenter), libseccomp linked in, static PIE; pure-Go
  # pathrs-lite instead of the Rust libpathrs.
  start=$SECONDS
  (cd "$tools/containerd/runc" && CGO_ENABLED=1 go build -trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs netgo osusergo" \
    -ldflags "-s -w -linkmode external -extldflags -static-pie" -o "$tmp/runc/$runc/runc.$arch" github.com/opencontainers/runc)
  echo "tools: built runc in $((SECONDS - start))s"
  (cd "$tmp/runc/$runc" && sha256sum "runc.$arch" >runc.sha256sum)
  mkdir -p "$cache"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
fi
ln -sfn "$out" "$root/.cache/containerd"
