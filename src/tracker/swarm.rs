//! The tracker's memory: for every info-hash, the peers that announced it and when they were last
//! heard from.
//!
//! Bounds: at most [`MAX_TORRENTS`] torrents and [`MAX_PEERS`] peers in all (an announce past
//! either is answered "tracker is full"), and peers silent for longer than the timeout (2× the
//! announce interval) expire, taking empty torrents with them. Measured (benches/tracker.sh):
//! 1,000,000 peers over 100,000 torrents take about 130 MB, so the caps hold the store under
//! roughly 300 MB whatever the traffic.
//!
//! The store is split into shards by info-hash, each behind a mutex held for the few microseconds
//! an announce takes and never across an await, so the HTTP and UDP front ends on every core
//! share it without queueing behind one owner.

use super::{AnnounceEvent, AnnounceRequest};
use crate::metainfo::InfoHash;
use crate::random::Rng;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const MAX_TORRENTS: usize = 1_000_000;
pub const MAX_PEERS: usize = 2_000_000;
/// Peers one source address (an IPv6 /64 counting as one) may hold in the store, so one host
/// cannot fill it; loopback is exempt (every local process, and the benchmarks, share it).
pub const MAX_PEERS_PER_SOURCE: u32 = 20_000;
const SHARDS: usize = 32;

pub struct SwarmStore {
    shards: Vec<Mutex<Shard>>,
    torrents: AtomicUsize,
    peers: AtomicUsize,
    /// Peers with nothing left, over every torrent.
    seeds: AtomicUsize,
    epoch: Instant,
    peer_timeout: u32,
    max_torrents: usize,
    max_peers: usize,
    max_per_source: u32,
    /// Entries held by each source (see [`source_key`]); loopback is not counted.
    sources: Mutex<HashMap<IpAddr, u32>>,
}

/// The key a source address is counted under: its host (an IPv4 address, or an IPv6 /64);
/// `None` for loopback.
fn source_key(ip: IpAddr) -> Option<IpAddr> {
    Some(crate::fairness::host_of(ip)).filter(|h| !h.is_loopback())
}

struct Shard {
    torrents: HashMap<InfoHash, Swarm>,
    rng: Rng,
}

#[derive(Default)]
struct Swarm {
    peers: Vec<PeerEntry>,
    index: HashMap<[u8; 20], u32>,
    seeders: usize,
    downloaded: u64,
}

/// 44 bytes: the address is kept as 16 bytes + port rather than a `SocketAddr` (32 bytes).
struct PeerEntry {
    id: [u8; 20],
    addr: CompactAddr,
    seeder: bool,
    last_seen: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct CompactAddr {
    /// IPv4 as its IPv4-mapped IPv6 form.
    ip: [u8; 16],
    port: u16,
}

impl CompactAddr {
    fn new(addr: SocketAddr) -> CompactAddr {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        CompactAddr {
            ip,
            port: addr.port(),
        }
    }

    fn get(self) -> SocketAddr {
        SocketAddr::new(
            canonical_ip(IpAddr::V6(std::net::Ipv6Addr::from(self.ip))),
            self.port,
        )
    }
}

/// What an announce gets back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    pub complete: usize,
    pub incomplete: usize,
    pub peers: Vec<(SocketAddr, [u8; 20])>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeEntry {
    pub complete: usize,
    pub downloaded: u64,
    pub incomplete: usize,
}

/// Why an announce was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("tracker is full")]
    Store,
    #[error("too many peers announced from this address")]
    Source,
}

impl SwarmStore {
    pub fn new(peer_timeout: Duration) -> SwarmStore {
        SwarmStore::with_limits(peer_timeout, MAX_TORRENTS, MAX_PEERS)
    }

