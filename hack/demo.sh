#!/usr/bin/env bash
# make demo: sync this repository's dev overlay into the local control plane
# from a local git repository, change it, and sync again. Run by `make demo`
# after `make cluster-up build`.
set -euo pipefail
cd "$(dirname "$0")/.."

export KUBECONFIG=$PWD/.cache/cluster/kubeconfig
demo=$PWD/.cache/demo
gitsync=$PWD/bin/gitsync
kubectl=$PWD/.cache/bin/kubectl
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A local git repository seeded from manifests/ and overlays/"
rm -rf "$demo/repo"
mkdir -p "$demo/repo"
cp -r manifests overlays "$demo/repo/"
git -C "$demo/repo" init -q -b main
git -C "$demo/repo" -c user.name=demo -c user.email=demo@localhost add -A
git -C "$demo/repo" -c user.name=demo -c user.email=demo@localhost commit -qm "seed from gitsync's overlays"
echo "$demo/repo at $(git -C "$demo/repo" rev-parse --short HEAD)"

sync=(--repo "$demo/repo" --path overlays/dev --name dev --cache-dir "$demo/git")

step "gitsync sync: render overlays/dev, apply, wait until healthy"
"$gitsync" sync "${sync[@]}"
"$kubectl" get namespace dev
"$kubectl" -n dev get deployments,services,pods

step "A commit scales nginx to 3; gitsync diff shows it, gitsync sync applies just that"
sed -i 's/value: 1$/value: 3/' "$demo/repo/overlays/dev/kustomization.yaml"
git -C "$demo/repo" -c user.name=demo -c user.email=demo@localhost commit -qam "dev: 3 replicas"
"$gitsync" diff "${sync[@]}" || true
"$gitsync" sync "${sync[@]}"

step "A hand edit is taken back on the next sync"
"$kubectl" -n dev scale deployment nginx --replicas=5 >/dev/null
"$gitsync" sync "${sync[@]}"
"$kubectl" -n dev get deployment nginx

step "gitsync status"
"$gitsync" status -A

cat <<EOT

The control plane keeps running: export KUBECONFIG=$KUBECONFIG
Keep syncing every 10s:  $gitsync run ${sync[*]} --interval 10s --http-addr 127.0.0.1:8080
  and watch it at http://127.0.0.1:8080/ui/
Stop the cluster:        make cluster-down
EOT
