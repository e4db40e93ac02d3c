//! `pause` and `resume`: the v1 freezer controller and v2's `cgroup.freeze`.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{fs, Error};

/// How long a freeze may take before we give up (and thaw again, so nothing is left
/// half-frozen).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// v1: `freezer.state`. A cgroup whose processes keep forking (or get new members) can stay in
/// `FREEZING`; writing `FROZEN` again catches the newcomers, and an occasional thaw lets a
/// stuck vfork pair make progress.
pub fn set_v1(dir: &Path, frozen: bool) -> Result<(), Error> {
    if !frozen {
        return fs::write(dir, "freezer.state", "THAWED");
    }
    let start = Instant::now();
    let mut pause = Duration::from_micros(10);
    let mut round = 0u32;
    loop {
        fs::write(dir, "freezer.state", "FROZEN")?;
        let state = fs::read(dir, "freezer.state")?;
        match state.trim() {
            "FROZEN" => return Ok(()),
            "FREEZING" => {}
            other => {
                return Err(Error::Freeze { path: dir.into(), reason: format!("unexpected freezer.state {other:?}") })
            }
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            let _ = fs::write(dir, "freezer.state", "THAWED");
            return Err(Error::Freeze {
                path: dir.into(),
                reason: format!("still FREEZING after {} ms (thawed again)", FREEZE_TIMEOUT.as_millis()),
            });
        }
        round += 1;
        if round & 63 == 0 {
            let _ = fs::write(dir, "freezer.state", "THAWED");
            std::thread::sleep(Duration::from_millis(5));
        } else {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }
}

pub fn is_frozen_v1(dir: &Path) -> Result<bool, Error> {
    Ok(fs::read(dir, "freezer.state")?.trim() == "FROZEN")
}

/// v2: write `cgroup.freeze`, then wait for `cgroup.events` to report the new state (the
/// kernel freezes asynchronously; `cgroup.events` signals changes through poll).
pub fn set_v2(dir: &Path, frozen: bool) -> Result<(), Error> {
    fs::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let events = dir.join("cgroup.events");
    let start = Instant::now();
    let file = std::fs::File::open(&events).map_err(|source| Error::Read { path: events.clone(), source })?;
    loop {
        let text = read_at_start(&file).map_err(|source| Error::Read { path: events.clone(), source })?;
        if text.lines().any(|l| l.trim() == want) {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            if frozen {
                let _ = fs::write(dir, "cgroup.freeze", "0");
            }
            return Err(Error::Freeze {
                path: dir.into(),
                reason: format!("cgroup.events did not report {want:?} within {} ms", FREEZE_TIMEOUT.as_millis()),
            });
        }
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLPRI, revents: 0 };
        // SAFETY: one valid pollfd; a timeout bounds the wait even if no event comes.
        unsafe { libc::poll(&mut pfd, 1, 10) };
    }
}

pub fn is_frozen_v2(dir: &Path) -> Result<bool, Error> {
    Ok(fs::read(dir, "cgroup.freeze")?.trim() == "1")
}

fn read_at_start(f: &std::fs::File) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 256];
    let n = f.read_at(&mut buf, 0)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
