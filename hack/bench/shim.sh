#!/usr/bin/env bash
# Usage: hack/bench/shim.sh [N]        (N runs per shim, default 30; root; needs containerd, ctr)
# berth's shim vs containerd's Go runc shim, through a private containerd (CRI off) in one run:
# median ms of `ctr run --rm IMG ID /bin/true` (interleaved, so load drift hits both alike) and
# the resident memory of each shim with one running container: RSS and PSS from
# /proc/PID/smaps_rollup, threads. Env: SHIM (default target/release/containerd-shim-berth-v2).
set -euo pipefail

N=${1:-30}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
SHIM=${SHIM:-$HERE/target/release/containerd-shim-berth-v2}
[ -x "$SHIM" ] || { echo "shim.sh: $SHIM not built (cargo build --release -p containerd-shim-berth-v2)" >&2; exit 1; }
T=$(mktemp -d /tmp/berth-shimbench.XXXXXX)
SOCK=$T/containerd.sock
NS=shimbench$$
IMG=docker.io/library/shimbench-busybox:latest
C=(ctr -a "$SOCK" -n "$NS")

cleanup() {
  for id in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task kill -a -s KILL "$id" >/dev/null 2>&1 || true; "${C[@]}" task rm -f "$id" >/dev/null 2>&1 || true; done
  for id in $("${C[@]}" c ls -q 2>/dev/null); do "${C[@]}" c rm "$id" >/dev/null 2>&1 || true; done
  [ -n "${CPID:-}" ] && kill "$CPID" 2>/dev/null && sleep 0.5
  for p in $(pgrep -f -- "-address $SOCK( |\$)" || true); do kill "$p" 2>/dev/null || true; done
  for d in /sys/fs/cgroup/*/"$NS"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
  grep -F "$T" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$T" "/run/containerd/berth/$NS"
}
trap cleanup EXIT

# --- a one-layer busybox OCI image, written as an OCI layout by hand (no registry, no umoci)
mkimage() {
  local w=$T/img r=$T/img/rootfs l=$T/img/layout
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,root} "$l/blobs/sha256"
  cp /bin/busybox "$r/bin/busybox"
  /bin/busybox --list-full | while read -r p; do [ "$p" = bin/busybox ] || { mkdir -p "$r/$(dirname "$p")"; ln -sf /bin/busybox "$r/$p"; }; done
  tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$w/layer.tar" .
  blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$l/blobs/sha256/$d"; echo "sha256:$d $(stat -c %s "$1")"; }
  read -r ld ls < <(blob "$w/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin:/usr/sbin:/sbin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$ld" > "$w/config.json"
  read -r cd cs < <(blob "$w/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" > "$w/manifest.json"
  read -r md ms < <(blob "$w/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$md" "$ms" "$IMG" > "$l/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$l/oci-layout"
  tar -C "$l" -cf "$T/image.tar" .
}

mkdir -p "$T"/{root,state}
cat > "$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
EOF
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 </dev/null &
CPID=$!
for _ in $(seq 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
mkimage
"${C[@]}" image import "$T/image.tar" >/dev/null

echo "# shim bench: $(containerd --version | cut -d' ' -f3), N=$N, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RT=([berth]="--runtime $SHIM" [runc]="--runtime io.containerd.runc.v2")
ORDER=(berth runc)

# --- resident memory with one running container
for v in "${ORDER[@]}"; do
  id=mem-$v
  # shellcheck disable=SC2086
  "${C[@]}" run -d ${RT[$v]} "$IMG" "$id" /bin/sleep 100 >/dev/null
  sleep 1
  pid=
  for p in $(pgrep -f -- "-id $id( |\$)" || true); do
    grep -qF -- "$SOCK" "/proc/$p/cmdline" 2>/dev/null && ! grep -q "start" <(tr '\0' '\n' < "/proc/$p/cmdline" | tail -1) && { pid=$p; break; }
  done
  if [ -n "$pid" ]; then
    rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    thr=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
    printf 'shim-mem %-6s pid %-7s rss_kb %-6s pss_kb %-6s threads %s\n' "$v" "$pid" "$rss" "$pss" "$thr"
    eval "RSS_$v=$rss PSS_$v=$pss"
  else
    echo "shim-mem $v: shim process not found"
  fi
  "${C[@]}" task kill -s KILL "$id" >/dev/null; sleep 0.3
  "${C[@]}" task rm "$id" >/dev/null; "${C[@]}" c rm "$id" >/dev/null
done

# --- ctr run --rm /bin/true, interleaved
for v in "${ORDER[@]}"; do
  # shellcheck disable=SC2086
  "${C[@]}" run --rm ${RT[$v]} "$IMG" "warm-$v" /bin/true </dev/null >/dev/null
done
declare -A TIMES
for ((i = 1; i <= N; i++)); do
  for v in "${ORDER[@]}"; do
    t0=${EPOCHREALTIME//[.,]/}
    # shellcheck disable=SC2086
    "${C[@]}" run --rm ${RT[$v]} "$IMG" "r-$v-$i" /bin/true </dev/null >/dev/null || echo "run failed: $v #$i"
    t1=${EPOCHREALTIME//[.,]/}
    TIMES[$v]+="$((t1 - t0)) "
  done
done
declare -A MED
for v in "${ORDER[@]}"; do
  MED[$v]=$(printf '%s\n' ${TIMES[$v]} | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1000}')
  echo "ctr-run-rm $v: median_ms ${MED[$v]}"
done
awk -v b="${MED[berth]}" -v r="${MED[runc]}" 'BEGIN { printf "ratio berth/runc-shim: %.2f (goal <= 0.60)\n", b / r }'
if [ -n "${RSS_berth:-}" ] && [ -n "${RSS_runc:-}" ]; then
  awk -v b="$RSS_berth" -v r="$RSS_runc" -v pb="$PSS_berth" -v pr="$PSS_runc" \
    'BEGIN { printf "rss berth/runc-shim: %.2f (%d kB vs %d kB); pss %d kB vs %d kB (bars: rss <= 2560 kB, pss <= 1024 kB)\n", b / r, b, r, pb, pr }'
fi
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