    pub fn with_limits(
        peer_timeout: Duration,
        max_torrents: usize,
        max_peers: usize,
    ) -> SwarmStore {
        SwarmStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        torrents: HashMap::new(),
                        rng: Rng::new(),
                    })
                })
                .collect(),
            torrents: AtomicUsize::new(0),
            peers: AtomicUsize::new(0),
            seeds: AtomicUsize::new(0),
            epoch: Instant::now(),
            peer_timeout: peer_timeout.as_secs().clamp(1, u32::MAX as u64) as u32,
            max_torrents,
            max_peers,
            max_per_source: MAX_PEERS_PER_SOURCE,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// The same store with another per-source limit (tests).
    pub fn with_source_limit(mut self, limit: u32) -> SwarmStore {
        self.max_per_source = limit;
        self
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new entry for `ip`; false when its source holds its share already.
    fn source_take(&self, ip: IpAddr) -> bool {
        let Some(key) = source_key(ip) else {
            return true;
        };
        let mut sources = self.sources();
        let held = sources.entry(key).or_insert(0);
        if *held >= self.max_per_source {
            return false;
        }
        *held += 1;
        true
    }

    /// Gives back the entries of `ips`.
    fn source_release(&self, ips: impl IntoIterator<Item = IpAddr>) {
        let keys: Vec<IpAddr> = ips.into_iter().filter_map(source_key).collect();
        if keys.is_empty() {
            return;
        }
        let mut sources = self.sources();
        for key in keys {
            if let Some(held) = sources.get_mut(&key) {
                *held -= 1;
                if *held == 0 {
                    sources.remove(&key);
                }
            }
        }
    }

    fn now(&self) -> u32 {
        self.epoch.elapsed().as_secs() as u32
    }

    fn shard(&self, info_hash: &InfoHash) -> std::sync::MutexGuard<'_, Shard> {
        let i = info_hash.0[0] as usize % SHARDS;
        // A panic while holding a shard cannot leave it half-updated in a way that matters more
        // than losing the tracker, so a poisoned lock is taken as it is.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn torrent_count(&self) -> usize {
        self.torrents.load(Ordering::Relaxed)
    }

    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    pub fn seed_count(&self) -> usize {
        self.seeds.load(Ordering::Relaxed)
    }

    /// Moves the global seed count by a swarm's change.
    fn seeds_changed(&self, before: usize, after: usize) {
        if after > before {
            self.seeds.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.seeds.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Records an announce from `ip` and picks peers for it.
    pub fn announce(&self, a: &AnnounceRequest, ip: IpAddr) -> Result<AnnounceReply, Full> {
        let now = self.now();
        let addr = CompactAddr::new(SocketAddr::new(canonical_ip(ip), a.port));
        let mut shard = self.shard(&a.info_hash);
        let shard = &mut *shard;
        if a.event == AnnounceEvent::Stopped {
            let Some(swarm) = shard.torrents.get_mut(&a.info_hash) else {
                return Ok(AnnounceReply::default());
            };
            let seeds = swarm.seeders;
            if let Some(gone) = swarm.remove(&a.peer_id) {
                self.peers.fetch_sub(1, Ordering::Relaxed);
                self.source_release([gone]);
            }
            self.seeds_changed(seeds, swarm.seeders);
            let reply = swarm.counts();
            if swarm.peers.is_empty() {
                shard.torrents.remove(&a.info_hash);
                self.torrents.fetch_sub(1, Ordering::Relaxed);
            }
            return Ok(reply);
        }
        if !shard.torrents.contains_key(&a.info_hash) {
            if self.torrent_count() >= self.max_torrents || self.peer_count() >= self.max_peers {
                return Err(Full::Store);
            }
            self.torrents.fetch_add(1, Ordering::Relaxed);
        }
        let swarm = shard.torrents.entry(a.info_hash).or_default();
        let seeder = a.left == 0;
        let seeds = swarm.seeders;
        match swarm.index.get(&a.peer_id) {
            Some(&i) => {
                let entry = &mut swarm.peers[i as usize];
                // A peer moving to another source is counted there (when it has room).
                if source_key(entry.addr.get().ip()) != source_key(addr.get().ip()) {
                    if !self.source_take(addr.get().ip()) {
                        return Err(Full::Source);
                    }
                    self.source_release([entry.addr.get().ip()]);
                }
                if entry.seeder != seeder {
                    if seeder {
                        swarm.seeders += 1;
                    } else {
                        swarm.seeders -= 1;
                    }
                }
                if seeder && !entry.seeder && a.event == AnnounceEvent::Completed {
                    swarm.downloaded += 1;
                }
                entry.seeder = seeder;
                entry.addr = addr;
                entry.last_seen = now;
                self.seeds_changed(seeds, swarm.seeders);
            }
            None => {
                let refused = if self.peer_count() >= self.max_peers {
                    Some(Full::Store)
                } else if !self.source_take(ip) {
                    Some(Full::Source)
                } else {
                    None
                };
                if let Some(why) = refused {
                    if swarm.peers.is_empty() {
                        shard.torrents.remove(&a.info_hash);
                        self.torrents.fetch_sub(1, Ordering::Relaxed);
                    }
                    return Err(why);
                }
                self.peers.fetch_add(1, Ordering::Relaxed);
                if a.event == AnnounceEvent::Completed {
                    swarm.downloaded += 1;
                }
                swarm.seeders += seeder as usize;
                self.seeds_changed(seeds, swarm.seeders);
                swarm.index.insert(a.peer_id, swarm.peers.len() as u32);
                swarm.peers.push(PeerEntry {
                    id: a.peer_id,
                    addr,
                    seeder,
                    last_seen: now,
                });
            }
        }
        let mut reply = swarm.counts();
        let n = swarm.peers.len();
        if n > 1 && a.numwant > 0 {
            let start = shard.rng.below(n);
            // Never the asker itself. A seed gets the peers that still download first, then
            // seeds fill what room is left: a magnet fetch by aria2c announces `left=0` before
            // it has the metadata, and only a seed may have that to give.
            let passes: &[bool] = if seeder { &[false, true] } else { &[false] };
            'passes: for &pass in passes {
                for k in 0..n {
                    let p = &swarm.peers[(start + k) % n];
                    if p.id == a.peer_id || p.addr == addr || (seeder && p.seeder != pass) {
                        continue;
                    }
                    reply.peers.push((p.addr.get(), p.id));
                    if reply.peers.len() >= a.numwant as usize {
                        break 'passes;
                    }
                }
            }
        }
        Ok(reply)
    }

    pub fn scrape(&self, info_hash: &InfoHash) -> ScrapeEntry {
        let shard = self.shard(info_hash);
        match shard.torrents.get(info_hash) {
            None => ScrapeEntry::default(),
            Some(s) => ScrapeEntry {
                complete: s.seeders,
                downloaded: s.downloaded,
                incomplete: s.peers.len() - s.seeders,
            },
        }
    }

    /// Drops peers silent for longer than the timeout and torrents left empty; returns how many
    /// peers went.
    pub fn expire(&self) -> usize {
        let now = self.now();
        let (mut removed, mut seeds_removed) = (0, 0);
        let mut sources = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.torrents.len();
            shard.torrents.retain(|_, swarm| {
                let stale: Vec<[u8; 20]> = swarm
                    .peers
                    .iter()
                    .filter(|p| now.saturating_sub(p.last_seen) > self.peer_timeout)
                    .map(|p| p.id)
                    .collect();
                let seeds = swarm.seeders;
                for id in &stale {
                    sources.extend(swarm.remove(id));
                }
                seeds_removed += seeds - swarm.seeders;
                removed += stale.len();
                !swarm.peers.is_empty()
            });
            let after = shard.torrents.len();
            let gone = before - after;
            // Give back what a flood of torrents left behind.
            shard.torrents.shrink_to(after * 2);
            self.torrents.fetch_sub(gone, Ordering::Relaxed);
        }
        self.peers.fetch_sub(removed, Ordering::Relaxed);
        self.seeds.fetch_sub(seeds_removed, Ordering::Relaxed);
        self.source_release(sources);
        removed
    }
}

