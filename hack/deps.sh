#!/usr/bin/env bash
# The Debian packages each make target needs, installed when missing.
#
#   hack/deps.sh demo    what `make demo` needs: the control plane is built with Go alone
#   hack/deps.sh test    what `make test` needs on top: real sshd, systemd-nspawn test nodes,
#                        a C toolchain with libseccomp for runc, and headless Chromium
#
# As root it installs them; otherwise through sudo when sudo needs no password.
# Failing both, it stops before anything is built and prints the one line to run.
set -euo pipefail

demo=(git make ca-certificates)
test=("${demo[@]}"
  openssh-server openssh-client          # pkg/bootstrap/ssh runs a real sshd; test nodes are reached over SSH
  gnupg                                  # pkg/sync/source signs commits with OpenPGP keys and checks them with git verify-commit
  debootstrap debian-archive-keyring     # test/nodes builds a Debian root file system
  systemd-container iproute2 util-linux  # and boots it with systemd-nspawn in network namespaces
  gcc libc6-dev pkg-config libseccomp-dev # tools/build.sh builds runc (cgo, static, seccomp)
  chromium-headless-shell                # test/browser drives it for the status page's browser tests
)

case ${1:-} in
demo) want=("${demo[@]}") ;;
test) want=("${test[@]}") ;;
*)
  echo "usage: hack/deps.sh demo|test" >&2
  exit 2
  ;;
esac

if ! command -v dpkg-query >/dev/null; then
  echo "deps: not a Debian or Ubuntu machine; install the equivalents of: ${want[*]}" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "deps: missing Debian packages: ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" "${install[@]}" >/dev/null
