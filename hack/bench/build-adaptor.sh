#!/usr/bin/env bash
# berth-build as a builder adaptor for build-bench scripts (the interface of the peers'
# builders/buildah.sh):
#   build-adaptor.sh reset                          wipe all builder state and cache
#   build-adaptor.sh build DOCKERFILE CONTEXT TAG [BUILD_ARG=VALUE ...]
#   build-adaptor.sh export TAG OCI_ARCHIVE
#   build-adaptor.sh id TAG                         the image id (config digest)
# Env: BERTH_BUILD_STATE (default /tmp/imagebench/berth), BERTH_BIN_DIR (default: the
# release build of this checkout, else the debug one).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${BERTH_BUILD_STATE:-/tmp/imagebench/berth}
if [[ -z ${BERTH_BIN_DIR:-} ]]; then
  BERTH_BIN_DIR=$REPO/target/release
  [[ -x $BERTH_BIN_DIR/berth-build ]] || BERTH_BIN_DIR=$REPO/target/debug
fi
BUILD=$BERTH_BIN_DIR/berth-build
STORE=$BERTH_BIN_DIR/berth-store
ROOT=$STATE/store

cmd=${1:?reset|build|export|id}; shift
case $cmd in
reset)
  rm -rf "${STATE:?}"
  ;;
build)
  df=$1 ctx=$2 tag=$3; shift 3
  args=(); for a in "$@"; do args+=(--build-arg "$a"); done
  mkdir -p "$ROOT"
  "$BUILD" --root "$ROOT" --progress plain --insecure "${args[@]}" -f "$df" -t "$tag" "$ctx" >/dev/null 2>"$STATE/last-build.log" \
    || { cat "$STATE/last-build.log" >&2; exit 1; }
  ;;
export)
  tag=$1 out=$2
  rm -f "$out"
  "$STORE" --root "$ROOT" export "$tag" "$out" >/dev/null
  ;;
id)
  "$STORE" --root "$ROOT" inspect "$1" | jq -r '.Manifest.config.digest'
  ;;
*) echo "unknown: $cmd" >&2; exit 2;;
esac
