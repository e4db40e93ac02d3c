//! `berth features`: what this build implements, in the runtime-spec features format.

use anyhow::Result;
use berth_runtime::plan::caps::NAMES;
use serde_json::json;

pub fn main(argv: &[String]) -> Result<i32> {
    let a = super::args::parse("features", argv, &[], None)?;
    super::no_more("features", &a, 0)?;
    let mount_options = [
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud", "mand",
        "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
        "nosuid", "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec",
        "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "rnosymfollow", "ro",
        "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable",
        "rw", "shared", "silent", "idmap", "ridmap", "slave", "strictatime", "suid", "symfollow", "sync", "tmpcopyup",
        "unbindable",
    ];
    let v = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth_runtime::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options.to_vec(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": NAMES.to_vec(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": berth_runtime::seccomp::features::seccomp(),
            "apparmor": berth_runtime::lsm::apparmor_features(),
            "selinux": berth_runtime::lsm::selinux_features(),
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}
