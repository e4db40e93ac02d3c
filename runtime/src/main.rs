//! `berth`: the runc-compatible CLI over the berth-runtime library.
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (which reads and parses
//! /proc/self/maps to place a stack guard): berth starts several times per container, so
//! start-up is on the hot path. `std::env::args` still works (glibc hands argv to std).
//! Test builds keep libtest's main so the CLI's unit tests run.
#![cfg_attr(not(test), no_main)]

// In test builds nothing calls cli::main, so most of the CLI looks unused.
#[cfg_attr(test, allow(dead_code))]
mod cli;

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // As the Rust runtime would: a hook that exits without reading its stdin must not kill
    // us. The container's processes get the default back (process::init, process::exec).
    // SAFETY: setting a signal disposition at start-up, single-threaded.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = cli::main();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}
