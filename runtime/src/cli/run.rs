//! `berth run [create flags] [--detach] [--keep] ID`: create and start in one process (no
//! exec fifo: the start signal goes over the init channel). In the foreground berth stays the
//! container's parent: it forwards signals, proxies a terminal, returns the exit status and
//! deletes the container unless `--keep`.

use super::args::{flag, Flag};
use super::Globals;
use anyhow::Result;
use berth_runtime::{sys, Console};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub fn main(g: &Globals, argv: &[String]) -> Result<i32> {
    let mut spec: Vec<Flag> = super::create::FLAGS.to_vec();
    spec.extend([flag(&["detach", "d"]), flag(&["keep"]), flag(&["no-subreaper"])]);
    let a = super::args::parse("run", argv, &spec, None)?;
    let id = a.id("run")?;
    super::no_more("run", &a, 1)?;
    let detach = a.bool("detach");
    let mut opts = super::create::options(&a)?;
    opts.start_now = true;
    if !detach && matches!(opts.console, Console::None) {
        // A terminal in the foreground: we hold the pty master and proxy our own stdio.
        opts.console = Console::ReturnMaster;
    }
    berth_runtime::protect_exe()?;
    if !detach {
        block_forwarded_signals();
    }
    let rt = g.runtime()?;
    let mut c = rt.create(id, &super::create::bundle(&a), &opts)?;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    let pty = c.take_pty_master();
    let code = wait_foreground(c.pid, pty);
    if !a.bool("keep") {
        if let Ok(mut c) = rt.load(id) {
            c.delete(true)?;
        }
    }
    Ok(code)
}

const FORWARDED: [i32; 12] = [
    libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM,
    libc::SIGALRM, libc::SIGCONT, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU, libc::SIGWINCH,
];

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: building a signal set in a zeroed struct.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Block the signals we forward (the container's init unblocks them for itself).
pub fn block_forwarded_signals() {
    let set = forwarded_set();
    // SAFETY: valid set.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Wait for our child `pid`, forwarding signals and proxying a pty; its shell-style exit code.
pub fn wait_foreground(pid: i32, pty: Option<OwnedFd>) -> i32 {
    let set = forwarded_set();
    // SAFETY: valid set; signalfd returns a new fd we own.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    let sfd = (sfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(sfd) });
    let pidfd = sys::pidfd_open(pid).ok();
    let raw = pty.as_ref().map(|p| p.as_raw_fd());
    let _term = raw.map(|m| {
        resize(m);
        RawTerminal::enter()
    });
    let mut stdin_open = raw.is_some();
    loop {
        let mut fds = vec![];
        if let Some(p) = &pidfd {
            fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if let Some(s) = &sfd {
            fds.push(libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if let Some(m) = raw {
            fds.push(libc::pollfd { fd: m, events: libc::POLLIN, revents: 0 });
            if stdin_open {
                fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
            }
        }
        if pidfd.is_none() {
            break;
        }
        // SAFETY: valid pollfd array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            continue;
        }
        for f in &fds {
            if f.revents == 0 {
                continue;
            }
            if Some(f.fd) == sfd.as_ref().map(|s| s.as_raw_fd()) {
                // SAFETY: reading one siginfo into a zeroed struct.
                let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                unsafe { libc::read(f.fd, &mut si as *mut _ as *mut libc::c_void, std::mem::size_of_val(&si)) };
                let sig = si.ssi_signo as i32;
                match (sig, raw) {
                    (libc::SIGWINCH, Some(m)) => resize(m),
                    // SAFETY: plain kill of our child.
                    _ => unsafe {
                        libc::kill(pid, sig);
                    },
                }
            } else if Some(f.fd) == raw {
                if !copy(f.fd, 1) {
                    // EIO once the last slave fd is closed; the exit follows.
                }
            } else if f.fd == 0 {
                if let Some(m) = raw {
                    if !copy(0, m) {
                        stdin_open = false;
                    }
                }
            }
        }
        if fds[0].revents != 0 {
            break;
        }
    }
    if let Some(m) = raw {
        while copy_nonblock(m, 1) {}
    }
    let code = match sys::waitpid(pid, 0) {
        Ok((_, status)) => sys::exit_code(status),
        Err(_) => 255,
    };
    code
}

fn copy(from: RawFd, to: RawFd) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: reading into a local buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    if n <= 0 {
        return false;
    }
    sys::write_all(to, &buf[..n as usize]).is_ok()
}

fn copy_nonblock(from: RawFd, to: RawFd) -> bool {
    let mut p = libc::pollfd { fd: from, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    if unsafe { libc::poll(&mut p, 1, 0) } <= 0 || p.revents & libc::POLLIN == 0 {
        return false;
    }
    copy(from, to)
}

fn resize(master: RawFd) {
    // SAFETY: winsize ioctls on our stdin and the pty master.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Our stdin in raw mode while proxying a container terminal (restored on drop).
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> Self {
        // SAFETY: termios calls on fd 0 with a zeroed struct; only applied when it is a tty.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::isatty(0) == 0 || libc::tcgetattr(0, &mut t) != 0 {
                return RawTerminal(None);
            }
            let orig = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawTerminal(Some(orig))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restoring the saved attributes.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}
