//! The per-torrent owner task (the old system's leecher process): it owns the picker, the peer
//! table, the dialer, the bans and the announce schedule. Peer connections and helper tasks talk
//! to it only through [`Event`]s; it answers through each connection's [`PeerHandle`]. The
//! decisions live in pure parts with their own tests: [`peers`] (dialing), [`choke`],
//! [`ban`], [`announce`] (the schedule); this file is the loop that applies them, with the
//! peer table in `connections.rs` and the tracker's side in `announcing.rs`. `Task::handle`
//! is synchronous: `tests.rs` drives it event by event with channels for connections.
//!
//! Anatomy of a block fetch: a peer's reader decodes `piece` → `Event::Peer` → the picker
//! stores the block (and names endgame duplicates to cancel) → when a piece is whole its buffer
//! goes to a blocking task that verifies the SHA-1 and only then writes it → `Event::Verified` →
//! the piece is marked had and `have` goes to every peer.
//!
//! Anatomy of serving a block: a peer's `request` → checked (we have the piece, the peer is
//! unchoked, its queue is not full) → `Outgoing::Block` to its writer, which reads the block off
//! the async threads, waits for upload tokens and sends it → `PeerEvent::Uploaded`.

pub mod announce;
mod announcing;
pub mod ban;
pub mod choke;
mod connections;
mod extended;
mod hashes;
mod messages;
mod parking;
pub use parking::{End, Parked};
mod peer_info;
mod peer_state;
pub mod peers;
mod superseed;
#[cfg(test)]
mod tests;
mod uploads;
mod webseeds;

use crate::bitfield::Bitfield;
use crate::hash::Digest256;
use crate::layout::{BlockRef, PeerKey};
use crate::metainfo::Torrent;
use crate::peer::encryption::{Crypto, Encryption};
use crate::peer::{PeerEvent, PeerHandle};
use crate::picker::Picker;
use crate::piece_store::PieceStore;
use crate::random::Rng;
use crate::rate::RateLimit;
use crate::tracker::AnnounceEvent;
use crate::tracker::client::{AnnounceResult, Announcer, TrackerError};
use crate::wire::hashes::HashRequest;
use crate::wire::{Handshake, Message};
use crate::{Error, Result};
use announce::Schedule;
use async_std::channel::Sender;
use ban::Bans;
pub use peer_info::{PeerInfo, client_name};
use peer_state::Peer;
use peers::Dialer;
use std::collections::{HashMap, HashSet};

/// What a connection reports, on the bounded queue peer traffic takes: kept apart from
/// [`Event`] (152 bytes) so that each torrent's queue of 256 costs 16 KiB, not 40 (a daemon
/// keeps thousands of torrents).
pub type PeerTraffic = (PeerKey, PeerEvent);
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections a torrent keeps at most.
pub const MAX_PEERS: usize = 50;
/// Memory for pieces being downloaded (at least two pieces). 4 MiB keeps a 1 GiB loopback
/// fetch as fast as 16 MiB did (benches/transfer.sh: 3.68 s against 3.61 s) at half the peak
/// RSS (18 MiB against 35).
const PARTIAL_BUDGET: u64 = 4 << 20;
/// Time between "still waiting for peers" lines.
const WAITING_REPORT: Duration = Duration::from_secs(30);
/// A request unanswered this long is asked of another peer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub enum Event {
    /// An inbound connection whose handshake (for this torrent) the session has read, with
    /// its ciphers when it came encrypted.
    Inbound(Box<(crate::peer::PeerStream, Handshake, Crypto)>),
    /// A connection whose handshakes are done.
    Connected(Box<Connected>),
    ConnectFailed(SocketAddr, std::io::Error),
    /// Peers a DHT lookup or local peer discovery found.
    PeersFound(Vec<SocketAddr>),
    /// What a connection reports.
    Peer(PeerKey, PeerEvent),
    Verified {
        piece: usize,
        verdict: Verdict,
        data: Vec<u8>,
        senders: Vec<PeerKey>,
    },
    Announced(
        Announcer,
        AnnounceEvent,
        Box<std::result::Result<AnnounceResult, TrackerError>>,
    ),
    Tick,
    /// Announce to the trackers now (a user asked).
    Reannounce,
    /// Tell the peers as they are now.
    Peers(Sender<Vec<PeerInfo>>),
    /// Block hashes a peer asked for, read from disk (`None`: they could not be).
    HashesRead(PeerKey, HashRequest, Option<Vec<Digest256>>),
    Stop,
}

