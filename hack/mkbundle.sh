#!/usr/bin/env bash
# Usage: hack/mkbundle.sh DIR [CMD...]
# Makes an OCI bundle in DIR: rootfs/ from Debian's static busybox (every applet linked) and a
# config.json from `berth spec` with process.terminal=false and process.args=CMD (default: sh).
# Env: BERTH=path/to/berth (default: target/debug/berth or berth on PATH), BUSYBOX=/bin/busybox.
set -euo pipefail

DIR=${1:?usage: hack/mkbundle.sh DIR [CMD...]}
shift
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUSYBOX=${BUSYBOX:-/bin/busybox}
BERTH=${BERTH:-}
if [ -z "$BERTH" ]; then
  for b in "$HERE/target/release/berth" "$HERE/target/debug/berth" "$(command -v berth || true)"; do
    [ -n "$b" ] && [ -x "$b" ] && { BERTH=$b; break; }
  done
fi
[ -x "$BUSYBOX" ] || { echo "mkbundle: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
[ -n "$BERTH" ] || { echo "mkbundle: berth binary not found (cargo build -p berth-runtime, or set BERTH)" >&2; exit 1; }
command -v jq >/dev/null || { echo "mkbundle: jq is required (apt-get install jq)" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
R="$DIR/rootfs"
rm -rf "$R" "$DIR/config.json"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,root,run,home/berth}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
"$BUSYBOX" --list-full | while read -r p; do
  [ "$p" = bin/busybox ] && continue
  mkdir -p "$R/$(dirname "$p")"
  ln -sf /bin/busybox "$R/$p"
done
printf 'root:x:0:0:root:/root:/bin/sh\nberth:x:1000:1000:berth:/home/berth:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nberth:x:1000:\nnogroup:x:65534:\n' > "$R/etc/group"

"$BERTH" spec --bundle "$DIR"
[ $# -gt 0 ] || set -- sh
args=$(printf '%s\n' "$@" | jq -R . | jq -cs .)
jq --argjson a "$args" '.process.terminal = false | .process.args = $a' "$DIR/config.json" > "$DIR/config.json.tmp"
mv "$DIR/config.json.tmp" "$DIR/config.json"
echo "bundle ready: $DIR (args: $args)"
