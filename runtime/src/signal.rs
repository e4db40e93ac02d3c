//! Signal names and numbers as `kill` accepts them (`TERM`, `SIGTERM`, `15`, `RTMIN+3`).

const NAMES: [(&str, i32); 31] = [
    ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6), ("BUS", 7),
    ("FPE", 8), ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14),
    ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21),
    ("TTOU", 22), ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28),
    ("IO", 29), ("PWR", 30),
];

pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if name == "SYS" {
        return Some(31);
    }
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Some(off) = name.strip_prefix("RTMIN") {
        let n = if off.is_empty() { 0 } else { off.strip_prefix('+')?.parse::<i32>().ok()? };
        return (rtmin + n <= rtmax).then_some(rtmin + n);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        let n = if off.is_empty() { 0 } else { off.strip_prefix('-')?.parse::<i32>().ok()? };
        return (rtmax - n >= rtmin).then_some(rtmax - n);
    }
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::parse("TERM"), Some(15));
        assert_eq!(super::parse("SIGKILL"), Some(9));
        assert_eq!(super::parse("9"), Some(9));
        assert_eq!(super::parse("sigusr1"), Some(10));
        assert_eq!(super::parse("RTMIN+1"), Some(libc::SIGRTMIN() + 1));
        assert_eq!(super::parse("NOPE"), None);
        assert_eq!(super::parse("0"), None);
        assert_eq!(super::parse("99"), None);
    }
}
