//! Extension-protocol messages (BEP 10) a torrent handles: the extended handshake, the info
//! dictionary served in pieces (`ut_metadata`, BEP 9) and peer exchange (`ut_pex`, BEP 11).
//! Neither extension is offered for a private torrent (BEP 27); ids we did not offer are
//! ignored, as BEP 10 says.

use super::Task;
use crate::extensions::metadata::{self, MetadataMsg};
use crate::extensions::pex::{self, PexMessage};
use crate::extensions::{self, ExtendedHandshake, UT_METADATA, UT_PEX};
use crate::layout::PeerKey;
use crate::wire::Message;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A peer hears of our other peers this soon after its extended handshake…
pub const PEX_FIRST: Duration = Duration::from_secs(1);
/// …and then at most this often (BEP 11).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Peer-exchange messages closer together than this are flooding: ignored.
pub const PEX_MIN_GAP: Duration = Duration::from_secs(20);
/// Metadata pieces one connection is served at most, besides one copy of the whole.
const METADATA_SPARE: usize = 16;

impl Task {
    pub(super) fn extended(&mut self, key: PeerKey, id: u8, payload: &[u8]) {
        let public = !self.meta.info.private;
        match id {
            extensions::HANDSHAKE => self.extended_handshake(key, payload),
            id if public && id == UT_METADATA.1 => self.metadata_message(key, payload),
            id if public && id == UT_PEX.1 => self.pex_message(key, payload),
            _ => {}
        }
    }

    fn extended_handshake(&mut self, key: PeerKey, payload: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let h = match ExtendedHandshake::parse(payload) {
            Ok(h) => h,
            Err(e) => return self.drop_peer(key, &format!("protocol error: {e}")),
        };
        log::debug!(
            "{}: extended handshake from {} (reqq {:?}, extensions {:?})",
            peer.addr(),
            h.v.as_deref().unwrap_or("an unnamed client"),
            h.reqq,
            h.m.keys().collect::<Vec<_>>()
        );
        let pex_from = (!self.meta.info.private).then(|| Instant::now() + PEX_FIRST);
        peer.extended_handshake(
            h.reqq.map(|r| r as usize),
            h.id_of(UT_METADATA.0),
            h.id_of(UT_PEX.0),
            h.p,
            pex_from,
        );
    }

    /// A request is answered with the piece or a reject; data and rejects are for a node still
    /// looking for the metadata, which this torrent is not.
    fn metadata_message(&mut self, key: PeerKey, payload: &[u8]) {
        let msg = match MetadataMsg::parse(payload) {
            Ok(Some(msg)) => msg,
            Ok(None) => return,
            Err(e) => return self.drop_peer(key, &format!("protocol error: {e}")),
        };
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let (MetadataMsg::Request(piece), Some(their_id)) = (msg, peer.ut_metadata()) else {
            return;
        };
        let info = &self.meta.info_bytes;
        let allowance = metadata::piece_count(info.len()) + METADATA_SPARE;
        let answer = match metadata::piece_of(info, piece) {
            Some(data) if peer.serve_metadata(allowance) => MetadataMsg::Data {
                piece,
                total_size: info.len() as u32,
                data: data.to_vec(),
            },
            _ => MetadataMsg::Reject(piece),
        };
        peer.send(Message::Extended {
            id: their_id,
            payload: answer.encode(),
        });
    }

    /// Peers a peer tells us of go to the dialer, with its limits and backoff.
    fn pex_message(&mut self, key: PeerKey, payload: &[u8]) {
        let msg = match PexMessage::parse(payload) {
            Ok(msg) => msg,
            Err(e) => return self.drop_peer(key, &format!("protocol error: {e}")),
        };
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let now = Instant::now();
        if !peer.pex_heard(now, PEX_MIN_GAP) {
            log::debug!("{}: peer exchange too often; ignored", peer.addr());
            return;
        }
        let from = peer.addr();
        let complete = self.picker.is_complete();
        let mut learned = 0;
        for (addr, flags) in msg.added {
            // Two seeds have nothing to trade; and a peer may name only addresses as far out
            // as itself (no loopback or LAN address from a remote peer).
            if (complete && flags & pex::SEED != 0)
                || !crate::address::admissible(addr, Some(from.ip()))
            {
                continue;
            }
            if self.dialer.state(&addr).is_none() {
                learned += 1;
            }
            self.dialer.add(addr, false, now);
        }
        log::debug!("{from}: peer exchange named {learned} new peers");
        if learned > 0 {
            self.connect_more();
        }
    }

    /// Tells each peer that speaks `ut_pex`, when due, which peers joined and left since last
    /// time (at most 50 each).
    pub(super) fn pex_round(&mut self, now: Instant) {
        if self.meta.info.private {
            return;
        }
        let current: Vec<(SocketAddr, u8)> = self
            .peers
            .values()
            .filter_map(|p| {
                let flags = pex::CONNECTABLE | if p.has().is_full() { pex::SEED } else { 0 };
                p.listen_addr().map(|a| (a, flags))
            })
            .collect();
        let addrs: HashSet<SocketAddr> = current.iter().map(|(a, _)| *a).collect();
        for p in self.peers.values_mut() {
            let own = p.listen_addr();
            let Some((id, told)) = p.pex_due(now, PEX_INTERVAL) else {
                continue;
            };
            let msg = PexMessage {
                added: current
                    .iter()
                    .filter(|(a, _)| Some(*a) != own && !told.contains(a))
                    .take(pex::MAX_ADDED)
                    .copied()
                    .collect(),
                dropped: told
                    .iter()
                    .filter(|a| !addrs.contains(a))
                    .take(pex::MAX_ADDED)
                    .copied()
                    .collect(),
            };
            if msg.is_empty() {
                continue;
            }
            for a in &msg.dropped {
                told.remove(a);
            }
            told.extend(msg.added.iter().map(|(a, _)| *a));
            p.send(Message::Extended {
                id,
                payload: msg.encode(),
            });
        }
    }
}
