#!/usr/bin/env bash
# Usage: hack/bench/runtime.sh [N]            (N sequential containers per measurement, default 100)
# berth vs runc vs crun on this machine, in one run: median ms of `run /bin/true`, median ms of
# create + start + state (until stopped) + delete, peak RSS (/usr/bin/time %M) of `run`, median
# ms of `run /bin/true` under a 512 KiB memory limit (memory+swap; failures counted: a runtime
# whose set-up does not fit in 512 KiB is OOM-killed), and the wall time of 100 containers
# created, started and deleted (--force) PAR at a time (default 16; failures counted).
# crun refuses hybrid cgroup hosts: it runs in a private mount namespace where the cgroup2
# mount is hidden under an empty tmpfs. Env: BERTH (default target/release/berth), RUNC, CRUN,
# PAR, PAR_N (default 100).
set -euo pipefail

N=${1:-100}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
BERTH=${BERTH:-$HERE/target/release/berth}
RUNC=${RUNC:-$(command -v runc || true)}
CRUN=${CRUN:-$(command -v crun || true)}
WORK=${WORK:-$(mktemp -d /tmp/berth-bench.XXXXXX)}
TIME_BIN=/usr/bin/time

# --- one container of the parallel run: create, start, delete --force
if [ "${1:-}" = --one ]; then
  RT=$2; ROOT=$3; BUNDLE=$4; ID=$5
  { "$RT" --root "$ROOT" create -b "$BUNDLE" "$ID" && "$RT" --root "$ROOT" start "$ID" && "$RT" --root "$ROOT" delete --force "$ID"; } </dev/null >/dev/null 2>&1 \
    || { echo "$ID" >> "$ROOT/par-failed"; "$RT" --root "$ROOT" delete --force "$ID" </dev/null >/dev/null 2>&1; }
  exit 0
fi

# --- inner mode: time one runtime (re-invoked per runtime, crun inside the masked namespace)
if [ "${1:-}" = --inner ]; then
  RT=$2; LABEL=$3; N=$4; BUNDLE=$5; ROOT=$6; BUNDLE512=$7; PAR=$8; PAR_N=$9
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
  # 512 KiB memory limit: every run must succeed (exit 0), else it counts as failed.
  m512=(); fail512=0; for ((i = 1; i <= 20; i++)); do
    t0=${EPOCHREALTIME//[.,]/}
    if "$RT" --root "$ROOT" run -b "$BUNDLE512" "k-$$-$i" </dev/null >/dev/null 2>&1; then
      t1=${EPOCHREALTIME//[.,]/}; m512+=($((t1 - t0)))
    else
      fail512=$((fail512 + 1)); "$RT" --root "$ROOT" delete --force "k-$$-$i" </dev/null >/dev/null 2>&1 || true
    fi
  done
  m512ms=$( [ ${#m512[@]} -gt 0 ] && printf '%s\n' "${m512[@]}" | median || echo nan)
  # PAR_N containers, PAR at a time: wall time.
  rm -f "$ROOT/par-failed"
  t0=${EPOCHREALTIME//[.,]/}
  seq 1 "$PAR_N" | xargs -P "$PAR" -I{} "$0" --one "$RT" "$ROOT" "$BUNDLE" "p-$$-{}"
  t1=${EPOCHREALTIME//[.,]/}
  parfail=$( [ -f "$ROOT/par-failed" ] && wc -l < "$ROOT/par-failed" || echo 0)
  par_s=$(awk -v us=$((t1 - t0)) 'BEGIN { printf "%.2f", us / 1e6 }')
  echo "$LABEL $(printf '%s\n' "${runs[@]}" | median) $(printf '%s\n' "${splits[@]}" | median) $(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $m512ms/$fail512 $par_s/$parfail"
  exit 0
fi

[ -x "$BERTH" ] || { echo "build berth first: cargo build-berth (release, glibc static)" >&2; exit 1; }
[ -x "$TIME_BIN" ] || { echo "/usr/bin/time missing: apt-get install time" >&2; exit 1; }
BUNDLE=$WORK/bundle
BERTH=$BERTH "$HERE/hack/mkbundle.sh" "$BUNDLE" /bin/true >/dev/null
# crun 1.8 knows only the versions it was built with: spell the spec version as runc does.
jq '.ociVersion = "1.0.2-dev"' "$BUNDLE/config.json" > "$BUNDLE/config.json.tmp" && mv "$BUNDLE/config.json.tmp" "$BUNDLE/config.json"
# The same container under a 512 KiB memory limit (rootfs shared).
BUNDLE512=$WORK/bundle512
mkdir -p "$BUNDLE512"
jq '.root.path = $r | .linux.resources.memory = {"limit": 524288, "swap": 524288}' --arg r "$BUNDLE/rootfs" "$BUNDLE/config.json" > "$BUNDLE512/config.json"
PAR=${PAR:-16}; PAR_N=${PAR_N:-100}
# Same container for every runtime: no terminal, the default mounts and namespaces.
echo "# berth runtime bench: N=$N, $(nproc) cpus, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
results+=("$("$0" --inner "$BERTH" berth "$N" "$BUNDLE" "$WORK/root-berth" "$BUNDLE512" "$PAR" "$PAR_N")")
if [ -n "$RUNC" ]; then
  results+=("$("$0" --inner "$RUNC" runc "$N" "$BUNDLE" "$WORK/root-runc" "$BUNDLE512" "$PAR" "$PAR_N")")
fi
if [ -n "$CRUN" ]; then
  # crun: hide the cgroup2 mount of this hybrid host in a private mount namespace.
  results+=("$(unshare -m --propagation private -- /bin/sh -c '
    if [ -d /sys/fs/cgroup/unified ]; then mount -t tmpfs -o size=64m,mode=0755 bench-cg2mask /sys/fs/cgroup/unified || exit 125; fi
    exec "$@"' sh "$0" --inner "$CRUN" crun "$N" "$BUNDLE" "$WORK/root-crun" "$BUNDLE512" "$PAR" "$PAR_N")")
fi
printf '%-8s %10s %20s %14s %22s %26s\n' runtime "run ms" "create..delete ms" "peak RSS KiB" "512K run ms/failed" "$PAR_N x$PAR wall s/failed"
base_run=""; base_split=""; base_par=""
for r in "${results[@]}"; do
  read -r label run split rss m512 par <<<"$r"
  printf '%-8s %10s %20s %14s %22s %26s\n' "$label" "$run" "$split" "$rss" "$m512" "$par"
  if [ "$label" = berth ]; then base_run=$run; base_split=$split; base_par=${par%/*}; fi
done
for r in "${results[@]}"; do
  read -r label run split rss m512 par <<<"$r"
  [ "$label" = berth ] && continue
  awk -v l="$label" -v br="$base_run" -v bs="$base_split" -v bp="$base_par" -v r="$run" -v s="$split" -v p="${par%/*}" \
    'BEGIN { printf "berth/%s: run %.2fx, create..delete %.2fx, parallel wall %.2fx\n", l, br / r, bs / s, bp / p }'
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg); work dir $WORK"