impl Swarm {
    fn counts(&self) -> AnnounceReply {
        AnnounceReply {
            complete: self.seeders,
            incomplete: self.peers.len() - self.seeders,
            peers: Vec::new(),
        }
    }

    /// Removes a peer; the address it was at, if it was there.
    fn remove(&mut self, id: &[u8; 20]) -> Option<IpAddr> {
        let i = self.index.remove(id)? as usize;
        let entry = self.peers.swap_remove(i);
        self.seeders -= entry.seeder as usize;
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.id, i as u32);
        }
        Some(entry.addr.get().ip())
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) are IPv4 peers.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn announce(hash: u8, peer: u8, left: u64, event: AnnounceEvent) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([hash; 20]),
            peer_id: [peer; 20],
            port: 6000 + peer as u16,
            uploaded: 0,
            downloaded: 0,
            left,
            event,
            numwant: 50,
            compact: true,
            no_peer_id: false,
        }
    }

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn peers_see_each_other_but_never_themselves() {
        let store = SwarmStore::new(Duration::from_secs(60));
        let r = store
            .announce(&announce(1, 1, 10, AnnounceEvent::Started), IP)
            .unwrap();
        assert!(r.peers.is_empty());
        let r = store
            .announce(&announce(1, 2, 0, AnnounceEvent::Started), IP)
            .unwrap();
        assert_eq!(r.peers.len(), 1);
        assert_eq!(r.peers[0].0.port(), 6001);
        assert_eq!((r.complete, r.incomplete), (1, 1));
        let r = store
            .announce(&announce(1, 1, 10, AnnounceEvent::None), IP)
            .unwrap();
        assert_eq!(
            r.peers.iter().map(|p| p.0.port()).collect::<Vec<_>>(),
            vec![6002]
        );
        assert_eq!(store.peer_count(), 2);
        assert_eq!(store.torrent_count(), 1);
    }

    #[test]
    fn completed_and_stopped_update_counts() {
        let store = SwarmStore::new(Duration::from_secs(60));
        store
            .announce(&announce(1, 1, 10, AnnounceEvent::Started), IP)
            .unwrap();
        store
            .announce(&announce(1, 1, 0, AnnounceEvent::Completed), IP)
            .unwrap();
        assert_eq!(
            store.scrape(&InfoHash([1; 20])),
            ScrapeEntry {
                complete: 1,
                downloaded: 1,
                incomplete: 0
            }
        );
        store
            .announce(&announce(1, 1, 0, AnnounceEvent::Stopped), IP)
            .unwrap();
        assert_eq!(store.scrape(&InfoHash([1; 20])), ScrapeEntry::default());
        assert_eq!((store.torrent_count(), store.peer_count()), (0, 0));
    }

    #[test]
    fn numwant_caps_the_list_and_seeds_get_leechers_first() {
        let store = SwarmStore::new(Duration::from_secs(60));
        for p in 0..30 {
            store
                .announce(&announce(1, p, (p % 2) as u64, AnnounceEvent::Started), IP)
                .unwrap();
        }
        let mut a = announce(1, 100, 5, AnnounceEvent::None);
        a.numwant = 7;
        assert_eq!(store.announce(&a, IP).unwrap().peers.len(), 7);
        let mut seed = announce(1, 101, 0, AnnounceEvent::None);
        seed.numwant = 16;
        let r = store.announce(&seed, IP).unwrap();
        assert_eq!(r.peers.len(), 16, "15 odd-numbered leechers plus peer 100");
        assert!(
            r.peers.iter().all(|(_, id)| id[0] % 2 == 1 || id[0] == 100),
            "{r:?}"
        );
        seed.numwant = 100;
        let r = store.announce(&seed, IP).unwrap();
        assert_eq!(r.peers.len(), 31, "then the seeds: everyone but itself");
    }

    #[test]
    fn a_flood_of_torrents_is_bounded_and_expiry_frees_it() {
        let store = SwarmStore::with_limits(Duration::from_secs(1), 100, 150);
        let mut full = 0;
        for i in 0..300u32 {
            let mut a = announce(0, 0, 1, AnnounceEvent::Started);
            a.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
            a.info_hash.0[0] = i as u8;
            if store.announce(&a, IP).is_err() {
                full += 1;
            }
        }
        assert_eq!(store.torrent_count(), 100);
        assert_eq!(full, 200);
        assert_eq!(store.expire(), 0, "nothing is stale yet");
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(store.expire(), 100);
        assert_eq!((store.torrent_count(), store.peer_count()), (0, 0));
    }

    #[test]
    fn one_source_holds_a_bounded_share_and_loopback_is_exempt() {
        let store = SwarmStore::new(Duration::from_secs(60)).with_source_limit(10);
        let from = |ip: &str| ip.parse::<IpAddr>().unwrap();
        let flood = |ip: &str, peer: u8| {
            (0..50u8)
                .filter(|&t| {
                    store.announce(&announce(t, peer, 1, AnnounceEvent::Started), from(ip))
                        == Err(Full::Source)
                })
                .count()
        };
        assert_eq!(flood("10.0.0.1", 1), 40, "10 of 50 torrents stored");
        assert_eq!(
            store
                .announce(&announce(0, 1, 1, AnnounceEvent::None), from("10.0.0.1"))
                .map(|_| ()),
            Ok(()),
            "a peer already stored re-announces"
        );
        // Another address of the same IPv6 /64 shares its share; another /64 does not.
        assert_eq!(flood("2001:db8:1:2::1", 2), 40);
        assert_eq!(flood("2001:db8:1:2::ffff", 3), 50);
        assert_eq!(flood("2001:db8:1:3::1", 4), 40);
        assert_eq!(flood("127.0.0.1", 5), 0, "loopback is not counted");
        assert_eq!(flood("10.0.0.2", 6), 40);
        // Leaving gives the share back.
        store
            .announce(&announce(0, 1, 1, AnnounceEvent::Stopped), from("10.0.0.1"))
            .unwrap();
        assert_eq!(flood("10.0.0.1", 7), 49);
        assert_eq!(
            Full::Source.to_string(),
            "too many peers announced from this address"
        );
    }

    #[test]
    fn compact_addresses_round_trip() {
        for a in [
            "1.2.3.4:5",
            "[2001:db8::1]:6881",
            "[::1]:1",
            "0.0.0.0:65535",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(CompactAddr::new(addr).get(), addr);
        }
        assert_eq!(std::mem::size_of::<PeerEntry>(), 44);
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "1.2.3.4".parse::<IpAddr>().unwrap());
    }
}
