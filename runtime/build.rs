//! Link options for the `berth` binary.
//!
//! Packed relative relocations (DT_RELR): a PIE's relocation table is read whole at every
//! start, and with the usual RELA format it is ~240 KiB of the binary's resident pages (the
//! runtime starts several times per container and is judged on peak RSS). RELR makes it a
//! few KiB. Only when the toolchain's linker knows the flag (binutils >= 2.38, glibc >= 2.36).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("linux-gnu") {
        return;
    }
    if linker_supports("-Wl,-z,pack-relative-relocs") {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-z,pack-relative-relocs");
    }
}

fn linker_supports(flag: &str) -> bool {
    let Some(out) = std::env::var_os("OUT_DIR") else { return false };
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let dir = std::path::PathBuf::from(out);
    let src = dir.join("probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    // --fatal-warnings: an old ld only warns about an unknown -z option.
    Command::new(cc)
        .arg(&src)
        .arg("-o")
        .arg(dir.join("probe"))
        .arg("-pie")
        .arg("-fPIE")
        .arg(flag)
        .arg("-Wl,--fatal-warnings")
        .output()
        .is_ok_and(|o| o.status.success())
}
