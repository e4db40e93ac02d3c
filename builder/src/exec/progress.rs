//! BuildKit-like progress lines on stderr: `#3 [build 2/5] COPY src/ ./`, then `#3 CACHED`
//! or `#3 DONE 0.4s`; a failing step's output and exit code before the error.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub struct Reporter {
    next: AtomicUsize,
    quiet: bool,
}

pub struct StepLine<'a> {
    r: &'a Reporter,
    n: usize,
    start: Instant,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Reporter { next: AtomicUsize::new(1), quiet }
    }

    pub fn step(&self, title: &str) -> StepLine<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.line(&format!("#{n} {title}"));
        StepLine { r: self, n, start: Instant::now() }
    }

    pub fn line(&self, s: &str) {
        if !self.quiet {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{s}");
        }
    }
}

impl StepLine<'_> {
    pub fn cached(self) {
        self.r.line(&format!("#{} CACHED", self.n));
    }
    pub fn done(self) {
        self.r.line(&format!("#{} DONE {:.1}s", self.n, self.start.elapsed().as_secs_f64()));
    }
    pub fn output(&self, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        for l in text.lines() {
            self.r.line(&format!("#{} {t:.3} {l}", self.n));
        }
    }
    pub fn error(self, e: &str) {
        self.r.line(&format!("#{} ERROR: {e}", self.n));
    }
}
