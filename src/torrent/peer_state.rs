//! One connected peer as its torrent sees it. The fields are private: the torrent changes them
//! only through the methods below, each of which keeps what goes together together:
//! - a choke or interest flag changes only with the message that tells the peer;
//! - a request is in flight only once it is sent, leaves flight when it is answered, cancelled
//!   or voided by a choke, and a fast peer's voided requests wait for their piece or reject;
//! - `wanted` counts the pieces the peer has that we still want, and moves with `has`;
//! - requests we serve are queued (at most `OUR_REQQ`) then handed to the writer a window at a
//!   time, and a choke voids those queued;
//! - who the peer is (address, id, kind, what it negotiated) never changes.

use super::Kind;
use crate::bitfield::Bitfield;
use crate::extensions::DEFAULT_REQQ;
use crate::layout::BlockRef;
use crate::peer::{Outgoing, PeerHandle};
use crate::wire::Message;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(super) struct Peer {
    kind: Kind,
    addr: SocketAddr,
    id: [u8; 20],
    conn: PeerHandle,
    has: Bitfield,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    inflight: HashSet<BlockRef>,
    /// Payload bytes this choke round, for ranking.
    window_down: u64,
    window_up: u64,
    /// Bytes a second from this peer, smoothed.
    rate_down: f64,
    last_second_down: u64,
    /// The request pipeline's rate: the last full second's when it is higher than the
    /// smoothed one, so that the pipeline grows as fast as the peer does and shrinks slowly.
    request_rate: f64,
    /// What it took from us, smoothed each second like `rate_down`.
    rate_up: f64,
    last_second_up: u64,
    /// The connection runs RC4 (MSE/PE).
    encrypted: bool,
    /// Requests of this peer waiting to go to its writer (see `uploads.rs`).
    upload_queue: VecDeque<BlockRef>,
    /// Blocks with the writer, not yet reported sent.
    writer_blocks: usize,
    /// Pieces this peer has that we still want: we are interested while it is above zero.
    wanted: usize,
    /// Both ends set the fast extension bit (BEP 6).
    fast: bool,
    /// Both ends set the extension protocol bit (BEP 10).
    extended: bool,
    /// It set the v2 bit (BEP 52): it may be asked for hashes.
    v2: bool,
    /// Requests the peer lets us keep in flight (its `reqq`).
    reqq: usize,
    /// A bitfield, have all or have none came already.
    bitfield_seen: bool,
    /// Pieces the peer lets us request while it chokes us (BEP 6).
    allowed_fast_in: HashSet<u32>,
    /// Pieces we let the peer request while we choke it.
    allowed_fast_out: HashSet<u32>,
    /// Requests no longer in flight (cancelled, or dropped by a choke) whose piece or reject a
    /// fast peer still owes us.
    awaiting: HashSet<BlockRef>,
    /// We dialed it (so `addr` is where it listens).
    dialed: bool,
    /// Where it accepts connections: `addr` when dialed, else its address with the port its
    /// extended handshake gave (`p`).
    listen_addr: Option<SocketAddr>,
    /// What its extended handshake offered (BEP 9, BEP 11), ids to send them under.
    ut_metadata: Option<u8>,
    ut_pex: Option<u8>,
    /// Metadata pieces served on this connection.
    metadata_served: usize,
    /// BEP 52 hashes sent it: bounded, as metadata is, so that requests cannot queue unbounded
    /// answers behind a peer that does not read.
    hashes_served: usize,
    /// Peer exchange: the peers we told it of, when we next may, when it last told us.
    pex_told: HashSet<SocketAddr>,
    pex_due: Option<Instant>,
    pex_heard: Option<Instant>,
    /// It told us its DHT port (BEP 5 `port`): only the first is acted on.
    dht_port_heard: bool,
    /// When it last sent or took a block, or was interested either way.
    last_useful: Instant,
}

/// What a reject answered.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rejected {
    /// A request in flight: the block is free to ask of another peer.
    InFlight,
    /// A request already voided, whose answer we were owed.
    Awaited,
    /// Nothing we asked for: a protocol error.
    Unasked,
}

/// Who a new connection is and what it negotiated.
pub(super) struct Negotiated {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub id: [u8; 20],
    pub fast: bool,
    pub extended: bool,
    pub v2: bool,
    pub dialed: bool,
    pub encrypted: bool,
}

