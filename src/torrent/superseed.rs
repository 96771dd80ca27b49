//! Super-seeding (BEP 16): a seed that starts a swarm hides what it has (have none, or no
//! bitfield) and offers each peer two pieces at a time, by `have`: the pieces fewest of its
//! peers have that no other peer is being offered. When the peer says it has one (it finished
//! it), that offer is spent and the next goes out. Each piece the seed sends is then one that
//! peer can pass on, so a crowd joining behind one modest seed gets the torrent from it about
//! once, not the last pieces once for every peer that asked for them at the same time.
//!
//! A request for a piece not offered is rejected (a fast peer) or ends the connection (a
//! piece we never said we have, as BEP 3 has it). Two offers a peer, and the choice of the
//! rarest piece not offered elsewhere, are libtorrent's.

use super::Task;
use crate::bitfield::Bitfield;
use crate::layout::PeerKey;
use crate::random::Rng;
use crate::wire::Message;
use std::collections::HashMap;

/// Pieces offered to one peer at a time.
pub const OFFERS: usize = 2;

pub struct SuperSeed {
    /// What each peer is offered now.
    offered: HashMap<PeerKey, Vec<u32>>,
    /// How many peers each piece is offered to now.
    offers: Vec<u16>,
}

impl SuperSeed {
    pub fn new(pieces: usize) -> SuperSeed {
        SuperSeed {
            offered: HashMap::new(),
            offers: vec![0; pieces],
        }
    }

    pub fn is_offered(&self, key: PeerKey, piece: u32) -> bool {
        self.offered.get(&key).is_some_and(|o| o.contains(&piece))
    }

    /// New offers for `key` until it has [`OFFERS`]: each a piece we have and it lacks, the
    /// fewest peers have (`availability`), not offered to another peer while any other is
    /// left; ties at random. Returns them, to be sent as `have`s.
    pub fn refill(
        &mut self,
        key: PeerKey,
        ours: &Bitfield,
        theirs: &Bitfield,
        availability: impl Fn(usize) -> u32,
        rng: &mut Rng,
    ) -> Vec<u32> {
        let mut new = Vec::new();
        let offered = self.offered.entry(key).or_default();
        while offered.len() < OFFERS {
            let mut best: Option<(u64, usize)> = None;
            let mut ties = 0;
            for p in ours.ones() {
                if theirs.get(p) || offered.contains(&(p as u32)) {
                    continue;
                }
                // Offered elsewhere: only when nothing else is left.
                let rank = u64::from(self.offers[p] > 0) << 32 | u64::from(availability(p));
                match best {
                    Some((b, _)) if rank > b => {}
                    Some((b, _)) if rank == b => {
                        // Reservoir sampling: each tie is as likely as the others.
                        ties += 1;
                        if rng.below(ties + 1) == 0 {
                            best = Some((rank, p));
                        }
                    }
                    _ => {
                        best = Some((rank, p));
                        ties = 0;
                    }
                }
            }
            let Some((_, piece)) = best else {
                break;
            };
            self.offers[piece] = self.offers[piece].saturating_add(1);
            offered.push(piece as u32);
            new.push(piece as u32);
        }
        new
    }

    /// `key` has `piece` now (its `have`): an offer of it is spent. Whether it was one.
    pub fn peer_has(&mut self, key: PeerKey, piece: u32) -> bool {
        let Some(offered) = self.offered.get_mut(&key) else {
            return false;
        };
        let Some(at) = offered.iter().position(|&p| p == piece) else {
            return false;
        };
        offered.swap_remove(at);
        let count = &mut self.offers[piece as usize];
        *count = count.saturating_sub(1);
        true
    }

    /// `key` told us all it has (a bitfield, have all): offers of what it has are spent.
    pub fn peer_has_all(&mut self, key: PeerKey, theirs: &Bitfield) {
        let had: Vec<u32> = self
            .offered
            .get(&key)
            .map(|o| {
                o.iter()
                    .copied()
                    .filter(|&p| theirs.get(p as usize))
                    .collect()
            })
            .unwrap_or_default();
        for p in had {
            self.peer_has(key, p);
        }
    }

    /// `key` left: its offers are free for others.
    pub fn peer_gone(&mut self, key: PeerKey) {
        for p in self.offered.remove(&key).unwrap_or_default() {
            let count = &mut self.offers[p as usize];
            *count = count.saturating_sub(1);
        }
    }
}

impl Task {
    pub(super) fn super_seeding(&self) -> bool {
        self.superseed.is_some()
    }

