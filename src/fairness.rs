//! Per-host fairness on listeners: one source host may hold only its share of what a listener
//! gives out (connections, handshakes in progress), so a single host cannot lock everyone else
//! out. An IPv6 /64 counts as one host, since one machine is usually handed a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The host an address belongs to: IPv4 as it is (also when mapped into IPv6), IPv6 cut to
/// its /64.
pub fn host_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

/// A timeout that shortens under pressure: `normal` while less than half of `cap` is in use,
/// `short` from then on, so slow or silent clients give their places back sooner when others
/// are waiting for them.
pub fn pressured(in_use: usize, cap: usize, normal: Duration, short: Duration) -> Duration {
    if in_use * 2 >= cap { short } else { normal }
}

/// Counts what each host holds, up to `limit` each.
pub struct PerHost {
    limit: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One place held by a host; dropping it gives the place back.
pub struct HostSlot {
    owner: Arc<PerHost>,
    host: IpAddr,
}

impl PerHost {
    pub fn new(limit: usize) -> Arc<PerHost> {
        Arc::new(PerHost {
            limit,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A place for `ip`'s host, or `None` when it holds its share already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<HostSlot> {
        let host = host_of(ip);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(host).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(HostSlot {
            owner: self.clone(),
            host,
        })
    }

    /// Hosts holding at least one place (memory is bounded by what is held).
    pub fn hosts(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let mut held = self.owner.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.host) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.host);
            }
        }
    }
}

/// New encrypted (MSE) handshakes a listener takes: each costs it two 768-bit exponentiations
/// and the dialer nothing but 96 random bytes. At most [`KeyExchangeRate::PER_HOST`] a second
/// from one host (loopback aside, where test swarms live) and [`KeyExchangeRate::TOTAL`] a
/// second in all, each with a burst of twice that; past them a connection is closed before any
/// arithmetic.
pub struct KeyExchangeRate {
    state: Mutex<Buckets>,
}

struct Buckets {
    total: (f64, Instant),
    hosts: HashMap<IpAddr, (f64, Instant)>,
}

/// Hosts tracked at most; past it the ones whose bucket has refilled are forgotten.
const MAX_TRACKED_HOSTS: usize = 10_000;

impl KeyExchangeRate {
    pub const PER_HOST: f64 = 10.0;
    pub const TOTAL: f64 = 200.0;

    pub fn new(now: Instant) -> KeyExchangeRate {
        KeyExchangeRate {
            state: Mutex::new(Buckets {
                total: (2.0 * Self::TOTAL, now),
                hosts: HashMap::new(),
            }),
        }
    }

    /// Whether a new encrypted handshake from `ip` may go ahead at `now` (and takes its turn).
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let host = host_of(ip);
        let refill = |(tokens, at): (f64, Instant), rate: f64| {
            (tokens + now.saturating_duration_since(at).as_secs_f64() * rate).min(2.0 * rate)
        };
        let per_host = !host.is_loopback();
        let host_tokens = if per_host {
            if b.hosts.len() >= MAX_TRACKED_HOSTS && !b.hosts.contains_key(&host) {
                b.hosts
                    .retain(|_, t| refill(*t, Self::PER_HOST) < 2.0 * Self::PER_HOST);
            }
            let entry = *b.hosts.get(&host).unwrap_or(&(2.0 * Self::PER_HOST, now));
            refill(entry, Self::PER_HOST)
        } else {
            f64::INFINITY
        };
        let total_tokens = refill(b.total, Self::TOTAL);
        if host_tokens < 1.0 || total_tokens < 1.0 {
            return false;
        }
        b.total = (total_tokens - 1.0, now);
        if per_host && b.hosts.len() < MAX_TRACKED_HOSTS {
            b.hosts.insert(host, (host_tokens - 1.0, now));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_its_share_and_places_come_back() {
        let limit = PerHost::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let (s1, _s2) = (limit.take(a).unwrap(), limit.take(a).unwrap());
        assert!(limit.take(a).is_none());
        assert!(
            limit.take("10.0.0.2".parse().unwrap()).is_some(),
            "others are not affected"
        );
        drop(s1);
        assert!(limit.take(a).is_some());
        // One /64 is one host; a mapped IPv4 address is that IPv4 host.
        let v6 = PerHost::new(1);
        let _x = v6.take("2001:db8::1".parse().unwrap()).unwrap();
        assert!(v6.take("2001:db8::ffff:1".parse().unwrap()).is_none());
        assert!(v6.take("2001:db8:0:1::1".parse().unwrap()).is_some());
        let _m = v6.take("::ffff:10.0.0.9".parse().unwrap()).unwrap();
        assert!(v6.take("10.0.0.9".parse().unwrap()).is_none());
    }

    #[test]
    fn memory_follows_what_is_held() {
        let limit = PerHost::new(4);
        let slots: Vec<_> = (0..100u8)
            .map(|i| limit.take(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(limit.hosts(), 100);
        drop(slots);
        assert_eq!(limit.hosts(), 0);
    }

    #[test]
    fn encrypted_handshakes_are_rationed_per_host_and_in_all() {
        let now = Instant::now();
        let rate = KeyExchangeRate::new(now);
        let flood: IpAddr = "203.0.113.9".parse().unwrap();
        let taken = (0..1000).filter(|_| rate.allow(flood, now)).count();
        assert_eq!(taken, 20, "one host: a burst of twice 10 a second");
        assert!(
            rate.allow("203.0.113.10".parse().unwrap(), now),
            "another host"
        );
        // A second later the host has 10 more.
        let later = now + Duration::from_secs(1);
        assert_eq!((0..1000).filter(|_| rate.allow(flood, later)).count(), 10);
        // 2,000 hosts at once: the total's burst (400) goes, then nothing until it refills.
        let rate = KeyExchangeRate::new(now);
        let many = (0..2000u32)
            .filter(|i| rate.allow(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), now))
            .count();
        assert_eq!(many, 400);
        let next = (0..2000u32)
            .filter(|i| rate.allow(IpAddr::from((0x0b00_0000 + i).to_be_bytes()), later))
            .count();
        assert_eq!(next, 200);
        // Loopback answers to the total alone.
        let rate = KeyExchangeRate::new(now);
        let local = (0..1000).filter(|_| rate.allow("127.0.0.1".parse().unwrap(), now));
        assert_eq!(local.count(), 400);
    }

    #[test]
    fn timeouts_shorten_from_half_the_cap() {
        let (normal, short) = (Duration::from_secs(15), Duration::from_secs(3));
        assert_eq!(pressured(0, 1024, normal, short), normal);
        assert_eq!(pressured(511, 1024, normal, short), normal);
        assert_eq!(pressured(512, 1024, normal, short), short);
        assert_eq!(pressured(2000, 1024, normal, short), short);
    }
}
