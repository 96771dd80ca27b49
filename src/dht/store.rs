//! What a DHT node keeps for others (BEP 5), pure: peers announced to it per info-hash, each
//! expiring after 30 minutes, bounded in info-hashes and peers (the oldest give way); and the
//! announce tokens, SHA-1 of a secret and the asker's IP, the secret rotated every 5 minutes
//! with the previous one still accepted.

use super::krpc::Id;
use crate::hash::Sha1;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
pub const MAX_INFO_HASHES: usize = 100_000;
pub const MAX_PEERS_EACH: usize = 200;
pub const SECRET_LIFETIME: Duration = Duration::from_secs(5 * 60);
const TOKEN_LEN: usize = 8;

#[derive(Debug)]
pub struct PeerStore {
    swarms: HashMap<Id, Vec<(SocketAddr, Instant)>>,
    /// Info-hashes in the order they were first stored: the front is evicted first.
    order: VecDeque<Id>,
    max_hashes: usize,
}

impl Default for PeerStore {
    fn default() -> PeerStore {
        PeerStore::with_limit(MAX_INFO_HASHES)
    }
}

impl PeerStore {
    pub fn with_limit(max_hashes: usize) -> PeerStore {
        PeerStore {
            swarms: HashMap::new(),
            order: VecDeque::new(),
            max_hashes,
        }
    }

    pub fn announce(&mut self, info_hash: Id, peer: SocketAddr, now: Instant) {
        if !self.swarms.contains_key(&info_hash) {
            while self.swarms.len() >= self.max_hashes {
                match self.order.pop_front() {
                    Some(old) => {
                        self.swarms.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(info_hash);
        }
        let peers = self.swarms.entry(info_hash).or_default();
        if let Some(p) = peers.iter_mut().find(|(a, _)| *a == peer) {
            p.1 = now;
            return;
        }
        if peers.len() >= MAX_PEERS_EACH {
            let oldest = (0..peers.len()).min_by_key(|&i| peers[i].1).unwrap_or(0);
            peers.swap_remove(oldest);
        }
        peers.push((peer, now));
    }

    /// Up to `n` live peers of `info_hash`.
    pub fn peers(&self, info_hash: &Id, n: usize, now: Instant) -> Vec<SocketAddr> {
        self.swarms
            .get(info_hash)
            .map(|peers| {
                peers
                    .iter()
                    .rev()
                    .filter(|(_, at)| now.duration_since(*at) < PEER_TTL)
                    .take(n)
                    .map(|(a, _)| *a)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops expired peers and empty swarms.
    pub fn expire(&mut self, now: Instant) {
        self.swarms.retain(|_, peers| {
            peers.retain(|(_, at)| now.duration_since(*at) < PEER_TTL);
            !peers.is_empty()
        });
        let swarms = &self.swarms;
        self.order.retain(|h| swarms.contains_key(h));
    }

    pub fn info_hashes(&self) -> usize {
        self.swarms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.swarms.values().map(Vec::len).sum()
    }
}

#[derive(Debug)]
pub struct Tokens {
    current: [u8; 20],
    previous: [u8; 20],
    rotated: Instant,
}

impl Tokens {
    pub fn new(now: Instant) -> Tokens {
        Tokens {
            current: crate::random::secure_bytes::<20>(),
            previous: crate::random::secure_bytes::<20>(),
            rotated: now,
        }
    }

    pub fn rotate_if_due(&mut self, now: Instant) {
        if now.duration_since(self.rotated) >= SECRET_LIFETIME {
            self.previous = self.current;
            self.current = crate::random::secure_bytes::<20>();
            self.rotated = now;
        }
    }

    fn token(secret: &[u8; 20], ip: IpAddr) -> Vec<u8> {
        let mut h = Sha1::new();
        h.update(secret);
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.update(&v4.octets()),
            IpAddr::V6(v6) => h.update(&v6.octets()),
        }
        h.finish()[..TOKEN_LEN].to_vec()
    }

    pub fn issue(&self, ip: IpAddr) -> Vec<u8> {
        Tokens::token(&self.current, ip)
    }

    pub fn accepts(&self, token: &[u8], ip: IpAddr) -> bool {
        token == Tokens::token(&self.current, ip).as_slice()
            || token == Tokens::token(&self.previous, ip).as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_ip_and_survive_one_rotation() {
        let now = Instant::now();
        let mut t = Tokens::new(now);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let tok = t.issue(a);
        assert!(t.accepts(&tok, a));
        assert!(!t.accepts(&tok, b), "a token for another IP");
        t.rotate_if_due(now + SECRET_LIFETIME);
        assert!(t.accepts(&tok, a), "the previous secret still holds");
        t.rotate_if_due(now + SECRET_LIFETIME * 2);
        assert!(!t.accepts(&tok, a), "two rotations later it is gone");
    }

    #[test]
    fn the_store_is_bounded_and_expires() {
        let now = Instant::now();
        let mut s = PeerStore::with_limit(100);
        for i in 0..1000u32 {
            let mut h = [0u8; 20];
            h[..4].copy_from_slice(&i.to_be_bytes());
            s.announce(Id(h), "1.2.3.4:5".parse().unwrap(), now);
        }
        assert_eq!(s.info_hashes(), 100, "the oldest info-hashes gave way");
        let one = Id([9; 20]);
        for p in 0..500u16 {
            s.announce(one, SocketAddr::from(([10, 0, 0, 1], p + 1)), now);
        }
        assert_eq!(s.peers(&one, 1000, now).len(), MAX_PEERS_EACH);
        assert_eq!(s.peers(&one, 10, now).len(), 10);
        s.expire(now + PEER_TTL);
        assert_eq!((s.info_hashes(), s.peer_count()), (0, 0));
    }
}
