//! One iterative lookup's state (BEP 5): the candidates closest to the target, in distance
//! order, what each answered, and what the lookup found. [`super::node::Node`] drives it.

use super::krpc::{Id, NodeInfo};
use std::collections::HashSet;
use std::net::SocketAddr;

/// Candidates a lookup keeps (the closest).
const MAX_CANDIDATES: usize = 64;

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
}

/// Adds a candidate in distance order, keeping the closest [`MAX_CANDIDATES`].
pub(super) fn add_cand(l: &mut Lookup, info: NodeInfo, hop: u32) {
    if l.cands.iter().any(|c| c.info.id == info.id) {
        return;
    }
    let d = info.id.distance(&l.target);
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