impl Peer {
    pub(super) fn new(who: Negotiated, conn: PeerHandle, pieces: usize, now: Instant) -> Peer {
        Peer {
            kind: who.kind,
            addr: who.addr,
            id: who.id,
            conn,
            has: Bitfield::new(pieces),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            inflight: HashSet::new(),
            window_down: 0,
            window_up: 0,
            rate_down: 0.0,
            last_second_down: 0,
            request_rate: 0.0,
            rate_up: 0.0,
            last_second_up: 0,
            encrypted: who.encrypted,
            upload_queue: VecDeque::new(),
            writer_blocks: 0,
            wanted: 0,
            fast: who.fast,
            extended: who.extended,
            v2: who.v2,
            reqq: DEFAULT_REQQ,
            bitfield_seen: false,
            allowed_fast_in: HashSet::new(),
            allowed_fast_out: HashSet::new(),
            awaiting: HashSet::new(),
            dialed: who.dialed,
            listen_addr: who.dialed.then_some(who.addr),
            ut_metadata: None,
            ut_pex: None,
            metadata_served: 0,
            hashes_served: 0,
            pex_told: HashSet::new(),
            pex_due: None,
            pex_heard: None,
            dht_port_heard: false,
            last_useful: now,
        }
    }

    // Who it is.

    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(super) fn id(&self) -> [u8; 20] {
        self.id
    }

    pub(super) fn fast(&self) -> bool {
        self.fast
    }

    pub(super) fn extended(&self) -> bool {
        self.extended
    }

    pub(super) fn utp(&self) -> bool {
        self.conn.is_utp()
    }

    pub(super) fn v2(&self) -> bool {
        self.v2
    }

    pub(super) fn dialed(&self) -> bool {
        self.dialed
    }

    pub(super) fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// A dialed duplicate of this (inbound) connection names where the peer listens.
    pub(super) fn learned_listen_addr(&mut self, addr: SocketAddr) {
        if self.listen_addr.is_none_or(|l| l == self.addr) {
            self.listen_addr = Some(addr);
        }
    }

    pub(super) fn send(&self, m: Message) {
        self.conn.send_message(m);
    }

    // What it has.

    pub(super) fn has(&self) -> &Bitfield {
        &self.has
    }

    pub(super) fn wanted(&self) -> usize {
        self.wanted
    }

    pub(super) fn bitfield_seen(&self) -> bool {
        self.bitfield_seen
    }

    /// `have`: whether the bit is new; `wanted_by_us` counts it among what we want from it.
    pub(super) fn has_piece(&mut self, piece: usize, wanted_by_us: bool) -> bool {
        let new = self.has.set(piece);
        if new && wanted_by_us {
            self.wanted += 1;
        }
        new
    }

    /// A bitfield or have all/none: replaces what we knew; the old bits are returned (for the
    /// picker's availability). `wanted`: how many of `bits` we want.
    pub(super) fn replace_has(&mut self, bits: Bitfield, wanted: usize) -> Bitfield {
        self.bitfield_seen = true;
        self.wanted = wanted;
        std::mem::replace(&mut self.has, bits)
    }

    /// We got `piece`: it is no longer something this peer could give us.
    pub(super) fn we_got(&mut self, piece: usize) {
        if self.has.get(piece) {
            self.wanted = self.wanted.saturating_sub(1);
        }
    }

    /// What the peer has that it lets us request while it chokes us.
    pub(super) fn allowed_fast_view(&self) -> Bitfield {
        let mut view = Bitfield::new(self.has.len());
        for &piece in &self.allowed_fast_in {
            if self.has.get(piece as usize) {
                view.set(piece as usize);
            }
        }
        view
    }

    /// BEP 6 `allowed fast`, kept up to `max` pieces.
    pub(super) fn allow_fast_in(&mut self, piece: u32, max: usize) {
        if self.allowed_fast_in.len() < max {
            self.allowed_fast_in.insert(piece);
        }
    }

    /// It refused an allowed-fast piece: we ask for it only once unchoked.
    pub(super) fn forget_allowed_fast(&mut self, piece: u32) {
        self.allowed_fast_in.remove(&piece);
    }

    // Choking and interest, ours and theirs.

    pub(super) fn am_choking(&self) -> bool {
        self.am_choking
    }

    pub(super) fn am_interested(&self) -> bool {
        self.am_interested
    }

    pub(super) fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    pub(super) fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// Holds one of our upload slots: unchoked and wanting something from us.
    pub(super) fn holds_slot(&self) -> bool {
        !self.am_choking && self.peer_interested
    }

    /// Chokes or unchokes it, telling it; `true` when that changed anything.
    pub(super) fn set_choking(&mut self, choke: bool) -> bool {
        if self.am_choking == choke {
            return false;
        }
        self.am_choking = choke;
        self.send(if choke {
            Message::Choke
        } else {
            Message::Unchoke
        });
        true
    }

