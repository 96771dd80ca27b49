//! The torrent's peer table: connections dialed out and accepted, attached to the torrent,
//! refused (ourselves, banned, duplicates, no room), dropped and banned. What to dial and when
//! is [`super::peers`]'s decision; this is where it meets sockets.

use super::peer_state::{Negotiated, Peer};
use super::uploads::{ALLOWED_FAST_SET, allowed_fast_set};
use super::{Event, Kind, MAX_PEERS, Task};
use crate::extensions::{self, ExtendedHandshake};
use crate::layout::PeerKey;
use crate::peer::encryption::{Crypto, Encryption};
use crate::peer::{self, PeerHandle};
use crate::piece_store::PieceStore;
use crate::rate::RateLimit;
use crate::wire::{Handshake, Message};
use crate::wire::{RESERVED_DHT, RESERVED_EXTENSION, RESERVED_FAST};
use async_std::channel::Sender;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Connections from one address at most (loopback aside).
pub(super) const MAX_PEERS_PER_IP: usize = 8;
/// A peer of no use this long gives its slot to a newcomer when the table is full.
pub(super) const IDLE_EVICTION: std::time::Duration = std::time::Duration::from_secs(60);
/// Addresses remembered as plaintext-only, at most.
const MAX_PLAINTEXT_REMEMBERED: usize = 4096;

/// What a handshaken connection needs to become a peer of this torrent.
pub(super) struct Attach {
    events: Sender<super::PeerTraffic>,
    ctrl: Sender<Event>,
    store: Arc<PieceStore>,
    upload_limit: Option<Arc<RateLimit>>,
    download_limit: Option<Arc<RateLimit>>,
}

impl Attach {
    /// Starts the connection's writer, tells the torrent, then runs the reader until the
    /// connection ends (no message can reach the torrent before `Connected`).
    async fn run(
        self,
        (stream, crypto): (peer::PeerStream, Crypto),
        key: PeerKey,
        addr: SocketAddr,
        theirs: Handshake,
    ) {
        let encrypted = crypto.is_encrypted();
        let (handle, reader) = peer::start(
            stream,
            crypto,
            key,
            self.events,
            self.store,
            self.upload_limit,
            self.download_limit,
        );
        if self
            .ctrl
            .send(Event::Connected(Box::new(super::Connected {
                key,
                addr,
                theirs,
                encrypted,
                handle,
                kind: Kind::Peer,
            })))
            .await
            .is_ok()
        {
            reader.await;
        }
    }
}

impl Task {
    pub(super) fn handshake(&self) -> Handshake {
        let mut hs = Handshake::new(self.meta.info_hash, self.config.peer_id);
        if self.config.dht.is_some() {
            hs.reserved[RESERVED_DHT.0] |= RESERVED_DHT.1;
        }
        if self.meta.info.v2.is_some() {
            let (byte, bit) = crate::wire::hashes::RESERVED_V2;
            hs.reserved[byte] |= bit;
        }
        hs
    }

    pub(super) fn connect_more(&mut self) {
        // A seed dials too: leechers that already have peers would otherwise hear of it only at
        // their next announce.
        let room = MAX_PEERS.saturating_sub(self.peers.len() + self.dialer.connecting());
        for addr in self.dialer.due(Instant::now(), room) {
            let key = self.next_key;
            self.next_key += 1;
            let (ours, attach, ctrl) = (self.handshake(), self.attacher(), self.ctrl.clone());
            let policy = self.config.options.encryption;
            let via = self.config.options.via.clone();
            let plaintext_known = self.plaintext_peers.contains(&addr);
            crate::runtime::spawn(async move {
                match peer::connect(addr, ours, (policy, &via), plaintext_known).await {
                    Ok((stream, theirs, crypto)) => {
                        attach.run((stream, crypto), key, addr, theirs).await
                    }
                    Err(e) => {
                        let _ = ctrl.send(Event::ConnectFailed(addr, e)).await;
                    }
                }
            });
        }
    }

    pub(super) fn attacher(&self) -> Attach {
        Attach {
            events: self.events.clone(),
            ctrl: self.ctrl.clone(),
            store: self.store.clone(),
            upload_limit: self.config.options.upload_limit.clone(),
            download_limit: self.config.options.download_limit.clone(),
        }
    }