/// What checking and writing a whole piece came to.
#[derive(Debug)]
pub enum Verdict {
    /// Its SHA-1 matched and it is on disk.
    Passed,
    /// Its SHA-1 did not match: the senders are suspects, the piece is asked for again.
    HashFailed,
    /// It matched but could not be written: the torrent cannot go on.
    WriteFailed(Box<Error>),
}

/// A connection whose handshakes are done; `theirs` says what the peer offers.
pub struct Connected {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub theirs: Handshake,
    pub encrypted: bool,
    pub handle: PeerHandle,
    pub kind: Kind,
}

/// Whether the torrent's task goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    End,
    /// Nothing to do until an event or [`Task::wake_at`]: see [`parking`].
    Park,
}

/// What is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A BitTorrent peer over TCP.
    Peer,
    /// A web seed (BEP 19) speaking HTTP, as a peer that has everything it serves and never
    /// asks: its blocks are asked for in order, so that its range requests run long.
    WebSeed,
}

impl From<(PeerKey, PeerEvent)> for Event {
    fn from((key, event): (PeerKey, PeerEvent)) -> Event {
        Event::Peer(key, event)
    }
}

/// Who the torrent is on the network: set by the session that runs it.
pub struct Config {
    pub peer_id: [u8; 20],
    /// Where it listens (an unspecified IP: every address): its port is what it announces, and
    /// the dialer never dials this address, which is us.
    pub listen: SocketAddr,
    pub options: Options,
    /// The node's DHT, for public torrents.
    pub dht: Option<crate::dht::DhtHandle>,
}

/// What the command chose for one torrent.
#[derive(Default)]
pub struct Options {
    pub upload_limit: Option<Arc<RateLimit>>,
    pub download_limit: Option<Arc<RateLimit>>,
    /// Stay after completing (a seed, or `fetch --seed`).
    pub keep_seeding: bool,
    /// Peers to connect to besides the tracker's (`--peer`), tried for as long as it runs.
    pub peers: Vec<SocketAddr>,
    /// Peers heard of before the torrent started (while fetching a magnet link's metadata):
    /// dialed like the tracker's.
    pub known_peers: Vec<SocketAddr>,
    /// Fail when no peer is connected for this long while incomplete.
    pub no_peer_timeout: Option<Duration>,
    /// Which connections to make and take (MSE/PE).
    pub encryption: Encryption,
    /// uTP and/or TCP for the connections we dial.
    pub via: crate::peer::Transports,
    /// Pieces in order (rarest first within a small window), to read while downloading.
    pub sequential: bool,
    /// Serve what we have and never ask for more (a seed whose content is partly bad: its
    /// store is read-only).
    pub upload_only: bool,
    /// BEP 16 (for a seed): offer each peer a piece or two at a time (see [`superseed`]).
    pub super_seed: bool,
    /// A complete seed with no peer and nothing to do parks after this long: its task ends,
    /// handing its owner a [`Parked`] to start it again with when a peer, a request or its
    /// next announce comes (a daemon's thousands of idle seeds). `None`: it never parks.
    pub park_after: Option<Duration>,
    /// Started again where it parked, with the events that woke it.
    pub parked: Option<Box<Parked>>,
    /// The first announce waits this long (a daemon restoring thousands of torrents spreads
    /// their announces instead of sending them all at once).
    pub announce_after: Duration,
    /// Told (once) the moment every wanted piece is verified, so that the owner finishes the
    /// download at once rather than at its next look at [`Stats::complete`].
    pub completed: Option<Box<dyn FnOnce() + Send>>,
}

