//! The routing table (BEP 5), pure: buckets of k = 8 nodes by shared id prefix; the bucket
//! holding our own id splits when full; nodes are good (heard from within 15 minutes),
//! questionable, or bad (two queries in a row unanswered), and a full bucket takes a new node
//! only in place of a bad one (others wait among its replacements, and the most questionable
//! node is pinged).

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
    /// questionable node decides.
    Pending(Option<NodeInfo>),
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

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// A node that answered us (or queried us): added, refreshed, or held as a replacement.
    pub fn heard_from(&mut self, info: NodeInfo, now: Instant) -> Inserted {
        if info.id == self.own {
            return Inserted::Yes;
        }
        loop {
            let i = self.index(&info.id);
            let last = i == self.buckets.len() - 1;
            let can_split = last && self.buckets.len() < 160;
            let bucket = &mut self.buckets[i];
            if let Some(e) = bucket.entries.iter_mut().find(|e| e.info.id == info.id) {
                e.info.addr = info.addr;
                e.last_seen = now;
                e.failures = 0;
                bucket.last_changed = now;
                return Inserted::Yes;
            }
            let fresh = Entry {
                info,
                last_seen: now,
                failures: 0,
            };
            if bucket.entries.len() < K {
                bucket.entries.push(fresh);
                bucket.last_changed = now;
                return Inserted::Yes;
            }
            if let Some(bad) = bucket.entries.iter().position(Entry::is_bad) {
                bucket.entries[bad] = fresh;
                bucket.last_changed = now;
                return Inserted::Yes;
            }
            if can_split {
                self.split();
                continue;
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

    /// Drops a node outright (it answered with garbage).
    pub fn remove(&mut self, id: &Id) {
        let i = self.index(id);
        let bucket = &mut self.buckets[i];
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

    /// Good nodes, for the state file.
    pub fn good_nodes(&self, now: Instant) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| e.is_good(now))
            .map(|e| e.info)
            .collect()
    }

    pub fn contains(&self, addr: &SocketAddrV4) -> bool {
        self.buckets
            .iter()
            .flat_map(|b| &b.entries)
            .any(|e| e.info.addr == *addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: Id, port: u16) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddrV4::new([10, 0, 0, 1].into(), port),
        }
    }

    #[test]
    fn the_own_bucket_splits_and_far_buckets_fill_then_hold_replacements() {
        let now = Instant::now();
        let own = Id([0; 20]);
        let mut t = Table::new(own, now);
        // 8 far nodes (first bit differs) fill bucket 0 before any split…
        for p in 0..8 {
            assert_eq!(t.heard_from(node(own.random_at(0), p), now), Inserted::Yes);
        }
        // …a ninth forces a split: bucket 0 keeps the far half, the own bucket the rest.
        for p in 8..20 {
            t.heard_from(node(own.random_at(3), p), now);
        }
        assert!(t.bucket_count() > 1);
        assert_eq!(t.len(), 8 + 8, "bucket 3 holds 8, the rest wait");
        // Bucket 0 is full of good nodes: a newcomer waits, nothing to ping yet.
        assert_eq!(
            t.heard_from(node(own.random_at(0), 99), now),
            Inserted::Pending(None)
        );
        // Fifteen minutes on, the oldest is questionable and named for a ping.
        let later = now + GOOD_FOR;
        assert!(matches!(
            t.heard_from(node(own.random_at(0), 100), later),
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
            t.heard_from(*n, now);
        }
        let waiting = node(own.random_at(0), 50);
        // Split the own bucket away first so bucket 0 is final.
        for p in 100..120 {
            t.heard_from(node(own.random_at(5), p), now);
        }
        t.heard_from(waiting, now);
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
}
