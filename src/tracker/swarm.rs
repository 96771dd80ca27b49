//! The tracker's memory: for every info-hash, the addresses of the peers that announced it, and
//! when each was last heard from.
//!
//! Kept compact, as opentracker keeps it: a peer is its BEP 23 address (6 bytes for IPv4, 18 for
//! IPv6) and one byte of seed flag and coarse time, in a vector sorted by address; a torrent is
//! its info-hash, those vectors and two counts, in a sorted vector of its shard. A peer is known by
//! its address, not its peer id: replies never carry peer ids (a compact reply has no room for
//! them, and clients read a dictionary peer without one), and a client that restarts with a new
//! peer id on the same port replaces its old entry instead of doubling it. Measured
//! (benches/tracker.sh): 1,000,000 peers over 100,000 torrents take about 18 MiB (opentracker
//! 25 MiB), 10 million over a million 170 MiB (benches/tracker_scale.sh).
//!
//! Bounds: at most [`MAX_TORRENTS`] torrents and [`MAX_PEERS`] peers in all (an announce past
//! either is answered "tracker is full"), so the store stays under roughly 300 MB whatever the
//! traffic; peers silent for longer than the timeout (2× the announce interval) expire, taking
//! empty torrents with them.
//!
//! The store is split into [`SHARDS`] shards by a keyed hash of the info-hash (so nobody can
//! pick hashes that pile into one), each behind a mutex held for the few microseconds an
//! announce takes and never across an await: the HTTP and UDP front ends on every core share it
//! without queueing behind one owner, and a new torrent moves at most a few hundred entries of
//! its shard's vector.

use super::{AnnounceEvent, AnnounceRequest};
use crate::metainfo::InfoHash;
use crate::random::Rng;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const MAX_TORRENTS: usize = 1_000_000;
pub const MAX_PEERS: usize = 10_000_000;
/// Peers one source address (an IPv6 /64 counting as one) may hold in the store, so one host
/// cannot fill it; loopback is exempt (every local process, and the benchmarks, share it).
pub const MAX_PEERS_PER_SOURCE: u32 = 20_000;
const SHARDS: usize = 65536;

pub struct SwarmStore {
    shards: Vec<Line<Mutex<Shard>>>,
    /// Chooses a torrent's shard; keyed at random so the choice cannot be steered.
    shard_key: RandomState,
    torrents: AtomicUsize,
    peers: AtomicUsize,
    /// Peers with nothing left, over every torrent.
    seeds: AtomicUsize,
    clock: Clock,
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

/// One cache line: a shard's lock and the head of its vector are read with one miss.
#[repr(align(64))]
struct Line<T>(T);

struct Shard {
    /// Sorted by info-hash.
    torrents: Vec<(InfoHash, Swarm)>,
    rng: Rng,
}

/// One torrent's peers: 40 bytes, plus 7 a peer (19 for IPv6).
#[derive(Default)]
struct Swarm {
    v4: Vec<Slot<6>>,
    /// Rare enough to sit behind a pointer: 8 bytes a torrent instead of 24 (the extra
    /// allocation is what clippy warns of, and only torrents with IPv6 peers pay it).
    #[allow(clippy::box_collection)]
    v6: Option<Box<Vec<Slot<18>>>>,
    seeders: u32,
    downloaded: u32,
}

/// A peer as stored: its compact address (the IP then the port, network order) and a stamp: the
/// seed flag ([`SEED`]) and the tick it was last heard at ([`TICKS`]). 7 bytes for IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot<const N: usize> {
    addr: [u8; N],
    stamp: u8,
}

const SEED: u8 = 0x80;
const TICKS: u8 = 0x7f;

impl<const N: usize> Slot<N> {
    fn seeder(&self) -> bool {
        self.stamp & SEED != 0
    }

