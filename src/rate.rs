//! A token bucket for `--upload-limit` and `--download-limit`, shared by every connection of a
//! process. Bursts up to a quarter second of the rate (at least one block) so a limit does not
//! turn into stop-and-go.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimit {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `bytes_per_second` > 0.
    pub fn new(bytes_per_second: u64) -> RateLimit {
        let rate = bytes_per_second.max(1) as f64;
        let burst = (rate / 4.0).max(16384.0);
        RateLimit {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `n` tokens, returning how long the caller must wait first (zero when within rate).
    pub fn reserve(&self, n: usize) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        let left = refilled - n as f64;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate)
        }
    }

    pub async fn take(&self, n: usize) {
        let wait = self.reserve(n);
        if !wait.is_zero() {
            crate::runtime::sleep(wait).await;
        }
    }
}

/// Takes from an optional limit.
pub async fn take(limit: &Option<std::sync::Arc<RateLimit>>, n: usize) {
    if let Some(l) = limit {
        l.take(n).await;
    }
}

/// A `--upload-limit` / `--download-limit` value: bytes a second with an optional K/M/G suffix;
/// `0` means no limit.
pub fn from_arg(
    what: &'static str,
    text: Option<&str>,
) -> crate::Result<Option<std::sync::Arc<RateLimit>>> {
    let Some(text) = text else { return Ok(None) };
    let n = crate::progress::parse_bytes(text).map_err(|reason| crate::Error::BadArgument {
        what,
        value: text.to_owned(),
        reason: reason.to_string(),
    })?;
    Ok((n > 0).then(|| std::sync::Arc::new(RateLimit::new(n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_debt() {
        let r = RateLimit::new(100_000);
        assert_eq!(r.reserve(25_000), Duration::ZERO, "the burst is free");
        let w = r.reserve(50_000);
        assert!(
            w > Duration::from_millis(450) && w <= Duration::from_millis(500),
            "{w:?}"
        );
        let w2 = r.reserve(50_000);
        assert!(w2 > Duration::from_millis(950), "{w2:?}");
    }
}
