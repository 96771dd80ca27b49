//! Banning peers that send data failing its hash check. A piece sent by one peer alone pins the
//! blame on it; a piece from several is kept (bounded) until a good copy of it arrives, and the
//! blocks that differ name the liars ("smart ban", as libtorrent does). Peers that took part in
//! too many failures without being caught get banned on strikes. Pure: no sockets, no clock.

use crate::layout::{BLOCK_SIZE, PeerKey};
use std::collections::{HashMap, HashSet};

/// Failed hash checks a peer may take part in before it is banned, when no single failure could
/// be pinned on it.
pub const MAX_STRIKES: u32 = 5;
/// Failed pieces kept to compare against their good copy: at most this many…
pub const MAX_FAILED_KEPT: usize = 8;
/// …and this many bytes (so 128 MiB pieces cannot pin a gigabyte); one piece is always kept.
pub const MAX_FAILED_BYTES: usize = 32 << 20;

/// Whom to ban and why.
pub type Verdicts = Vec<(PeerKey, &'static str)>;

#[derive(Debug, Default)]
pub struct Bans {
    /// Pieces that failed with several senders: their data and the sender of each block.
    failed: HashMap<usize, (Vec<u8>, Vec<PeerKey>)>,
    strikes: HashMap<PeerKey, u32>,
}

impl Bans {
    /// Whether a bad copy of `piece` waits for a good one to be compared with.
    #[cfg(test)]
    pub fn wants_good_copy(&self, piece: usize) -> bool {
        self.failed.contains_key(&piece)
    }

    /// `piece` failed its hash check; `senders` names the sender of each block.
    pub fn failed(&mut self, piece: usize, data: Vec<u8>, senders: Vec<PeerKey>) -> Verdicts {
        let contributors = distinct(&senders);
        if let [only] = contributors[..] {
            return vec![(only, "it alone sent a piece that failed its hash check")];
        }
        let mut verdicts = Vec::new();
        for key in contributors {
            let strikes = self.strikes.entry(key).or_default();
            *strikes += 1;
            if *strikes >= MAX_STRIKES {
                verdicts.push((
                    key,
                    "too many pieces it sent part of failed their hash check",
                ));
            }
        }
        let kept: usize = self.failed.values().map(|(d, _)| d.len()).sum();
        if self.failed.is_empty()
            || (self.failed.len() < MAX_FAILED_KEPT && kept + data.len() <= MAX_FAILED_BYTES)
        {
            self.failed.insert(piece, (data, senders));
        }
        verdicts
    }

    /// `piece` passed with the data `good`.
    pub fn passed(&mut self, piece: usize, good: &[u8]) -> Verdicts {
        let Some((bad, senders)) = self.failed.remove(&piece) else {
            return Vec::new();
        };
        let block = BLOCK_SIZE as usize;
        let liars: HashSet<PeerKey> = bad
            .chunks(block)
            .zip(good.chunks(block))
            .zip(senders)
            .filter(|((bad, good), _)| bad != good)
            .map(|(_, sender)| sender)
            .collect();
        let mut liars: Vec<PeerKey> = liars.into_iter().collect();
        liars.sort_unstable();
        liars
            .into_iter()
            .map(|k| (k, "it sent corrupt data"))
            .collect()
    }

    /// A peer is gone: its strikes go with it (a banned peer cannot come back under its id).
    pub fn forget(&mut self, key: PeerKey) {
        self.strikes.remove(&key);
    }
}

/// The distinct senders, sorted.
pub fn distinct(senders: &[PeerKey]) -> Vec<PeerKey> {
    let mut v = senders.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: usize = BLOCK_SIZE as usize;

    #[test]
    fn a_lone_sender_of_a_bad_piece_is_banned_at_once() {
        let mut bans = Bans::default();
        let v = bans.failed(3, vec![0; 2 * B], vec![7, 7]);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, 7);
        assert!(
            !bans.wants_good_copy(3),
            "nothing to compare: the liar is known"
        );
    }

    #[test]
    fn the_good_copy_names_the_block_that_differed() {
        let mut bans = Bans::default();
        let good: Vec<u8> = (0..3 * B).map(|i| i as u8).collect();
        let mut bad = good.clone();
        bad[B + 5] ^= 1;
        assert!(bans.failed(0, bad, vec![1, 2, 3]).is_empty());
        assert!(bans.wants_good_copy(0));
        let v = bans.passed(0, &good);
        assert_eq!(v.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![2]);
        assert!(!bans.wants_good_copy(0));
        assert!(bans.passed(0, &good).is_empty());
    }

    #[test]
    fn strikes_ban_a_peer_in_too_many_failures_and_memory_is_bounded() {
        let mut bans = Bans::default();
        let mut banned = Vec::new();
        for piece in 0..MAX_STRIKES as usize {
            banned = bans.failed(piece, vec![0; 2 * B], vec![1, 2]);
        }
        let keys: Vec<_> = banned.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec![1, 2]);
        for piece in 100..200 {
            bans.failed(piece, vec![0; 2 * B], vec![3, 4]);
        }
        assert_eq!(bans.failed.len(), MAX_FAILED_KEPT);
        // Big pieces are bounded by bytes: 20 MiB pieces, one kept beside another only if it
        // fits in 32 MiB.
        let mut big = Bans::default();
        for piece in 0..10 {
            big.failed(piece, vec![0; 20 << 20], vec![5, 6]);
        }
        assert_eq!(big.failed.len(), 1);
        bans.forget(3);
        assert!(!bans.strikes.contains_key(&3));
    }
}