    fn socket_addr(&self) -> SocketAddr {
        let port = u16::from_be_bytes([self.addr[N - 2], self.addr[N - 1]]);
        let ip = &self.addr[..N - 2];
        let ip = match <[u8; 4]>::try_from(ip) {
            Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            Err(_) => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(ip).expect("6 or 18 bytes"),
            )),
        };
        SocketAddr::new(ip, port)
    }
}

/// A peer's address as a store key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compact {
    V4([u8; 6]),
    V6([u8; 18]),
}

impl Compact {
    fn new(ip: IpAddr, port: u16) -> Compact {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => {
                let mut a = [0; 6];
                a[..4].copy_from_slice(&v4.octets());
                a[4..].copy_from_slice(&port.to_be_bytes());
                Compact::V4(a)
            }
            IpAddr::V6(v6) => {
                let mut a = [0; 18];
                a[..16].copy_from_slice(&v6.octets());
                a[16..].copy_from_slice(&port.to_be_bytes());
                Compact::V6(a)
            }
        }
    }
}

/// Time in ticks of a 32nd of the peer timeout (at least a second), read in 7 bits: an age is
/// taken modulo 128 ticks (4 timeouts), and every entry is looked at more often than that — the
/// tracker sweeps every half interval, at most a minute, and the timeout is two intervals.
struct Clock {
    epoch: Instant,
    tick_secs: u64,
    /// The peer timeout in ticks.
    timeout: u8,
    /// Seconds the tests have moved the clock on.
    #[cfg(test)]
    skew: std::sync::atomic::AtomicU64,
}

impl Clock {
    fn new(timeout: Duration) -> Clock {
        let secs = timeout.as_secs().max(1);
        let tick_secs = secs.div_ceil(32);
        Clock {
            epoch: Instant::now(),
            tick_secs,
            timeout: secs.div_ceil(tick_secs) as u8,
            #[cfg(test)]
            skew: Default::default(),
        }
    }

    fn now(&self) -> u8 {
        let secs = self.epoch.elapsed().as_secs();
        #[cfg(test)]
        let secs = secs + self.skew.load(std::sync::atomic::Ordering::Relaxed);
        (secs / self.tick_secs) as u8 & TICKS
    }

    fn expired(&self, stamp: u8, now: u8) -> bool {
        now.wrapping_sub(stamp) & TICKS > self.timeout
    }
}

