//! BEP 52 hash requests, both ways.
//!
//! Answering: from the piece layers a v2 or hybrid torrent carries, each file's tree above its
//! piece layer built on the first request for it and kept; block hashes (below the piece
//! layer, not kept) are computed from the pieces on disk, off the task, a few reads at a time.
//! What is not ours, outside the tree, or past a peer's allowance gets a `hash reject`, never
//! silence.
//!
//! Asking: a piece that fails its check with blocks from several peers is kept by the ban list
//! until it can be judged. Its block hashes are asked of a v2 peer that has it; once they
//! are proved against the piece layer, every block that does not match its hash names its
//! sender, without waiting for a good copy of the piece (libtorrent does the same).

use super::{Event, Task};
use crate::hash::{Digest256, merkle, sha256};
use crate::layout::PeerKey;
use crate::wire::Message;
use crate::wire::hashes::HashRequest;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hashes a peer may get beyond twice the torrent's piece count.
const HASHES_SPARE: usize = 8192;
/// Block-hash answers being read from disk at once, for all peers together; requests past
/// it are rejected (the asker may ask again later).
const MAX_READS: usize = 4;
/// How long a peer has to answer a request for block hashes before another is asked.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// The hash work of a v2 torrent's task.
#[derive(Default)]
pub(super) struct V2Work {
    /// Each file's tree above its piece layer, by file, once asked for.
    trees: HashMap<usize, Arc<Vec<Vec<Digest256>>>>,
    /// Block-hash answers being read from disk.
    reads: usize,
    /// Failed pieces whose block hashes we asked for.
    asks: HashMap<usize, Ask>,
}

impl V2Work {
    #[cfg(test)]
    pub(super) fn asks_pending(&self) -> usize {
        self.asks.len()
    }
}

struct Ask {
    request: HashRequest,
    peer: PeerKey,
    at: Instant,
    /// Peers asked already (one try each).
    tried: Vec<PeerKey>,
}

/// Block hashes to compute from disk for a request: the file's blocks `first..first +
/// leaves` (whole pieces, or the whole tree of a file of one piece), which lie at torrent
/// offset `offset` and hold `len` bytes of the file.
struct BlockRead {
    request: HashRequest,
    blocks: u64,
    first: u64,
    leaves: u64,
    offset: u64,
    len: usize,
    /// Layers computed from the blocks up (the piece layer's height, or the root's).
    local: u32,
    /// The kept tree above the piece layer, for proofs reaching past the pieces read.
    upper: Option<Arc<Vec<Vec<Digest256>>>>,
}

enum Plan {
    Now(Option<Vec<Digest256>>),
    Read(BlockRead),
}

impl Task {
    pub(super) fn hash_request(&mut self, key: PeerKey, request: HashRequest) {
        match self.plan_hashes(&request) {
            Plan::Now(answer) => self.answer_hashes(key, request, answer),
            Plan::Read(_) if self.v2.reads >= MAX_READS => self.answer_hashes(key, request, None),
            Plan::Read(read) => {
                self.v2.reads += 1;
                let (store, ctrl) = (self.store.clone(), self.ctrl.clone());
                crate::runtime::spawn(async move {
                    let answer = crate::runtime::spawn_blocking(move || {
                        let mut data = vec![0; read.len];
                        store.read_at(read.offset, &mut data).ok()?;
                        read.answer(&data)
                    })
                    .await;
                    let _ = ctrl.send(Event::HashesRead(key, request, answer)).await;
                });
            }
        }
    }

    /// Sends what a hash request came to, within the peer's allowance.
    pub(super) fn answer_hashes(
        &mut self,
        key: PeerKey,
        request: HashRequest,
        answer: Option<Vec<Digest256>>,
    ) {
        // Each piece layer twice over, proofs and all, is what a peer can need of us.
        let allowance = 2 * self.meta.info.piece_count() + HASHES_SPARE;
        if let Some(peer) = self.peers.get_mut(&key) {
            let r = &request;
            log::debug!(
                "{}: hash request (base {}, index {}, count {}, proof layers {}): {}",
                peer.addr(),
                r.base,
                r.index,
                r.count,
                r.proof_layers,
                if answer.is_some() {
                    "answered"
                } else {
                    "rejected"
                }
            );
            let message = match answer {
                Some(hashes) if peer.serve_hashes(hashes.len(), allowance) => {
                    Message::Hashes(request, hashes)
                }
                _ => Message::HashReject(request),
            };
            peer.send(message);
        }
    }

