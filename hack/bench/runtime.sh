#!/usr/bin/env bash
# Usage: hack/bench/runtime.sh [N]            (N sequential containers per measurement, default 100)
# berth vs runc vs crun on this machine, in one run: median ms of `run /bin/true`, median ms of
# create + start + state (until stopped) + delete, and peak RSS (/usr/bin/time %M) of `run`.
# crun refuses hybrid cgroup hosts: it runs in a private mount namespace where the cgroup2
# mount is hidden under an empty tmpfs. Env: BERTH (default target/release/berth), RUNC, CRUN.
set -euo pipefail

N=${1:-100}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
BERTH=${BERTH:-$HERE/target/release/berth}
RUNC=${RUNC:-$(command -v runc || true)}
CRUN=${CRUN:-$(command -v crun || true)}
WORK=${WORK:-$(mktemp -d /tmp/berth-bench.XXXXXX)}
TIME_BIN=/usr/bin/time

# --- inner mode: time one runtime (re-invoked per runtime, crun inside the masked namespace)
if [ "${1:-}" = --inner ]; then
  RT=$2; LABEL=$3; N=$4; BUNDLE=$5; ROOT=$6
  mkdir -p "$ROOT"
  rt() { "$RT" --root "$ROOT" "$@" </dev/null >/dev/null; }
  median() { sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.2f", m / 1000}'; }
  for i in 1 2 3; do rt run -b "$BUNDLE" "w-$$-$i"; done
  runs=(); for ((i = 1; i <= N; i++)); do
    t0=${EPOCHREALTIME//[.,]/}; rt run -b "$BUNDLE" "r-$$-$i"; t1=${EPOCHREALTIME//[.,]/}
    runs+=($((t1 - t0)))
  done
  splits=(); for ((i = 1; i <= N; i++)); do
    id="s-$$-$i"
    t0=${EPOCHREALTIME//[.,]/}
    rt create -b "$BUNDLE" "$id"; rt start "$id"
    until [[ $("$RT" --root "$ROOT" state "$id") =~ \"status\":[[:space:]]*\"stopped\" ]]; do :; done
    rt delete "$id"
    t1=${EPOCHREALTIME//[.,]/}
    splits+=($((t1 - t0)))
  done
  rss=(); for ((i = 1; i <= 10; i++)); do
    "$TIME_BIN" -f %M -o "$ROOT/rss" "$RT" --root "$ROOT" run -b "$BUNDLE" "m-$$-$i" </dev/null >/dev/null
    rss+=("$(tail -1 "$ROOT/rss")")
  done
  echo "$LABEL $(printf '%s\n' "${runs[@]}" | median) $(printf '%s\n' "${splits[@]}" | median) $(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  exit 0
fi

[ -x "$BERTH" ] || { echo "build berth first: cargo build-berth (release, glibc static)" >&2; exit 1; }
[ -x "$TIME_BIN" ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }
BUNDLE=$WORK/bundle
BERTH=$BERTH "$HERE/hack/mkbundle.sh" "$BUNDLE" /bin/true >/dev/null
# crun 1.8 knows only the versions it was built with: spell the spec version as runc does.
jq '.ociVersion = "1.0.2-dev"' "$BUNDLE/config.json" > "$BUNDLE/config.json.tmp" && mv "$BUNDLE/config.json.tmp" "$BUNDLE/config.json"
# Same container for every runtime: no terminal, the default mounts and namespaces.
echo "# berth runtime bench: N=$N, $(nproc) cpus, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
results+=("$("$0" --inner "$BERTH" berth "$N" "$BUNDLE" "$WORK/root-berth")")
if [ -n "$RUNC" ]; then
  results+=("$("$0" --inner "$RUNC" runc "$N" "$BUNDLE" "$WORK/root-runc")")
fi
if [ -n "$CRUN" ]; then
  # crun: hide the cgroup2 mount of this hybrid host in a private mount namespace.
  results+=("$(unshare -m --propagation private -- /bin/sh -c '
    if [ -d /sys/fs/cgroup/unified ]; then mount -t tmpfs -o size=64m,mode=0755 bench-cg2mask /sys/fs/cgroup/unified || exit 125; fi
    exec "$@"' sh "$0" --inner "$CRUN" crun "$N" "$BUNDLE" "$WORK/root-crun")")
fi
printf '%-8s %14s %24s %14s\n' runtime "run ms" "create..delete ms" "peak RSS KiB"
base_run=""; base_split=""
for r in "${results[@]}"; do
  read -r label run split rss <<<"$r"
  printf '%-8s %14s %24s %14s\n' "$label" "$run" "$split" "$rss"
  if [ "$label" = berth ]; then base_run=$run; base_split=$split; fi
done
for r in "${results[@]}"; do
  read -r label run split rss <<<"$r"
  [ "$label" = berth ] && continue
  awk -v l="$label" -v br="$base_run" -v bs="$base_split" -v r="$run" -v s="$split" \
    'BEGIN { printf "berth/%s: run %.2fx, create..delete %.2fx\n", l, br / r, bs / s }'
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg); work dir $WORK"
