//! Answering BEP 52 hash requests from the piece layers a v2 or hybrid torrent carries: each
//! file's tree above its piece layer is built on the first request for it and kept. Requests for
//! block hashes (below the piece layer, not kept) and for what is not ours are declined with a
//! `hash reject`, never ignored.

use super::Task;
use crate::hash::{Digest256, merkle};
use crate::layout::PeerKey;
use crate::wire::Message;
use crate::wire::hashes::HashRequest;

/// Hashes a peer may get beyond twice the torrent's piece count.
const HASHES_SPARE: usize = 8192;

impl Task {
    pub(super) fn hash_request(&mut self, key: PeerKey, request: HashRequest) {
        let answer = self.hashes_for(&request);
        // Each piece layer twice over, proofs and all, is what a peer can need of us.
        let allowance = 2 * self.meta.info.piece_count() + HASHES_SPARE;
        if let Some(peer) = self.peers.get_mut(&key) {
            let message = match answer {
                Some(hashes) if peer.serve_hashes(hashes.len(), allowance) => {
                    Message::Hashes(request, hashes)
                }
                _ => Message::HashReject(request),
            };
            peer.send(message);
        }
    }

    fn hashes_for(&mut self, r: &HashRequest) -> Option<Vec<Digest256>> {
        let info = &self.meta.info;
        let v2 = info.v2.as_ref().filter(|v2| !v2.pieces.is_empty())?;
        let file = v2.roots.iter().position(|root| *root == Some(r.root))?;
        let (entry, piece_length) = (&info.files[file], info.piece_length);
        if entry.length <= piece_length {
            // One piece: its root is all there is above the blocks.
            return None;
        }
        let piece_base = (piece_length / merkle::BLOCK).trailing_zeros();
        let layers = self.trees.entry(file).or_insert_with(|| {
            let first = (entry.offset / piece_length) as usize;
            let count = entry.length.div_ceil(piece_length) as usize;
            let layer = v2.pieces.get(first..first + count).unwrap_or_default();
            merkle::layers_above(layer, piece_length)
        });
        merkle::answer(
            layers,
            piece_base,
            entry.length.div_ceil(merkle::BLOCK),
            (r.base, r.index, r.count, r.proof_layers),
        )
    }
}
