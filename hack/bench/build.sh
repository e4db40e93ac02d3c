#!/usr/bin/env bash
# berth-build vs buildah on this machine, in one run: cold build, no-op rebuild and one-file
# edit rebuild of the multi-stage Dockerfile in integration/fixtures/build/multistage, the
# base image (a static busybox) served by a private docker-registry on loopback.
#   sudo hack/bench/build.sh            RUNS=5 by default
# Needs: hyperfine, buildah, docker-registry, skopeo, busybox-static (hack/install-deps.sh).
# Uses target/release (built with `cargo build --release -p berth-build -p berth-store`
# when missing). Prints medians and the ratios berth/buildah.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-5}
BIN=${BERTH_BIN_DIR:-$REPO/target/release}
if [[ ! -x $BIN/berth-build || ! -x $BIN/berth-store ]]; then
  (cd "$REPO" && cargo build --release --locked -p berth-build -p berth-store)
fi
export BERTH_BIN_DIR=$BIN
W=$(mktemp -d /tmp/berth-build-bench.XXXXXX)
REGPID=
unmount_below() { awk -v p="$1/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done; }
cleanup() { [[ -n $REGPID ]] && kill "$REGPID" 2>/dev/null; unmount_below "$W"; rm -rf "$W"; }
trap cleanup EXIT

# A one-layer busybox image, pushed to a private registry on a free loopback port.
R=$W/rootfs; mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root"; chmod 1777 "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -sf /bin/busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"; printf 'root:x:0:\n' >"$R/etc/group"
mkdir -p "$W/layout/blobs/sha256"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 -cf "$W/layer.tar" -C "$R" .
python3 - "$W" <<'PY'
import hashlib, json, gzip, sys
w = sys.argv[1]; t = open(f"{w}/layer.tar", "rb").read(); g = gzip.compress(t, mtime=0)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(f"{w}/layout/blobs/sha256/{d}", "wb").write(b); return "sha256:" + d
layer = put(g)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest()]},
                  "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "busybox-static"}]}).encode()
c = put(cfg)
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": len(g)}]}).encode()
md = put(m)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(m),
           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, open(f"{w}/layout/index.json", "w"))
open(f"{w}/layout/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
cat >"$W/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/registry}}
http: {addr: 127.0.0.1:$PORT, secret: berth-bench}
YML
setsid docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 & REGPID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:latest" "docker://127.0.0.1:$PORT/bench/busybox:latest"
BASE=127.0.0.1:$PORT/bench/busybox:latest

CTX=$W/ctx; cp -a "$REPO/integration/fixtures/build/multistage" "$CTX"
BERTH="$REPO/hack/bench/build-adaptor.sh"
export BERTH_BUILD_STATE=$W/berth
BUILDAH_STATE=$W/buildah
B=(buildah --root "$BUILDAH_STATE/root" --runroot "$BUILDAH_STATE/runroot" --storage-driver overlay)
export TMPDIR=$W/tmp; mkdir -p "$TMPDIR"
bah_build="${B[*]} build --quiet --layers --isolation chroot --tls-verify=false --pull=missing --format oci --build-arg BASE=$BASE -t localhost/bench:latest $CTX >/dev/null"
bah_reset="${B[*]} rm --all >/dev/null 2>&1; ${B[*]} rmi --all --force >/dev/null 2>&1; awk -v p=$BUILDAH_STATE/ 'index(\$2, p) == 1 {print \$2}' /proc/mounts | sort -r | xargs -r umount -l; rm -rf $BUILDAH_STATE"
ber_build="$BERTH build $CTX/Dockerfile $CTX localhost/bench:latest BASE=$BASE"
ber_reset="$BERTH reset"
edit="date +%s%N >$CTX/app/config.txt"

med() { jq -r '.results[0].median' "$1"; }
run() { # name prepare command
  hyperfine --style none --runs "$RUNS" --prepare "$2" --export-json "$W/$1.json" "$3" >/dev/null
  med "$W/$1.json"
}
printf '%-10s %10s %10s %8s\n' bench berth_s buildah_s ratio
for kind in cold nochange edit; do
  case $kind in
    cold) pb="$ber_reset"; pa="$bah_reset";;
    nochange) pb="true"; pa="true"; eval "$ber_build"; eval "$bah_build";;
    edit) pb="$edit"; pa="$edit";;
  esac
  b=$(run "berth-$kind" "$pb" "$ber_build")
  a=$(run "buildah-$kind" "$pa" "$bah_build")
  printf '%-10s %10.3f %10.3f %8.3f\n' "$kind" "$b" "$a" "$(echo "$b / $a" | bc -l)"
done
