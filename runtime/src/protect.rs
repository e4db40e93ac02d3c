//! CVE-2019-5736: a container process must not be able to write the runtime binary through
//! `/proc/<runtime pid>/exe`. Instead of copying the binary into memory on every run, the
//! runtime re-executes itself once through a read-only view of the same file: a detached
//! overlayfs (no upper layer, so it can never be made writable) whose lower layer is the
//! binary's directory. Fallbacks: a read-only detached bind of the file, then a sealed memfd
//! copy (with a warning). A binary already on a read-only mount needs nothing, and neither
//! does a root-owned one run by an unprivileged user (see `rootless_cannot_write`).

use crate::sys;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Make sure the running binary is read-only to everyone who can reach /proc/self/exe.
/// Returns only when it already is; otherwise re-executes the process (same argv, env and
/// fds) and does not return, unless every way failed (then the error).
pub fn protect_exe() -> io::Result<()> {
    if exe_is_readonly()? || rootless_cannot_write()? {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")?;
    let fd = match overlay_view(&exe) {
        Ok(fd) => fd,
        Err(e1) => match bind_view(&exe) {
            Ok(fd) => fd,
            Err(e2) => {
                let why = format!("cannot make a read-only view of {} (overlay: {e1}; bind: {e2}); using a sealed copy", exe.display());
                // Unprivileged, mounts are out of reach: the copy is the expected way (runc's too).
                // SAFETY: geteuid always succeeds.
                if unsafe { libc::geteuid() } == 0 {
                    log::warn!("{why}");
                } else {
                    log::debug!("{why}");
                }
                memfd_copy(&exe)?
            }
        },
    };
    reexec(fd)
}

fn exe_is_readonly() -> io::Result<bool> {
    // SAFETY: statvfs into a zeroed struct with a static path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c"/proc/self/exe".as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Ok(true);
    }
    // A sealed memfd copy (our last resort) is not on a read-only mount but cannot be written.
    let f = std::fs::File::open("/proc/self/exe")?;
    // SAFETY: fcntl on our fd.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    Ok(seals >= 0 && seals & libc::F_SEAL_WRITE != 0)
}

/// Rootless, the container's ids are the caller's own and its subordinate ids: host root is
/// never mapped (newuidmap refuses it, and an unprivileged writer can map only itself), and
/// capabilities inside a user namespace do not reach inodes whose owner is unmapped. So a
/// binary only host root can write (the installed case) is safe as it is.
fn rootless_cannot_write() -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid always succeeds.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(false);
    }
    let m = std::fs::metadata("/proc/self/exe")?;
    let group_ok = m.mode() & 0o020 == 0 || m.gid() == 0;
    Ok(m.uid() == 0 && m.mode() & 0o002 == 0 && group_ok)
}

fn overlay_view(exe: &Path) -> io::Result<OwnedFd> {
    let dir = exe.parent().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let name = exe.file_name().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // Overlayfs without an upper layer needs two lower layers; the second is an empty tmpfs.
    let empty = crate::rootfs::empty_tmpfs(true).map_err(io::Error::other)?;
    let fs = sys::fsopen("overlay")?;
    let esc = |p: &Path| p.to_string_lossy().replace('\\', "\\\\").replace(':', "\\:").replace(',', "\\,");
    let lower = format!("{}:/proc/self/fd/{}", esc(dir), empty.as_raw_fd());
    sys::fsconfig_string(fs.as_fd(), "lowerdir", OsStr::new(&lower))?;
    let _ = sys::fsconfig_string(fs.as_fd(), "xino", OsStr::new("off"));
    sys::fsconfig_create(fs.as_fd())?;
    let mnt = sys::fsmount(fs.as_fd(), sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOSUID)?;
    let c = CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: relative name under the detached mount's root fd.
    let fd = unsafe { libc::openat(mnt.as_raw_fd(), c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind_view(exe: &Path) -> io::Result<OwnedFd> {
    let tree = sys::open_tree(libc::AT_FDCWD, exe, sys::OPEN_TREE_CLONE)?;
    let attr = sys::MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV, ..Default::default() };
    sys::mount_setattr(tree.as_fd(), false, &attr)?;
    Ok(tree)
}

fn memfd_copy(exe: &Path) -> io::Result<OwnedFd> {
    // SAFETY: static name; flags are valid.
    let fd = unsafe { libc::memfd_create(c"berth".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd; the File takes ownership.
    let mut out = unsafe { std::fs::File::from_raw_fd(fd) };
    io::copy(&mut std::fs::File::open(exe)?, &mut out)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our fd.
    if unsafe { libc::fcntl(out.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(out))
}

fn reexec(fd: OwnedFd) -> io::Result<()> {
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.as_bytes()).ok()).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()).ok())
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of NUL-terminated strings; AT_EMPTY_PATH execs the fd.
    unsafe {
        libc::syscall(libc::SYS_execveat, fd.as_raw_fd(), c"".as_ptr(), argv.as_ptr(), envp.as_ptr(), libc::AT_EMPTY_PATH);
    }
    Err(io::Error::last_os_error())
}
