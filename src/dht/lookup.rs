//! One iterative lookup's state (BEP 5): the candidates closest to the target, in distance
//! order, what each answered, and what the lookup found. [`super::node::Node`] drives it.
//!
//! A lookup is bounded, so that no host can hold it (and its slot) for good by answering with
//! ever-closer made-up nodes: at most [`MAX_QUERIES`] queries, [`MAX_HOPS`] hops from our
//! table and [`MAX_DURATION`]; it also ends when [`STALL_ANSWERS`] answers in a row bring no
//! node nearer than the nearest that answered. And no host can fill it: its candidates hold one
//! node per /24, as libtorrent's `restrict_search_ips` does (loopback excepted, where test
//! networks live), the nearer one kept while it is unasked.

use super::krpc::{Id, NodeInfo};
use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

/// Candidates a lookup keeps (the closest).
const MAX_CANDIDATES: usize = 64;
/// Queries one lookup sends at most (an honest lookup in a network of millions takes ~30–60).
pub const MAX_QUERIES: usize = 200;
/// Hops from our table a candidate may be (honest lookups take fewer than 10).
pub(super) const MAX_HOPS: u32 = 20;
/// A lookup's whole life at most.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(60);
/// Answers in a row that find nothing nearer than the nearest answering node, then the end.
pub(super) const STALL_ANSWERS: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CandState {
    Fresh,
    Asked,
    Answered(Option<Vec<u8>>),
    Failed,
}

#[derive(Debug)]
pub(super) struct Cand {
    pub(super) info: NodeInfo,
    pub(super) state: CandState,
    pub(super) hop: u32,
    /// Queries sent to it; one unanswered query is retried (datagrams get lost).
    pub(super) tries: u8,
}

#[derive(Debug)]
pub(super) struct Lookup {
    pub(super) target: Id,
    pub(super) get_peers: bool,
    /// Announce to the closest nodes at the end: our port (0 with implied_port).
    pub(super) announce: Option<u16>,
    /// Reported to the caller (internal refreshes are not).
    pub(super) reported: bool,
    pub(super) cands: Vec<Cand>,
    /// Addresses without a known id (bootstrap nodes), asked first.
    pub(super) unknown: Vec<SocketAddr>,
    pub(super) in_flight: usize,
    pub(super) peers: HashSet<SocketAddr>,
    pub(super) messages: usize,
    pub(super) first_value_hop: Option<u32>,
    pub(super) max_hop: u32,
    pub(super) started: Instant,
    /// The distance of the nearest node that answered, and answers since it got nearer.
    pub(super) nearest_answer: Option<[u8; 20]>,
    pub(super) stalled: usize,
}

impl Lookup {
    pub(super) fn new(
        target: Id,
        get_peers: bool,
        announce: Option<u16>,
        reported: bool,
        unknown: Vec<SocketAddr>,
        now: Instant,
    ) -> Lookup {
        Lookup {
            target,
            get_peers,
            announce,
            reported,
            cands: Vec::new(),
            unknown,
            in_flight: 0,
            peers: HashSet::new(),
            messages: 0,
            first_value_hop: None,
            max_hop: 0,
            started: now,
            nearest_answer: None,
            stalled: 0,
        }
    }

    /// A node at `id` answered: notes whether it is the nearest yet.
    pub(super) fn answered_by(&mut self, id: &Id) {
        let d = id.distance(&self.target);
        if self.nearest_answer.is_none_or(|n| d < n) {
            self.nearest_answer = Some(d);
            self.stalled = 0;
        } else {
            self.stalled += 1;
        }
    }

    /// Past a bound: it sends nothing more, and ends once what is in flight is back (or at
    /// once, when out of time).
    pub(super) fn exhausted(&self, now: Instant) -> bool {
        self.messages >= MAX_QUERIES
            || self.stalled >= STALL_ANSWERS
            || now.duration_since(self.started) >= MAX_DURATION
    }

    pub(super) fn out_of_time(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= MAX_DURATION
    }
}

/// The network a node's address counts in for diversity: its /24; each loopback address and
/// port on its own.
#[derive(PartialEq, Eq)]
enum Network {
    Loopback(SocketAddrV4),
    Slash24(u32),
}

fn network(addr: &SocketAddrV4) -> Network {
    if addr.ip().is_loopback() {
        Network::Loopback(*addr)
    } else {
        Network::Slash24(u32::from(*addr.ip()) >> 8)
    }
}

/// Adds a candidate in distance order, keeping the closest [`MAX_CANDIDATES`] and one per
/// network (see [`network`]): a nearer node replaces one of its network not yet asked.
pub(super) fn add_cand(l: &mut Lookup, info: NodeInfo, hop: u32) {
    if hop > MAX_HOPS || l.cands.iter().any(|c| c.info.id == info.id) {
        return;
    }
    let d = info.id.distance(&l.target);
    let net = network(&info.addr);
    if let Some(i) = l.cands.iter().position(|c| network(&c.info.addr) == net) {
        let other = &l.cands[i];
        if other.state != CandState::Fresh || other.info.id.distance(&l.target) <= d {
            return;
        }
        l.cands.remove(i);
    }
    let at = l
        .cands
        .partition_point(|c| c.info.id.distance(&l.target) < d);
    if at >= MAX_CANDIDATES {
        return;
    }
    l.cands.insert(
        at,
        Cand {
            info,
            state: CandState::Fresh,
            hop,
            tries: 0,
        },
    );
    l.cands.truncate(MAX_CANDIDATES);
}