/// Counters the command reads for progress lines and summaries.
#[derive(Debug, Default)]
pub struct Stats {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub have_bytes: AtomicU64,
    pub have_pieces: AtomicUsize,
    pub peers: AtomicUsize,
    /// Of `peers`: those unchoking us while we are interested, and those we unchoke that are
    /// interested (what a client lists as sending to us and getting from us).
    pub sending_to_us: AtomicUsize,
    pub getting_from_us: AtomicUsize,
    pub complete: AtomicBool,
    /// Connections made over the run, how many of them carried RC4 (MSE/PE), and how many
    /// ran over uTP.
    pub connections: AtomicUsize,
    pub encrypted_connections: AtomicUsize,
    pub utp_connections: AtomicUsize,
    /// Of `downloaded`, bytes that were of no use: blocks we already had (endgame duplicates)
    /// and pieces that failed their hash check.
    pub wasted: AtomicU64,
    /// Of `downloaded`, bytes that came from web seeds.
    pub web_seed_bytes: Arc<AtomicU64>,
    /// Verified bytes from the start without a gap (what a player could read).
    pub prefix_bytes: AtomicU64,
    /// The verified pieces when the torrent's task ended (for a resume file).
    pub final_have: std::sync::Mutex<Option<Bitfield>>,
}

pub struct Handle {
    pub events: Sender<Event>,
    pub stats: Arc<Stats>,
}

/// Told how the torrent's task ended, once it has.
pub type OnEnd = Box<dyn FnOnce(End) + Send>;

/// Peer events queued for the task before readers wait. The queue's slots (80 bytes and a
/// stamp each) are allocated when the torrent runs (a seed that parks at once has none);
/// 64 blocks (1 MiB at 16 KiB) are ample for the task to drain between its turns.
const PEER_QUEUE: usize = 64;

pub fn spawn(
    meta: Arc<Torrent>,
    store: Arc<PieceStore>,
    have: Bitfield,
    mut config: Config,
    on_end: OnEnd,
) -> Handle {
    // Two queues: peer traffic (bounded, so readers cannot run far ahead of the task) and the
    // task's own events (verifications, announces, connections, ticks), which are served first
    // so that a long queue of blocks never delays a verdict the picker is waiting for. The
    // first is made as the task runs (see `parking.rs`).
    let (tx, ctrl_rx) = async_std::channel::unbounded();
    let web_seeds = !config.options.upload_only && !meta.url_list.is_empty();
    let limit = config.options.download_limit.clone();
    let parked = config.options.parked.take();
    let mut task = Task::new(
        meta.clone(),
        store.clone(),
        have,
        config,
        parking::closed_peer_queue(),
        tx.clone(),
    );
    let woken = parked.is_some();
    if let Some(mut parked) = parked {
        for event in parked.take_pending() {
            // Unbounded, and its receiver is here: cannot fail.
            let _ = tx.try_send(event);
        }
        task.resume_from(*parked);
    }
    // A seed that may park at once has no peer queue until it runs.
    let peer_rx = (!task.a_parking_seed()).then(|| {
        let (peer_tx, peer_rx) = async_std::channel::bounded::<PeerTraffic>(PEER_QUEUE);
        task.events = peer_tx;
        peer_rx
    });
    let stats = task.stats.clone();
    if web_seeds && !task.picker.is_complete() {
        webseeds::start(
            &meta,
            &store,
            &stats,
            (task.events.clone(), tx.clone()),
            limit,
        );
    }
    // Boxed before the future takes it: a task the future held by value would stay in it,
    // beside the box it is moved to, for the torrent's life.
    let task = Box::new(task);
    crate::runtime::spawn(async move {
        on_end(parking::run(task, ctrl_rx, peer_rx, woken).await);
    });
    Handle { events: tx, stats }
}

