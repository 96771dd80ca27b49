//! Banning peers that send data failing its hash check, and everything a ban needs kept: the
//! one ban list of a torrent. A piece sent by one peer alone pins the blame on it; a piece from
//! several is kept (bounded) until a good copy of it arrives, and the blocks that differ name
//! the liars ("smart ban", as libtorrent does). Peers that took part in too many failures
//! without being caught get banned on strikes. A banned peer's id is refused for the run and
//! its address (loopback aside: every local process shares it) for [`IP_BAN`]; the last peers
//! to leave are remembered, so that a piece they sent that fails after they left still names
//! them. Pure: no sockets, and the clock is passed in.

use crate::hash::{Digest256, sha256};
use crate::layout::{BLOCK_SIZE, PeerKey};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a banned peer's address stays banned, and how many addresses are kept.
pub const IP_BAN: Duration = Duration::from_secs(30 * 60);
pub const MAX_BANNED_IPS: usize = 4096;
/// Peers remembered after they leave, for bans that come after (a piece still verifying).
pub const DEPARTED_KEPT: usize = 64;

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
    /// Peer ids banned for the run.
    ids: HashSet<[u8; 20]>,
    /// Addresses banned with them, until the time given.
    ips: HashMap<IpAddr, Instant>,
    /// The last peers to leave: key, address, id.
    departed: VecDeque<(PeerKey, SocketAddr, [u8; 20])>,
}

impl Bans {
    /// Nobody is banned (what else it holds is about peers connected now).
    pub fn is_clear(&self) -> bool {
        self.ids.is_empty() && self.ips.is_empty()
    }

    pub fn is_banned(&self, id: &[u8; 20]) -> bool {
        self.ids.contains(id)
    }

    pub fn is_banned_ip(&self, ip: IpAddr, now: Instant) -> bool {
        self.ips.get(&ip).is_some_and(|&until| now < until)
    }

    /// Bans `id`, and `addr`'s IP for [`IP_BAN`] unless it is loopback; `false` when the id was
    /// banned already (pieces in flight fail one by one: one ban, one log line).
    pub fn ban(&mut self, id: [u8; 20], addr: SocketAddr, now: Instant) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        if !addr.ip().is_loopback() {
            self.ips.retain(|_, until| *until > now);
            if self.ips.len() < MAX_BANNED_IPS {
                self.ips.insert(addr.ip(), now + IP_BAN);
            }
        }
        true
    }

    /// A peer left: its strikes go with it, and it is remembered among the last to leave.
    pub fn departed(&mut self, key: PeerKey, addr: SocketAddr, id: [u8; 20]) {
        self.strikes.remove(&key);
        if self.departed.len() >= DEPARTED_KEPT {
            self.departed.pop_front();
        }
        self.departed.push_back((key, addr, id));
    }

    /// Where and who one of the last peers to leave was.
    pub fn find_departed(&self, key: PeerKey) -> Option<(SocketAddr, [u8; 20])> {
        self.departed
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, a, id)| (*a, *id))
    }

    /// Whether a bad copy of `piece` waits for a good one to be compared with.
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

    /// Whether `key` sent any of the kept bad copy of `piece`.
    pub fn took_part(&self, piece: usize, key: PeerKey) -> bool {
        self.failed
            .get(&piece)
            .is_some_and(|(_, senders)| senders.contains(&key))
    }

    /// The block hashes of `piece` (BEP 52), proved against its piece layer, came: each block
    /// of the kept bad copy (the first `len` bytes are the file's, the rest padding) that does
    /// not match its hash names its sender.
    pub fn block_hashes(&mut self, piece: usize, hashes: &[Digest256], len: usize) -> Verdicts {
        let why = "it sent a block that does not match its BEP 52 block hash";
        self.judge(piece, why, |i, block| {
            let data = &block[..block.len().min(len.saturating_sub(i * BLOCK_SIZE as usize))];
            !data.is_empty() && hashes.get(i).is_some_and(|hash| sha256(data) != *hash)
        })
    }

    /// `piece` passed with the data `good`.
    pub fn passed(&mut self, piece: usize, good: &[u8]) -> Verdicts {
        self.judge(piece, "it sent corrupt data", |i, block| {
            good.chunks(BLOCK_SIZE as usize)
                .nth(i)
                .is_some_and(|g| g != block)
        })
    }

    /// Takes the kept bad copy of `piece`, if any, and names, `why`, the sender of each block
    /// `bad(index, block)` finds wrong.
    fn judge(
        &mut self,
        piece: usize,
        why: &'static str,
        bad: impl Fn(usize, &[u8]) -> bool,
    ) -> Verdicts {
        let Some((copy, senders)) = self.failed.remove(&piece) else {
            return Vec::new();
        };
        let liars: Vec<PeerKey> = copy
            .chunks(BLOCK_SIZE as usize)
            .enumerate()
            .zip(senders)
            .filter(|((i, block), _)| bad(*i, block))
            .map(|(_, sender)| sender)
            .collect();
        distinct(&liars).into_iter().map(|k| (k, why)).collect()
    }
}