    /// Says whether we are interested, when that changes.
    pub(super) fn set_interested(&mut self, interested: bool) {
        if self.am_interested != interested {
            self.am_interested = interested;
            self.send(if interested {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    /// It chokes us: what was in flight leaves it (a fast peer still owes the answers); returns
    /// how many answers it owes now.
    pub(super) fn choked_us(&mut self) -> usize {
        self.peer_choking = true;
        if self.fast {
            self.awaiting.extend(self.inflight.iter().copied());
        }
        self.inflight.clear();
        self.awaiting.len()
    }

    pub(super) fn unchoked_us(&mut self) {
        self.peer_choking = false;
    }

    /// `interested` or `not interested`; returns whether it held an upload slot before.
    pub(super) fn set_peer_interested(&mut self, interested: bool, now: Instant) -> bool {
        let held = self.holds_slot();
        self.peer_interested = interested;
        if interested {
            self.last_useful = now;
        }
        held
    }

    // Our requests.

    pub(super) fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// Requests to keep in flight: about a second of this peer's rate, 32 to 256 blocks, and
    /// never more than the peer's `reqq`.
    pub(super) fn pipeline(&self) -> usize {
        ((self.request_rate / crate::layout::BLOCK_SIZE as f64) as usize)
            .clamp(32, 256)
            .min(self.reqq.max(1))
    }

    /// May be asked for blocks: we are interested, and it unchoked us or allows some fast.
    pub(super) fn may_ask(&self) -> bool {
        self.am_interested && !(self.peer_choking && self.allowed_fast_in.is_empty())
    }

    pub(super) fn request(&mut self, b: BlockRef) {
        self.inflight.insert(b);
        self.send(Message::Request {
            index: b.piece,
            begin: b.begin,
            length: b.length,
        });
    }

    /// Cancels a request in flight (endgame: another peer sent the block); `false` when it was
    /// not in flight. A fast peer still owes the piece or a reject.
    pub(super) fn cancel(&mut self, b: BlockRef) -> bool {
        if !self.inflight.remove(&b) {
            return false;
        }
        self.send(Message::Cancel {
            index: b.piece,
            begin: b.begin,
            length: b.length,
        });
        if self.fast {
            self.awaiting.insert(b);
        }
        true
    }

    /// A request unanswered too long leaves flight (to be asked of another peer).
    pub(super) fn timed_out(&mut self, b: BlockRef) {
        if self.inflight.remove(&b) && self.fast {
            self.awaiting.insert(b);
        }
    }

    pub(super) fn rejected(&mut self, b: BlockRef) -> Rejected {
        if self.inflight.remove(&b) {
            Rejected::InFlight
        } else if self.awaiting.remove(&b) {
            Rejected::Awaited
        } else {
            Rejected::Unasked
        }
    }

    /// A block of `len` bytes came.
    pub(super) fn received(&mut self, b: BlockRef, now: Instant) {
        if !self.inflight.remove(&b) {
            self.awaiting.remove(&b);
        }
        self.window_down += b.length as u64;
        self.last_second_down += b.length as u64;
        self.last_useful = now;
    }

    // Rates.

    /// What it gave us (or, seeding, took from us) this choke round.
    pub(super) fn round_bytes(&self, seeding: bool) -> u64 {
        if seeding {
            self.window_up
        } else {
            self.window_down
        }
    }

    pub(super) fn end_round(&mut self) {
        self.window_down = 0;
        self.window_up = 0;
    }

    /// Each second: the download rate, smoothed.
    pub(super) fn tick(&mut self) {
        self.rate_down = self.rate_down * 0.7 + self.last_second_down as f64 * 0.3;
        self.request_rate = self.rate_down.max(self.last_second_down as f64);
        self.last_second_down = 0;
        self.rate_up = self.rate_up * 0.7 + self.last_second_up as f64 * 0.3;
        self.last_second_up = 0;
    }

    /// Bytes a second it sent us and took from us, smoothed.
    pub(super) fn rates(&self) -> (f64, f64) {
        (self.rate_down, self.rate_up)
    }

    pub(super) fn encrypted(&self) -> bool {
        self.encrypted
    }

    pub(super) fn last_useful(&self) -> Instant {
        self.last_useful
    }

    // Requests we serve.

    /// May it have `piece` now: unchoked, or an allowed-fast piece.
    pub(super) fn may_take(&self, piece: u32) -> bool {
        !self.am_choking || self.allowed_fast_out.contains(&piece)
    }

    pub(super) fn allow_fast_out(&mut self, piece: u32) {
        self.allowed_fast_out.insert(piece);
        self.send(Message::AllowedFast(piece));
    }

    /// Requests queued or with the writer.
    pub(super) fn upload_backlog(&self) -> usize {
        self.upload_queue.len() + self.writer_blocks
    }

    pub(super) fn queue_upload(&mut self, b: BlockRef) {
        self.upload_queue.push_back(b);
    }

    /// Hands queued requests to the writer until `window` are with it.
    pub(super) fn feed_writer(&mut self, window: usize) {
        while self.writer_blocks < window {
            let Some(block) = self.upload_queue.pop_front() else {
                break;
            };
            self.writer_blocks += 1;
            self.conn.send(Outgoing::Block(block));
        }
    }

    /// The writer sent `blocks` blocks, `bytes` of payload.
    pub(super) fn uploaded(&mut self, bytes: u64, blocks: usize, now: Instant) {
        self.window_up += bytes;
        self.last_second_up += bytes;
        self.last_useful = now;
        self.writer_blocks = self.writer_blocks.saturating_sub(blocks);
    }

    /// Takes a queued request off the queue; `false` when it was not queued (already with the
    /// writer, or never asked).
    pub(super) fn unqueue(&mut self, b: BlockRef) -> bool {
        match self.upload_queue.iter().position(|x| *x == b) {
            Some(at) => {
                self.upload_queue.remove(at);
                true
            }
            None => false,
        }
    }

    /// We choked it: its queued requests are void, but for allowed-fast pieces; returns the
    /// voided ones.
    pub(super) fn void_queued(&mut self) -> Vec<BlockRef> {
        let queue = std::mem::take(&mut self.upload_queue);
        let (kept, void): (Vec<_>, Vec<_>) = queue
            .into_iter()
            .partition(|b| self.allowed_fast_out.contains(&b.piece));
        self.upload_queue = kept.into();
        void
    }

    // Extensions.

    /// What its extended handshake said: its `reqq`, the ids of ut_metadata and ut_pex, and
    /// the port it listens on (taken only for a connection it made). `pex_from`: when to first
    /// tell it of peers, if at all.
    pub(super) fn extended_handshake(
        &mut self,
        reqq: Option<usize>,
        ut_metadata: Option<u8>,
        ut_pex: Option<u8>,
        port: Option<u16>,
        pex_from: Option<Instant>,
    ) {
        if let Some(reqq) = reqq {
            self.reqq = reqq;
        }
        self.ut_metadata = ut_metadata;
        self.ut_pex = ut_pex;
        if !self.dialed
            && let Some(port) = port
        {
            self.listen_addr = Some(SocketAddr::new(self.addr.ip(), port));
        }
        if self.ut_pex.is_some() {
            self.pex_due = pex_from;
        }
    }

    pub(super) fn ut_metadata(&self) -> Option<u8> {
        self.ut_metadata
    }

    /// Whether another metadata piece may be served within `allowance`; counts it if so.
    pub(super) fn serve_metadata(&mut self, allowance: usize) -> bool {
        if self.metadata_served < allowance {
            self.metadata_served += 1;
            true
        } else {
            false
        }
    }

    /// Whether `n` more hashes may be sent within `allowance`; counts them if so.
    pub(super) fn serve_hashes(&mut self, n: usize, allowance: usize) -> bool {
        let ok = self.hashes_served + n <= allowance;
        self.hashes_served += if ok { n } else { 0 };
        ok
    }

    /// A PEX message came: `false` when it came sooner than `min_gap` after the last.
    pub(super) fn pex_heard(&mut self, now: Instant, min_gap: Duration) -> bool {
        if self
            .pex_heard
            .is_some_and(|t| now.duration_since(t) < min_gap)
        {
            return false;
        }
        self.pex_heard = Some(now);
        true
    }

    /// When a PEX message is due to it: its ut_pex id, and what it was told before; the next
    /// one is due `interval` later.
    pub(super) fn pex_due(
        &mut self,
        now: Instant,
        interval: Duration,
    ) -> Option<(u8, &mut HashSet<SocketAddr>)> {
        let (Some(id), Some(due)) = (self.ut_pex, self.pex_due) else {
            return None;
        };
        if due > now {
            return None;
        }
        self.pex_due = Some(now + interval);
        Some((id, &mut self.pex_told))
    }

    /// Its first `port` message (BEP 5): `true` once.
    pub(super) fn first_dht_port(&mut self) -> bool {
        !std::mem::replace(&mut self.dht_port_heard, true)
    }

    #[cfg(test)]
    pub(super) fn set_last_useful(&mut self, at: Instant) {
        self.last_useful = at;
    }
}

#[cfg(test)]
mod tests;