/// The torrent's state, owned by its task; [`Task::handle`] is synchronous and testable.
struct Task {
    meta: Arc<Torrent>,
    store: Arc<PieceStore>,
    config: Config,
    stats: Arc<Stats>,
    /// Where peer connections report.
    events: Sender<PeerTraffic>,
    /// Where the task's helpers report.
    ctrl: Sender<Event>,
    picker: Picker,
    peers: HashMap<PeerKey, Peer>,
    next_key: PeerKey,
    dialer: Dialer,
    /// Peers that failed an encrypted handshake and took a plaintext one (`Prefer`).
    plaintext_peers: HashSet<SocketAddr>,
    /// BEP 52 hash requests answered and asked.
    v2: hashes::V2Work,
    /// The one ban list: banned ids and addresses, strikes, the last peers to leave.
    bans: Bans,
    /// `None` while an announce is under way (the announcer travels with it).
    announcer: Option<Announcer>,
    schedule: Schedule,
    ticks: u64,
    optimistic: Option<PeerKey>,
    last_peer_at: Instant,
    /// When "no peer connected" was last logged.
    waiting_reported: Option<Instant>,
    last_error: Option<String>,
    rng: Rng,
    /// When the next DHT lookup (and announce) is due.
    dht_due: Instant,
    /// Super-seeding's offers, when [`Options::super_seed`] is set.
    superseed: Option<superseed::SuperSeed>,
    /// The choked peer taking each allowed-fast piece from us.
    fast_claims: uploads::FastClaims,
}

impl Task {
    fn new(
        meta: Arc<Torrent>,
        store: Arc<PieceStore>,
        have: Bitfield,
        config: Config,
        events: Sender<PeerTraffic>,
        ctrl: Sender<Event>,
    ) -> Task {
        let now = Instant::now();
        let mut picker = Picker::new(store.layout().clone(), have, PARTIAL_BUDGET);
        picker.set_sequential(config.options.sequential);
        // A selective fetch wants the pieces of its files only.
        if !store.selection().is_all() {
            picker.set_wanted(store.wanted());
        }
        let announcer = Some(Announcer::new(meta.tracker_tiers())).filter(|a| !a.is_empty());
        let mut dialer = Dialer::new(config.listen);
        for addr in &config.options.peers {
            dialer.add(*addr, true, now);
        }
        for addr in &config.options.known_peers {
            dialer.add(*addr, false, now);
        }
        let superseed = (config.options.super_seed)
            .then(|| superseed::SuperSeed::new(store.layout().piece_count()));
        let task = Task {
            meta,
            store,
            stats: Arc::new(Stats::default()),
            events,
            ctrl,
            picker,
            peers: HashMap::new(),
            next_key: 1,
            dialer,
            plaintext_peers: HashSet::new(),
            v2: hashes::V2Work::default(),
            bans: Bans::default(),
            announcer,
            schedule: Schedule::new(now + config.options.announce_after),
            ticks: 0,
            optimistic: None,
            last_peer_at: now,
            waiting_reported: None,
            last_error: None,
            rng: Rng::new(),
            superseed,
            fast_claims: Default::default(),
            config,
            dht_due: now,
        };
        task.update_stats();
        task
    }

    /// Handles one event; [`Flow::End`] ends the torrent, an error fails it.
    fn handle(&mut self, event: Event) -> Result<Flow> {
        match event {
            Event::Inbound(inbound) => {
                let (stream, hs, crypto) = *inbound;
                self.inbound(stream, hs, crypto)
            }
            Event::Connected(c) => {
                let Connected {
                    key,
                    addr,
                    theirs,
                    encrypted,
                    handle,
                    kind,
                } = *c;
                self.connected(key, addr, theirs, (encrypted, kind), handle)
            }
            Event::ConnectFailed(addr, reason) => {
                log::debug!("{addr}: {reason}");
                self.dialer.failed(addr, Instant::now());
                self.last_error = Some(format!("{addr}: {reason}"));
            }
            Event::Peer(key, PeerEvent::Message(msg)) => self.message(key, msg),
            Event::Peer(key, PeerEvent::Closed(reason)) => self.drop_peer(key, &reason.to_string()),
            Event::Peer(key, PeerEvent::Uploaded { bytes, blocks }) => {
                self.stats.uploaded.fetch_add(bytes, Ordering::Relaxed);
                self.uploaded(key, bytes, blocks);
            }
            Event::Verified {
                piece,
                verdict,
                data,
                senders,
            } => {
                let passed = match verdict {
                    Verdict::Passed => true,
                    Verdict::HashFailed => false,
                    Verdict::WriteFailed(e) => return Err(*e),
                };
                return Ok(self.verified(piece, passed, data, senders));
            }
            Event::Announced(announcer, event, result) => self.announced(announcer, event, *result),
            Event::PeersFound(addrs) => {
                let now = Instant::now();
                for addr in addrs {
                    self.dialer.add(addr, false, now);
                }
                self.connect_more();
            }
            Event::Tick => return self.tick(),
            Event::Peers(reply) => {
                let _ = reply.try_send(self.peer_list());
            }
            Event::Reannounce => {
                self.schedule.ask_now(Instant::now());
                self.maybe_announce();
            }
            Event::HashesRead(key, request, answer) => self.hashes_read(key, request, answer),
            Event::Stop => return Ok(Flow::End),
        }
        Ok(Flow::Continue)
    }

