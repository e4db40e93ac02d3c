//! Writing a new user namespace's uid/gid maps, from the runtime (the namespace's owner).
//!
//! Root writes `/proc/PID/{uid,gid}_map` directly. An unprivileged runtime may itself write
//! only a map of its own single id (and, for gid_map, only after `setgroups` is `deny`);
//! anything more (e.g. `0 1000 1` plus `1 100000 65536` from /etc/subuid) goes through the
//! setuid helpers `newuidmap`/`newgidmap` (shadow's `uidmap` package), which check the ranges
//! against /etc/subuid and /etc/subgid — as runc and the other rootless runtimes do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One `inside outside count` line of a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// Parse the plan's map text (`"0 1000 1\n1 100000 65536\n"`).
pub fn parse(map: &str) -> Vec<Extent> {
    map.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u32>());
            match (f.next(), f.next(), f.next()) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) => Some(Extent { inside, outside, count }),
                _ => None,
            }
        })
        .collect()
}

/// How one map gets written.
#[derive(Debug, PartialEq, Eq)]
pub enum How {
    /// By the runtime itself (root, or the caller's own single id).
    Direct,
    /// Through the named setuid helper.
    Helper(&'static str),
}

/// The kernel lets an unprivileged owner write only a single extent of size 1 that maps its
/// own (effective) id; everything else needs privilege over the parent namespace.
pub fn how(map: &str, euid_is_root: bool, own_id: u32, helper: &'static str) -> How {
    if euid_is_root {
        return How::Direct;
    }
    match parse(map).as_slice() {
        [e] if e.count == 1 && e.outside == own_id => How::Direct,
        _ => How::Helper(helper),
    }
}

/// Write both maps of `pid`'s user namespace; errors are one line without the container id
/// (the caller adds it).
pub fn write_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), String> {
    // SAFETY: these always succeed.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let root = euid == 0;
    match how(uid_map, root, euid, "newuidmap") {
        How::Direct => write(pid, "uid_map", uid_map)?,
        How::Helper(tool) => helper(tool, pid, uid_map, "uid", euid)?,
    }
    match how(gid_map, root, egid, "newgidmap") {
        How::Direct => {
            if !root {
                // Without CAP_SETGID over the parent namespace the kernel insists on this, so
                // the container can never drop a supplementary group the host relies on.
                write(pid, "setgroups", "deny")?;
            }
            write(pid, "gid_map", gid_map)?
        }
        How::Helper(tool) => helper(tool, pid, gid_map, "gid", egid)?,
    }
    Ok(())
}

fn write(pid: i32, file: &str, data: &str) -> Result<(), String> {
    std::fs::write(format!("/proc/{pid}/{file}"), data)
        .map_err(|e| format!("write {file} {:?}: {}", data.trim().replace('\n', ", "), crate::hooks::lower(&e)))
}

fn helper(tool: &str, pid: i32, map: &str, kind: &str, own: u32) -> Result<(), String> {
    let shown = map.trim().replace('\n', ", ");
    let Some(path) = find_on_path(tool) else {
        return Err(format!(
            "{kind} map {shown:?} maps more than the caller's own {kind} {own}, which needs {tool}: not found on PATH (install the uidmap package)"
        ));
    };
    let mut cmd = Command::new(&path);
    cmd.arg(pid.to_string());
    for e in parse(map) {
        cmd.args([e.inside.to_string(), e.outside.to_string(), e.count.to_string()]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("run {}: {}", path.display(), crate::hooks::lower(&e)))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr }).into_owned();
    let text: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let status = match out.status.code() {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".into(),
    };
    Err(format!(
        "{tool} refused {kind} map {shown:?} ({status}): {} (check /etc/sub{kind} for the caller)",
        if text.is_empty() { "no message".into() } else { text.join("; ") }
    ))
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").filter(|p| !p.is_empty());
    let path = path.as_deref().unwrap_or(std::ffi::OsStr::new("/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"));
    std::env::split_paths(path).map(|d| d.join(tool)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plan_text() {
        assert_eq!(
            parse("0 1000 1\n1 100000 65536\n"),
            vec![Extent { inside: 0, outside: 1000, count: 1 }, Extent { inside: 1, outside: 100000, count: 65536 }]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn who_writes_what() {
        // root: always directly
        assert_eq!(how("0 100000 65536\n", true, 0, "newuidmap"), How::Direct);
        // the caller's own id alone, whatever it is called inside
        assert_eq!(how("0 1000 1\n", false, 1000, "newuidmap"), How::Direct);
        assert_eq!(how("1000 1000 1\n", false, 1000, "newuidmap"), How::Direct);
        // anything more needs the helper
        assert_eq!(how("0 1000 1\n1 100000 65536\n", false, 1000, "newuidmap"), How::Helper("newuidmap"));
        assert_eq!(how("0 1000 2\n", false, 1000, "newuidmap"), How::Helper("newuidmap"));
        assert_eq!(how("0 1001 1\n", false, 1000, "newgidmap"), How::Helper("newgidmap"));
    }
}
