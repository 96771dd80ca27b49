//! Serving requests. Each peer's requests wait in a queue of its own (up to the `reqq` we
//! advertise) and go to its writer a window at a time, so that a choke or a cancel can still
//! reach them. No request is dropped silently: past the queue's limit, when we choke, or when
//! cancelled, a fast peer (BEP 6) gets a `reject`; a plain BEP 3 peer's queue is void on choke,
//! as BEP 3 says, and a plain peer that overflows the queue is disconnected.

use super::Task;
use crate::extensions::OUR_REQQ;
use crate::hash::sha1;
use crate::layout::{BlockRef, PeerKey};
use crate::metainfo::InfoHash;
use crate::wire::Message;
use std::collections::HashMap;
use std::net::IpAddr;

/// Blocks handed to a connection's writer at once (its reads and rate limit work on these).
pub const WRITER_WINDOW: usize = 32;
/// Allowed-fast pieces we offer a peer (BEP 6's k; libtorrent offers 5 to 10).
pub const ALLOWED_FAST_SET: usize = 10;

fn reject(b: BlockRef) -> Message {
    Message::Reject {
        index: b.piece,
        begin: b.begin,
        length: b.length,
    }
}

impl Task {
    /// A peer asks for `block`.
    pub(super) fn requested(&mut self, key: PeerKey, block: BlockRef) {
        let have = self.may_serve(key, block.piece);
        let super_seeding = self.super_seeding();
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let allowed = p.may_take(block.piece);
        if !have && super_seeding && p.fast() {
            // Not offered (see superseed.rs): as libtorrent, a reject.
            p.send(reject(block));
            return;
        }
        if !have {
            return self.drop_peer(key, "protocol error: a request for a piece we do not have");
        }
        if !allowed {
            // Choked: BEP 3 voids the request; BEP 6 wants it answered.
            if p.fast() {
                p.send(reject(block));
            }
            return;
        }
        if p.am_choking() && !self.fast_claims.claim(block.piece, key) {
            // An allowed-fast piece another choked peer takes from us: it can have it there.
            p.send(reject(block));
            return;
        }
        if p.upload_backlog() >= OUR_REQQ {
            if p.fast() {
                p.send(reject(block));
                return;
            }
            return self.drop_peer(key, "it queued more than 2000 requests");
        }
        p.queue_upload(block);
        self.feed_writer(key);
    }

    /// Hands queued requests to the writer until its window is full.
    pub(super) fn feed_writer(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.feed_writer(WRITER_WINDOW);
    }

    /// The writer sent `blocks` blocks (`bytes` of payload).
    pub(super) fn uploaded(&mut self, key: PeerKey, bytes: u64, blocks: usize) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.uploaded(bytes, blocks, std::time::Instant::now());
        }
        self.feed_writer(key);
    }

    /// A peer cancels `block`: taken off the queue (and, BEP 6, rejected) if still there; one
    /// already with the writer goes out as a piece, which answers the request as well.
    pub(super) fn cancelled(&mut self, key: PeerKey, block: BlockRef) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.unqueue(block) && p.fast() {
            p.send(reject(block));
        }
    }

    /// We just choked a peer: its queued requests are void (BEP 3) or rejected (BEP 6), but for
    /// allowed-fast pieces, which it may still have.
    pub(super) fn choked(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        for block in p.void_queued() {
            if p.fast() {
                p.send(reject(block));
            }
        }
    }
}

/// Which choked peer takes each allowed-fast piece from us. Each piece goes to one choked peer
/// at a time: the others are refused it (a reject, which takes it off their allowed-fast set)
/// and can have it from that peer, or from us once unchoked. Peers behind one /24 are all
/// offered the same pieces (BEP 6), and a seed that served each of them its ten spent a flash
/// crowd's scarcest bandwidth, its own, on the same ten pieces over and over: 32 peers of one
/// /24 took 80 MiB of a 128 MiB torrent's seed that way.
#[derive(Debug, Default)]
pub(super) struct FastClaims(HashMap<u32, PeerKey>);

impl FastClaims {
    /// May `peer`, choked, take `piece`: nobody else is taking it, or it already is.
    pub fn claim(&mut self, piece: u32, peer: PeerKey) -> bool {
        *self.0.entry(piece).or_insert(peer) == peer
    }

    /// `peer` left: its pieces may go to others.
    pub fn peer_gone(&mut self, peer: PeerKey) {
        self.0.retain(|_, p| *p != peer);
    }
}

/// The allowed-fast set BEP 6 defines for a peer at `ip`: pieces drawn from SHA-1 chains over
/// the peer's /24 and the info-hash, so every client computes the same set. IPv4 only, as the
/// BEP specifies it.
pub fn allowed_fast_set(ip: IpAddr, info_hash: &InfoHash, pieces: usize, k: usize) -> Vec<u32> {
    let IpAddr::V4(v4) = ip else {
        return Vec::new();
    };
    let mut set = Vec::new();
    if pieces == 0 {
        return set;
    }
    let k = k.min(pieces);
    let masked = u32::from(v4) & 0xFFFF_FF00;
    let mut x = masked.to_be_bytes().to_vec();
    x.extend_from_slice(&info_hash.0);
    while set.len() < k {
        let digest = sha1(&x);
        x = digest.to_vec();
        for chunk in digest.chunks_exact(4) {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes(chunk.try_into().expect("4 bytes"));
            let index = y % pieces as u32;
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_fast_piece_goes_to_one_choked_peer_at_a_time() {
        let mut c = FastClaims::default();
        assert!(c.claim(5, 1));
        assert!(c.claim(5, 1), "the rest of the piece, to the same peer");
        assert!(!c.claim(5, 2));
        assert!(c.claim(6, 2));
        c.peer_gone(1);
        assert!(c.claim(5, 2));
        assert!(!c.claim(6, 1));
    }

    #[test]
    fn allowed_fast_set_matches_the_bep_6_example() {
        // BEP 6: 7 pieces of a 1313-piece torrent for 80.4.4.200 and an info-hash of 0xaa bytes.
        let set = allowed_fast_set(
            "80.4.4.200".parse().unwrap(),
            &InfoHash([0xaa; 20]),
            1313,
            7,
        );
        assert_eq!(set, vec![1059, 431, 808, 1217, 287, 376, 1188]);
        let nine = allowed_fast_set(
            "80.4.4.200".parse().unwrap(),
            &InfoHash([0xaa; 20]),
            1313,
            9,
        );
        assert_eq!(&nine[..7], &set[..]);
        assert_eq!(nine[7..], [353, 508]);
        assert!(allowed_fast_set("::1".parse().unwrap(), &InfoHash([0; 20]), 10, 5).is_empty());
        assert_eq!(
            allowed_fast_set("1.2.3.4".parse().unwrap(), &InfoHash([0; 20]), 3, 10).len(),
            3
        );
    }
}