    pub(super) fn inbound(
        &mut self,
        mut stream: peer::PeerStream,
        theirs: Handshake,
        mut crypto: Crypto,
    ) {
        if self.refuse(&theirs.peer_id) || (self.peers.len() >= MAX_PEERS && !self.evict_idle()) {
            return;
        }
        let addr = match stream.peer_addr() {
            Ok(a) => peer::canonical(a),
            Err(_) => return,
        };
        let key = self.next_key;
        self.next_key += 1;
        let (mut ours, attach) = (self.handshake(), self.attacher());
        // A hybrid torrent answers to the hash the peer asked by (BEP 52: v1 or truncated v2).
        ours.info_hash = theirs.info_hash;
        crate::runtime::spawn(async move {
            use async_std::io::WriteExt;
            let mut hs = ours.encode();
            crypto.seal(&mut hs);
            let sent = crate::runtime::timeout(
                "sending the handshake",
                peer::HANDSHAKE_TIMEOUT,
                stream.write_all(&hs),
            )
            .await;
            if sent.is_ok() {
                attach.run((stream, crypto), key, addr, theirs).await;
            }
        });
    }

    /// Ourselves, a banned peer, or one already connected.
    pub(super) fn refuse(&self, id: &[u8; 20]) -> bool {
        *id == self.config.peer_id
            || self.bans.is_banned(id)
            || self.peers.values().any(|p| p.id() == *id)
    }

    pub(super) fn connected(
        &mut self,
        key: PeerKey,
        addr: SocketAddr,
        theirs: Handshake,
        (encrypted, kind): (bool, Kind),
        conn: PeerHandle,
    ) {
        let id = theirs.peer_id;
        let dialed = self.dialer.state(&addr).is_some();
        // Remember which dialed address needed plaintext, so the next dial does not try
        // encryption first (an inbound peer's address is a passing port: not worth keeping).
        if !encrypted
            && self.config.options.encryption == Encryption::Prefer
            && dialed
            && self.plaintext_peers.len() < MAX_PLAINTEXT_REMEMBERED
        {
            self.plaintext_peers.insert(addr);
        }
        // Dropping `conn` on a refusal closes the connection.
        if !dialed && self.bans.is_banned_ip(addr.ip(), Instant::now()) {
            log::debug!("{addr}: refused: its address is banned");
            return;
        }
        // Both ends dialed at once: each holds two connections to the other. Both keep the one
        // dialed by the end with the lower peer id (as libtorrent decides), so they keep the
        // same one instead of each closing a different one.
        let duplicate = self
            .peers
            .iter()
            .find(|(_, p)| p.id() == id)
            .map(|(k, p)| (*k, p.dialed()));
        if let Some((old, old_dialed)) = duplicate
            && !self.bans.is_banned(&id)
            && old_dialed != dialed
            && dialed == (self.config.peer_id < id)
        {
            log::debug!("{addr}: both ends dialed; keeping the connection the lower id made");
            self.drop_peer(old, "the other of two simultaneous connections was kept");
        }
        if self.refuse(&id) {
            // Ourselves, banned, or already connected under another address: do not redial
            // while that connection lasts. A dialed duplicate names where the peer listens: the
            // kept connection (inbound, from a passing port) takes it, so that when it ends the
            // address is dialed again (both ends may each keep a different one of a
            // simultaneous pair and close the other).
            self.dialer.connected(addr);
            if dialed && let Some(kept) = self.peers.values_mut().find(|p| p.id() == id) {
                kept.learned_listen_addr(addr);
            }
            return;
        }
        if self.peers.len() >= MAX_PEERS && !self.evict_idle() {
            self.dialer.disconnected(addr, Instant::now());
            return;
        }
        // One address (loopback aside: every local process shares it) holds a few slots at
        // most, so one host cannot fill the table.
        let ip = addr.ip();
        if !ip.is_loopback()
            && self.peers.values().filter(|p| p.addr().ip() == ip).count() >= MAX_PEERS_PER_IP
        {
            log::debug!("{addr}: refused: {MAX_PEERS_PER_IP} connections from {ip} already");
            return;
        }
        self.dialer.connected(addr);
        log::debug!("connected to {addr}");
        let client = super::client_name(&id);
        self.seed_says(format_args!("{addr} connected ({client})"));
        let mut peer = Peer::new(
            Negotiated {
                kind,
                addr,
                id,
                fast: theirs.supports(RESERVED_FAST),
                extended: theirs.supports(RESERVED_EXTENSION),
                v2: theirs.supports(crate::wire::hashes::RESERVED_V2),
                dialed,
                encrypted,
            },
            conn,
            self.store.layout().piece_count(),
            Instant::now(),
        );
        log::debug!(
            "{addr}: {}; offers {}{}",
            if encrypted { "RC4" } else { "plaintext" },
            if peer.fast() { "fast extension, " } else { "" },
            if peer.extended() {
                "extension protocol"
            } else {
                "no extension protocol"
            }
        );
        let have = self.picker.have();
        let super_seeding = self.super_seeding();
        // BEP 3: the bitfield comes first; a fast peer gets have all / have none instead. A
        // super-seed shows nothing and offers pieces one by one (once the peer is listed).
        if super_seeding {
            if peer.fast() {
                peer.send(Message::HaveNone);
            }
        } else if peer.fast() && have.is_full() {
            peer.send(Message::HaveAll);
        } else if peer.fast() && have.count() == 0 {
            peer.send(Message::HaveNone);
        } else if have.count() > 0 {
            peer.send(Message::Bitfield(have.as_bytes().to_vec()));
        }
        if peer.extended() {
            let ours = ExtendedHandshake::ours(
                self.config.listen.port(),
                addr.ip(),
                Some(self.meta.info_bytes.len()),
                !self.meta.info.private,
            );
            peer.send(Message::Extended {
                id: extensions::HANDSHAKE,
                payload: ours.encode(),
            });
        }
        // BEP 5: a peer that runs a DHT node hears where ours listens.
        if let Some(dht) = &self.config.dht
            && theirs.supports(RESERVED_DHT)
        {
            peer.send(Message::Port(dht.local.port()));
        }
        if peer.fast() && !super_seeding {
            let set = allowed_fast_set(
                addr.ip(),
                &self.meta.info_hash,
                have.len(),
                ALLOWED_FAST_SET,
            );
            for piece in set.into_iter().filter(|&p| have.get(p as usize)) {
                peer.allow_fast_out(piece);
            }
        }
        if peer.utp() {
            self.stats.utp_connections.fetch_add(1, Ordering::Relaxed);
        }
        self.peers.insert(key, peer);
        self.offer(key);
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        if encrypted {
            self.stats
                .encrypted_connections
                .fetch_add(1, Ordering::Relaxed);
        }
        self.update_stats();
    }