/// What an announce gets back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    pub complete: usize,
    pub incomplete: usize,
    pub peers: Vec<SocketAddr>,
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
        let mut seeds = Rng::new();
        SwarmStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Line(Mutex::new(Shard {
                        torrents: Vec::new(),
                        rng: Rng::seeded(seeds.next_u64()),
                    }))
                })
                .collect(),
            shard_key: RandomState::new(),
            torrents: AtomicUsize::new(0),
            peers: AtomicUsize::new(0),
            seeds: AtomicUsize::new(0),
            clock: Clock::new(peer_timeout),
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

    fn shard(&self, info_hash: &InfoHash) -> std::sync::MutexGuard<'_, Shard> {
        let i = self.shard_key.hash_one(info_hash.0) as usize % SHARDS;
        // A panic while holding a shard cannot leave it half-updated in a way that matters more
        // than losing the tracker, so a poisoned lock is taken as it is.
        self.shards[i].0.lock().unwrap_or_else(|p| p.into_inner())
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
    fn seeds_changed(&self, before: u32, after: u32) {
        if after > before {
            self.seeds
                .fetch_add((after - before) as usize, Ordering::Relaxed);
        } else {
            self.seeds
                .fetch_sub((before - after) as usize, Ordering::Relaxed);
        }
    }

    /// Drops torrent `t` of a shard if no peer is left in it.
    fn forget_if_empty(&self, torrents: &mut Vec<(InfoHash, Swarm)>, t: usize) {
        if torrents[t].1.is_empty() {
            torrents.remove(t);
            self.torrents.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Records an announce from `ip` and picks peers for it.
    pub fn announce(&self, a: &AnnounceRequest, ip: IpAddr) -> Result<AnnounceReply, Full> {
        let ip = canonical_ip(ip);
        let addr = Compact::new(ip, a.port);
        let mut shard = self.shard(&a.info_hash);
        let shard = &mut *shard;
        let found = find_torrent(&shard.torrents, &a.info_hash);
        if a.event == AnnounceEvent::Stopped {
            let Ok(t) = found else {
                return Ok(AnnounceReply::default());
            };
            let swarm = &mut shard.torrents[t].1;
            let seeds = swarm.seeders;
            if swarm.remove(addr) {
                self.peers.fetch_sub(1, Ordering::Relaxed);
                self.source_release([ip]);
            }
            self.seeds_changed(seeds, swarm.seeders);
            let reply = swarm.counts();
            self.forget_if_empty(&mut shard.torrents, t);
            return Ok(reply);
        }
        let t = match found {
            Ok(t) => t,
            Err(t) => {
                if self.torrent_count() >= self.max_torrents || self.peer_count() >= self.max_peers
                {
                    return Err(Full::Store);
                }
                insert(&mut shard.torrents, t, (a.info_hash, Swarm::default()));
                self.torrents.fetch_add(1, Ordering::Relaxed);
                t
            }
        };
        let swarm = &mut shard.torrents[t].1;
        let seeder = a.left == 0;
        let seeds = swarm.seeders;
        let stamp = self.clock.now() | if seeder { SEED } else { 0 };
        let room = || {
            if self.peer_count() >= self.max_peers {
                Err(Full::Store)
            } else if !self.source_take(ip) {
                Err(Full::Source)
            } else {
                Ok(())
            }
        };
        match swarm.upsert(addr, stamp, room) {
            Err(why) => {
                self.forget_if_empty(&mut shard.torrents, t);
                return Err(why);
            }
            Ok(Some(was_seeder)) => {
                if seeder && !was_seeder {
                    swarm.seeders += 1;
                    if a.event == AnnounceEvent::Completed {
                        swarm.downloaded = swarm.downloaded.saturating_add(1);
                    }
                } else if was_seeder && !seeder {
                    swarm.seeders -= 1;
                }
            }
            Ok(None) => {
                self.peers.fetch_add(1, Ordering::Relaxed);
                swarm.seeders += seeder as u32;
                if a.event == AnnounceEvent::Completed {
                    swarm.downloaded = swarm.downloaded.saturating_add(1);
                }
            }
        }
        self.seeds_changed(seeds, swarm.seeders);
        let mut reply = swarm.counts();
        swarm.pick(
            addr,
            seeder,
            a.numwant as usize,
            &mut shard.rng,
            &mut reply.peers,
        );
        Ok(reply)
    }

    pub fn scrape(&self, info_hash: &InfoHash) -> ScrapeEntry {
        let shard = self.shard(info_hash);
        match find_torrent(&shard.torrents, info_hash) {
            Err(_) => ScrapeEntry::default(),
            Ok(t) => {
                let s = &shard.torrents[t].1;
                ScrapeEntry {
                    complete: s.seeders as usize,
                    downloaded: s.downloaded as u64,
                    incomplete: s.len() - s.seeders as usize,
                }
            }
        }
    }

    /// Moves the store's clock on by `by`, as if that much time had passed.
    #[cfg(test)]
    pub fn advance_clock(&self, by: Duration) {
        self.clock
            .skew
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops peers silent for longer than the timeout and torrents left empty; returns how many
    /// peers went.
    pub fn expire(&self) -> usize {
        let now = self.clock.now();
        let (mut removed, mut seeds_removed) = (0, 0);
        let mut sources = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.torrents.len();
            shard.torrents.retain_mut(|(_, swarm)| {
                let (peers, seeds) = (swarm.len(), swarm.seeders);
                swarm.expire(|stamp| self.clock.expired(stamp, now), &mut sources);
                removed += peers - swarm.len();
                seeds_removed += (seeds - swarm.seeders) as usize;
                !swarm.is_empty()
            });
            let after = shard.torrents.len();
            self.torrents.fetch_sub(before - after, Ordering::Relaxed);
            // Give back what a flood of torrents left behind.
            if shard.torrents.capacity() > 2 * after + 8 {
                shard.torrents.shrink_to(after + after / 8);
            }
            drop(shard);
            self.source_release(sources.drain(..));
        }
        self.peers.fetch_sub(removed, Ordering::Relaxed);
        self.seeds.fetch_sub(seeds_removed, Ordering::Relaxed);
        removed
    }
}

/// Where `info_hash` is in a shard's sorted torrents. Keys are compared as numbers in the bytes
/// order: compared as byte arrays, each step was a call to `memcmp`, the top of the profile.
fn find_torrent(torrents: &[(InfoHash, Swarm)], info_hash: &InfoHash) -> Result<usize, usize> {
    fn key(h: &InfoHash) -> (u64, u64, u32) {
        let (a, rest) = h.0.split_first_chunk::<8>().expect("20 bytes");
        let (b, c) = rest.split_first_chunk::<8>().expect("12 bytes");
        let c: [u8; 4] = c.try_into().expect("4 bytes");
        (
            u64::from_be_bytes(*a),
            u64::from_be_bytes(*b),
            u32::from_be_bytes(c),
        )
    }
    let wanted = key(info_hash);
    torrents.binary_search_by(|(hash, _)| key(hash).cmp(&wanted))
}

/// Where `addr` is in a sorted list of peers, compared as numbers as [`find_torrent`] does.
fn find_peer<const N: usize>(list: &[Slot<N>], addr: &[u8; N]) -> Result<usize, usize> {
    fn key<const N: usize>(a: &[u8; N]) -> (u128, u16) {
        let mut high = [0; 16];
        let k = N.min(16);
        high[..k].copy_from_slice(&a[..k]);
        let low = if N > 16 {
            u16::from_be_bytes([a[16], a[17]])
        } else {
            0
        };
        (u128::from_be_bytes(high), low)
    }
    let wanted = key(addr);
    list.binary_search_by(|s| key(&s.addr).cmp(&wanted))
}

/// Inserts at `i`, letting the vector's spare room grow to an eighth of its length at most
/// (a store of small vectors would otherwise be a quarter empty on average).
fn insert<T>(list: &mut Vec<T>, i: usize, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 8).max(1));
    }
    list.insert(i, item);
}

