//! Choking (BEP 3): which interested peers get our upload slots. The decisions are pure
//! functions ([`choose`], [`free_slots_to`]) fed with rates; the `impl Task` below applies them
//! to the peer table every round and as slots free up.

use super::Task;
use crate::layout::PeerKey;
use std::collections::HashSet;

/// Upload slots by rate, plus one optimistic unchoke.
pub const UPLOAD_SLOTS: usize = 4;

/// The outcome of a choke round.
#[derive(Debug, PartialEq, Eq)]
pub struct Unchoked {
    pub peers: HashSet<PeerKey>,
    pub optimistic: Option<PeerKey>,
}

/// The [`UPLOAD_SLOTS`] interested peers with the highest `rate` (what they gave us, or took
/// from us when seeding) are unchoked, plus one optimistic peer from the rest. The optimistic
/// peer is kept unless `rotate` is set or it earned a regular slot; a new one is `pick(n)`-th of
/// the `n` others (the caller passes a random choice).
pub fn choose(
    interested: &[(PeerKey, u64)],
    optimistic: Option<PeerKey>,
    rotate: bool,
    pick: impl FnOnce(usize) -> usize,
) -> Unchoked {
    let mut ranked = interested.to_vec();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut peers: HashSet<PeerKey> = ranked.iter().take(UPLOAD_SLOTS).map(|(k, _)| *k).collect();
    let others: Vec<PeerKey> = ranked.iter().skip(UPLOAD_SLOTS).map(|(k, _)| *k).collect();
    let keep = optimistic.filter(|k| !rotate && others.contains(k));
    let optimistic = keep.or_else(|| (!others.is_empty()).then(|| others[pick(others.len())]));
    peers.extend(optimistic);
    Unchoked { peers, optimistic }
}

/// Whether a newly interested peer may be unchoked at once, between rounds.
pub fn has_free_slot(unchoked: usize) -> bool {
    unchoked < UPLOAD_SLOTS + 1
}

/// Between rounds, with `unchoked` slots in use: which of the choked interested peers
/// `waiting` (with their rates) get the free slots, best rate first (the lower key on a tie).
pub fn free_slots_to(waiting: &[(PeerKey, u64)], unchoked: usize) -> Vec<PeerKey> {
    let mut ranked = waiting.to_vec();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let free = (UPLOAD_SLOTS + 1).saturating_sub(unchoked);
    ranked.into_iter().take(free).map(|(k, _)| k).collect()
}

impl Task {
    /// Upload slots in use: unchoked peers that want something from us. One that lost interest
    /// (it completed) holds none, so the peers waiting get its slot without waiting for the
    /// next round.
    pub(super) fn unchoked(&self) -> usize {
        self.peers.values().filter(|p| p.holds_slot()).count()
    }

    pub(super) fn unchoke_if_free(&mut self, key: PeerKey) {
        if has_free_slot(self.unchoked())
            && let Some(p) = self.peers.get_mut(&key)
        {
            p.set_choking(false);
        }
    }

    /// Gives the slots freed between rounds (a peer gone or no longer interested) to the
    /// interested peers still choked, those that gave (or, seeding, took) most first. Without
    /// it, a seed with 8 fetchers left its cores half idle: the 5 unchoked ones completed and
    /// the other 3 waited up to 10 s for the next round.
    pub(super) fn fill_free_slots(&mut self) {
        let seeding = self.picker.is_complete();
        let waiting: Vec<(PeerKey, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.am_choking() && p.peer_interested())
            .map(|(k, p)| (*k, p.round_bytes(seeding)))
            .collect();
        for key in free_slots_to(&waiting, self.unchoked()) {
            self.unchoke_if_free(key);
        }
    }

    /// Every 10 s: the interested peers that give us most (or, seeding, take most) get the
    /// slots; every 30 s another interested peer gets the optimistic slot.
    pub(super) fn choke_round(&mut self) {
        let seeding = self.picker.is_complete();
        let interested: Vec<(PeerKey, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.peer_interested())
            .map(|(k, p)| (*k, p.round_bytes(seeding)))
            .collect();
        let rotate = self.ticks.is_multiple_of(30);
        let rng = &mut self.rng;
        let chosen = choose(&interested, self.optimistic, rotate, |n| rng.below(n));
        self.optimistic = chosen.optimistic;
        let mut now_choked = Vec::new();
        for (key, p) in &mut self.peers {
            let unchoke = chosen.peers.contains(key);
            if p.set_choking(!unchoke) && !unchoke {
                now_choked.push(*key);
            }
            p.end_round();
        }
        for key in now_choked {
            self.choked(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(set: &HashSet<PeerKey>) -> Vec<PeerKey> {
        let mut v: Vec<_> = set.iter().copied().collect();
        v.sort();
        v
    }

    #[test]
    fn the_fastest_four_and_one_optimistic_peer_are_unchoked() {
        let interested = [
            (1, 10),
            (2, 500),
            (3, 40),
            (4, 300),
            (5, 0),
            (6, 200),
            (7, 1),
        ];
        let u = choose(&interested, None, true, |n| {
            assert_eq!(n, 3);
            2
        });
        // Ranked: 2, 4, 6, 3 get the slots; the others, in rank order, are 1, 7, 5.
        assert_eq!(u.optimistic, Some(5));
        assert_eq!(keys(&u.peers), vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_optimistic_peer_stays_until_rotation_or_promotion() {
        let interested = [(1, 100), (2, 90), (3, 80), (4, 70), (5, 0), (6, 0)];
        let u = choose(&interested, Some(6), false, |_| panic!("no new pick"));
        assert_eq!(u.optimistic, Some(6));
        assert_eq!(keys(&u.peers), vec![1, 2, 3, 4, 6]);
        // Peer 6 now uploads fastest: it earns a regular slot and another peer gets the
        // optimistic one.
        let interested = [(1, 100), (2, 90), (3, 80), (4, 70), (5, 0), (6, 500)];
        let u = choose(&interested, Some(6), false, |n| n - 1);
        assert_eq!(u.optimistic, Some(5));
        assert_eq!(keys(&u.peers), vec![1, 2, 3, 5, 6]);
        // Rotation replaces it even when it is still eligible.
        let interested = [(1, 9), (2, 9), (3, 9), (4, 9), (5, 0), (6, 0)];
        let u = choose(&interested, Some(6), true, |_| 0);
        assert_eq!(u.optimistic, Some(5));
    }

    #[test]
    fn few_peers_are_all_unchoked_and_no_peer_means_none() {
        let u = choose(&[(3, 0), (9, 5)], Some(42), false, |_| unreachable!());
        assert_eq!(keys(&u.peers), vec![3, 9]);
        assert_eq!(u.optimistic, None);
        assert_eq!(choose(&[], None, true, |_| 0).peers.len(), 0);
        assert!(has_free_slot(4) && !has_free_slot(5));
    }

    #[test]
    fn free_slots_go_to_the_best_waiting_peers() {
        let waiting = [(1, 5), (2, 50), (3, 50), (4, 0)];
        assert_eq!(free_slots_to(&waiting, 3), vec![2, 3]);
        assert_eq!(free_slots_to(&waiting, 0), vec![2, 3, 1, 4]);
        assert!(free_slots_to(&waiting, UPLOAD_SLOTS + 1).is_empty());
    }
}