    /// A block-hash answer read from disk.
    pub(super) fn hashes_read(
        &mut self,
        key: PeerKey,
        request: HashRequest,
        answer: Option<Vec<Digest256>>,
    ) {
        self.v2.reads -= 1;
        self.answer_hashes(key, request, answer);
    }

    fn plan_hashes(&mut self, r: &HashRequest) -> Plan {
        let info = &self.meta.info;
        let Some(v2) = info.v2.as_ref().filter(|v2| !v2.pieces.is_empty()) else {
            return Plan::Now(None);
        };
        let Some(file) = v2.roots.iter().position(|root| *root == Some(r.root)) else {
            return Plan::Now(None);
        };
        let (entry, piece_length) = (&info.files[file], info.piece_length);
        let blocks = entry.length.div_ceil(merkle::BLOCK);
        let request = (r.base, r.index, r.count, r.proof_layers);
        if !merkle::fits(blocks, request) {
            return Plan::Now(None);
        }
        let piece_base = (piece_length / merkle::BLOCK).trailing_zeros();
        let first_piece = (entry.offset / piece_length) as usize;
        let upper = (entry.length > piece_length).then(|| {
            let tree = self.v2.trees.entry(file).or_insert_with(|| {
                let count = entry.length.div_ceil(piece_length) as usize;
                let layer = v2.pieces.get(first_piece..first_piece + count);
                Arc::new(merkle::layers_above(
                    layer.unwrap_or_default(),
                    piece_length,
                ))
            });
            tree.clone()
        });
        // Layers computed from blocks: up to the piece layer, or to the root of a file that
        // fits in one piece.
        let local = piece_base.min(blocks.next_power_of_two().trailing_zeros());
        if r.base >= local {
            let tree = upper.as_deref().map(Vec::as_slice).unwrap_or_default();
            return Plan::Now(merkle::answer(tree, piece_base, blocks, request));
        }
        // Below the piece layer: the blocks of the one piece the run lies in.
        let unit = 1u64 << local;
        let start = (r.index as u64) << r.base;
        let end = (r.index as u64 + r.count as u64) << r.base;
        let first = start / unit * unit;
        // A run past the file's end (in the tree's padding) is not asked for by any client.
        if end.div_ceil(unit) * unit - first != unit || first >= blocks {
            return Plan::Now(None);
        }
        let piece = first_piece + (first / (1 << piece_base)) as usize;
        if !self.picker.have().get(piece) {
            return Plan::Now(None);
        }
        let len = (entry.length - first * merkle::BLOCK).min(unit * merkle::BLOCK);
        Plan::Read(BlockRead {
            request: *r,
            blocks,
            first,
            leaves: unit,
            offset: entry.offset + first * merkle::BLOCK,
            len: len as usize,
            local,
            upper,
        })
    }

    /// `piece` failed its check and the ban list keeps it: ask a v2 peer that has it, and has
    /// not been asked, for its block hashes. Nothing when the torrent has no piece layers, the
    /// piece is one block, or no such peer is connected.
    pub(super) fn ask_block_hashes(&mut self, piece: usize) {
        let tried = match self.v2.asks.remove(&piece) {
            Some(ask) => ask.tried,
            None => Vec::new(),
        };
        if !self.bans.wants_good_copy(piece) {
            return;
        }
        let Some(request) = self.block_hash_request(piece) else {
            return;
        };
        // One that sent none of the piece first: the answer is proved either way, but a liar
        // is the likelier to stall.
        let asked = self
            .peers
            .iter()
            .filter(|(k, p)| p.v2() && p.has().get(piece) && !tried.contains(k))
            .min_by_key(|(k, _)| (self.bans.took_part(piece, **k), **k))
            .map(|(k, _)| *k);
        let Some(key) = asked else { return };
        if let Some(p) = self.peers.get_mut(&key) {
            p.send(Message::HashRequest(request));
        }
        let mut tried = tried;
        tried.push(key);
        let at = Instant::now();
        let ask = Ask {
            request,
            peer: key,
            at,
            tried,
        };
        self.v2.asks.insert(piece, ask);
    }

