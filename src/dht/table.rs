//! The routing table (BEP 5), pure: buckets of k = 8 nodes by shared id prefix; the bucket
//! holding our own id splits when full; nodes are good (heard from within 15 minutes),
//! questionable, or bad (two queries in a row unanswered), and a full bucket takes a new node
//! only in place of a bad one (others wait among its replacements, and the most questionable
//! node is pinged).
//!
//! No host can take the table over: an id in it is never moved to another address unless the
//! node there has gone bad (the old address is pinged instead), and the table holds one node
//! per IP address (libtorrent's `restrict_routing_ips`; loopback aside, where test networks
//! live). Node ids are checked against BEP 42 and the ones that do not follow it counted, not
//! refused: most of the DHT still does not.

use super::krpc::{Id, NodeInfo};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

pub const K: usize = 8;
/// A node not heard from this long is questionable.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row that make a node bad.
pub const MAX_FAILURES: u8 = 2;

#[derive(Debug, Clone)]
pub struct Entry {
    pub info: NodeInfo,
    pub last_seen: Instant,
    pub failures: u8,
    /// It answered a query of ours (not only queried us): only such nodes are saved.
    pub answered: bool,
}

impl Entry {
    pub fn is_good(&self, now: Instant) -> bool {
        self.failures == 0 && now.duration_since(self.last_seen) < GOOD_FOR
    }

