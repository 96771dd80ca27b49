//! What a DHT node keeps for others (BEP 5), pure: peers announced to it per info-hash, each
//! expiring after 30 minutes; and the announce tokens, SHA-1 of a secret, the asker's IP and
//! the info-hash, the secret rotated every 5 minutes with the previous one still accepted.
//!
//! Bounded per source and in all, so that no host can crowd honest peers out or grow the node:
//! one peer per IP in a swarm (a new port replaces the old; loopback aside, where test
//! networks live), [`MAX_PER_IP`] swarms an IP is in (its oldest entry gives way),
//! [`MAX_INFO_HASHES`] swarms and [`MAX_PEERS`] peers in all (past those, the oldest swarm gives
//! way, or a new peer is not stored). `get_peers` answers a random sample of a swarm, so the
//! newest announces are not all anyone sees.

use super::krpc::Id;
use crate::hash::Sha1;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
pub const MAX_INFO_HASHES: usize = 100_000;
pub const MAX_PEERS_EACH: usize = 200;
/// Peers in all: about 60 bytes each with their swarm's share, some 15 MiB at most.
pub const MAX_PEERS: usize = 250_000;
/// Swarms one IP address is stored in at most.
pub const MAX_PER_IP: usize = 128;
pub const SECRET_LIFETIME: Duration = Duration::from_secs(5 * 60);
const TOKEN_LEN: usize = 8;

