#!/usr/bin/env bash
# The demo: build examples/hello with berth-build and run the image with berth.
#   sudo hack/demo.sh            (root: builds use overlay mounts and namespaces)
# Env: BERTH_BIN_DIR (default: target/release, built if missing), DEMO_GREETING.
# Installs what it needs (hack/install-deps.sh: busybox-static, ...) — the image's base is a static
# busybox copied into the build context, so no registry is involved.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "demo.sh: run as root (sudo hack/demo.sh)" >&2; exit 1; }
[[ -f $HOME/.cargo/env ]] && . "$HOME/.cargo/env"
# busybox-static and friends on a fresh machine (idempotent: a no-op once installed)
"$REPO/hack/install-deps.sh"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[[ -x $BUSYBOX ]] || { echo "demo.sh: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }
BIN=${BERTH_BIN_DIR:-$REPO/target/release}
if [[ ! -x $BIN/berth-build || ! -x $BIN/berth || ! -x $BIN/berth-store ]]; then
  (cd "$REPO" && cargo build --release --locked -p berth-build -p berth-store -p berth-runtime)
fi
WORK=$(mktemp -d /tmp/berth-demo.XXXXXX)
ID=berth-demo-$$
cleanup() {
  "$BIN/berth" --root "$WORK/state" delete --force "$ID" >/dev/null 2>&1 || true
  "$BIN/berth-store" --root "$WORK/store" unbundle "$WORK/bundle" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cp -a "$REPO/examples/hello" "$WORK/ctx"
cp "$BUSYBOX" "$WORK/ctx/busybox"
echo "== berth-build: building examples/hello"
"$BIN/berth-build" --root "$WORK/store" --progress plain -t localhost/berth-demo:latest \
  --build-arg "GREETING=${DEMO_GREETING:-hello from a berth-built image}" "$WORK/ctx"
echo "== berth-store: the image"
"$BIN/berth-store" --root "$WORK/store" images
"$BIN/berth-store" --root "$WORK/store" bundle localhost/berth-demo:latest "$WORK/bundle" >/dev/null
echo "== berth: running it"
"$BIN/berth" --root "$WORK/state" run --bundle "$WORK/bundle" "$ID"