/// Updates the stamp of `addr` in the sorted `list`, or adds it there if `room` allows: whether
/// it was there and a seed, `None` for a new entry.
fn upsert<const N: usize>(
    list: &mut Vec<Slot<N>>,
    addr: [u8; N],
    stamp: u8,
    room: impl FnOnce() -> Result<(), Full>,
) -> Result<Option<bool>, Full> {
    match find_peer(list, &addr) {
        Ok(i) => {
            let was = list[i].seeder();
            list[i].stamp = stamp;
            Ok(Some(was))
        }
        Err(i) => {
            room()?;
            insert(list, i, Slot { addr, stamp });
            Ok(None)
        }
    }
}

/// Removes `addr` from the sorted `list`: whether it was a seed, if it was there.
fn remove<const N: usize>(list: &mut Vec<Slot<N>>, addr: [u8; N]) -> Option<bool> {
    let i = find_peer(list, &addr).ok()?;
    Some(list.remove(i).seeder())
}

/// Drops the entries `stale` says are, keeping the sources of those that went and returning how
/// many seeds went.
fn expire<const N: usize>(
    list: &mut Vec<Slot<N>>,
    stale: impl Fn(u8) -> bool,
    sources: &mut Vec<IpAddr>,
) -> u32 {
    let mut seeds = 0;
    list.retain(|s| {
        if !stale(s.stamp & TICKS) {
            return true;
        }
        seeds += s.seeder() as u32;
        let ip = s.socket_addr().ip();
        if source_key(ip).is_some() {
            sources.push(ip);
        }
        false
    });
    if list.capacity() > list.len() + list.len() / 4 + 4 {
        list.shrink_to(list.len() + list.len() / 8);
    }
    seeds
}

