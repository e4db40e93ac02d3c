#!/bin/sh
# Runs every test: unit tests and the integration tests that drive the real binaries (as root).
set -eu
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
[ "$(id -u)" = 0 ] || { echo "test.sh: the integration tests need root (sudo hack/test.sh)" >&2; exit 1; }
# the peers the integration tests drive (idempotent: a no-op once installed)
hack/install-deps.sh
cargo build --workspace --bins --locked
# berth with fault injection, for integration/tests/runtime_faults.rs (never a release binary).
cargo build -p berth-runtime --features fault-injection --bin berth-fault --locked
cargo test --workspace --locked --no-fail-fast "$@"