    /// Tops up `key`'s offers (when super-seeding) and sends them as `have`s.
    pub(super) fn offer(&mut self, key: PeerKey) {
        let (Some(ss), Some(peer)) = (self.superseed.as_mut(), self.peers.get(&key)) else {
            return;
        };
        let picker = &self.picker;
        let new = ss.refill(
            key,
            picker.have(),
            peer.has(),
            |p| picker.availability(p),
            &mut self.rng,
        );
        for piece in new {
            peer.send(Message::Have(piece));
        }
    }

    /// `key` says it has `piece`: when that spends an offer, the next goes out.
    pub(super) fn offer_after_have(&mut self, key: PeerKey, piece: u32) {
        if self
            .superseed
            .as_mut()
            .is_some_and(|ss| ss.peer_has(key, piece))
        {
            self.offer(key);
        }
    }

    /// `key` told all it has: offers of those are spent, and new ones go out.
    pub(super) fn offer_after_bitfield(&mut self, key: PeerKey) {
        let (Some(ss), Some(peer)) = (self.superseed.as_mut(), self.peers.get(&key)) else {
            return;
        };
        ss.peer_has_all(key, peer.has());
        self.offer(key);
    }

    /// May `key` be served `piece`: one we have, and, when super-seeding, offered to it.
    pub(super) fn may_serve(&self, key: PeerKey, piece: u32) -> bool {
        self.picker.have().get(piece as usize)
            && self
                .superseed
                .as_ref()
                .is_none_or(|ss| ss.is_offered(key, piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(n: usize) -> Bitfield {
        let mut b = Bitfield::new(n);
        (0..n).for_each(|p| {
            b.set(p);
        });
        b
    }

    #[test]
    fn offers_two_pieces_fewest_have_and_never_the_same_to_two_peers_while_others_are_left() {
        let (ours, none) = (full(8), Bitfield::new(8));
        let mut s = SuperSeed::new(8);
        let mut rng = Rng::seeded(7);
        // Pieces 0..4 are common, 4..8 rare.
        let avail = |p: usize| if p < 4 { 5 } else { 1 };
        let a = s.refill(1, &ours, &none, avail, &mut rng);
        let b = s.refill(2, &ours, &none, avail, &mut rng);
        assert_eq!((a.len(), b.len()), (2, 2));
        let mut all: Vec<u32> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![4, 5, 6, 7], "the rare four, each to one peer");
        // A third peer gets common pieces before a rare one already offered.
        let c = s.refill(3, &ours, &none, avail, &mut rng);
        assert!(c.iter().all(|&p| p < 4), "{c:?}");
        // Nothing more while its offers stand.
        assert!(s.refill(1, &ours, &none, avail, &mut rng).is_empty());
        assert!(s.is_offered(1, a[0]) && !s.is_offered(2, a[0]));
    }

    #[test]
    fn an_offer_is_spent_when_the_peer_has_it_and_freed_when_it_leaves() {
        let ours = full(4);
        let mut s = SuperSeed::new(4);
        let mut rng = Rng::seeded(1);
        let mut theirs = Bitfield::new(4);
        let first = s.refill(1, &ours, &theirs, |_| 0, &mut rng);
        assert!(!s.peer_has(1, 9), "never offered");
        assert!(s.peer_has(1, first[0]));
        theirs.set(first[0] as usize);
        let next = s.refill(1, &ours, &theirs, |_| 0, &mut rng);
        assert_eq!(next.len(), 1);
        assert!(next[0] != first[0] && next[0] != first[1], "{next:?}");
        // Its bitfield says it has the other two: both spent, and the one piece left is all
        // it can still be offered.
        theirs.set(first[1] as usize);
        theirs.set(next[0] as usize);
        s.peer_has_all(1, &theirs);
        let last = s.refill(1, &ours, &theirs, |_| 0, &mut rng);
        assert_eq!(last.len(), 1);
        assert!(!theirs.get(last[0] as usize));
        // A peer that has it all is offered nothing; one that leaves frees its offer.
        assert!(s.refill(2, &ours, &full(4), |_| 0, &mut rng).is_empty());
        s.peer_gone(1);
        assert!(!s.is_offered(1, last[0]));
        assert_eq!(s.offers.iter().sum::<u16>(), 0);
    }

    #[test]
    fn only_pieces_we_have_are_offered() {
        let mut ours = Bitfield::new(6);
        ours.set(4);
        let mut s = SuperSeed::new(6);
        let got = s.refill(1, &ours, &Bitfield::new(6), |_| 0, &mut Rng::seeded(3));
        assert_eq!(got, vec![4]);
    }
}
