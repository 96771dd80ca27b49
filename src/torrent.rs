//! The per-torrent owner task (the old system's leecher process): it owns the picker, the peer
//! table, choking and announcing. Peer connections and helper tasks talk to it only through
//! [`Event`]s on one channel; it answers through each connection's [`Outgoing`] queue.
//!
//! Anatomy of a block fetch: a peer's reader decodes `piece` → `Event::Message` → the picker
//! stores the block (and names endgame duplicates to cancel) → when a piece is whole its buffer
//! goes to a blocking task that verifies the SHA-1 and only then writes it → `Event::Verified` →
//! the piece is marked had and `have` goes to every peer.
//!
//! Anatomy of serving a block: a peer's `request` → checked (we have the piece, the peer is
//! unchoked, its queue is not full) → `Outgoing::Block` to its writer, which reads the block off
//! the async threads, waits for upload tokens and sends it → `Event::Uploaded`.

use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, PeerKey};
use crate::metainfo::Torrent;
use crate::peer::{self, Outgoing, PeerEvent, PeerHandle};
use crate::picker::{Picker, Received};
use crate::piece_store::PieceStore;
use crate::random::Rng;
use crate::rate::RateLimit;
use crate::tracker::Event as AnnounceEvent;
use crate::tracker::client::{AnnounceParams, AnnounceResult, Announcer, TrackerError};
use crate::wire::{Handshake, Message};
use crate::{Error, Result};
use async_std::channel::{Receiver, Sender};
use async_std::net::TcpStream;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections a torrent keeps at most.
pub const MAX_PEERS: usize = 50;
/// Upload slots by rate, plus one optimistic unchoke.
pub const UPLOAD_SLOTS: usize = 4;
/// Requests a peer may have queued with us; more are ignored.
const MAX_QUEUED_UPLOADS: usize = 512;
/// Memory for pieces being downloaded.
const PARTIAL_BUDGET: u64 = 16 << 20;
/// A request unanswered this long is asked of another peer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Failed hash checks a peer may take part in before it is banned, when no single failure could
/// be pinned on it.
const MAX_STRIKES: u32 = 5;
/// Failed pieces kept to compare against their good copy ("smart ban").
const MAX_FAILED_KEPT: usize = 8;

pub enum Event {
    /// An inbound connection whose handshake (for this torrent) the session has read.
    Inbound(TcpStream, Handshake),
    Connected {
        key: PeerKey,
        addr: SocketAddr,
        id: [u8; 20],
        handle: PeerHandle,
    },
    ConnectFailed(SocketAddr, String),
    /// What a connection reports.
    Peer(PeerKey, PeerEvent),
    Verified {
        piece: usize,
        result: Result<bool>,
        data: Vec<u8>,
        senders: Vec<PeerKey>,
    },
    Announced(
        Announcer,
        AnnounceEvent,
        std::result::Result<AnnounceResult, TrackerError>,
    ),
    Tick,
    Stop,
}

impl From<(PeerKey, PeerEvent)> for Event {
    fn from((key, event): (PeerKey, PeerEvent)) -> Event {
        Event::Peer(key, event)
    }
}

pub struct Config {
    pub peer_id: [u8; 20],
    pub listen_port: u16,
    pub upload_limit: Option<Arc<RateLimit>>,
    pub download_limit: Option<Arc<RateLimit>>,
    /// Stay after completing (a seed, or `fetch --seed`).
    pub keep_seeding: bool,
    /// Peers to connect to besides the tracker's (`--peer`).
    pub peers: Vec<SocketAddr>,
    /// Fail when no peer is connected for this long while incomplete.
    pub no_peer_timeout: Option<Duration>,
}

/// Counters the command reads for progress lines and summaries.
#[derive(Debug, Default)]
pub struct Stats {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub have_bytes: AtomicU64,
    pub have_pieces: AtomicUsize,
    pub peers: AtomicUsize,
    pub complete: AtomicBool,
    /// The task has ended (its handle can then be awaited at once).
    pub finished: AtomicBool,
}

pub struct Handle {
    pub events: Sender<Event>,
    pub stats: Arc<Stats>,
    pub task: async_std::task::JoinHandle<Result<()>>,
}

struct Peer {
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
    /// Bytes a second from this peer, smoothed, for the request pipeline depth.
    rate_down: f64,
    last_second_down: u64,
    queued_uploads: usize,
    strikes: u32,
    /// Pieces this peer has that we still want: we are interested while it is above zero.
    wanted: usize,
}

