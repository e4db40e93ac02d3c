//! The shim's one thread: an epoll loop over the listening socket, containerd's connections,
//! a signalfd for SIGCHLD (the shim is the child subreaper and reaps everything), the event
//! connection to containerd, the terminal fds of tty processes and the OOM notifiers.
//!
//! Exits cannot be lost: SIGCHLD stays blocked and is read from the signalfd, and after every
//! batch of events the loop reaps with waitpid(-1, WNOHANG) until nothing is left, so a process
//! that exits before its Create/Start/Exec handler returned is reaped (and matched to its pid,
//! recorded by then) in the same iteration.

use crate::service::Service;
use crate::sys::{self, Epoll};
use crate::ttrpc::{response_bytes, Conn, RpcError};
use berth_proto::names::{code, TASK_SERVICE};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

const T_LISTENER: u64 = 1;
const T_SIGNAL: u64 = 2;
const T_EVENTS: u64 = 3;
const K_CONN: u64 = 1 << 32;
const K_MASTER: u64 = 2 << 32;
const K_STDIN: u64 = 3 << 32;
const K_STDOUT: u64 = 4 << 32;
const K_OOM: u64 = 5 << 32;
const K_STDIN_PIPE: u64 = 6 << 32;
const KIND_MASK: u64 = 0xffff_ffff << 32;

const IN: u32 = libc::EPOLLIN as u32;
/// Idle time after the last request before the shim trims its mappings (see sys::trim_file_mappings).
const TRIM_IDLE_MS: u64 = 50;
const OUT: u32 = libc::EPOLLOUT as u32;

pub struct Server {
    epoll: Epoll,
    listener: UnixListener,
    socket_path: PathBuf,
    sigfd: OwnedFd,
    conns: HashMap<u64, Conn>,
    conn_events: HashMap<u64, u32>,
    next_conn: u64,
    svc: Service,
    /// fd -> (token, events) currently registered for stdio/OOM/events fds.
    registered: HashMap<RawFd, (u64, u32)>,
    /// When to trim the file mappings (work touched code; trimmed once the loop is idle).
    trim_at: Option<std::time::Instant>,
}