    pub fn is_bad(&self) -> bool {
        self.failures >= MAX_FAILURES
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    entries: Vec<Entry>,
    replacements: Vec<Entry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            entries: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// What inserting a node asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// In the table (new or refreshed).
    Yes,
    /// The bucket is full of nodes not known bad: it waits as a replacement; pinging this
    /// questionable node decides. Also: the id is in the table at another address, which is
    /// this node, to be pinged; only once it fails may the id move.
    Pending(Option<NodeInfo>),
    /// Another node of the table has this IP address.
    Refused,
    /// In the table, but it has only ever queried us: pinging it shows whether it is there.
    Unverified(NodeInfo),
}

#[derive(Debug, Clone)]
pub struct Table {
    own: Id,
    buckets: Vec<Bucket>,
}

impl Table {
    pub fn new(own: Id, now: Instant) -> Table {
        Table {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    pub fn own_id(&self) -> Id {
        self.own
    }

    fn index(&self, id: &Id) -> usize {
        self.own.common_prefix(id).min(self.buckets.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Good nodes that answered a query of ours.
    pub fn answered(&self, now: Instant) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| e.is_good(now) && e.answered)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// A node that answered us (`answered`) or queried us: added, refreshed, or held as a
    /// replacement.
    pub fn heard_from(&mut self, info: NodeInfo, now: Instant, answered: bool) -> Inserted {
        if info.id == self.own {
            return Inserted::Yes;
        }
        if let Some(other) = self.same_ip(&info) {
            if !other.is_bad() {
                return Inserted::Refused;
            }
            let id = other.info.id;
            self.remove(&id);
        }
        loop {
            let i = self.index(&info.id);
            let last = i == self.buckets.len() - 1;
            let can_split = last && self.buckets.len() < 160;
            let bucket = &mut self.buckets[i];
            if let Some(e) = bucket.entries.iter_mut().find(|e| e.info.id == info.id) {
                if e.info.addr != info.addr && !e.is_bad() {
                    // Someone else claims this id: the node we know decides, by answering.
                    return Inserted::Pending(Some(e.info));
                }
                e.info.addr = info.addr;
                e.last_seen = now;
                e.failures = 0;
                e.answered |= answered;
                bucket.last_changed = now;
                return if e.answered {
                    Inserted::Yes
                } else {
                    Inserted::Unverified(e.info)
                };
            }
            let fresh = Entry {
                info,
                last_seen: now,
                failures: 0,
                answered,
            };
            let inserted = if answered {
                Inserted::Yes
            } else {
                Inserted::Unverified(info)
            };
            if bucket.entries.len() < K {
                bucket.entries.push(fresh);
                bucket.last_changed = now;
                return inserted;
            }
            if let Some(bad) = bucket.entries.iter().position(Entry::is_bad) {
                bucket.entries[bad] = fresh;
                bucket.last_changed = now;
                return inserted;
            }
            if can_split {
                self.split();
                continue;
            }
            if bucket
                .replacements
                .iter()
                .any(|e| e.info.id == info.id && e.info.addr != info.addr)
            {
                return Inserted::Refused;
            }
            bucket.replacements.retain(|e| e.info.id != info.id);
            if bucket.replacements.len() >= K {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(fresh);
            let questionable = bucket
                .entries
                .iter()
                .filter(|e| !e.is_good(now))
                .min_by_key(|e| e.last_seen)
                .map(|e| e.info);
            return Inserted::Pending(questionable);
        }
    }

    /// The last bucket (the one holding our own id) in two.
    fn split(&mut self) {
        let depth = self.buckets.len() - 1;
        let now = self.buckets[depth].last_changed;
        let old = std::mem::replace(&mut self.buckets[depth], Bucket::new(now));
        self.buckets.push(Bucket::new(now));
        for e in old.entries.into_iter().chain(old.replacements) {
            let i = self.index(&e.info.id);
            let b = &mut self.buckets[i];
            if b.entries.len() < K {
                b.entries.push(e);
            } else if b.replacements.len() < K {
                b.replacements.push(e);
            }
        }
    }

    /// A query to this node went unanswered; a bad node gives way to a replacement.
    pub fn failed(&mut self, id: &Id) {
        let i = self.index(id);
        let bucket = &mut self.buckets[i];
        if let Some(pos) = bucket.entries.iter().position(|e| e.info.id == *id) {
            bucket.entries[pos].failures = bucket.entries[pos].failures.saturating_add(1);
            if bucket.entries[pos].is_bad()
                && let Some(r) = bucket.replacements.pop()
            {
                bucket.entries[pos] = r;
            }
        }
    }

    /// Another node (entry or replacement) at `info`'s IP address, loopback aside.
    fn same_ip(&self, info: &NodeInfo) -> Option<&Entry> {
        if info.addr.ip().is_loopback() {
            return None;
        }
        self.buckets
            .iter()
            .flat_map(|b| b.entries.iter().chain(&b.replacements))
            .find(|e| e.info.addr.ip() == info.addr.ip() && e.info.id != info.id)
    }

    /// Drops a node outright (it answered with garbage, or its IP came back with a new id).
    pub fn remove(&mut self, id: &Id) {
        let i = self.index(id);
        let bucket = &mut self.buckets[i];
        bucket.replacements.retain(|e| e.info.id != *id);
        bucket.entries.retain(|e| e.info.id != *id);
        if bucket.entries.len() < K
            && let Some(r) = bucket.replacements.pop()
        {
            bucket.entries.push(r);
        }
    }

    /// The `n` nodes closest to `target`, bad ones left out.
    pub fn closest(&self, target: &Id, n: usize) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = self
            .buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| !e.is_bad())
            .collect();
        all.sort_by_key(|e| e.info.id.distance(target));
        all.into_iter().take(n).map(|e| e.info).collect()
    }

    /// Targets for buckets unchanged for 15 minutes: a lookup of each refreshes it. Marks them
    /// changed, so each is named once per period.
    pub fn stale_buckets(&mut self, now: Instant) -> Vec<Id> {
        let own = self.own;
        let mut targets = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.duration_since(b.last_changed) >= GOOD_FOR {
                b.last_changed = now;
                targets.push(own.random_at(i));
            }
        }
        targets
    }

    /// Questionable nodes to ping (not heard from for 15 minutes), at most `n`.
    pub fn questionable(&self, now: Instant, n: usize) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| !e.is_good(now) && !e.is_bad())
            .take(n)
            .map(|e| e.info)
            .collect()
    }

