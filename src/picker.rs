//! Which block to ask which peer for: rarest first with a random first piece, partial pieces
//! finished before new ones are started, endgame (the last blocks asked of several peers).
//!
//! Piece-state invariant: every piece is exactly one of
//! - **have**: verified and on disk;
//! - **in progress**: some blocks requested or received, buffered in memory here;
//! - **verifying**: all blocks in, handed off for SHA-1 and writing;
//! - **queued**: wanted, nothing requested yet;
//! - **skipped**: not wanted (it holds only files a selective fetch leaves out).
//!
//! The picker alone moves pieces between these states, and it is owned by one torrent task.

use crate::bitfield::Bitfield;
use crate::layout::{BLOCK_SIZE, BlockRef, Layout, PeerKey};
use crate::random::Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most this many peers are asked for the same block in endgame.
const ENDGAME_DUPLICATES: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    InProgress,
    Verifying,
    Have,
    Skipped,
}

#[derive(Debug)]
enum Block {
    Missing,
    Requested { by: Vec<PeerKey>, at: Instant },
    Received,
}

#[derive(Debug)]
struct Partial {
    blocks: Vec<Block>,
    buffer: Vec<u8>,
    received: u32,
    /// Who sent each block.
    senders: Vec<PeerKey>,
    /// A piece that failed its hash check before is fetched again from one peer alone, so a
    /// second failure names the culprit.
    owner: Option<PeerKey>,
}

/// What a received block did.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Not asked for, or already in: ignore it.
    Unwanted,
    Stored {
        /// Other peers that were asked for the same block (endgame): send them a cancel.
        cancel: Vec<PeerKey>,
    },
    /// The piece is whole: verify `data`.
    PieceDone {
        piece: usize,
        data: Vec<u8>,
        /// The sender of each block, in order.
        senders: Vec<PeerKey>,
        cancel: Vec<PeerKey>,
    },
}

pub struct Picker {
    layout: Layout,
    state: Vec<State>,
    have: Bitfield,
    availability: Vec<u32>,
    partial: HashMap<usize, Partial>,
    max_partial: usize,
    /// The budget's own count of pieces, before [`Picker::set_demand`] widens it.
    budget_partial: usize,
    failed_before: std::collections::HashSet<usize>,
    verifying: usize,
    /// Pieces in state `Queued`.
    queued: usize,
    /// Total size of the pieces in `have`, kept as they are added (read on every stats update).
    bytes_have: u64,
    rng: Rng,
    /// Sequential mode: new pieces come from the first [`SEQUENTIAL_WINDOW`] missing ones
    /// (rarest first among them), for reading a file while it downloads.
    sequential: bool,
    /// Buffers of verified pieces, for new ones.
    spare: Vec<Vec<u8>>,
}

/// The sender of a block no peer sent (padding filled in here).
pub const NOBODY: PeerKey = 0;

/// Pieces ahead of the first missing one a sequential fetch picks among.
pub const SEQUENTIAL_WINDOW: usize = 16;

/// Bytes of pieces in progress at most, however many peers send.
pub const MAX_PARTIAL_BYTES: u64 = 64 << 20;

impl Picker {
    /// `have`: the pieces already verified. In-progress pieces are capped so their buffers stay
    /// within `partial_budget` bytes (at least two pieces).
    pub fn new(layout: Layout, have: Bitfield, partial_budget: u64) -> Picker {
        let state = (0..layout.piece_count())
            .map(|p| {
                if have.get(p) {
                    State::Have
                } else {
                    State::Queued
                }
            })
            .collect();
        let max_partial = ((partial_budget / layout.piece_length()) as usize).max(2);
        let queued = layout.piece_count() - have.count();
        let bytes_have = have.ones().map(|p| layout.piece_data(p)).sum();
        Picker {
            availability: vec![0; layout.piece_count()],
            layout,
            state,
            have,
            partial: HashMap::new(),
            max_partial,
            budget_partial: max_partial,
            failed_before: Default::default(),
            verifying: 0,
            queued,
            bytes_have,
            rng: Rng::new(),
            sequential: false,
            spare: Vec::new(),
        }
    }

