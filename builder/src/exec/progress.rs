//! Progress on stderr, BuildKit-like. Plain (CI, pipes): `#3 [build 2/5] COPY src/ ./`, the
//! step's output as `#3 0.123 line`, then `#3 CACHED` or `#3 DONE 0.4s`. TTY: a live line per
//! running step with its timer, output scrolling above, finished steps left as
//! `=> [build 2/5] COPY src/ ./  0.4s` (or `CACHED`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Reporter {
    next: AtomicUsize,
    quiet: bool,
    tty: Option<MultiProgress>,
}

pub struct StepLine<'a> {
    r: &'a Reporter,
    n: usize,
    title: String,
    start: Instant,
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Reporter { next: AtomicUsize::new(1), quiet, tty: None }
    }

    /// `tty`: draw live lines (stderr must be a terminal).
    pub fn with_mode(tty: bool) -> Self {
        let m = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Reporter { next: AtomicUsize::new(1), quiet: false, tty: m }
    }

    pub fn step(&self, title: &str) -> StepLine<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // On a terminal one line per step: whitespace runs collapsed, cut to the width.
        let title = if self.tty.is_some() { short(title) } else { title.to_string() };
        let title = title.as_str();
        let bar = self.tty.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed:>4}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            b.set_message(title.to_string());
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        if bar.is_none() {
            self.line(&format!("#{n} {title}"));
        }
        StepLine { r: self, n, title: title.to_string(), start: Instant::now(), bar }
    }

    pub fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.tty {
            Some(m) => {
                let _ = m.println(s);
            }
            None => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{s}");
            }
        }
    }
}

fn short(t: &str) -> String {
    let collapsed = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).unwrap_or(100).clamp(40, 200) - 12;
    if collapsed.chars().count() > width {
        let cut: String = collapsed.chars().take(width - 1).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

impl StepLine<'_> {
    fn finish(self, tail: &str) {
        match &self.bar {
            Some(b) => {
                b.finish_and_clear();
                self.r.line(&format!("=> {} {tail}", self.title));
            }
            None => self.r.line(&format!("#{} {tail}", self.n)),
        }
    }
    pub fn cached(self) {
        self.finish("CACHED");
    }
    pub fn done(self) {
        let t = self.start.elapsed().as_secs_f64();
        match self.bar {
            Some(_) => self.finish(&format!("{t:.1}s")),
            None => self.finish(&format!("DONE {t:.1}s")),
        }
    }
    pub fn output(&self, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        for l in text.lines() {
            match &self.bar {
                Some(_) => self.r.line(&format!("   {l}")),
                None => self.r.line(&format!("#{} {t:.3} {l}", self.n)),
            }
        }
    }
    pub fn error(self, e: &str) {
        let msg = format!("ERROR: {e}");
        self.finish(&msg);
    }
}