    /// Good nodes that answered us, for the state file: a node that only ever sent us queries
    /// may be anyone's made-up address.
    pub fn good_nodes(&self, now: Instant) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| e.is_good(now) && e.answered)
            .map(|e| e.info)
            .collect()
    }

    /// Nodes of the table whose id does not follow BEP 42 for their address.
    pub fn without_bep42_id(&self) -> usize {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| !bep42_conforms(&e.info.id, *e.info.addr.ip()))
            .count()
    }

    pub fn contains(&self, addr: &SocketAddrV4) -> bool {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .any(|e| e.info.addr == *addr)
    }
}

/// BEP 42: a node id's first 21 bits are the CRC32-C of its IPv4 address masked with
/// 0x030f3fff, with the id's last byte's low 3 bits in the top 3; local addresses are exempt.
pub fn bep42_conforms(id: &Id, ip: std::net::Ipv4Addr) -> bool {
    if crate::address::scope(ip.into()) != crate::address::Scope::Public {
        return true;
    }
    let r = (id.0[19] & 7) as u32;
    let masked = (u32::from(ip) & 0x030f_3fff) | (r << 29);
    let crc = crc32c(&masked.to_be_bytes());
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && (id.0[2] & 0xf8) == (crc >> 8) as u8 & 0xf8
}

