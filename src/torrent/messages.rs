//! What the torrent does with each message a peer sends: BEP 3's, the fast extension's (BEP 6,
//! only when both ends set the bit) and the extension protocol's (BEP 10). A message that breaks
//! the protocol ends that peer's connection, never the torrent.

use super::Task;
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
        if fast_only && !peer.fast {
            return self.drop_peer(
                key,
                "protocol error: a fast-extension message, not negotiated",
            );
        }
        if matches!(msg, Message::Extended { .. }) && !peer.extended {
            return self.drop_peer(key, "protocol error: an extension message, not negotiated");
        }
        let named = msg.block();
        match msg {
            Message::Choke => {
                peer.peer_choking = true;
                // BEP 6: a fast peer still answers what was asked (piece or reject).
                if peer.fast {
                    peer.awaiting.extend(peer.inflight.iter().copied());
                }
                peer.inflight.clear();
                let flooding = peer.awaiting.len() > MAX_AWAITING;
                self.picker.release_peer(key);
                if flooding {
                    return self.drop_peer(key, "too many requests left unanswered");
                }
                self.request_everywhere();
            }
            Message::Unchoke => {
                peer.peer_choking = false;
                self.request_more(key);
            }
            Message::Interested => {
                peer.peer_interested = true;
                peer.last_useful = std::time::Instant::now();
                self.unchoke_if_free(key);
            }
            Message::NotInterested => {
                let held_a_slot = peer.peer_interested && !peer.am_choking;
                peer.peer_interested = false;
                if held_a_slot {
                    self.fill_free_slots();
                }
            }
            Message::Have(piece) => {
                if peer.has.set(piece as usize) {
                    self.picker.peer_has_piece(piece as usize);
                    peer.wanted += self.picker.wants_piece(piece as usize) as usize;
                }
                self.update_interest(key);
                self.request_more(key);
            }
            Message::Bitfield(bytes) => {
                let Some(bits) = Bitfield::from_bytes(&bytes, self.store.layout().piece_count())
                else {
                    return;
                };
                self.peer_has(key, bits);
            }
            Message::HaveAll | Message::HaveNone => {
                if peer.bitfield_seen {
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
                if peer.inflight.remove(&block) {
                    self.picker.release_block(key, block);
                    self.request_everywhere();
                } else if !peer.awaiting.remove(&block) {
                    self.drop_peer(key, "protocol error: a reject for a block never requested");
                }
            }
            Message::AllowedFast(piece) => {
                if peer.allowed_fast_in.len() < MAX_ALLOWED_FAST_IN {
                    peer.allowed_fast_in.insert(piece);
                }
                self.request_more(key);
            }
            Message::Extended { id, payload } => self.extended(key, id, &payload),
            Message::Piece { index, begin, data } => {
                let block = BlockRef {
                    piece: index,
                    begin,
                    length: data.len() as u32,
                };
                if !peer.inflight.remove(&block) {
                    peer.awaiting.remove(&block);
                }
                peer.window_down += data.len() as u64;
                peer.last_useful = std::time::Instant::now();
                peer.last_second_down += data.len() as u64;
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
                    && !std::mem::replace(&mut peer.dht_port_heard, true)
                {
                    dht.add_node(std::net::SocketAddr::new(peer.addr.ip(), port));
                }
            }
            Message::Suggest(_) | Message::KeepAlive | Message::Unknown(_) => {}
        }
    }

    /// A peer's bitfield or have all/none: it replaces what we knew of the peer.
    fn peer_has(&mut self, key: PeerKey, bits: Bitfield) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.bitfield_seen = true;
        self.picker.forget_availability(&peer.has);
        self.picker.peer_has_all(&bits);
        peer.wanted = bits.ones().filter(|&p| self.picker.wants_piece(p)).count();
        peer.has = bits;
        self.update_interest(key);
        self.request_more(key);
    }
}