/// The distinct senders, sorted; blocks no peer sent (padding) name no one.
pub fn distinct(senders: &[PeerKey]) -> Vec<PeerKey> {
    let mut v: Vec<PeerKey> = senders
        .iter()
        .copied()
        .filter(|&k| k != crate::picker::NOBODY)
        .collect();
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
    fn block_hashes_name_the_sender_of_each_block_that_does_not_match() {
        let mut bans = Bans::default();
        // Three blocks of file data (the last one short), then a block of padding.
        let len = 2 * B + 100;
        let good: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
        let hashes: Vec<Digest256> = good.chunks(B).map(sha256).chain([[0; 32]]).collect();
        let mut bad = good.clone();
        bad[2 * B + 3] ^= 1;
        bad.resize(4 * B, 0);
        bans.failed(0, bad, vec![1, 2, 3, crate::picker::NOBODY]);
        assert!(bans.took_part(0, 3) && !bans.took_part(0, 4));
        let v = bans.block_hashes(0, &hashes, len);
        assert_eq!(v.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![3]);
        assert!(!bans.wants_good_copy(0), "judged");
        assert!(bans.block_hashes(0, &hashes, len).is_empty());
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
        bans.departed(3, "10.0.0.3:1".parse().unwrap(), [3; 20]);
        assert!(!bans.strikes.contains_key(&3));
    }

    #[test]
    fn a_ban_holds_the_id_for_the_run_and_the_address_for_a_while_loopback_aside() {
        let mut bans = Bans::default();
        let t0 = Instant::now();
        let remote: SocketAddr = "10.0.0.1:6881".parse().unwrap();
        assert!(bans.ban([1; 20], remote, t0));
        assert!(!bans.ban([1; 20], remote, t0), "a second ban is no news");
        assert!(bans.is_banned(&[1; 20]) && !bans.is_banned(&[2; 20]));
        assert!(bans.is_banned_ip(remote.ip(), t0 + IP_BAN / 2));
        assert!(!bans.is_banned_ip(remote.ip(), t0 + IP_BAN));
        let local: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        assert!(bans.ban([2; 20], local, t0));
        assert!(
            !bans.is_banned_ip(local.ip(), t0),
            "every local process shares it"
        );
        // Addresses are bounded; expired ones make room.
        for i in 0..MAX_BANNED_IPS as u32 + 10 {
            let mut id = [0xee; 20];
            id[..4].copy_from_slice(&i.to_be_bytes());
            let ip = std::net::Ipv4Addr::from(0x0b00_0000 + i);
            bans.ban(id, SocketAddr::from((ip, 1)), t0);
        }
        assert_eq!(bans.ips.len(), MAX_BANNED_IPS);
        bans.ban([9; 20], remote, t0 + IP_BAN * 2);
        assert_eq!(bans.ips.len(), 1);
    }

    #[test]
    fn the_last_peers_to_leave_are_remembered_and_bounded() {
        let mut bans = Bans::default();
        for key in 0..DEPARTED_KEPT as u64 + 5 {
            bans.departed(
                key,
                SocketAddr::from(([10, 0, 0, 1], key as u16)),
                [key as u8; 20],
            );
        }
        assert_eq!(bans.find_departed(2), None, "the oldest gave way");
        let last = DEPARTED_KEPT as u64 + 4;
        assert_eq!(
            bans.find_departed(last),
            Some((
                SocketAddr::from(([10, 0, 0, 1], last as u16)),
                [last as u8; 20]
            ))
        );
    }
}