impl Server {
    pub fn new(listener: UnixListener, socket_path: PathBuf, svc: Service) -> std::io::Result<Server> {
        let epoll = Epoll::new()?;
        let sigfd = sys::signalfd(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT])?;
        listener.set_nonblocking(true)?;
        epoll.add(listener.as_raw_fd(), IN, T_LISTENER)?;
        epoll.add(sigfd.as_raw_fd(), IN, T_SIGNAL)?;
        Ok(Server { epoll, listener, socket_path, sigfd, conns: HashMap::new(), conn_events: HashMap::new(), next_conn: 1, svc, registered: HashMap::new(), trim_at: Some(std::time::Instant::now()) })
    }

    pub fn run(mut self) -> std::io::Result<()> {
        let mut evs = Vec::with_capacity(32);
        loop {
            let mut timeout = if self.svc.publisher.wants_retry() && self.svc.publisher.fd().is_none() { 200 } else { -1 };
            if let Some(at) = self.trim_at {
                let left = at.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
                if left == 0 {
                    sys::trim_file_mappings();
                    self.trim_at = None;
                } else if timeout < 0 || left < timeout {
                    timeout = left;
                }
            }
            self.epoll.wait(&mut evs, timeout)?;
            for &(token, events) in &evs {
                self.on_event(token, events);
            }
            self.reap();
            self.deliver();
            if self.svc.publisher.wants_retry() {
                self.svc.publisher.send();
            }
            self.sync_registrations();
            if self.svc.shutdown {
                self.exit();
            }
        }
    }

    fn on_event(&mut self, token: u64, events: u32) {
        match token {
            T_LISTENER => self.accept(),
            T_SIGNAL => {
                for s in sys::read_signals(self.sigfd.as_fd()) {
                    if s == libc::SIGTERM || s == libc::SIGINT {
                        log::info!("signal {s}: shutting down once no container is left");
                        if self.svc.tasks.is_empty() {
                            self.svc.shutdown = true;
                        }
                    }
                }
            }
            T_EVENTS => self.svc.publisher.on_readable(),
            t => match t & KIND_MASK {
                K_CONN => self.on_conn(t, events),
                K_MASTER | K_STDIN | K_STDOUT | K_STDIN_PIPE => self.on_stdio((t & 0xffff_ffff) as u32),
                K_OOM => self.on_oom((t & 0xffff_ffff) as u32),
                _ => {}
            },
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => match Conn::new(stream) {
                    Ok(c) => {
                        let token = K_CONN | self.next_conn;
                        self.next_conn += 1;
                        if self.epoll.add(c.stream.as_raw_fd(), IN | libc::EPOLLRDHUP as u32, token).is_ok() {
                            self.conn_events.insert(token, IN | libc::EPOLLRDHUP as u32);
                            self.conns.insert(token, c);
                        }
                    }
                    Err(e) => log::warn!("accept: {e}"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn on_conn(&mut self, token: u64, events: u32) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if events & OUT != 0 {
            conn.flush();
        }
        if events & (IN | libc::EPOLLHUP as u32 | libc::EPOLLRDHUP as u32 | libc::EPOLLERR as u32) != 0 {
            let reqs = conn.read_requests();
            for r in reqs {
                // once requests stop coming for a moment, drop the code they paged in
                self.trim_at = Some(std::time::Instant::now() + std::time::Duration::from_millis(TRIM_IDLE_MS));
                let result = if r.request.service != TASK_SERVICE {
                    Some(Err(RpcError::new(code::UNIMPLEMENTED, format!("service {} is not served by this shim", r.request.service))))
                } else {
                    self.svc.handle(&r.request.method, &r.request.payload, token, r.stream_id)
                };
                if let Some(result) = result {
                    if let Err(e) = &result {
                        log::debug!("{} failed: {e}", r.request.method);
                    }
                    if let Some(conn) = self.conns.get_mut(&token) {
                        conn.respond(r.stream_id, &response_bytes(result));
                    }
                }
                // Reap right away: a short-lived process's exit must not wait for the next event.
                self.reap();
            }
        }
        self.update_conn(token);
    }

    fn update_conn(&mut self, token: u64) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if conn.closed {
            let c = self.conns.remove(&token).expect("present");
            self.epoll.delete(c.stream.as_raw_fd());
            self.conn_events.remove(&token);
            self.svc.forget_conn(token);
            return;
        }
        let want = IN | libc::EPOLLRDHUP as u32 | if conn.flush() { OUT } else { 0 };
        if self.conn_events.get(&token) != Some(&want) && self.epoll.modify(conn.stream.as_raw_fd(), want, token).is_ok() {
            self.conn_events.insert(token, want);
        }
    }

    fn on_stdio(&mut self, key: u32) {
        for t in self.svc.tasks.values_mut() {
            for p in t.processes_mut() {
                if p.key == key {
                    p.io.pump_stdin();
                    if let Some(tty) = p.io.tty.as_mut() {
                        tty.pump_in();
                        tty.pump_out();
                    }
                    return;
                }
            }
        }
    }

    fn on_oom(&mut self, key: u32) {
        let mut hit = None;
        for t in self.svc.tasks.values_mut() {
            if t.init.key == key {
                if let Some(w) = t.oom.as_mut() {
                    if w.fired() {
                        hit = Some(t.id.clone());
                    }
                }
            }
        }
        if let Some(id) = hit {
            self.svc.on_oom(&id);
        }
    }

    fn reap(&mut self) {
        while let Some((pid, status)) = sys::reap_one() {
            log::debug!("reaped pid {pid}: exit status {status}");
            self.svc.on_exit(pid, status);
        }
    }

    fn deliver(&mut self) {
        let mut touched = Vec::new();
        for (token, stream_id, bytes) in self.svc.outbox.drain(..) {
            if let Some(c) = self.conns.get_mut(&token) {
                c.respond(stream_id, &bytes);
                touched.push(token);
            }
        }
        for t in touched {
            self.update_conn(t);
        }
    }

    /// Bring epoll's registrations of terminal, OOM and event fds in line with the state.
    fn sync_registrations(&mut self) {
        let mut want: HashMap<RawFd, (u64, u32)> = HashMap::new();
        if let Some(fd) = self.svc.publisher.fd() {
            want.insert(fd, (T_EVENTS, IN));
        }
        for t in self.svc.tasks.values_mut() {
            if let Some(w) = &t.oom {
                want.insert(w.fd.as_raw_fd(), (K_OOM | t.init.key as u64, IN));
            }
            for p in t.processes_mut() {
                let key = p.key as u64;
                if let Some(sp) = &p.io.stdin {
                    if !sp.closing && sp.buf.len() < crate::io::TTY_BUF_MAX {
                        want.insert(sp.src.as_raw_fd(), (K_STDIN | key, IN));
                    }
                    if !sp.buf.is_empty() {
                        want.insert(sp.dst.as_raw_fd(), (K_STDIN_PIPE | key, OUT));
                    }
                }
                let Some(tty) = p.io.tty.as_ref() else { continue };
                let mut m = 0;
                if !tty.master_eof && tty.out_buf.len() < crate::io::TTY_BUF_MAX {
                    m |= IN;
                }
                if !tty.in_buf.is_empty() {
                    m |= OUT;
                }
                if m != 0 {
                    want.insert(tty.master.as_raw_fd(), (K_MASTER | key, m));
                }
                if let Some(i) = &tty.stdin {
                    if tty.in_buf.len() < crate::io::TTY_BUF_MAX {
                        want.insert(i.as_raw_fd(), (K_STDIN | key, IN));
                    }
                }
                if let (Some(o), false) = (&tty.stdout, tty.out_buf.is_empty()) {
                    want.insert(o.as_raw_fd(), (K_STDOUT | key, OUT));
                }
            }
        }
        let old = std::mem::take(&mut self.registered);
        for (fd, _) in old.iter().filter(|(fd, _)| !want.contains_key(fd)) {
            self.epoll.delete(*fd);
        }
        for (fd, (token, ev)) in &want {
            let res = match old.get(fd) {
                Some(o) if o == &(*token, *ev) => Ok(()),
                Some(_) => self.epoll.modify(*fd, *ev, *token).or_else(|_| self.epoll.add(*fd, *ev, *token)),
                None => self.epoll.add(*fd, *ev, *token).or_else(|_| self.epoll.modify(*fd, *ev, *token)),
            };
            if let Err(e) = res {
                log::warn!("epoll registration of fd {fd}: {e}");
            }
        }
        self.registered = want;
        self.svc.io_changed = false;
    }

    fn exit(&mut self) -> ! {
        for c in self.conns.values_mut() {
            c.flush_blocking();
        }
        self.svc.publisher.drain(std::time::Duration::from_secs(2));
        let _ = std::fs::remove_file(&self.socket_path);
        log::debug!("shim exiting");
        std::process::exit(0);
    }
}
