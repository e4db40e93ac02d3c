//! `berth events` without `--stats`: a stats line every interval and an `oom` line as soon
//! as the kernel's OOM killer acts, until the container's cgroup is empty or gone (runc's
//! loop; the first stats line comes after one interval, as runc's ticker does).

use std::io::Write;
use std::time::{Duration, Instant};

use super::stats::Event;
use super::{Cgroup, Error};

/// Stream events for container `id` to `out`, one JSON object per line. `running` is asked
/// between events; the stream ends when it says false or the cgroup goes away.
pub fn stream(cg: &Cgroup, id: &str, interval: Duration, out: &mut dyn Write, running: &dyn Fn() -> bool) -> Result<(), Error> {
    let interval = interval.max(Duration::from_millis(10));
    let mut watcher = cg.oom_watcher()?;
    let mut next = Instant::now() + interval;
    let emit = |out: &mut dyn Write, e: &Event| -> Result<(), Error> {
        let mut line = serde_json::to_vec(e).unwrap_or_default();
        line.push(b'\n');
        out.write_all(&line).and_then(|_| out.flush()).map_err(|source| Error::Write {
            path: "stdout".into(),
            value: String::from_utf8_lossy(&line).trim().to_string(),
            source,
        })
    };
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let c = watcher.wait(wait.as_millis().min(i32::MAX as u128) as i32)?;
        for _ in 0..c.ooms {
            emit(out, &Event::oom(id))?;
        }
        if c.gone || !running() {
            return Ok(());
        }
        if Instant::now() >= next {
            match cg.stats() {
                Ok(s) => emit(out, &Event::stats(id, s))?,
                Err(e) => log::error!("container {id:?}: {e}"),
            }
            next += interval;
        }
    }
}