impl Peer {
    fn send(&self, m: Message) {
        self.conn.send_message(m);
    }

    /// Requests to keep in flight: about a second of this peer's rate, 32 to 256 blocks.
    fn pipeline(&self) -> usize {
        ((self.rate_down / crate::layout::BLOCK_SIZE as f64) as usize).clamp(32, 256)
    }
}

/// What a handshaken connection needs to become a peer of this torrent.
struct Attach {
    events: Sender<Event>,
    ctrl: Sender<Event>,
    store: Arc<PieceStore>,
    upload_limit: Option<Arc<RateLimit>>,
    download_limit: Option<Arc<RateLimit>>,
}

impl Attach {
    /// Starts the connection's writer, tells the torrent, then runs the reader until the
    /// connection ends (no message can reach the torrent before `Connected`).
    async fn run(self, stream: TcpStream, key: PeerKey, addr: SocketAddr, id: [u8; 20]) {
        let (handle, reader) = peer::start(
            stream,
            key,
            self.events,
            self.store,
            self.upload_limit,
            self.download_limit,
        );
        if self
            .ctrl
            .send(Event::Connected {
                key,
                addr,
                id,
                handle,
            })
            .await
            .is_ok()
        {
            reader.await;
        }
    }
}

struct Candidate {
    attempts: u32,
    retry_at: Instant,
    from_user: bool,
}

pub fn spawn(meta: Arc<Torrent>, store: Arc<PieceStore>, have: Bitfield, config: Config) -> Handle {
    // Two queues: peer traffic (bounded, so readers cannot run far ahead of the task) and the
    // task's own events (verifications, announces, connections, ticks), which are served first
    // so that a long queue of blocks never delays a verdict the picker is waiting for.
    let (peer_tx, peer_rx) = async_std::channel::bounded(1024);
    let (tx, ctrl_rx) = async_std::channel::unbounded();
    let stats = Arc::new(Stats::default());
    let picker = Picker::new(store.layout().clone(), have, PARTIAL_BUDGET);
    let tiers = meta.tracker_tiers();
    let mut task = Task {
        meta,
        store,
        stats: stats.clone(),
        events: peer_tx,
        ctrl: tx.clone(),
        picker,
        peers: HashMap::new(),
        next_key: 1,
        known: HashMap::new(),
        connecting: HashSet::new(),
        banned: HashSet::new(),
        failed: HashMap::new(),
        announcer: Some(Announcer::new(tiers)),
        next_announce: Instant::now(),
        announce_failures: 0,
        started_sent: false,
        completed_pending: false,
        ticks: 0,
        optimistic: None,
        last_peer_at: Instant::now(),
        last_error: None,
        rng: Rng::new(),
        config,
    };
    if task.announcer.as_ref().is_some_and(Announcer::is_empty) {
        task.announcer = None;
    }
    for addr in task.config.peers.clone() {
        task.known.insert(
            addr,
            Candidate {
                attempts: 0,
                retry_at: Instant::now(),
                from_user: true,
            },
        );
    }
    task.update_stats();
    let ticker = tx.clone();
    async_std::task::spawn(async move {
        loop {
            async_std::task::sleep(Duration::from_secs(1)).await;
            if ticker.send(Event::Tick).await.is_err() {
                break;
            }
        }
    });
    let done = stats.clone();
    let handle = async_std::task::spawn(async move {
        let outcome = task.run(ctrl_rx, peer_rx).await;
        done.finished.store(true, Ordering::Relaxed);
        outcome
    });
    Handle {
        events: tx,
        stats,
        task: handle,
    }
}

struct Task {
    meta: Arc<Torrent>,
    store: Arc<PieceStore>,
    config: Config,
    stats: Arc<Stats>,
    /// Where peer connections report.
    events: Sender<Event>,
    /// Where the task's helpers report.
    ctrl: Sender<Event>,
    picker: Picker,
    peers: HashMap<PeerKey, Peer>,
    next_key: PeerKey,
    known: HashMap<SocketAddr, Candidate>,
    connecting: HashSet<SocketAddr>,
    banned: HashSet<[u8; 20]>,
    /// Pieces that failed their hash check with several senders: (data, sender of each block).
    failed: HashMap<usize, (Vec<u8>, Vec<PeerKey>)>,
    announcer: Option<Announcer>,
    next_announce: Instant,
    announce_failures: u32,
    started_sent: bool,
    completed_pending: bool,
    ticks: u64,
    optimistic: Option<PeerKey>,
    last_peer_at: Instant,
    last_error: Option<String>,
    rng: Rng,
}