    /// A buffer for `piece`, one given back when there is one: a new one is fresh memory to
    /// fault in and zero (on a VM, a host fault a page), and its contents do not matter — every
    /// byte is received before the piece is done.
    fn buffer(&mut self, piece: usize) -> Vec<u8> {
        let size = self.layout.piece_size(piece) as usize;
        match self.spare.pop() {
            Some(mut b) => {
                b.resize(size, 0);
                b
            }
            None => vec![0; size],
        }
    }

    /// `senders` peers are sending to us, with `pipelines` blocks asked of them at most in
    /// all: the pieces in progress may grow past the budget to hold every pipeline full, and
    /// one more piece a sender (the one its pipeline runs into), twice over when several
    /// send, up to [`MAX_PARTIAL_BYTES`]. With a fixed budget, a swarm of many peers leaves
    /// most of them idle while a few slow ones hold every piece in progress. Twice: senders
    /// share pieces (each finishes what others started), and a piece stays in progress until
    /// the slowest of its senders delivers, so the pipelines' blocks spread over more pieces
    /// than they fill; with once, 24 seeds at 0.25 to 8 MiB/s kept the pieces in progress at
    /// the budget every second, and peers with nothing in flight found no piece to start. One
    /// sender fills its pieces in turn: once is enough.
    pub fn set_demand(&mut self, senders: usize, pipelines: usize) {
        let cap = ((MAX_PARTIAL_BYTES / self.layout.piece_length()) as usize).max(2);
        let per_piece = (self.layout.piece_length() / BLOCK_SIZE as u64).max(1) as usize;
        let spread = if senders > 1 { 2 } else { 1 };
        let wanted = spread * (pipelines.div_ceil(per_piece) + senders);
        self.max_partial = self.budget_partial.max(wanted.min(cap));
    }

