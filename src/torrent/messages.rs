//! What the torrent does with each message a peer sends: BEP 3's, the fast extension's (BEP 6,
//! only when both ends set the bit) and the extension protocol's (BEP 10). A message that breaks
//! the protocol ends that peer's connection, never the torrent.

use super::Task;
use super::peer_state::Rejected;
use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, PeerKey};
use crate::picker::Received;
use crate::wire::Message;
use std::sync::atomic::Ordering;

/// Allowed-fast pieces we keep of what one peer offers.
const MAX_ALLOWED_FAST_IN: usize = 64;
/// Requests we wait on an answer for after a cancel or a choke (BEP 6): more, and the peer is
/// flooding us with chokes.
const MAX_AWAITING: usize = 4096;

impl Task {
    pub(super) fn message(&mut self, key: PeerKey, msg: Message) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let fast_only = matches!(
            msg,
            Message::Suggest(_)
                | Message::HaveAll
                | Message::HaveNone
                | Message::Reject { .. }
                | Message::AllowedFast(_)
        );
        if fast_only && !peer.fast() {
            return self.drop_peer(
                key,
                "protocol error: a fast-extension message, not negotiated",
            );
        }
        if matches!(msg, Message::Extended { .. }) && !peer.extended() {
            return self.drop_peer(key, "protocol error: an extension message, not negotiated");
        }
        let named = msg.block();
        match msg {
            Message::Choke => {
                // BEP 6: a fast peer still answers what was asked (piece or reject).
                let flooding = peer.choked_us() > MAX_AWAITING;
                self.picker.release_peer(key);
                if flooding {
                    return self.drop_peer(key, "too many requests left unanswered");
                }
                self.request_everywhere();
            }
            Message::Unchoke => {
                peer.unchoked_us();
                self.update_demand();
                self.request_more(key);
            }
            Message::Interested => {
                peer.set_peer_interested(true, std::time::Instant::now());
                self.unchoke_if_free(key);
            }
            Message::NotInterested => {
                let held_a_slot = peer.set_peer_interested(false, std::time::Instant::now());
                if held_a_slot {
                    self.fill_free_slots();
                }
            }
            Message::Have(piece) => {
                let wanted = self.picker.wants_piece(piece as usize);
                if peer.has_piece(piece as usize, wanted) {
                    self.picker.peer_has_piece(piece as usize);
                    if let Some(addr) = peer.has().is_full().then(|| peer.addr()) {
                        self.seed_says(format_args!("{addr} has it all now"));
                    }
                }
                self.update_interest(key);
                self.request_more(key);
                self.offer_after_have(key, piece);
            }
            Message::Bitfield(bytes) => {
                let Some(bits) = Bitfield::from_bytes(&bytes, self.store.layout().piece_count())
                else {
                    return;
                };
                self.peer_has(key, bits);
            }
            Message::HaveAll | Message::HaveNone => {
                if peer.bitfield_seen() {
                    return self.drop_peer(key, "protocol error: have all/none after a bitfield");
                }
                let mut bits = Bitfield::new(self.store.layout().piece_count());
                if matches!(msg, Message::HaveAll) {
                    for p in 0..bits.len() {
                        bits.set(p);
                    }
                }
                self.peer_has(key, bits);
            }
            Message::Request { .. } => self.requested(key, named.expect("a request names a block")),
            Message::Cancel { .. } => self.cancelled(key, named.expect("a cancel names a block")),
            Message::Reject { .. } => {
                let block = named.expect("a reject names a block");
                match peer.rejected(block) {
                    Rejected::InFlight => {
                        // Refused while it chokes us: that allowed-fast piece is not on offer
                        // after all (as libtorrent does); asking again would only be refused.
                        if peer.peer_choking() {
                            peer.forget_allowed_fast(block.piece);
                        }
                        self.picker.release_block(key, block);
                        self.request_everywhere();
                    }
                    Rejected::Awaited => {}
                    Rejected::Unasked => {
                        self.drop_peer(key, "protocol error: a reject for a block never requested")
                    }
                }
            }
            Message::AllowedFast(piece) => {
                peer.allow_fast_in(piece, MAX_ALLOWED_FAST_IN);
                self.request_more(key);
            }
            Message::Extended { id, payload } => self.extended(key, id, &payload),
            Message::Piece { index, begin, data } => {
                let block = BlockRef {
                    piece: index,
                    begin,
                    length: data.len() as u32,
                };
                peer.received(block, std::time::Instant::now());
                self.stats
                    .downloaded
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                match self.picker.received(key, index as usize, begin, &data) {
                    // A block we no longer needed (an endgame duplicate, a late answer).
                    Received::Unwanted => {
                        self.stats
                            .wasted
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    Received::Stored { cancel } => self.cancel(block, &cancel),
                    Received::PieceDone {
                        piece,
                        data,
                        senders,
                        cancel,
                    } => {
                        self.cancel(block, &cancel);
                        self.verify(piece, data, senders);
                    }
                }
                self.request_more(key);
            }
            // BEP 5: the peer's DHT node joins our table if it answers a ping. Only its first
            // `port` is acted on: each one makes us send a ping, and a peer could send any
            // number.
            Message::Port(port) => {
                if let Some(dht) = &self.config.dht
                    && port != 0
                    && peer.first_dht_port()
                {
                    dht.add_node(std::net::SocketAddr::new(peer.addr().ip(), port));
                }
            }
            Message::HashRequest(request) => self.hash_request(key, request),
            Message::Hashes(request, hashes) => self.hashes_came(key, request, Some(hashes)),
            Message::HashReject(request) => self.hashes_came(key, request, None),
            Message::Suggest(_) | Message::KeepAlive | Message::Unknown(_) => {}
        }
    }

    /// A peer's bitfield or have all/none: it replaces what we knew of the peer.
    fn peer_has(&mut self, key: PeerKey, bits: Bitfield) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let wanted = bits.ones().filter(|&p| self.picker.wants_piece(p)).count();
        self.picker.peer_has_all(&bits);
        let old = peer.replace_has(bits, wanted);
        self.picker.forget_availability(&old);
        self.update_interest(key);
        self.request_more(key);
        self.offer_after_bitfield(key);
    }
}