impl Task {
    async fn run(mut self, ctrl: Receiver<Event>, peers: Receiver<Event>) -> Result<()> {
        use async_std::prelude::FutureExt;
        self.connect_more();
        self.maybe_announce();
        let outcome = loop {
            // `race` polls the first future first: the task's own events win.
            let Ok(event) = ctrl.recv().race(peers.recv()).await else {
                break Ok(());
            };
            match self.handle(event) {
                Ok(true) => continue,
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.shutdown(&ctrl).await;
        outcome
    }

    /// Handles one event; `Ok(false)` ends the torrent.
    fn handle(&mut self, event: Event) -> Result<bool> {
        match event {
            Event::Inbound(stream, hs) => self.inbound(stream, hs),
            Event::Connected {
                key,
                addr,
                id,
                handle,
            } => self.connected(key, addr, id, handle),
            Event::ConnectFailed(addr, reason) => {
                log::debug!("{addr}: {reason}");
                self.connecting.remove(&addr);
                self.last_error = Some(format!("{addr}: {reason}"));
                if let Some(c) = self.known.get_mut(&addr) {
                    c.attempts += 1;
                    c.retry_at =
                        Instant::now() + Duration::from_secs((2u64 << c.attempts.min(4)).min(30));
                    if !c.from_user && c.attempts >= 3 {
                        self.known.remove(&addr);
                    }
                }
            }
            Event::Peer(key, PeerEvent::Message(msg)) => self.message(key, msg),
            Event::Peer(key, PeerEvent::Closed(reason)) => self.drop_peer(key, &reason.to_string()),
            Event::Peer(key, PeerEvent::Uploaded { bytes, blocks }) => {
                self.stats.uploaded.fetch_add(bytes, Ordering::Relaxed);
                if let Some(p) = self.peers.get_mut(&key) {
                    p.window_up += bytes;
                    p.queued_uploads = p.queued_uploads.saturating_sub(blocks);
                }
            }
            Event::Verified {
                piece,
                result,
                data,
                senders,
            } => return self.verified(piece, result?, data, senders),
            Event::Announced(announcer, event, result) => self.announced(announcer, event, result),
            Event::Tick => return self.tick(),
            Event::Stop => return Ok(false),
        }
        Ok(true)
    }

    fn handshake(&self) -> Handshake {
        Handshake::new(self.meta.info_hash, self.config.peer_id)
    }

    fn connect_more(&mut self) {
        let now = Instant::now();
        let connected: HashSet<SocketAddr> = self.peers.values().map(|p| p.addr).collect();
        let due: Vec<SocketAddr> = self
            .known
            .iter()
            .filter(|(a, c)| {
                c.retry_at <= now && !self.connecting.contains(a) && !connected.contains(a)
            })
            .map(|(a, _)| *a)
            .collect();
        // A seed dials too: leechers that already have peers would otherwise hear of it only at
        // their next announce.
        for addr in due {
            if self.peers.len() + self.connecting.len() >= MAX_PEERS {
                break;
            }
            if let Some(c) = self.known.get_mut(&addr) {
                c.retry_at = now + Duration::from_secs(3600);
            }
            self.connecting.insert(addr);
            let key = self.next_key;
            self.next_key += 1;
            let (ours, attach, ctrl) = (self.handshake(), self.attacher(), self.ctrl.clone());
            async_std::task::spawn(async move {
                match peer::connect(addr, ours).await {
                    Ok((stream, theirs)) => attach.run(stream, key, addr, theirs.peer_id).await,
                    Err(e) => {
                        let _ = ctrl.send(Event::ConnectFailed(addr, e.to_string())).await;
                    }
                }
            });
        }
    }

    fn attacher(&self) -> Attach {
        Attach {
            events: self.events.clone(),
            ctrl: self.ctrl.clone(),
            store: self.store.clone(),
            upload_limit: self.config.upload_limit.clone(),
            download_limit: self.config.download_limit.clone(),
        }
    }

    fn inbound(&mut self, mut stream: TcpStream, theirs: Handshake) {
        if self.peers.len() >= MAX_PEERS || self.refuse(&theirs.peer_id) {
            return;
        }
        let addr = match stream.peer_addr() {
            Ok(a) => a,
            Err(_) => return,
        };
        let key = self.next_key;
        self.next_key += 1;
        let (ours, attach) = (self.handshake(), self.attacher());
        async_std::task::spawn(async move {
            use async_std::io::WriteExt;
            let sent = peer::timed(
                "sending the handshake",
                peer::HANDSHAKE_TIMEOUT,
                stream.write_all(&ours.encode()),
            )
            .await;
            if sent.is_ok() {
                let _ = stream.set_nodelay(true);
                attach.run(stream, key, addr, theirs.peer_id).await;
            }
        });
    }

    /// Ourselves, a banned peer, or one already connected.
    fn refuse(&self, id: &[u8; 20]) -> bool {
        *id == self.config.peer_id
            || self.banned.contains(id)
            || self.peers.values().any(|p| p.id == *id)
    }

    fn connected(&mut self, key: PeerKey, addr: SocketAddr, id: [u8; 20], conn: PeerHandle) {
        self.connecting.remove(&addr);
        if self.refuse(&id) || self.peers.len() >= MAX_PEERS {
            // Dropping `conn` ends the writer, which closes the connection.
            return;
        }
        if let Some(c) = self.known.get_mut(&addr) {
            c.attempts = 0;
        }
        log::debug!("connected to {addr}");
        let peer = Peer {
            addr,
            id,
            conn,
            has: Bitfield::new(self.store.layout().piece_count()),
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            inflight: HashSet::new(),
            window_down: 0,
            window_up: 0,
            rate_down: 0.0,
            last_second_down: 0,
            queued_uploads: 0,
            strikes: 0,
            wanted: 0,
        };
        if self.picker.have().count() > 0 {
            peer.send(Message::Bitfield(self.picker.have().as_bytes().to_vec()));
        }
        self.peers.insert(key, peer);
        self.update_stats();
    }

    fn message(&mut self, key: PeerKey, msg: Message) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        match msg {
            Message::Choke => {
                peer.peer_choking = true;
                peer.inflight.clear();
                self.picker.release_peer(key);
                self.request_everywhere();
            }
            Message::Unchoke => {
                peer.peer_choking = false;
                self.request_more(key);
            }
            Message::Interested => {
                peer.peer_interested = true;
                self.unchoke_if_free(key);
            }
            Message::NotInterested => peer.peer_interested = false,
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
                // A second bitfield replaces the first.
                self.picker.forget_availability(&peer.has);
                self.picker.peer_has_all(&bits);
                peer.wanted = bits.ones().filter(|&p| self.picker.wants_piece(p)).count();
                peer.has = bits;
                self.update_interest(key);
                self.request_more(key);
            }
            Message::Request {
                index,
                begin,
                length,
            } => {
                if peer.am_choking
                    || !self.picker.have().get(index as usize)
                    || peer.queued_uploads >= MAX_QUEUED_UPLOADS
                {
                    return;
                }
                peer.queued_uploads += 1;
                peer.conn.send(Outgoing::Block(BlockRef {
                    piece: index,
                    begin,
                    length,
                }));
            }
            Message::Piece { index, begin, data } => {
                let block = BlockRef {
                    piece: index,
                    begin,
                    length: data.len() as u32,
                };
                peer.inflight.remove(&block);
                peer.window_down += data.len() as u64;
                peer.last_second_down += data.len() as u64;
                self.stats
                    .downloaded
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                match self.picker.received(key, index as usize, begin, &data) {
                    Received::Unwanted => {}
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
            // Cancels are not chased through the writer's queue: at worst a block is sent twice.
            Message::Cancel { .. }
            | Message::KeepAlive
            | Message::Port(_)
            | Message::Unknown(_) => {}
        }
    }

    fn cancel(&mut self, block: BlockRef, peers: &[PeerKey]) {
        for key in peers {
            if let Some(p) = self.peers.get_mut(key)
                && p.inflight.remove(&block)
            {
                p.send(Message::Cancel {
                    index: block.piece,
                    begin: block.begin,
                    length: block.length,
                });
            }
        }
    }

    fn verify(&mut self, piece: usize, data: Vec<u8>, senders: Vec<PeerKey>) {
        let (store, events) = (self.store.clone(), self.ctrl.clone());
        // A good copy comes back only when a bad one waits to be compared with it.
        let keep = self.failed.contains_key(&piece);
        async_std::task::spawn(async move {
            let (result, data) = async_std::task::spawn_blocking(move || {
                let t0 = Instant::now();
                if !store.verify(piece, &data) {
                    return (Ok(false), data);
                }
                let t1 = Instant::now();
                let written = store.write_piece(piece, &data).map(|_| true);
                log::trace!("piece {piece}: hash {:?} write {:?}", t1 - t0, t1.elapsed());
                (written, if keep { data } else { Vec::new() })
            })
            .await;
            let _ = events
                .send(Event::Verified {
                    piece,
                    result,
                    data,
                    senders,
                })
                .await;
        });
    }

    fn ban(&mut self, key: PeerKey, why: &str) {
        if let Some(p) = self.peers.get(&key) {
            log::warn!("banning {}: {why}", p.addr);
            self.banned.insert(p.id);
            let addr = p.addr;
            self.known.remove(&addr);
            self.drop_peer(key, why);
        }
    }

    fn verified(
        &mut self,
        piece: usize,
        ok: bool,
        data: Vec<u8>,
        senders: Vec<PeerKey>,
    ) -> Result<bool> {
        self.picker.verified(piece, ok);
        let mut contributors = senders.clone();
        contributors.sort_unstable();
        contributors.dedup();
        if ok {
            // Smart ban: whoever sent a block that differs from the good copy lied.
            if let Some((bad_data, bad_senders)) = self.failed.remove(&piece) {
                let block = crate::layout::BLOCK_SIZE as usize;
                let liars: HashSet<PeerKey> = bad_data
                    .chunks(block)
                    .zip(data.chunks(block))
                    .zip(bad_senders)
                    .filter(|((bad, good), _)| bad != good)
                    .map(|(_, sender)| sender)
                    .collect();
                for key in liars {
                    self.ban(key, "it sent corrupt data");
                }
            }
            for p in self.peers.values_mut() {
                p.send(Message::Have(piece as u32));
                if p.has.get(piece) {
                    p.wanted = p.wanted.saturating_sub(1);
                }
            }
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.update_interest(key);
            }
            self.update_stats();
            if self.picker.is_complete() {
                return Ok(self.on_complete());
            }
            // The piece's memory is free again: peers that were held back can be asked for more.
            self.request_everywhere();
        } else {
            let names: Vec<String> = contributors
                .iter()
                .filter_map(|k| self.peers.get(k).map(|p| p.addr.to_string()))
                .collect();
            log::warn!(
                "piece {piece} failed its hash check (sent by {})",
                names.join(", ")
            );
            if contributors.len() == 1 {
                self.ban(
                    contributors[0],
                    "it alone sent a piece that failed its hash check",
                );
            } else {
                for key in &contributors {
                    let strikes = self.peers.get_mut(key).map(|p| {
                        p.strikes += 1;
                        p.strikes
                    });
                    if strikes.is_some_and(|s| s >= MAX_STRIKES) {
                        self.ban(
                            *key,
                            "too many pieces it sent part of failed their hash check",
                        );
                    }
                }
                if self.failed.len() < MAX_FAILED_KEPT {
                    self.failed.insert(piece, (data, senders));
                }
            }
            self.request_everywhere();
        }
        Ok(true)
    }

    /// Returns whether the torrent goes on.
    fn on_complete(&mut self) -> bool {
        log::debug!("{}: download complete and verified", self.meta.info.name);
        self.stats.complete.store(true, Ordering::Relaxed);
        self.completed_pending = true;
        self.maybe_announce();
        let seeds: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.has.is_full())
            .map(|(k, _)| *k)
            .collect();
        for key in seeds {
            self.drop_seed(key);
        }
        for p in self.peers.values_mut() {
            if p.am_interested {
                p.am_interested = false;
                p.send(Message::NotInterested);
            }
        }
        self.config.keep_seeding
    }

