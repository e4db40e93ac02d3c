//! A `log` backend writing logrus-style lines (`time=... level=... msg=...`) to stderr, which
//! containerd connects to the bundle's `log` FIFO and copies into its own log.

use std::io::Write;

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            log::Level::Debug => "debug",
            log::Level::Trace => "trace",
        };
        let ts = crate::task::now();
        let msg = format!("{}", r.args()).replace('"', "\\\"");
        // One write per line so concurrent writers to the FIFO do not interleave within a line.
        let line = format!("time=\"{}\" level={level} msg=\"{msg}\" runtime=io.containerd.berth.v2\n", rfc3339(ts.seconds, ts.nanos));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// UTC RFC 3339 with nanoseconds, as logrus writes it (civil-from-days, no date crate needed).
fn rfc3339(secs: i64, nanos: i32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub fn init(debug: bool) {
    static L: Logger = Logger;
    let _ = log::set_logger(&L);
    log::set_max_level(if debug { log::LevelFilter::Debug } else { log::LevelFilter::Info });
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(super::rfc3339(1_795_450_146, 885_648_003), "2026-11-23T16:09:06.885648003Z");
        assert_eq!(super::rfc3339(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
    }
}
