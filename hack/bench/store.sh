#!/usr/bin/env bash
# berth-store benchmark: unpack and pull of a ~300 MB / 5-layer image against the peers, in
# one run on this machine, reported as medians and ratios.
#   unpack: berth-store unpack   vs  umoci unpack   vs  pigz -dc | tar -x (no whiteouts: a floor)
#   pull:   berth-store pull     vs  skopeo copy docker:// -> oci:   vs  curl GETs of the blobs
# Everything is made here: the image (store-images.sh, umoci), a docker-registry on a free
# loopback port with temp storage, a store root. Every timed run writes to a fresh directory
# (deleting large trees right before a timed run skews it on ext4 with discard).
#
# Env: RUNS=5  DATA=/tmp/berth-bench  TARGETS="shm disk"  ONLY="unpack pull"
#      BERTH_STORE=target/release/berth-store
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-5}
DATA=${DATA:-/tmp/berth-bench}
TARGETS=${TARGETS:-"shm disk"}
ONLY=${ONLY:-"unpack pull"}
want() { [[ " $ONLY " == *" $1 "* ]]; }
BS=${BERTH_STORE:-$TOP/target/release/berth-store}
for t in umoci skopeo docker-registry hyperfine pigz jq curl; do command -v $t >/dev/null || { echo "store.sh: $t is required" >&2; exit 1; }; done
[[ -x $BS ]] || (cd "$TOP" && cargo build --release -p berth-store)
[[ -f $DATA/oci/big/index.json ]] || DATA=$DATA "$HERE/store-images.sh" >/dev/null
SRC=$DATA/oci/big
RES=$DATA/results/$(date +%Y%m%dT%H%M%S); mkdir -p "$RES"
ROOT=$DATA/store; rm -rf "$ROOT"; "$BS" --root "$ROOT" import --name localhost/big "$SRC" >/dev/null

md=$(jq -r '.manifests[0].digest' "$SRC/index.json"); MAN=$SRC/blobs/${md/://}
mapfile -t LAYERS < <(jq -r '.layers[].digest | sub(":"; "/")' "$MAN" | sed "s|^|$SRC/blobs/|")
GZ=0; TAR=0; for f in "${LAYERS[@]}"; do GZ=$((GZ + $(stat -c %s "$f"))); TAR=$((TAR + $(gzip -dc "$f" | wc -c))); done
echo "image: ${#LAYERS[@]} layers, $((GZ / 1000000)) MB compressed, $((TAR / 1000000)) MB tar; host $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$RES/summary.txt"

# Registry (plain HTTP on loopback) holding the image.
REGDIR=$(mktemp -d "$DATA/registry.XXXX"); PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$REGDIR/config.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $REGDIR/storage}, redirect: {disable: true}}
http: {addr: $REG, secret: bench}
YML
docker-registry serve "$REGDIR/config.yml" >"$REGDIR/log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; rm -rf "$REGDIR" /dev/shm/berth-bench' EXIT
for _ in $(seq 100); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
"$BS" --root "$ROOT" push localhost/big "$REG/bench/big:latest" >/dev/null
export BS ROOT REG SRC

median() { jq -r '.results[0].median' "$1"; }
# bench NAME PREP CMD  (CMD may use $DEST, a fresh path per run under $BASE)
bench() {
  local name=$1 base=$2 cmd=$3
  rm -rf "$base"; mkdir -p "$base"; sync
  export BASE=$base
  hyperfine --style none --runs "$RUNS" --warmup 1 \
    --prepare "n=\$(( \$(cat $base/.n 2>/dev/null || echo 0) + 1 )); echo \$n >$base/.n; mkdir -p $base/\$n; ln -sfn \$n $base/cur; sync" \
    --export-json "$RES/$name.json" "DEST=$base/cur/out; $cmd" >/dev/null 2>"$RES/$name.err" || { echo "$name FAILED:"; cat "$RES/$name.err"; return 1; }
  rm -rf "$base"; sync
  median "$RES/$name.json"
}
row() { printf '%-34s %8.3f s %8.1f MB/s   %s\n' "$1" "$2" "$(awk "BEGIN{print $3 / $2 / 1000000}")" "${4:-}" | tee -a "$RES/summary.txt"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

for tgt in $TARGETS; do
  case $tgt in shm) W=/dev/shm/berth-bench;; disk) W=$DATA/work;; *) W=$tgt;; esac
  if want unpack; then
  echo "== unpack on $tgt (MB/s of tar)" | tee -a "$RES/summary.txt"
  b=$(bench "unpack-berth-$tgt" "$W/b" '$BS --root $ROOT unpack localhost/big $DEST')
  u=$(bench "unpack-umoci-$tgt" "$W/u" 'umoci unpack --image $SRC:latest $DEST >/dev/null')
  p=$(bench "unpack-pigz-$tgt" "$W/p" "mkdir -p \$DEST && for l in ${LAYERS[*]}; do pigz -dc \$l | tar -xf - -C \$DEST || exit 1; done")
  row "berth-store unpack" "$b" "$TAR" "x$(ratio "$u" "$b") vs umoci, x$(ratio "$p" "$b") vs pigz|tar"
  row "umoci unpack" "$u" "$TAR"
  row "pigz -dc | tar -x (no whiteouts)" "$p" "$TAR"
  fi
  want pull || continue
  echo "== pull from loopback registry on $tgt (MB/s of blobs)" | tee -a "$RES/summary.txt"
  b=$(bench "pull-berth-$tgt" "$W/pb" '$BS --root $DEST pull $REG/bench/big:latest >/dev/null')
  bu=$(bench "pullunpack-berth-$tgt" "$W/pu" '$BS --root $DEST pull --unpack $REG/bench/big:latest >/dev/null')
  s=$(bench "pull-skopeo-$tgt" "$W/ps" 'skopeo copy -q --src-tls-verify=false docker://$REG/bench/big:latest oci:$DEST:latest')
  urls=""; for f in "${LAYERS[@]}"; do urls+=" http://$REG/v2/bench/big/blobs/sha256:$(basename "$f")"; done
  c=$(bench "pull-curl-$tgt" "$W/pc" "mkdir -p \$DEST; i=0; for u in $urls; do i=\$((i+1)); curl -sf -o \$DEST/\$i \$u || exit 1; done")
  row "berth-store pull" "$b" "$GZ" "x$(ratio "$s" "$b") vs skopeo, x$(ratio "$c" "$b") vs curl"
  row "berth-store pull --unpack" "$bu" "$GZ" "(also builds every snapshot, diff_ids checked)"
  row "skopeo copy" "$s" "$GZ"
  row "curl GETs (sequential, no hashing)" "$c" "$GZ"
done
echo "results in $RES"
