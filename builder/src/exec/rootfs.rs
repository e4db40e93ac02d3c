//! Merged views of a stage's layers (read-only overlay mounts of store snapshots) for
//! COPY destinations, `--chown` lookups and `COPY --from` sources. The build runs in its own
//! mount namespace, so a mount can never outlive the build, even on SIGINT.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Give this process a private mount namespace. Call before any thread exists.
pub fn private_mounts() -> io::Result<()> {
    // SAFETY: plain syscalls without pointers but constant strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(c"none".as_ptr(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A read-only merged root of `layers` (bottom first) at `target`, or the single layer
/// itself. Unmounted on drop.
pub struct Merged {
    path: PathBuf,
    mounted: bool,
}

impl Merged {
    pub fn new(layers: &[PathBuf], target: &Path) -> io::Result<Option<Self>> {
        match layers {
            [] => Ok(None),
            [one] => Ok(Some(Merged { path: one.clone(), mounted: false })),
            _ => {
                std::fs::create_dir_all(target)?;
                let (_fds, lower) = short_paths(layers)?;
                let opts = format!("lowerdir={},redirect_dir=off,metacopy=off", lower.join(":"));
                mount_overlay(target, &opts)?;
                Ok(Some(Merged { path: target.to_path_buf(), mounted: true }))
            }
        }
    }

    /// A writable overlay: `layers` (bottom first; an empty `fallback_lower` when there are
    /// none) under `upper`, mounted at `target`.
    pub fn writable(layers: &[PathBuf], fallback_lower: &Path, upper: &Path, work: &Path, target: &Path) -> io::Result<Self> {
        for d in [fallback_lower, upper, work, target] {
            std::fs::create_dir_all(d)?;
        }
        let (_fds, mut lower) = short_paths(layers)?;
        if lower.is_empty() {
            lower.push(escape(&fallback_lower.to_string_lossy()));
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off",
            lower.join(":"),
            escape(&upper.to_string_lossy()),
            escape(&work.to_string_lossy())
        );
        mount_overlay_flags(target, &opts, 0)?;
        Ok(Merged { path: target.to_path_buf(), mounted: true })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Merged {
    fn drop(&mut self) {
        if self.mounted {
            if let Ok(c) = CString::new(self.path.as_os_str().as_bytes()) {
                // SAFETY: NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// The layers (top first) as `/proc/self/fd/N` of O_PATH fds: mount options are limited to
/// a page, and store paths would cap an image at a few dozen layers. The fds must stay open
/// until the mount is made.
fn short_paths(layers: &[PathBuf]) -> io::Result<(Vec<std::fs::File>, Vec<String>)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut fds = Vec::new();
    let mut paths = Vec::new();
    for p in layers.iter().rev() {
        let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(p)?;
        paths.push(format!("/proc/self/fd/{}", f.as_raw_fd()));
        fds.push(f);
    }
    Ok((fds, paths))
}

/// Overlay option values treat `:` and `,` specially.
fn escape(p: &str) -> String {
    p.replace('\\', "\\\\").replace(':', "\\:").replace(',', "\\,")
}

pub fn mount_overlay(target: &Path, opts: &str) -> io::Result<()> {
    mount_overlay_flags(target, opts, libc::MS_RDONLY)
}

fn mount_overlay_flags(target: &Path, opts: &str, flags: libc::c_ulong) -> io::Result<()> {
    let t = CString::new(target.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let o = CString::new(opts).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated arguments.
    let r = unsafe { libc::mount(c"overlay".as_ptr(), t.as_ptr(), c"overlay".as_ptr(), flags, o.as_ptr().cast()) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("mounting overlay on {}: {e}", target.display())));
    }
    Ok(())
}
