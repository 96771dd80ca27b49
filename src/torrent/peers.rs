//! Dialing: every address the torrent has heard of (from `--peer`, the tracker) and what it is
//! doing with it, as an explicit state (idle with a retry time, connecting, live, banned).
//! Backoff after failures, a pause before dialing a dropped
//! peer again, and forgetting addresses that keep failing. Pure: the torrent task dials what
//! [`Dialer::due`] names and reports back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Failed dials after which an address the tracker gave is forgotten (`--peer` ones never are).
pub const MAX_ATTEMPTS: u32 = 3;
/// After a connection ends: wait this long before dialing a `--peer` address again…
pub const REDIAL_USER: Duration = Duration::from_secs(5);
/// …or one the tracker gave.
pub const REDIAL_TRACKER: Duration = Duration::from_secs(30);
/// Addresses known at most: more from the tracker or peer exchange are not kept until some
/// are forgotten (`--peer` ones always are).
pub const MAX_KNOWN: usize = 2000;
/// The longest wait between failed dials.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialState {
    /// Not connected; may be dialed from `retry_at` on.
    Idle {
        retry_at: Instant,
    },
    Connecting,
    /// A connection is up (or was refused as a duplicate, which counts the same).
    Live,
    /// It sent corrupt data: never dialed again, even when the tracker names it anew.
    Banned,
}

#[derive(Debug)]
struct Candidate {
    state: DialState,
    attempts: u32,
    from_user: bool,
}

#[derive(Debug, Default)]
pub struct Dialer {
    known: HashMap<SocketAddr, Candidate>,
    /// Our listening address: it is us (see [`crate::address::dialable`]).
    own: Option<SocketAddr>,
}

impl Dialer {
    pub fn new(own: SocketAddr) -> Dialer {
        Dialer {
            own: Some(own),
            ..Dialer::default()
        }
    }

    /// An address to dial from `now` on; one already known keeps its state. Addresses no host
    /// can have (port 0, unspecified, multicast, broadcast) and our own are dropped, whoever
    /// named them; whether a remote source may name loopback or private ones is decided where
    /// its addresses come in ([`crate::address::admissible`]).
    pub fn add(&mut self, addr: SocketAddr, from_user: bool, now: Instant) {
        if !crate::address::dialable(addr, self.own) {
            return;
        }
        if !from_user && self.known.len() >= MAX_KNOWN {
            return;
        }
        self.known.entry(addr).or_insert(Candidate {
            state: DialState::Idle { retry_at: now },
            attempts: 0,
            from_user,
        });
    }

    /// Up to `room` addresses due for dialing, now marked connecting.
    pub fn due(&mut self, now: Instant, room: usize) -> Vec<SocketAddr> {
        let mut due: Vec<SocketAddr> = self
            .known
            .iter()
            .filter(|(_, c)| matches!(c.state, DialState::Idle { retry_at } if retry_at <= now))
            .map(|(a, _)| *a)
            .collect();
        due.sort_unstable();
        due.truncate(room);
        for addr in &due {
            if let Some(c) = self.known.get_mut(addr) {
                c.state = DialState::Connecting;
            }
        }
        due
    }

    /// When the next known address is due for dialing, if any is waiting.
    pub fn next_due(&self) -> Option<Instant> {
        self.known
            .values()
            .filter_map(|c| match c.state {
                DialState::Idle { retry_at } => Some(retry_at),
                _ => None,
            })
            .min()
    }

    /// Whether it knows no address: it is then what [`Dialer::new`] makes.
    pub fn knows_none(&self) -> bool {
        self.known.is_empty()
    }

    pub fn connecting(&self) -> usize {
        self.known
            .values()
            .filter(|c| c.state == DialState::Connecting)
            .count()
    }

    pub fn state(&self, addr: &SocketAddr) -> Option<DialState> {
        self.known.get(addr).map(|c| c.state)
    }

