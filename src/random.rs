//! Randomness: secrets and peer ids from the kernel (`getrandom(2)`), and a small fast generator
//! for choices that need no secrecy (which peer to list, which piece to start with).

use std::sync::atomic::{AtomicU64, Ordering};

/// `N` bytes from the kernel's generator (`getrandom(2)`). They key MSE, DHT tokens and the UDP
/// tracker's connection ids: if the kernel refuses, p2p stops with an error rather than go on
/// with guessable secrets.
pub fn secure_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: getrandom(2) writes at most the given length into the given buffer.
        let n = unsafe { libc::getrandom(out[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if n > 0 {
            filled += n as usize;
            continue;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        eprintln!("p2p: error: the kernel's random generator (getrandom) failed: {e}");
        std::process::exit(1);
    }
    out
}

/// xorshift64*: fast, not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng {
    /// A generator seeded differently on every call.
    pub fn new() -> Rng {
        static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let count = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Rng::seeded(time ^ count ^ ((std::process::id() as u64) << 32))
    }

    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::seeded(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = rng.below(10);
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(secure_bytes::<16>(), [0u8; 16]);
    }
}
