//! `berth-store`: the CLI over the `berth_store` library. Each verb lives in `cli/<verb>.rs`
//! and only parses, calls the library and prints.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