/// Appends to `out` up to `numwant` addresses of `list` other than `asker`, from a random place
/// on; with `seeds`, only seeds (`Some(true)`) or only leechers (`Some(false)`).
fn pick_from<const N: usize>(
    list: &[Slot<N>],
    asker: Option<&[u8; N]>,
    seeds: Option<bool>,
    numwant: usize,
    rng: &mut Rng,
    out: &mut Vec<SocketAddr>,
) {
    if list.is_empty() || out.len() >= numwant {
        return;
    }
    let (head, tail) = list.split_at(rng.below(list.len()));
    for s in tail.iter().chain(head) {
        if Some(&s.addr) == asker || seeds.is_some_and(|want| s.seeder() != want) {
            continue;
        }
        out.push(s.socket_addr());
        if out.len() >= numwant {
            return;
        }
    }
}

impl Swarm {
    fn len(&self) -> usize {
        self.v4.len() + self.v6.as_ref().map_or(0, |v6| v6.len())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn counts(&self) -> AnnounceReply {
        AnnounceReply {
            complete: self.seeders as usize,
            incomplete: self.len() - self.seeders as usize,
            peers: Vec::new(),
        }
    }

    fn upsert(
        &mut self,
        addr: Compact,
        stamp: u8,
        room: impl FnOnce() -> Result<(), Full>,
    ) -> Result<Option<bool>, Full> {
        match addr {
            Compact::V4(a) => upsert(&mut self.v4, a, stamp, room),
            Compact::V6(a) => {
                let result = upsert(self.v6.get_or_insert_default(), a, stamp, room);
                self.drop_empty_v6();
                result
            }
        }
    }

    /// Removes a peer; whether it was there.
    fn remove(&mut self, addr: Compact) -> bool {
        let was_seeder = match addr {
            Compact::V4(a) => remove(&mut self.v4, a),
            Compact::V6(a) => {
                let gone = self.v6.as_mut().and_then(|v6| remove(v6, a));
                self.drop_empty_v6();
                gone
            }
        };
        self.seeders -= was_seeder.unwrap_or(false) as u32;
        was_seeder.is_some()
    }

    fn expire(&mut self, stale: impl Fn(u8) -> bool, sources: &mut Vec<IpAddr>) {
        let mut seeds = expire(&mut self.v4, &stale, sources);
        if let Some(v6) = self.v6.as_mut() {
            seeds += expire(v6, &stale, sources);
            self.drop_empty_v6();
        }
        self.seeders -= seeds;
    }

    /// An empty IPv6 list goes with its allocation.
    fn drop_empty_v6(&mut self) {
        if self.v6.as_ref().is_some_and(|v6| v6.is_empty()) {
            self.v6 = None;
        }
    }

    /// Peers for `asker`, those of its own address family first. A seed gets the peers that still
    /// download first, then seeds fill what room is left: a magnet fetch by aria2c announces
    /// `left=0` before it has the metadata, and only a seed may have that to give.
    fn pick(
        &self,
        asker: Compact,
        seeder: bool,
        numwant: usize,
        rng: &mut Rng,
        out: &mut Vec<SocketAddr>,
    ) {
        let passes: &[Option<bool>] = if seeder {
            &[Some(false), Some(true)]
        } else {
            &[None]
        };
        let v6: &[Slot<18>] = self.v6.as_deref().map_or(&[], |v| v.as_slice());
        out.reserve_exact(numwant.min(self.len()));
        for &pass in passes {
            match &asker {
                Compact::V4(a) => {
                    pick_from(&self.v4, Some(a), pass, numwant, rng, out);
                    pick_from(v6, None, pass, numwant, rng, out);
                }
                Compact::V6(a) => {
                    pick_from(v6, Some(a), pass, numwant, rng, out);
                    pick_from(&self.v4, None, pass, numwant, rng, out);
                }
            }
        }
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
mod tests;
