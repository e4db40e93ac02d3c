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

/// `2026-12-07T01:07:10.64Z` → `13 minutes ago` (docker's wording) for tables; JSON keeps the
/// timestamp. Anything unparseable is shown as given.
pub fn human_age(created: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    match parse_rfc3339(created) {
        Some(t) => format!("{} ago", human_duration(now - t)),
        None => created.to_owned(),
    }
}

fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "less than a second".into(),
        _ if s < 60 => format!("{s} second{}", if s == 1 { "" } else { "s" }),
        _ if m == 1 => "about a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "about an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if d < 14 => format!("{d} days"),
        _ if d < 90 => format!("{} weeks", d / 7),
        _ if d < 730 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// Seconds since the epoch of an RFC 3339 timestamp (fraction ignored, offset applied).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-12-07T01:07:10.649425168Z"), Some(1796605630));
        assert_eq!(parse_rfc3339("2026-12-07T02:07:10+01:00"), Some(1796605630));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(human_duration(0), "less than a second");
        assert_eq!(human_duration(90), "about a minute");
        assert_eq!(human_duration(13 * 60), "13 minutes");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(40 * 86400), "5 weeks");
        assert_eq!(human_duration(800 * 86400), "2 years");
        assert_eq!(human_age("not a date"), "not a date");
    }
}
