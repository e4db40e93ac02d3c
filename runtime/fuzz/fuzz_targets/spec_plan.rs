//! Fuzz the config.json → plan step (`berth_runtime::plan::plan_config`: parse, version
//! check, `Plan::build`, cgroup placement and resource planning): any bytes must give a plan
//! or an error, never a panic. Seed with runtime/tests/fixtures/spec-corpus (hack/fuzz.sh
//! does). The same function runs over that corpus and deterministic mutations in
//! `cargo test -p berth-runtime plan::config` (no nightly needed).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth_runtime::plan::plan_config(data);
});
