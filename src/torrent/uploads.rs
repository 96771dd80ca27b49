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
