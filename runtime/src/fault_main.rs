//! `berth-fault`: the `berth` CLI built with the `fault-injection` feature (see src/fault.rs),
//! for the integration tests only. Same code as `berth`; a plain Rust main keeps it simple.

#[path = "cli/mod.rs"]
mod cli;

fn main() {
    let code = cli::main();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code);
}
