//! Choking (BEP 3): which interested peers get our upload slots. Pure: the torrent task feeds it
//! rates and applies the answer.

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
}
