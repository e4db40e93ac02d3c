//! berth-build: Dockerfiles to OCI images (see the library for how).
use clap::Parser;

fn main() {
    // RUN containers are children of this binary: /proc/<pid>/exe must not be writable from
    // them (CVE-2019-5736). berth's runtime re-executes us once through a read-only view.
    if let Err(e) = berth_runtime::protect_exe() {
        eprintln!("berth-build: warning: cannot protect the binary from containers: {e}");
    }
    env_logger::Builder::from_env(env_logger::Env::default().filter_or("BERTH_LOG", "warn")).init();
    let cli = berth_build::cli::Cli::parse();
    if let Err(e) = berth_build::cli::build::run(cli.options()) {
        eprintln!("berth-build: {e:#}");
        std::process::exit(if berth_build::exec::interrupted() { 130 } else { 1 });
    }
}
