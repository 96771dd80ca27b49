//! Per-host fairness on listeners: one source host may hold only its share of what a listener
//! gives out (connections, handshakes in progress), so a single host cannot lock everyone else
//! out. An IPv6 /64 counts as one host, since one machine is usually handed a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    fn timeouts_shorten_from_half_the_cap() {
        let (normal, short) = (Duration::from_secs(15), Duration::from_secs(3));
        assert_eq!(pressured(0, 1024, normal, short), normal);
        assert_eq!(pressured(511, 1024, normal, short), normal);
        assert_eq!(pressured(512, 1024, normal, short), short);
        assert_eq!(pressured(2000, 1024, normal, short), short);
    }
}
