//! Tables for people, JSON for scripts.

use std::io::{IsTerminal, Write};

use super::Format;

pub struct Output {
    pub format: Format,
    pub tty: bool,
}

impl Output {
    pub fn new(format: Format) -> Self {
        Output { format, tty: std::io::stderr().is_terminal() }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn print_json<T: serde::Serialize>(&self, v: &T) {
        let mut s = serde_json::to_string_pretty(v).expect("serialisable");
        s.push('\n');
        let _ = std::io::stdout().write_all(s.as_bytes());
    }

    /// Print rows under headers, columns padded to the widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut s = String::new();
        let line = |cells: Vec<&str>, s: &mut String| {
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<width$}   ", width = w[i]));
                }
            }
            s.push('\n');
        };
        line(headers.to_vec(), &mut s);
        for r in rows {
            line(r.iter().map(String::as_str).collect(), &mut s);
        }
        let _ = std::io::stdout().write_all(s.as_bytes());
    }

    pub fn line(&self, s: &str) {
        println!("{s}");
    }
}

pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", units[i]).replace(".000", "")
    }
}
