//! `berth`: the runc-compatible CLI over the berth-runtime library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