/// CRC32-C (Castagnoli), bit by bit: a few bytes per node.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: Id, port: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddrV4::new([10, 1, (port >> 8) as u8, port as u8].into(), 6881),
        }
    }

    #[test]
    fn the_own_bucket_splits_and_far_buckets_fill_then_hold_replacements() {
        let now = Instant::now();
        let own = Id([0; 20]);
        let mut t = Table::new(own, now);
        // 8 far nodes (first bit differs) fill bucket 0 before any split…
        for p in 0..8 {
            assert_eq!(
                t.heard_from(node(own.random_at(0), p), now, true),
                Inserted::Yes
            );
        }
        // …a ninth forces a split: bucket 0 keeps the far half, the own bucket the rest.
        for p in 8..20 {
            t.heard_from(node(own.random_at(3), p), now, true);
        }
        assert!(t.bucket_count() > 1);
        assert_eq!(t.len(), 8 + 8, "bucket 3 holds 8, the rest wait");
        // Bucket 0 is full of good nodes: a newcomer waits, nothing to ping yet.
        assert_eq!(
            t.heard_from(node(own.random_at(0), 99), now, true),
            Inserted::Pending(None)
        );
        // Fifteen minutes on, the oldest is questionable and named for a ping.
        let later = now + GOOD_FOR;
        assert!(matches!(
            t.heard_from(node(own.random_at(0), 100), later, true),
            Inserted::Pending(Some(_))
        ));
    }

    #[test]
    fn bad_nodes_give_way_to_replacements_and_closest_sorts_by_xor() {
        let now = Instant::now();
        let own = Id([0; 20]);
        let mut t = Table::new(own, now);
        let far: Vec<NodeInfo> = (0..8).map(|p| node(own.random_at(0), p)).collect();
        for n in &far {
            t.heard_from(*n, now, true);
        }
        let waiting = node(own.random_at(0), 50);
        // Split the own bucket away first so bucket 0 is final.
        for p in 100..120 {
            t.heard_from(node(own.random_at(5), p), now, true);
        }
        t.heard_from(waiting, now, true);
        t.failed(&far[0].id);
        assert!(
            t.closest(&far[0].id, 1)[0].id == far[0].id,
            "one failure: still there"
        );
        t.failed(&far[0].id);
        let all = t.closest(&own, 200);
        assert!(!all.iter().any(|n| n.id == far[0].id), "bad: replaced");
        assert!(all.iter().any(|n| n.id == waiting.id));
        // closest() is ordered by distance to the target.
        let target = far[3].id;
        let c = t.closest(&target, 5);
        assert_eq!(c[0].id, target);
        for w in c.windows(2) {
            assert!(w[0].id.distance(&target) <= w[1].id.distance(&target));
        }
    }

    #[test]
    fn stale_buckets_are_named_once_per_period() {
        let now = Instant::now();
        let mut t = Table::new(Id([7; 20]), now);
        assert!(t.stale_buckets(now).is_empty());
        let later = now + GOOD_FOR;
        assert_eq!(t.stale_buckets(later).len(), 1);
        assert!(t.stale_buckets(later).is_empty());
    }

    fn hex_id(s: &str) -> Id {
        let b: Vec<u8> = (0..40)
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        Id(b.try_into().unwrap())
    }

    #[test]
    fn an_id_in_the_table_does_not_move_to_whoever_claims_it() {
        let now = Instant::now();
        let mut t = Table::new(Id([0; 20]), now);
        let honest = node(Id([0x80; 20]), 1);
        assert_eq!(t.heard_from(honest, now, true), Inserted::Yes);
        // A query from elsewhere claiming its id: the known node is to be pinged, not moved.
        let thief = NodeInfo {
            id: honest.id,
            addr: SocketAddrV4::new([203, 0, 113, 9].into(), 6881),
        };
        assert_eq!(
            t.heard_from(thief, now, false),
            Inserted::Pending(Some(honest))
        );
        assert_eq!(t.closest(&honest.id, 1), [honest]);
        // Once the known node has failed twice, the id may move.
        t.failed(&honest.id);
        t.failed(&honest.id);
        assert_eq!(t.heard_from(thief, now, true), Inserted::Yes);
        assert_eq!(t.closest(&honest.id, 1), [thief]);
    }

    #[test]
    fn one_ip_holds_one_place_whatever_its_ports_and_ids() {
        let now = Instant::now();
        let own = Id([0; 20]);
        let mut t = Table::new(own, now);
        for p in 0..20 {
            t.heard_from(node(own.random_at(p as usize % 4), p), now, true);
        }
        let before = t.closest(&own, 200);
        let ip = std::net::Ipv4Addr::new(198, 51, 100, 7);
        let mut taken = 0;
        for p in 0..320u16 {
            let n = NodeInfo {
                id: own.random_at((p % 40) as usize),
                addr: SocketAddrV4::new(ip, 1000 + p),
            };
            if t.heard_from(n, now, true) == Inserted::Yes {
                taken += 1;
            }
        }
        assert_eq!(taken, 1, "one IP, one place");
        let after = t.closest(&own, 200);
        assert_eq!(after.iter().filter(|n| *n.addr.ip() == ip).count(), 1);
        assert!(
            before.iter().all(|n| after.contains(n)),
            "no honest node lost"
        );
        // Loopback is where test networks live: many nodes on one address there.
        for p in 0..5 {
            let n = NodeInfo {
                id: own.random_at(60 + p),
                addr: SocketAddrV4::new([127, 0, 0, 1].into(), 2000 + p as u16),
            };
            assert_eq!(t.heard_from(n, now, true), Inserted::Yes);
        }
    }

    #[test]
    fn only_nodes_that_answered_us_are_saved() {
        let now = Instant::now();
        let mut t = Table::new(Id([0; 20]), now);
        t.heard_from(node(Id([0x81; 20]), 1), now, true);
        t.heard_from(node(Id([0x82; 20]), 2), now, false);
        let saved = t.good_nodes(now);
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].id, Id([0x81; 20]));
        // A node that queried us and later answered is saved too.
        t.heard_from(node(Id([0x82; 20]), 2), now, true);
        assert_eq!(t.good_nodes(now).len(), 2);
    }

    #[test]
    fn bep_42_examples() {
        // The five examples of BEP 42: (IP, node id); the last byte is the random part.
        for (ip, id) in [
            ("124.31.75.21", "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"),
            ("21.75.31.124", "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"),
            ("65.23.51.170", "a5d43220bc8f112a3d426c84764f8c2a1150e616"),
            ("84.124.73.14", "1b0321dd1bb1fe518101ceef99462b947a01ff41"),
            ("43.213.53.83", "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"),
        ] {
            assert!(bep42_conforms(&hex_id(id), ip.parse().unwrap()), "{ip}");
        }
        let id = hex_id("5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401");
        assert!(!bep42_conforms(&id, "124.31.75.22".parse().unwrap()));
        assert!(
            bep42_conforms(&id, "10.0.0.1".parse().unwrap()),
            "local: exempt"
        );
    }
}
