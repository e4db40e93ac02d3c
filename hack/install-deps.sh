#!/bin/sh
# Installs the Debian packages berth's build, tests and benchmarks use (idempotent).
# The peers (runc, crun, containerd, buildah, skopeo, umoci, docker-registry) are what the
# integration tests drive berth against; busybox-static makes the test root filesystems.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
PKGS="busybox-static containerd runc crun buildah skopeo umoci docker-registry podman
  containernetworking-plugins uidmap jq hyperfine pigz openssl apache2-utils iproute2 procps psmisc
  gcc pkg-config"
missing=
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update
  # shellcheck disable=SC2086
  $SUDO apt-get install -y --no-install-recommends $missing
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "install-deps: cargo not found (install Rust with rustup)" >&2; exit 1; }
