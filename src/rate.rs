//! A token bucket for `--upload-limit` and `--download-limit`, shared by every connection of a
//! process. Bursts up to a quarter second of the rate (at least one block) so a limit does not
//! turn into stop-and-go.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimit {
    state: Mutex<Bucket>,
    /// A limit this one shares as well (a daemon's, over each torrent's own).
    parent: Option<std::sync::Arc<RateLimit>>,
}

struct Bucket {
    /// Bytes a second; 0: no limit (a daemon's, until one is set).
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(bytes_per_second: u64) -> Bucket {
        let rate = bytes_per_second as f64;
        let burst = (rate / 4.0).max(16384.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }
}

impl RateLimit {
    /// `bytes_per_second` > 0.
    pub fn new(bytes_per_second: u64) -> RateLimit {
        RateLimit {
            state: Mutex::new(Bucket::new(bytes_per_second.max(1))),
            parent: None,
        }
    }

    /// No limit until [`RateLimit::set`] gives one.
    pub fn unlimited() -> RateLimit {
        RateLimit {
            state: Mutex::new(Bucket::new(0)),
            parent: None,
        }
    }

    /// No limit of its own until [`RateLimit::set`] gives one, and `parent`'s as well: what
    /// is taken counts against both, and the longer wait holds.
    pub fn under(parent: std::sync::Arc<RateLimit>) -> RateLimit {
        RateLimit {
            state: Mutex::new(Bucket::new(0)),
            parent: Some(parent),
        }
    }

    /// Changes the rate for everyone sharing this limit; 0 lifts it.
    pub fn set(&self, bytes_per_second: u64) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Bucket::new(bytes_per_second);
    }

    /// Bytes a second, 0 without a limit.
    pub fn rate(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).rate as u64
    }

    /// Takes `n` tokens, returning how long the caller must wait first (zero when within rate).
    pub fn reserve(&self, n: usize) -> Duration {
        let parent = self
            .parent
            .as_ref()
            .map_or(Duration::ZERO, |p| p.reserve(n));
        parent.max(self.reserve_own(n))
    }

    fn reserve_own(&self, n: usize) -> Duration {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if b.rate == 0.0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let refilled = (b.tokens + now.duration_since(b.last).as_secs_f64() * b.rate).min(b.burst);
        let left = refilled - n as f64;
        (b.tokens, b.last) = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / b.rate)
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
    let n = parse_arg(what, text)?.unwrap_or(0);
    Ok((n > 0).then(|| std::sync::Arc::new(RateLimit::new(n))))
}

/// A RATE argument as bytes a second (0: no limit); `None` when not given.
pub fn parse_arg(what: &'static str, text: Option<&str>) -> crate::Result<Option<u64>> {
    text.map(|text| {
        crate::progress::parse_bytes(text).map_err(|reason| crate::Error::BadArgument {
            what,
            value: text.to_owned(),
            reason: reason.to_string(),
        })
    })
    .transpose()
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

    #[test]
    fn a_shared_limit_can_be_set_and_lifted_while_in_use() {
        let r = RateLimit::unlimited();
        assert_eq!(r.reserve(10 << 20), Duration::ZERO);
        r.set(100_000);
        assert_eq!(r.rate(), 100_000);
        r.reserve(25_000);
        assert!(r.reserve(50_000) > Duration::from_millis(450));
        r.set(0);
        assert_eq!(r.reserve(10 << 20), Duration::ZERO);
    }

    #[test]
    fn a_limit_under_another_waits_for_the_stricter() {
        let all = std::sync::Arc::new(RateLimit::unlimited());
        let one = RateLimit::under(all.clone());
        assert_eq!(one.reserve(10 << 20), Duration::ZERO, "neither limits yet");
        all.set(100_000);
        all.reserve(25_000);
        assert!(
            one.reserve(50_000) > Duration::from_millis(450),
            "the shared one"
        );
        all.set(0);
        one.set(100_000);
        one.reserve(25_000);
        assert!(one.reserve(50_000) > Duration::from_millis(450), "its own");
    }
}