    /// The dial failed: back off 4, 8, 16, 30 s; a tracker's address is forgotten after
    /// [`MAX_ATTEMPTS`].
    pub fn failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(c) = self.not_banned(&addr) else {
            return;
        };
        c.attempts += 1;
        if !c.from_user && c.attempts >= MAX_ATTEMPTS {
            self.known.remove(&addr);
            return;
        }
        let wait = Duration::from_secs(2u64 << c.attempts.min(4)).min(MAX_BACKOFF);
        c.state = DialState::Idle {
            retry_at: now + wait,
        };
    }

    /// A dial reached the peer and its handshake was accepted.
    pub fn connected(&mut self, addr: SocketAddr) {
        if let Some(c) = self.not_banned(&addr) {
            c.attempts = 0;
            c.state = DialState::Live;
        }
    }

    /// A connection to `addr` ended: a restarted peer may come back, so dial it again later.
    pub fn disconnected(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(c) = self.not_banned(&addr) {
            let wait = if c.from_user {
                REDIAL_USER
            } else {
                REDIAL_TRACKER
            };
            c.state = DialState::Idle {
                retry_at: now + wait,
            };
        }
    }

    /// The entry of a known address that is not banned: a ban is final.
    fn not_banned(&mut self, addr: &SocketAddr) -> Option<&mut Candidate> {
        self.known
            .get_mut(addr)
            .filter(|c| c.state != DialState::Banned)
    }

    /// Do not dial `addr` again unless it is heard of anew (both sides complete).
    pub fn forget(&mut self, addr: SocketAddr) {
        self.known.remove(&addr);
    }

    /// Never dial `addr` again.
    pub fn ban(&mut self, addr: SocketAddr) {
        self.known
            .entry(addr)
            .or_insert(Candidate {
                state: DialState::Banned,
                attempts: 0,
                from_user: false,
            })
            .state = DialState::Banned;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn due_addresses_are_dialed_once_and_within_room() {
        let now = Instant::now();
        let mut d = Dialer::default();
        for p in 1..=5 {
            d.add(a(p), false, now);
        }
        assert_eq!(d.due(now, 3), vec![a(1), a(2), a(3)]);
        assert_eq!(d.connecting(), 3);
        assert_eq!(d.due(now, 10), vec![a(4), a(5)]);
        assert!(
            d.due(now, 10).is_empty(),
            "connecting ones are not dialed twice"
        );
        d.connected(a(1));
        assert_eq!(d.state(&a(1)), Some(DialState::Live));
        d.add(a(1), false, now);
        assert_eq!(
            d.state(&a(1)),
            Some(DialState::Live),
            "a known address keeps its state"
        );
    }

    #[test]
    fn failures_back_off_and_tracker_addresses_are_forgotten() {
        let now = Instant::now();
        let mut d = Dialer::default();
        d.add(a(1), true, now);
        d.add(a(2), false, now);
        let mut t = now;
        for (attempt, wait) in [(1u32, 4u64), (2, 8), (3, 16), (4, 30), (5, 30)] {
            assert!(d.due(t, 10).contains(&a(1)), "attempt {attempt}");
            d.failed(a(1), t);
            d.failed(a(2), t);
            let w = Duration::from_secs(wait);
            assert!(d.due(t + w - Duration::from_millis(1), 10).is_empty());
            t += w;
        }
        assert_eq!(
            d.state(&a(2)),
            None,
            "forgotten after {MAX_ATTEMPTS} failures"
        );
        assert!(d.state(&a(1)).is_some(), "a --peer address is kept");
    }

    #[test]
    fn a_dropped_peer_is_dialed_again_after_a_pause() {
        let now = Instant::now();
        let mut d = Dialer::default();
        d.add(a(1), true, now);
        d.add(a(2), false, now);
        d.due(now, 10);
        d.connected(a(1));
        d.connected(a(2));
        d.disconnected(a(1), now);
        d.disconnected(a(2), now);
        assert!(
            d.due(now + REDIAL_USER - Duration::from_millis(1), 10)
                .is_empty()
        );
        assert_eq!(d.due(now + REDIAL_USER, 10), vec![a(1)]);
        assert_eq!(d.due(now + REDIAL_TRACKER, 10), vec![a(2)]);
        d.forget(a(2));
        assert_eq!(d.state(&a(2)), None);
    }

    #[test]
    fn a_banned_address_is_never_dialed_even_when_heard_of_again() {
        let now = Instant::now();
        let mut d = Dialer::default();
        d.add(a(1), false, now);
        d.due(now, 10);
        d.connected(a(1));
        d.disconnected(a(1), now);
        d.ban(a(1));
        d.add(a(1), false, now);
        d.failed(a(1), now);
        assert_eq!(d.state(&a(1)), Some(DialState::Banned));
        assert!(d.due(now + Duration::from_secs(3600), 10).is_empty());
    }

    #[test]
    fn addresses_no_host_has_and_our_own_are_never_dialed() {
        let now = Instant::now();
        let mut d = Dialer::new("[::]:6881".parse().unwrap());
        for bad in [
            "0.0.0.0:7000",
            "224.0.0.1:7000",
            "255.255.255.255:7000",
            "240.0.0.1:7000",
            "[ff02::1]:7000",
            "127.0.0.1:6881",
            "[::1]:6881",
            "[::]:6881",
            "10.0.0.1:0",
        ] {
            d.add(bad.parse().unwrap(), false, now);
            d.add(bad.parse().unwrap(), true, now);
        }
        assert!(d.due(now, 100).is_empty());
        // Another process on this machine, or a LAN peer the user named, are dialed.
        d.add("127.0.0.1:7000".parse().unwrap(), false, now);
        d.add("10.0.0.1:6881".parse().unwrap(), true, now);
        assert_eq!(d.due(now, 100).len(), 2);
    }

    #[test]
    fn listening_on_one_address_only_that_address_with_our_port_is_us() {
        let now = Instant::now();
        let mut d = Dialer::new("127.0.0.10:7000".parse().unwrap());
        d.add("127.0.0.10:7000".parse().unwrap(), false, now);
        d.add("[::ffff:127.0.0.10]:7000".parse().unwrap(), false, now);
        assert!(d.due(now, 100).is_empty());
        // Another process on its own loopback address with the same port (a crowd of clients
        // on one machine) is a peer.
        d.add("127.0.0.11:7000".parse().unwrap(), false, now);
        d.add("127.0.0.1:7000".parse().unwrap(), false, now);
        assert_eq!(d.due(now, 100).len(), 2);
        let mut d = Dialer::new("10.1.2.3:7000".parse().unwrap());
        d.add("10.1.2.3:7000".parse().unwrap(), true, now);
        assert!(
            d.due(now, 100).is_empty(),
            "our own address, whoever names it"
        );
    }
}
