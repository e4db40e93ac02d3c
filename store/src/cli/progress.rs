//! One progress bar per layer on a TTY (indicatif); nothing otherwise.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_store::{Digest, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Bars {
    /// Bars when stderr is a terminal and the output is not JSON.
    pub fn for_output(out: &super::Output) -> Box<dyn Progress> {
        if out.tty && !out.json() {
            Box::new(Bars { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), bars: Mutex::new(HashMap::new()) })
        } else {
            Box::new(berth_store::NoProgress)
        }
    }
}

impl Progress for Bars {
    fn start(&self, id: &Digest, total: u64, what: &str) {
        let mut bars = self.bars.lock().unwrap();
        let bar = bars.entry(id.clone()).or_insert_with(|| self.multi.add(ProgressBar::new(total)));
        bar.set_length(total);
        bar.set_position(0);
        bar.set_style(ProgressStyle::with_template("{prefix} {msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}").unwrap().progress_chars("=> "));
        bar.set_prefix(id.short().to_owned());
        bar.set_message(what.to_owned());
    }
    fn advance(&self, id: &Digest, bytes: u64) {
        if let Some(b) = self.bars.lock().unwrap().get(id) {
            b.inc(bytes);
        }
    }
    fn finish(&self, id: &Digest, what: &str) {
        if let Some(b) = self.bars.lock().unwrap().get(id) {
            b.set_message(what.to_owned());
            b.finish();
        }
    }
}
