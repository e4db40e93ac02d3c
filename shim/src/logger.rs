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
        let line = format!("time=\"{}.{:09}\" level={level} msg=\"{msg}\" runtime=io.containerd.berth.v2\n", ts.seconds, ts.nanos);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

pub fn init(debug: bool) {
    static L: Logger = Logger;
    let _ = log::set_logger(&L);
    log::set_max_level(if debug { log::LevelFilter::Debug } else { log::LevelFilter::Info });
}
