//! Human-facing progress: a line redrawn in place on stderr when stderr is a terminal, and the
//! byte and rate formatting every command shares.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when something else wrote over the status line (a log record on a terminal clears
/// it first): the line is gone, and ending it would leave an empty line.
pub static OVERWRITTEN: AtomicBool = AtomicBool::new(false);

pub struct ProgressLine {
    tty: bool,
    drawn: bool,
}

impl Default for ProgressLine {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLine {
    pub fn new() -> Self {
        ProgressLine {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// True when lines are redrawn in place; otherwise callers log at intervals instead.
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    pub fn draw(&mut self, text: &str) {
        if self.tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{text}\x1b[K");
            let _ = err.flush();
            self.drawn = true;
            OVERWRITTEN.store(false, Ordering::Relaxed);
        }
    }

    /// Ends the line so later output starts clean.
    pub fn finish(&mut self) {
        if self.drawn && !OVERWRITTEN.load(Ordering::Relaxed) {
            eprintln!();
        }
        self.drawn = false;
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `90s`, `30m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => (t, 's'),
    };
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        'd' => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(secs))
}

/// Why a size argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected a whole number of bytes with an optional K, M or G suffix")]
    NotASize,
    #[error("too large")]
    TooLarge,
}

/// `16384`, `16K`, `4M`, `1G` (binary: 1K = 1024) → bytes.
pub fn parse_bytes(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let (digits, shift) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&t[..t.len() - 1], 10),
        Some(b'M') => (&t[..t.len() - 1], 20),
        Some(b'G') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| SizeError::NotASize)?;
    n.checked_mul(1 << shift).ok_or(SizeError::TooLarge)
}

/// `1 peer`, `3 peers`.
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Bytes per second, e.g. `12.3 MiB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    format!("{}/s", bytes(bytes_per_second.max(0.0) as u64))
}

/// Seconds as `1h02m`, `3m05s` or `42s`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::bytes(0), "0 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(1 << 30), "1.0 GiB");
        assert_eq!(super::rate(2048.0), "2.0 KiB/s");
        assert_eq!(super::duration(42), "42s");
        assert_eq!(super::duration(185), "3m05s");
        assert_eq!(super::duration(3720), "1h02m");
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(super::parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(super::parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(
            super::parse_duration("30m"),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(super::parse_duration("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            super::parse_duration("1d"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(super::parse_duration("x"), None);
        assert_eq!(super::parse_duration("5w"), None);
        assert_eq!(super::parse_duration(""), None);
    }
    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(super::parse_bytes("16384"), Ok(16384));
        assert_eq!(super::parse_bytes("16K"), Ok(16384));
        assert_eq!(super::parse_bytes("4m"), Ok(4 << 20));
        assert_eq!(super::parse_bytes("1G"), Ok(1 << 30));
        assert!(super::parse_bytes("").is_err());
        assert!(super::parse_bytes("1.5M").is_err());
        assert!(super::parse_bytes("-1").is_err());
        assert!(super::parse_bytes("99999999999G").is_err());
    }
}
