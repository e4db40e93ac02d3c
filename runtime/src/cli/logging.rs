//! Log lines as runc (logrus) writes them: `--log-format json` gives
//! `{"level":"error","msg":"...","time":"2024-05-01T12:00:00Z"}` per line (containerd's runc
//! shim reads the last error from that file), text gives `time="..." level=error msg="..."`.
//! Without `--log`, warnings go to stderr and errors are printed once by the caller.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Logger {
    file: Option<std::sync::Mutex<std::fs::File>>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(path: Option<PathBuf>, json: bool, debug: bool) {
    let file = path.and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok()).map(std::sync::Mutex::new);
    let _ = LOGGER.set(Logger { file, json, debug });
    if let Some(l) = LOGGER.get() {
        let _ = log::set_logger(l);
        log::set_max_level(if debug { log::LevelFilter::Debug } else { log::LevelFilter::Warn });
    }
}

/// The final error of a command: to the log file only (stderr gets it from the caller).
pub fn error(msg: &str) {
    if let Some(l) = LOGGER.get() {
        if l.file.is_some() {
            l.write("error", msg);
        }
    }
}

impl Logger {
    fn write(&self, level: &str, msg: &str) {
        let time = berth_runtime::state::now_rfc3339(false);
        let line = if self.json {
            format!("{}\n", serde_json::json!({"level": level, "msg": msg, "time": time}))
        } else {
            format!("time={time:?} level={level} msg={msg:?}\n")
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn || self.debug
    }
    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            _ => "debug",
        };
        self.write(level, &r.args().to_string());
    }
    fn flush(&self) {}
}