    fn drop_peer(&mut self, key: PeerKey, reason: &str) {
        if let Some(p) = self.peers.remove(&key) {
            log::debug!("{}: disconnected: {reason}", p.addr);
            // A peer we dialled may come back (a restarted seed): try it again later.
            if let Some(c) = self.known.get_mut(&p.addr) {
                let wait = if c.from_user { 5 } else { 30 };
                c.retry_at = Instant::now() + Duration::from_secs(wait);
            }
            self.picker.peer_gone(key, &p.has);
            if self.optimistic == Some(key) {
                self.optimistic = None;
            }
            if self.peers.is_empty() {
                self.last_peer_at = Instant::now();
            }
            self.update_stats();
            self.request_everywhere();
        }
    }

    fn update_interest(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let wants = p.wanted > 0;
        if wants != p.am_interested {
            p.am_interested = wants;
            p.send(if wants {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
        if self.picker.is_complete() && p.has.is_full() {
            self.drop_seed(key);
        }
    }

    /// Two complete peers have nothing to trade: part, and do not dial this one again.
    fn drop_seed(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get(&key) {
            let addr = p.addr;
            self.known.remove(&addr);
        }
        self.drop_peer(key, "both complete");
    }

    fn request_more(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.peer_choking || !p.am_interested {
            return;
        }
        let depth = p.pipeline();
        if p.inflight.len() + 8 > depth && !p.inflight.is_empty() {
            return;
        }
        let want = depth - p.inflight.len().min(depth);
        let blocks = self.picker.pick(key, &p.has, want, Instant::now());
        for b in blocks {
            p.inflight.insert(b);
            p.send(Message::Request {
                index: b.piece,
                begin: b.begin,
                length: b.length,
            });
        }
    }

    fn request_everywhere(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.request_more(key);
        }
    }

    fn unchoked(&self) -> usize {
        self.peers.values().filter(|p| !p.am_choking).count()
    }

    fn unchoke_if_free(&mut self, key: PeerKey) {
        if self.unchoked() < UPLOAD_SLOTS + 1
            && let Some(p) = self.peers.get_mut(&key)
            && p.am_choking
        {
            p.am_choking = false;
            p.send(Message::Unchoke);
        }
    }

    /// Every 10 s: the four interested peers that give us most (or, seeding, take most) get the
    /// slots; every 30 s another interested peer gets the optimistic slot.
    fn choke_round(&mut self) {
        let seeding = self.picker.is_complete();
        let mut ranked: Vec<(PeerKey, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.peer_interested)
            .map(|(k, p)| (*k, if seeding { p.window_up } else { p.window_down }))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: HashSet<PeerKey> =
            ranked.iter().take(UPLOAD_SLOTS).map(|(k, _)| *k).collect();
        let rotate =
            self.ticks.is_multiple_of(30) || self.optimistic.is_none_or(|k| chosen.contains(&k));
        if rotate {
            let others: Vec<PeerKey> = ranked.iter().skip(UPLOAD_SLOTS).map(|(k, _)| *k).collect();
            self.optimistic = (!others.is_empty()).then(|| others[self.rng.below(others.len())]);
        }
        if let Some(k) = self.optimistic {
            chosen.insert(k);
        }
        for (key, p) in &mut self.peers {
            let unchoke = chosen.contains(key);
            if unchoke == p.am_choking {
                p.am_choking = !unchoke;
                p.send(if unchoke {
                    Message::Unchoke
                } else {
                    Message::Choke
                });
            }
            p.window_down = 0;
            p.window_up = 0;
        }
    }

    fn tick(&mut self) -> Result<bool> {
        self.ticks += 1;
        let now = Instant::now();
        if log::log_enabled!(log::Level::Trace) {
            let inflight: usize = self.peers.values().map(|p| p.inflight.len()).sum();
            log::trace!(
                "tick: {} peers, {inflight} requests in flight, {}",
                self.peers.len(),
                self.picker.describe()
            );
        }
        for p in self.peers.values_mut() {
            p.rate_down = p.rate_down * 0.7 + p.last_second_down as f64 * 0.3;
            p.last_second_down = 0;
        }
        for (key, block) in self.picker.overdue(now, REQUEST_TIMEOUT) {
            self.picker.release_block(key, block);
            if let Some(p) = self.peers.get_mut(&key) {
                p.inflight.remove(&block);
            }
        }
        if self.ticks.is_multiple_of(10) {
            self.choke_round();
        }
        self.request_everywhere();
        self.connect_more();
        if now >= self.next_announce {
            self.maybe_announce();
        }
        if let Some(limit) = self.config.no_peer_timeout
            && !self.picker.is_complete()
            && self.peers.is_empty()
            && now.duration_since(self.last_peer_at) > limit
        {
            let why = self
                .last_error
                .clone()
                .unwrap_or_else(|| "no peer was found".into());
            return Err(Error::Failed(format!(
                "no peer could be reached within {}s (last problem: {why})",
                limit.as_secs()
            )));
        }
        Ok(true)
    }

    fn announce_params(&self, event: AnnounceEvent) -> AnnounceParams {
        let total = self.store.layout().total();
        AnnounceParams {
            info_hash: self.meta.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.listen_port,
            uploaded: self.stats.uploaded.load(Ordering::Relaxed),
            downloaded: self.stats.downloaded.load(Ordering::Relaxed),
            left: total - self.picker.bytes_have().min(total),
            event,
            numwant: 50,
        }
    }

    fn maybe_announce(&mut self) {
        let Some(mut announcer) = self.announcer.take() else {
            return;
        };
        let event = if !self.started_sent {
            AnnounceEvent::Started
        } else if self.completed_pending {
            AnnounceEvent::Completed
        } else {
            AnnounceEvent::None
        };
        let params = self.announce_params(event);
        let events = self.ctrl.clone();
        // Far in the future until the answer sets it.
        self.next_announce = Instant::now() + Duration::from_secs(3600);
        async_std::task::spawn(async move {
            let result = announcer.announce(&params).await;
            let _ = events
                .send(Event::Announced(announcer, event, result))
                .await;
        });
    }

    fn announced(
        &mut self,
        announcer: Announcer,
        event: AnnounceEvent,
        result: std::result::Result<AnnounceResult, TrackerError>,
    ) {
        self.announcer = Some(announcer);
        let now = Instant::now();
        match result {
            Ok(r) => {
                self.announce_failures = 0;
                match event {
                    AnnounceEvent::Started => self.started_sent = true,
                    AnnounceEvent::Completed => self.completed_pending = false,
                    _ => {}
                }
                log::debug!(
                    "tracker gave {} peers, next announce in {}s",
                    r.peers.len(),
                    r.interval.as_secs()
                );
                for addr in r.peers {
                    self.known.entry(addr).or_insert(Candidate {
                        attempts: 0,
                        retry_at: now,
                        from_user: false,
                    });
                }
                // Short of peers while downloading: ask again soon.
                let wait = if self.peers.is_empty() && !self.picker.is_complete() {
                    r.interval.min(Duration::from_secs(10))
                } else {
                    r.interval
                };
                self.next_announce = now + wait;
                self.connect_more();
            }
            Err(e) => {
                if self.announce_failures == 0 {
                    log::warn!("announce failed: {e}");
                }
                self.last_error = Some(e.to_string());
                self.announce_failures += 1;
                self.next_announce =
                    now + Duration::from_secs((15u64 << self.announce_failures.min(5)).min(300));
            }
        }
        if self.completed_pending && self.started_sent {
            self.maybe_announce();
        }
    }

    fn update_stats(&self) {
        self.stats
            .have_pieces
            .store(self.picker.have().count(), Ordering::Relaxed);
        self.stats
            .have_bytes
            .store(self.picker.bytes_have(), Ordering::Relaxed);
        self.stats.peers.store(self.peers.len(), Ordering::Relaxed);
    }

    /// Tells the tracker we leave (5 s at most for each announce) and closes every connection.
    async fn shutdown(&mut self, ctrl: &Receiver<Event>) {
        self.peers.clear();
        self.update_stats();
        let limit = Duration::from_secs(5);
        if self.announcer.is_none() {
            // An announce is under way (often the `completed` one): wait for it to come back.
            let deadline = Instant::now() + limit;
            while self.announcer.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                match async_std::future::timeout(left, ctrl.recv()).await {
                    Ok(Ok(Event::Announced(announcer, event, result))) => {
                        if matches!(event, AnnounceEvent::Started) && result.is_ok() {
                            self.started_sent = true;
                        }
                        if matches!(event, AnnounceEvent::Completed) && result.is_ok() {
                            self.completed_pending = false;
                        }
                        self.announcer = Some(announcer);
                    }
                    Ok(Ok(_)) => continue,
                    _ => break,
                }
            }
        }
        if let Some(mut announcer) = self.announcer.take()
            && self.started_sent
        {
            if self.completed_pending {
                let params = self.announce_params(AnnounceEvent::Completed);
                let _ = async_std::future::timeout(limit, announcer.announce(&params)).await;
            }
            let params = self.announce_params(AnnounceEvent::Stopped);
            let _ = async_std::future::timeout(limit, announcer.announce(&params)).await;
        }
    }
}
