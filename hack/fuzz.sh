#!/usr/bin/env bash
# Usage: hack/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each; targets: spec_plan seccomp_compile)
# Runs the libFuzzer targets of runtime/fuzz, each for SECONDS, seeded from the checked-in
# corpora (runtime/tests/fixtures/spec-corpus, runtime/tests/fixtures/seccomp). Crashes land in
# runtime/fuzz/artifacts/TARGET/ (replay: the binary with the file as argument).
#
# libFuzzer instrumentation needs unstable rustc flags: nightly (`rustup toolchain install
# nightly`) is used when present, else stable with RUSTC_BOOTSTRAP=1 (works for building; it
# is what cargo-fuzz does on a nightly). cargo-fuzz is used when installed, else the same
# flags are passed by hand (no install needed). Env: FUZZ_JOBS (parallel libFuzzer workers,
# default 1), FUZZ_ASAN=1 (AddressSanitizer; off by default: the targets are safe Rust).
#
# CI runs none of this: `cargo test -p berth-runtime plan::config` feeds the spec corpus and
# thousands of deterministic mutations through the same function (stable, seconds).
set -euo pipefail
cd "$(dirname "$0")/../runtime/fuzz"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

SECS=${1:-60}; shift || true
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(spec_plan seccomp_compile)
JOBS=${FUZZ_JOBS:-1}

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TC=(+nightly)
else
  TC=(); export RUSTC_BOOTSTRAP=1
fi

seeds() {
  case $1 in
    spec_plan) echo ../tests/fixtures/spec-corpus ;;
    seccomp_compile) echo ../tests/fixtures/seccomp ;;
  esac
}

for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  args=("corpus/$t" "$(seeds "$t")" "-max_total_time=$SECS" "-artifact_prefix=artifacts/$t/" -print_final_stats=1)
  # (-jobs forks workers that log to fuzz-N.log: only when asked for.)
  [ "$JOBS" -gt 1 ] && args+=("-jobs=$JOBS" "-workers=$JOBS")
  echo "== $t: ${SECS}s"
  if cargo fuzz --version >/dev/null 2>&1; then
    san=(); [ "${FUZZ_ASAN:-0}" = 1 ] || san=(--sanitizer none)
    cargo "${TC[@]}" fuzz run "${san[@]}" "$t" -- "${args[@]}"
  else
    # What cargo-fuzz passes (sancov instrumentation, `--cfg fuzzing`, debug assertions).
    flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
    flags+=" -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
    [ "${FUZZ_ASAN:-0}" = 1 ] && flags+=" -Zsanitizer=address"
    host=$(rustc -vV | sed -n 's/^host: //p')
    RUSTFLAGS="$flags" cargo "${TC[@]}" build --release --target "$host" --bin "$t"
    "target/$host/release/$t" "${args[@]}"
  fi
done