    /// The request for `piece`'s block hashes, proved by the piece's own v2 digest.
    fn block_hash_request(&self, piece: usize) -> Option<HashRequest> {
        let info = &self.meta.info;
        let v2 = info.v2.as_ref().filter(|v2| !v2.pieces.is_empty())?;
        let layout = self.store.layout();
        let spans = layout.spans(layout.piece_offset(piece), layout.piece_size(piece));
        let [span] = spans[..] else { return None };
        let entry = &info.files[span.file];
        let root = (*v2.roots.get(span.file)?)?;
        let blocks = entry.length.div_ceil(merkle::BLOCK);
        let per_piece = info.piece_length / merkle::BLOCK;
        let (index, count) = if entry.length <= info.piece_length {
            (0, blocks.next_power_of_two())
        } else {
            let nth = piece as u64 - entry.offset / info.piece_length;
            (nth * per_piece, per_piece)
        };
        (count > 1).then_some(HashRequest {
            root,
            base: 0,
            index: index as u32,
            count: count as u32,
            proof_layers: 0,
        })
    }

    /// `hashes` or a `hash reject` came from `key`: the answer to one of our block-hash
    /// requests is judged, anything else ignored (we ask for nothing else).
    pub(super) fn hashes_came(
        &mut self,
        key: PeerKey,
        request: HashRequest,
        hashes: Option<Vec<Digest256>>,
    ) {
        let Some(piece) = self
            .v2
            .asks
            .iter()
            .find(|(_, a)| a.peer == key && a.request == request)
            .map(|(p, _)| *p)
        else {
            return;
        };
        let Some(hashes) = hashes else {
            return self.ask_block_hashes(piece);
        };
        let digest = self.meta.info.v2.as_ref().and_then(|v| v.pieces.get(piece));
        let count = request.count as usize;
        if hashes.len() != count || Some(&merkle::root(&hashes, count, [0; 32])) != digest {
            self.ban(
                key,
                "it sent block hashes that do not match the piece layer",
            );
            return self.ask_block_hashes(piece);
        }
        self.v2.asks.remove(&piece);
        let len = self.store.layout().piece_data(piece) as usize;
        for (liar, why) in self.bans.block_hashes(piece, &hashes, len) {
            self.ban(liar, why);
        }
    }

    /// Asks again where an answer is overdue or its peer gone; forgets pieces judged since.
    pub(super) fn block_hash_round(&mut self, now: Instant) {
        let stale: Vec<usize> = self
            .v2
            .asks
            .iter()
            .filter(|(_, a)| now - a.at > ASK_TIMEOUT || !self.peers.contains_key(&a.peer))
            .map(|(p, _)| *p)
            .collect();
        for piece in stale {
            self.ask_block_hashes(piece);
        }
        let bans = &self.bans;
        self.v2.asks.retain(|piece, _| bans.wants_good_copy(*piece));
    }
}

impl BlockRead {
    /// The answer from the file's bytes `data` of the blocks read.
    fn answer(&self, data: &[u8]) -> Option<Vec<Digest256>> {
        let mut leaves: Vec<Digest256> = data.chunks(merkle::BLOCK as usize).map(sha256).collect();
        leaves.resize(self.leaves as usize, [0; 32]);
        let below = merkle::layers_up(leaves, self.local);
        let r = &self.request;
        let request = (r.base, r.index, r.count, r.proof_layers);
        merkle::answer_with(self.blocks, request, |layer, i| {
            let upper = self.upper.as_deref().filter(|_| layer >= self.local);
            match upper {
                Some(tree) => tree.get((layer - self.local) as usize)?.get(i).copied(),
                None => {
                    let at = i.checked_sub((self.first >> layer) as usize)?;
                    below.get(layer as usize)?.get(at).copied()
                }
            }
        })
    }
}