    fn cancel(&mut self, block: BlockRef, peers: &[PeerKey]) {
        for key in peers {
            // BEP 6: a fast peer still sends the piece or a reject.
            if let Some(p) = self.peers.get_mut(key) {
                p.cancel(block);
            }
        }
    }

    fn verify(&mut self, piece: usize, data: Vec<u8>, senders: Vec<PeerKey>) {
        let (store, events) = (self.store.clone(), self.ctrl.clone());
        // The data comes back: compared with a bad copy waiting, then the buffer of a new piece.
        crate::runtime::spawn(async move {
            let (verdict, data) = crate::runtime::spawn_blocking(move || {
                let t0 = Instant::now();
                if !store.verify(piece, &data) {
                    return (Verdict::HashFailed, data);
                }
                let t1 = Instant::now();
                let verdict = match store.write_piece(piece, &data) {
                    Ok(()) => Verdict::Passed,
                    Err(e) => Verdict::WriteFailed(Box::new(e)),
                };
                log::trace!("piece {piece}: hash {:?} write {:?}", t1 - t0, t1.elapsed());
                (verdict, data)
            })
            .await;
            let _ = events
                .send(Event::Verified {
                    piece,
                    verdict,
                    data,
                    senders,
                })
                .await;
        });
    }

    fn verified(&mut self, piece: usize, ok: bool, data: Vec<u8>, senders: Vec<PeerKey>) -> Flow {
        self.picker.verified(piece, ok);
        if ok {
            for (key, why) in self.bans.passed(piece, &data) {
                self.ban(key, why);
            }
            self.picker.recycle(data);
            for p in self.peers.values_mut() {
                p.send(Message::Have(piece as u32));
                p.we_got(piece);
            }
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.update_interest(key);
            }
            self.update_stats();
            if self.picker.is_complete() {
                return self.on_complete();
            }
        } else {
            let names: Vec<String> = ban::distinct(&senders)
                .iter()
                .filter_map(|k| self.peer_addr(*k).map(|a| a.to_string()))
                .collect();
            self.stats
                .wasted
                .fetch_add(self.store.layout().piece_size(piece), Ordering::Relaxed);
            log::warn!(
                "{}: piece {piece} failed its hash check (sent by {})",
                crate::escape::untrusted(&self.meta.info.name, 80),
                names.join(", ")
            );
            for (key, why) in self.bans.failed(piece, data, senders) {
                self.ban(key, why);
            }
            self.ask_block_hashes(piece);
        }
        // The piece's memory is free again: peers that were held back can be asked for more.
        self.request_everywhere();
        Flow::Continue
    }

    /// A fetch that does not stay to seed ends here.
    fn on_complete(&mut self) -> Flow {
        log::debug!("{}: download complete and verified", self.meta.info.name);
        self.stats.complete.store(true, Ordering::Relaxed);
        if let Some(tell) = self.config.options.completed.take() {
            tell();
        }
        self.schedule.completed(Instant::now());
        self.maybe_announce();
        let seeds: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.has().is_full())
            .map(|(k, _)| *k)
            .collect();
        for key in seeds {
            self.drop_seed(key);
        }
        for p in self.peers.values_mut() {
            p.set_interested(false);
        }
        if self.config.options.keep_seeding {
            Flow::Continue
        } else {
            Flow::End
        }
    }

    fn update_interest(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let wants = p.wanted() > 0 && !self.config.options.upload_only;
        p.set_interested(wants);
        if self.picker.is_complete() && p.has().is_full() {
            self.drop_seed(key);
        }
    }

    fn request_more(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if !p.may_ask() {
            return;
        }
        let depth = p.pipeline();
        if p.inflight() + 8 > depth && p.inflight() > 0 {
            return;
        }
        let want = depth - p.inflight().min(depth);
        // Choked, a fast peer's allowed-fast pieces may still be asked for (BEP 6).
        let choked_view;
        let has = if p.peer_choking() {
            choked_view = p.allowed_fast_view();
            &choked_view
        } else {
            p.has()
        };
        let in_order = p.kind() == Kind::WebSeed;
        let blocks = self
            .picker
            .pick_for(key, has, want, Instant::now(), in_order);
        for b in blocks {
            p.request(b);
        }
    }

    /// Tells the picker how many peers send to us and how deep their pipelines run (each
    /// second, and as a peer unchokes us, so that a swarm's first second is not spent within
    /// the budget of one peer).
    fn update_demand(&mut self) {
        let (mut sending, mut pipelines) = (0, 0);
        for p in self.peers.values() {
            if !p.peer_choking() && p.am_interested() {
                sending += 1;
                pipelines += p.pipeline();
            }
        }
        self.stats.sending_to_us.store(sending, Ordering::Relaxed);
        self.picker.set_demand(sending, pipelines);
    }

    fn request_everywhere(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.request_more(key);
        }
    }

    fn tick(&mut self) -> Result<Flow> {
        self.ticks += 1;
        let now = Instant::now();
        if log::log_enabled!(log::Level::Trace) {
            let inflight: usize = self.peers.values().map(|p| p.inflight()).sum();
            log::trace!(
                "tick: {} peers, {inflight} requests in flight, {}",
                self.peers.len(),
                self.picker.describe()
            );
        }
        let mut getting = 0;
        for p in self.peers.values_mut() {
            getting += usize::from(!p.am_choking() && p.peer_interested());
            p.tick();
        }
        self.update_demand();
        self.stats.getting_from_us.store(getting, Ordering::Relaxed);
        for (key, block) in self.picker.overdue(now, REQUEST_TIMEOUT) {
            self.picker.release_block(key, block);
            if let Some(p) = self.peers.get_mut(&key) {
                p.timed_out(block);
            }
        }
        if self.ticks.is_multiple_of(10) {
            self.choke_round();
        }
        self.request_everywhere();
        self.pex_round(now);
        self.block_hash_round(now);
        self.dht_lookup(now);
        self.connect_more();
        self.maybe_announce();
        if let Some(limit) = self.config.options.no_peer_timeout
            && !self.picker.is_complete()
            && self.peers.is_empty()
            && now.duration_since(self.last_peer_at) > limit
        {
            let last_problem = self
                .last_error
                .clone()
                .unwrap_or_else(|| "no peer was found".into());
            return Err(Error::NoPeers {
                waited: limit,
                last_problem,
            });
        }
        // Waiting without a timeout: say, now and then, what for.
        let waited = now.duration_since(self.last_peer_at);
        let since_report = self
            .waiting_reported
            .map_or(waited, |at| now.duration_since(at.max(self.last_peer_at)));
        if !self.picker.is_complete()
            && self.peers.is_empty()
            && !self.config.options.upload_only
            && waited >= WAITING_REPORT
            && since_report >= WAITING_REPORT
        {
            self.waiting_reported = Some(now);
            log::info!(
                "{}: no peer connected for {}s; still asking trackers{}{} (last problem: {})",
                self.meta.info.name,
                now.duration_since(self.last_peer_at).as_secs(),
                if self.config.dht.is_some() {
                    ", the DHT"
                } else {
                    ""
                },
                if self.config.options.peers.is_empty() {
                    ""
                } else {
                    " and --peer"
                },
                self.last_error.as_deref().unwrap_or("none yet")
            );
        }
        if self.may_park(now) {
            return Ok(Flow::Park);
        }
        Ok(Flow::Continue)
    }

    fn update_stats(&self) {
        self.stats
            .have_pieces
            .store(self.picker.have().count(), Ordering::Relaxed);
        self.stats
            .have_bytes
            .store(self.picker.bytes_have(), Ordering::Relaxed);
        self.stats.peers.store(self.peers.len(), Ordering::Relaxed);
        self.stats
            .prefix_bytes
            .store(self.picker.prefix_bytes(), Ordering::Relaxed);
    }
}