    /// Makes room in a full table: drops the peer that has been of no use longest (nothing
    /// sent or received, not interested either way) if that is over [`IDLE_EVICTION`].
    pub(super) fn evict_idle(&mut self) -> bool {
        let now = Instant::now();
        let victim = self
            .peers
            .iter()
            .filter(|(_, p)| !p.peer_interested() && !p.am_interested())
            .filter(|(_, p)| now.duration_since(p.last_useful()) >= IDLE_EVICTION)
            .min_by_key(|(_, p)| p.last_useful())
            .map(|(k, _)| *k);
        match victim {
            Some(key) => {
                self.drop_peer(key, "idle while the peer table is full");
                true
            }
            None => false,
        }
    }

    /// Where a connected peer, or one of the last to leave, is.
    pub(super) fn peer_addr(&self, key: PeerKey) -> Option<SocketAddr> {
        self.peers
            .get(&key)
            .map(|p| p.addr())
            .or_else(|| self.bans.find_departed(key).map(|(a, _)| a))
    }

    pub(super) fn ban(&mut self, key: PeerKey, why: &str) {
        let found = match self.peers.get(&key) {
            Some(p) => Some((p.addr(), p.id())),
            None => self.bans.find_departed(key),
        };
        if let Some((addr, id)) = found {
            // Pieces it sent that were in flight fail one by one: one ban, one line.
            if !self.bans.ban(id, addr, Instant::now()) {
                return self.drop_peer(key, why);
            }
            log::warn!(
                "{}: banning {addr}: {why}",
                crate::escape::untrusted(&self.meta.info.name, 80)
            );
            self.drop_peer(key, why);
            self.dialer.ban(addr);
        }
    }

    pub(super) fn drop_peer(&mut self, key: PeerKey, reason: &str) {
        if let Some(p) = self.peers.remove(&key) {
            log::debug!("{}: disconnected: {reason}", p.addr());
            let share = p.has().count() * 100 / p.has().len().max(1);
            self.seed_says(format_args!(
                "{} left ({reason}), having {share}% of it",
                p.addr()
            ));
            self.bans.departed(key, p.addr(), p.id());
            // A peer we dialled may come back (a restarted seed): try it again later.
            self.dialer.disconnected(p.addr(), Instant::now());
            if let Some(listen) = p.listen_addr().filter(|l| *l != p.addr()) {
                self.dialer.disconnected(listen, Instant::now());
            }
            self.picker.peer_gone(key, p.has());
            self.fast_claims.peer_gone(key);
            if let Some(ss) = self.superseed.as_mut() {
                ss.peer_gone(key);
            }
            if self.optimistic == Some(key) {
                self.optimistic = None;
            }
            if self.peers.is_empty() {
                self.last_peer_at = Instant::now();
            }
            self.update_stats();
            self.request_everywhere();
            if p.holds_slot() {
                self.fill_free_slots();
            }
        }
    }

    /// Two complete peers have nothing to trade: part, and do not dial this one again.
    pub(super) fn drop_seed(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get(&key) {
            let addr = p.addr();
            self.drop_peer(key, "both complete");
            self.dialer.forget(addr);
        }
    }
}