    /// Takes back the buffer of a verified piece, while fewer than the budget's are kept.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < self.max_partial
            && buffer.capacity() >= self.layout.piece_length() as usize
        {
            self.spare.push(buffer);
        }
    }

    /// Piece states in numbers, for trace logs.
    pub fn describe(&self) -> String {
        format!(
            "{} had, {} in progress, {} verifying, budget {}",
            self.have.count(),
            self.partial.len(),
            self.verifying,
            self.max_partial
        )
    }

    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Every wanted piece is verified.
    pub fn is_complete(&self) -> bool {
        self.queued == 0 && self.partial.is_empty() && self.verifying == 0
    }

    /// Only the pieces in `wanted` are fetched (a selective fetch); the others are skipped.
    /// Called before any piece is picked.
    pub fn set_wanted(&mut self, wanted: &Bitfield) {
        for (p, state) in self.state.iter_mut().enumerate() {
            match *state {
                State::Queued if !wanted.get(p) => {
                    *state = State::Skipped;
                    self.queued -= 1;
                }
                State::Skipped if wanted.get(p) => {
                    *state = State::Queued;
                    self.queued += 1;
                }
                _ => {}
            }
        }
    }

    /// Bytes verified so far.
    pub fn bytes_have(&self) -> u64 {
        self.bytes_have
    }

    pub fn peer_has_piece(&mut self, piece: usize) {
        if let Some(a) = self.availability.get_mut(piece) {
            *a += 1;
        }
    }

    /// How many connected peers have `piece`.
    pub fn availability(&self, piece: usize) -> u32 {
        self.availability.get(piece).copied().unwrap_or(0)
    }

    pub fn peer_has_all(&mut self, bits: &Bitfield) {
        bits.ones().for_each(|p| self.peer_has_piece(p));
    }

    pub fn forget_availability(&mut self, bits: &Bitfield) {
        for p in bits.ones() {
            self.availability[p] = self.availability[p].saturating_sub(1);
        }
    }

    pub fn peer_gone(&mut self, peer: PeerKey, bits: &Bitfield) {
        self.forget_availability(bits);
        self.release_peer(peer);
    }

    pub fn wants_piece(&self, piece: usize) -> bool {
        self.state
            .get(piece)
            .is_some_and(|s| !matches!(s, State::Have | State::Skipped))
    }

    /// Up to `want` blocks for `peer`, which has `bits`, marked as requested by it.
    pub fn pick(
        &mut self,
        peer: PeerKey,
        bits: &Bitfield,
        want: usize,
        now: Instant,
    ) -> Vec<BlockRef> {
        self.pick_for(peer, bits, want, now, false)
    }

    /// [`Picker::pick`]; with `in_order`, new pieces for this peer come in order as in
    /// sequential mode (a web seed: contiguous pieces make long HTTP ranges, and a server that
    /// ignores Range can be read as one stream).
    pub fn pick_for(
        &mut self,
        peer: PeerKey,
        bits: &Bitfield,
        want: usize,
        now: Instant,
        in_order: bool,
    ) -> Vec<BlockRef> {
        let mut out = Vec::new();
        if want == 0 {
            return out;
        }
        // 1. Finish what is started.
        let mut started: Vec<usize> = self
            .partial
            .iter()
            .filter(|(p, partial)| bits.get(**p) && partial.owner.is_none_or(|o| o == peer))
            .map(|(p, _)| *p)
            .collect();
        started.sort_unstable();
        for piece in started {
            self.take_missing(piece, peer, want, now, &mut out);
            if out.len() >= want {
                return out;
            }
        }
        // 2. Start new pieces: random while we have none, rarest first after that.
        // Pieces being verified still hold their buffers: they count against the budget, so a
        // slow disk slows the download instead of growing memory.
        while out.len() < want && self.partial.len() + self.verifying < self.max_partial {
            let Some(piece) = self.choose_new(bits, in_order) else {
                break;
            };
            let blocks = self.layout.blocks_in_piece(piece) as usize;
            self.state[piece] = State::InProgress;
            self.queued -= 1;
            let mut buffer = self.buffer(piece);
            // Blocks wholly in BEP 47 padding are zeros: filled here, never asked for (a
            // hybrid torrent of small files would otherwise fetch a piece of zeros a file).
            let mut padding = self.padding_blocks(piece);
            if padding.len() == blocks {
                // A piece of nothing but padding is fetched as any other: one block must come
                // in for the piece to complete.
                padding.clear();
            }
            for &i in &padding {
                let at = i * BLOCK_SIZE as usize;
                let len = self.layout.block_size(piece, i as u32) as usize;
                buffer[at..at + len].fill(0);
            }
            let blocks: Vec<Block> = (0..blocks)
                .map(|i| {
                    if padding.contains(&i) {
                        Block::Received
                    } else {
                        Block::Missing
                    }
                })
                .collect();
            self.partial.insert(
                piece,
                Partial {
                    senders: vec![NOBODY; blocks.len()],
                    blocks,
                    buffer,
                    received: padding.len() as u32,
                    owner: self.failed_before.contains(&piece).then_some(peer),
                },
            );
            self.take_missing(piece, peer, want, now, &mut out);
        }
        // 3. Endgame: nothing left unrequested anywhere, so ask again what others were asked.
        if out.len() < want && self.in_endgame() {
            let mut pieces: Vec<usize> = self
                .partial
                .keys()
                .copied()
                .filter(|&p| bits.get(p))
                .collect();
            pieces.sort_unstable();
            for piece in pieces {
                let partial = self.partial.get_mut(&piece).expect("listed");
                for (i, block) in partial.blocks.iter_mut().enumerate() {
                    if let Block::Requested { by, .. } = block
                        && !by.contains(&peer)
                        && by.len() < ENDGAME_DUPLICATES
                    {
                        by.push(peer);
                        out.push(block_ref(&self.layout, piece, i));
                        if out.len() >= want {
                            return out;
                        }
                    }
                }
            }
        }
        out
    }

    /// The blocks of `piece` that lie wholly in padding (BEP 47).
    fn padding_blocks(&self, piece: usize) -> Vec<usize> {
        if self.layout.piece_data(piece) == self.layout.piece_size(piece) {
            return Vec::new();
        }
        let offset = self.layout.piece_offset(piece);
        (0..self.layout.blocks_in_piece(piece))
            .filter(|&b| {
                let at = offset + b as u64 * BLOCK_SIZE as u64;
                let len = self.layout.block_size(piece, b) as u64;
                self.layout.spans(at, len).is_empty()
            })
            .map(|b| b as usize)
            .collect()
    }

    /// Endgame: no piece is queued and no block of a started piece is missing.
    pub fn in_endgame(&self) -> bool {
        self.queued == 0
            && self
                .partial
                .values()
                .all(|p| p.blocks.iter().all(|b| !matches!(b, Block::Missing)))
    }

    fn take_missing(
        &mut self,
        piece: usize,
        peer: PeerKey,
        want: usize,
        now: Instant,
        out: &mut Vec<BlockRef>,
    ) {
        let partial = self.partial.get_mut(&piece).expect("in progress");
        for (i, block) in partial.blocks.iter_mut().enumerate() {
            if out.len() >= want {
                return;
            }
            if matches!(block, Block::Missing) {
                *block = Block::Requested {
                    by: vec![peer],
                    at: now,
                };
                out.push(block_ref(&self.layout, piece, i));
            }
        }
    }

    /// Sequential or rarest-first picking, from now on.
    pub fn set_sequential(&mut self, on: bool) {
        self.sequential = on;
    }

    /// Bytes verified from the start of the torrent without a gap: what a player can read.
    pub fn prefix_bytes(&self) -> u64 {
        let first_missing = (0..self.layout.piece_count())
            .find(|&p| !self.have.get(p))
            .unwrap_or(self.layout.piece_count());
        if first_missing == self.layout.piece_count() {
            self.layout.total()
        } else {
            self.layout.piece_offset(first_missing)
        }
    }

    /// The rarest piece among the first [`SEQUENTIAL_WINDOW`] queued ones `bits` has (the lowest
    /// index on a tie), else the first queued one it has.
    fn choose_sequential(&self, bits: &Bitfield) -> Option<usize> {
        let mut best: Option<(u32, usize)> = None;
        let mut seen = 0;
        for p in 0..self.layout.piece_count() {
            if self.state[p] != State::Queued {
                continue;
            }
            seen += 1;
            if seen > SEQUENTIAL_WINDOW && best.is_some() {
                break;
            }
            if !bits.get(p) {
                continue;
            }
            let avail = self.availability[p];
            if seen <= SEQUENTIAL_WINDOW {
                if best.is_none_or(|(a, _)| avail < a) {
                    best = Some((avail, p));
                }
            } else {
                return Some(p);
            }
        }
        best.map(|(_, p)| p)
    }

    fn choose_new(&mut self, bits: &Bitfield, in_order: bool) -> Option<usize> {
        if self.queued == 0 {
            return None;
        }
        if self.sequential || in_order {
            return self.choose_sequential(bits);
        }
        let random_first = self.have.count() == 0;
        let mut best: Option<usize> = None;
        let mut best_avail = u32::MAX;
        let mut ties = 0usize;
        for p in bits.ones() {
            if self.state[p] != State::Queued {
                continue;
            }
            let avail = if random_first {
                0
            } else {
                self.availability[p]
            };
            if avail < best_avail {
                best = Some(p);
                best_avail = avail;
                ties = 1;
            } else if avail == best_avail {
                // Reservoir sampling: every tied piece is equally likely.
                ties += 1;
                if self.rng.below(ties) == 0 {
                    best = Some(p);
                }
            }
        }
        best
    }

    /// Takes a block from `peer`.
    pub fn received(&mut self, peer: PeerKey, piece: usize, begin: u32, data: &[u8]) -> Received {
        let Some(partial) = self.partial.get_mut(&piece) else {
            return Received::Unwanted;
        };
        if !begin.is_multiple_of(BLOCK_SIZE) {
            return Received::Unwanted;
        }
        let index = (begin / BLOCK_SIZE) as usize;
        if index >= partial.blocks.len()
            || data.len() as u32 != self.layout.block_size(piece, index as u32)
        {
            return Received::Unwanted;
        }
        let cancel = match &partial.blocks[index] {
            Block::Received => return Received::Unwanted,
            Block::Missing => Vec::new(),
            Block::Requested { by, .. } => by.iter().copied().filter(|&p| p != peer).collect(),
        };
        partial.blocks[index] = Block::Received;
        partial.buffer[begin as usize..begin as usize + data.len()].copy_from_slice(data);
        partial.received += 1;
        partial.senders[index] = peer;
        if partial.received as usize == partial.blocks.len() {
            let done = self.partial.remove(&piece).expect("present");
            self.state[piece] = State::Verifying;
            self.verifying += 1;
            return Received::PieceDone {
                piece,
                data: done.buffer,
                senders: done.senders,
                cancel,
            };
        }
        Received::Stored { cancel }
    }

    /// The verdict on a piece handed out by [`Received::PieceDone`].
    pub fn verified(&mut self, piece: usize, ok: bool) {
        if self.state[piece] == State::Verifying {
            self.verifying -= 1;
        }
        if ok {
            self.state[piece] = State::Have;
            if self.have.set(piece) {
                self.bytes_have += self.layout.piece_data(piece);
            }
            self.failed_before.remove(&piece);
        } else {
            self.state[piece] = State::Queued;
            self.queued += 1;
            self.failed_before.insert(piece);
        }
    }

    /// Forgets `peer`'s outstanding requests (it choked us or left); blocks nobody else was asked
    /// for become missing again.
    pub fn release_peer(&mut self, peer: PeerKey) {
        for partial in self.partial.values_mut() {
            if partial.owner == Some(peer) {
                partial.owner = None;
            }
            for block in &mut partial.blocks {
                release(block, peer);
            }
        }
    }

    /// Forgets one request of `peer`'s.
    pub fn release_block(&mut self, peer: PeerKey, b: BlockRef) {
        if let Some(partial) = self.partial.get_mut(&(b.piece as usize))
            && let Some(block) = partial.blocks.get_mut((b.begin / BLOCK_SIZE) as usize)
        {
            release(block, peer);
        }
    }

    /// Requests older than `limit`: (who was asked, what).
    pub fn overdue(&self, now: Instant, limit: Duration) -> Vec<(PeerKey, BlockRef)> {
        let mut out = Vec::new();
        for (&piece, partial) in &self.partial {
            for (i, block) in partial.blocks.iter().enumerate() {
                if let Block::Requested { by, at } = block
                    && now.duration_since(*at) > limit
                {
                    out.extend(by.iter().map(|&p| (p, block_ref(&self.layout, piece, i))));
                }
            }
        }
        out
    }
}

fn release(block: &mut Block, peer: PeerKey) {
    if let Block::Requested { by, .. } = block {
        by.retain(|&p| p != peer);
        if by.is_empty() {
            *block = Block::Missing;
        }
    }
}

fn block_ref(layout: &Layout, piece: usize, block: usize) -> BlockRef {
    BlockRef {
        piece: piece as u32,
        begin: block as u32 * BLOCK_SIZE,
        length: layout.block_size(piece, block as u32),
    }
}

#[cfg(test)]
mod tests;