#[derive(Debug)]
pub struct PeerStore {
    swarms: HashMap<Id, Vec<(SocketAddr, Instant)>>,
    /// Info-hashes in the order they were first stored: the front is evicted first. Swarms
    /// that emptied leave their entry behind until it reaches the front, or until stale
    /// entries outnumber live ones (then it is compacted).
    order: VecDeque<Id>,
    /// The swarms each (non-loopback) IP is in, oldest first.
    by_ip: HashMap<IpAddr, VecDeque<Id>>,
    peers: usize,
    max_hashes: usize,
    rng: crate::random::Rng,
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
            by_ip: HashMap::new(),
            peers: 0,
            max_hashes,
            rng: crate::random::Rng::new(),
        }
    }

    pub fn announce(&mut self, info_hash: Id, peer: SocketAddr, now: Instant) {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let ip = peer.ip();
        let per_ip = !ip.is_loopback();
        if let Some(peers) = self.swarms.get_mut(&info_hash) {
            // One entry per IP: a new port of a known IP replaces its old one.
            let same = |a: &SocketAddr| if per_ip { a.ip() == ip } else { *a == peer };
            if let Some(p) = peers.iter_mut().find(|(a, _)| same(a)) {
                *p = (peer, now);
                return;
            }
        }
        if self.peers >= MAX_PEERS {
            return;
        }
        if per_ip {
            let held = self.by_ip.entry(ip).or_default();
            if held.len() >= MAX_PER_IP
                && let Some(oldest) = held.pop_front()
            {
                self.remove_peer(&oldest, ip);
            }
        }
        if !self.swarms.contains_key(&info_hash) {
            while self.swarms.len() >= self.max_hashes {
                match self.order.pop_front() {
                    Some(old) => self.drop_swarm(&old),
                    None => break,
                }
            }
            if self.order.len() >= 2 * self.swarms.len().max(1024) {
                let swarms = &self.swarms;
                self.order.retain(|h| swarms.contains_key(h));
            }
            self.order.push_back(info_hash);
        }
        let peers = self.swarms.entry(info_hash).or_default();
        if peers.len() >= MAX_PEERS_EACH {
            let oldest = (0..peers.len()).min_by_key(|&i| peers[i].1).unwrap_or(0);
            let (gone, _) = peers.swap_remove(oldest);
            self.peers -= 1;
            self.forget_ip_entry(gone.ip(), &info_hash);
        }
        let peers = self.swarms.entry(info_hash).or_default();
        peers.push((peer, now));
        self.peers += 1;
        if per_ip {
            self.by_ip.entry(ip).or_default().push_back(info_hash);
        }
    }

    /// Takes `ip`'s entry out of swarm `info_hash` (its per-IP list is the caller's).
    fn remove_peer(&mut self, info_hash: &Id, ip: IpAddr) {
        if let Some(peers) = self.swarms.get_mut(info_hash) {
            let before = peers.len();
            peers.retain(|(a, _)| a.ip() != ip);
            self.peers -= before - peers.len();
            if peers.is_empty() {
                self.swarms.remove(info_hash);
            }
        }
    }

    fn drop_swarm(&mut self, info_hash: &Id) {
        for (a, _) in self.swarms.remove(info_hash).unwrap_or_default() {
            self.peers -= 1;
            self.forget_ip_entry(a.ip(), info_hash);
        }
    }

    fn forget_ip_entry(&mut self, ip: IpAddr, info_hash: &Id) {
        if let Some(held) = self.by_ip.get_mut(&ip) {
            held.retain(|h| h != info_hash);
            if held.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Up to `n` live peers of `info_hash`, a random sample when it has more.
    pub fn peers(&mut self, info_hash: &Id, n: usize, now: Instant) -> Vec<SocketAddr> {
        let Some(peers) = self.swarms.get(info_hash) else {
            return Vec::new();
        };
        let mut live: Vec<SocketAddr> = peers
            .iter()
            .filter(|(_, at)| now.duration_since(*at) < PEER_TTL)
            .map(|(a, _)| *a)
            .collect();
        // A partial Fisher-Yates shuffle: the first `n` are a uniform sample.
        let take = n.min(live.len());
        for i in 0..take {
            let j = i + self.rng.below(live.len() - i);
            live.swap(i, j);
        }
        live.truncate(take);
        live
    }

    /// Drops expired peers and empty swarms.
    pub fn expire(&mut self, now: Instant) {
        let mut gone: Vec<(IpAddr, Id)> = Vec::new();
        self.swarms.retain(|hash, peers| {
            peers.retain(|(a, at)| {
                let live = now.duration_since(*at) < PEER_TTL;
                if !live {
                    gone.push((a.ip(), *hash));
                }
                live
            });
            !peers.is_empty()
        });
        self.peers -= gone.len();
        for (ip, hash) in gone {
            self.forget_ip_entry(ip, &hash);
        }
        let swarms = &self.swarms;
        self.order.retain(|h| swarms.contains_key(h));
    }

    pub fn info_hashes(&self) -> usize {
        self.swarms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.peers
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

    /// A token is good for one IP and one info-hash: one `get_peers` does not open every
    /// swarm to an announce.
    fn token(secret: &[u8; 20], ip: IpAddr, info_hash: &Id) -> Vec<u8> {
        let mut h = Sha1::new();
        h.update(secret);
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.update(&v4.octets()),
            IpAddr::V6(v6) => h.update(&v6.octets()),
        }
        h.update(&info_hash.0);
        h.finish()[..TOKEN_LEN].to_vec()
    }

    pub fn issue(&self, ip: IpAddr, info_hash: &Id) -> Vec<u8> {
        Tokens::token(&self.current, ip, info_hash)
    }

    pub fn accepts(&self, token: &[u8], ip: IpAddr, info_hash: &Id) -> bool {
        token == Tokens::token(&self.current, ip, info_hash).as_slice()
            || token == Tokens::token(&self.previous, ip, info_hash).as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u32) -> Id {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        Id(h)
    }

    #[test]
    fn tokens_are_per_ip_and_info_hash_and_survive_one_rotation() {
        let now = Instant::now();
        let mut t = Tokens::new(now);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let tok = t.issue(a, &hash(1));
        assert!(t.accepts(&tok, a, &hash(1)));
        assert!(!t.accepts(&tok, b, &hash(1)), "a token for another IP");
        assert!(!t.accepts(&tok, a, &hash(2)), "a token for another swarm");
        t.rotate_if_due(now + SECRET_LIFETIME);
        assert!(
            t.accepts(&tok, a, &hash(1)),
            "the previous secret still holds"
        );
        t.rotate_if_due(now + SECRET_LIFETIME * 2);
        assert!(
            !t.accepts(&tok, a, &hash(1)),
            "two rotations later it is gone"
        );
    }

    #[test]
    fn the_store_is_bounded_and_expires() {
        let now = Instant::now();
        let mut s = PeerStore::with_limit(100);
        for i in 0..1000u32 {
            s.announce(
                hash(i),
                SocketAddr::from(([1, 2, (i >> 8) as u8, i as u8], 5)),
                now,
            );
        }
        assert_eq!(s.info_hashes(), 100, "the oldest info-hashes gave way");
        assert_eq!(s.peer_count(), 100);
        let one = Id([9; 20]);
        for p in 0..500u32 {
            let ip = [10, 0, (p >> 8) as u8, p as u8];
            s.announce(one, SocketAddr::from((ip, 6881)), now);
        }
        assert_eq!(s.peers(&one, 1000, now).len(), MAX_PEERS_EACH);
        assert_eq!(s.peers(&one, 10, now).len(), 10);
        s.expire(now + PEER_TTL);
        assert_eq!((s.info_hashes(), s.peer_count()), (0, 0));
        assert!(s.by_ip.is_empty());
    }

    #[test]
    fn one_ip_announcing_200_ports_leaves_the_honest_peer_in_every_answer() {
        let now = Instant::now();
        let mut s = PeerStore::default();
        let swarm = Id([5; 20]);
        let honest: SocketAddr = "203.0.113.1:6881".parse().unwrap();
        s.announce(swarm, honest, now);
        for port in 1000..1200u16 {
            s.announce(swarm, SocketAddr::from(([198, 51, 100, 7], port)), now);
        }
        assert_eq!(s.peer_count(), 2, "one entry per IP: its latest port");
        for _ in 0..20 {
            assert!(s.peers(&swarm, 32, now).contains(&honest));
        }
        // On loopback, where test swarms live, every port counts.
        for port in 1..=5u16 {
            s.announce(swarm, SocketAddr::from(([127, 0, 0, 1], port)), now);
        }
        assert_eq!(s.peer_count(), 7);
    }

    #[test]
    fn a_flood_from_1000_ips_stays_within_the_bounds() {
        let now = Instant::now();
        let mut s = PeerStore::default();
        // Each IP announces 400 swarms (issue 24's flood: 2,680 an IP, 2.68 M stored in all).
        for ip in 0..1000u32 {
            let from = [10, 1, (ip >> 8) as u8, ip as u8];
            for k in 0..400u32 {
                s.announce(hash(ip * 10_000 + k), SocketAddr::from((from, 6881)), now);
            }
        }
        assert!(s.peer_count() <= 1000 * MAX_PER_IP, "{}", s.peer_count());
        assert!(s.peer_count() <= MAX_PEERS);
        assert!(s.info_hashes() <= MAX_INFO_HASHES);
        assert!(s.by_ip.values().all(|h| h.len() <= MAX_PER_IP));
        assert_eq!(
            s.by_ip.values().map(VecDeque::len).sum::<usize>(),
            s.peer_count()
        );
        // An honest peer still gets in.
        let swarm = Id([7; 20]);
        s.announce(swarm, "203.0.113.1:6881".parse().unwrap(), now);
        assert_eq!(s.peers(&swarm, 32, now).len(), 1);
    }
}
