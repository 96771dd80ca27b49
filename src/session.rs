//! The node: one listening port and one peer id for every torrent it runs. It binds, accepts
//! (a permit taken before each accept bounds the handshakes in progress), reads each inbound
//! handshake (10 s at most) and hands the connection, by info-hash, to its torrent's task, or
//! to the engine for a parked torrent ([`Session::park`], [`Session::next_call`]); connections
//! for unknown torrents (or paused ones: see [`Session::remove`]) are closed. The engine (the
//! lifecycle module) adds torrents and waits on [`Session::next_end`] for one to end or park.

pub mod metadata;

use crate::bitfield::Bitfield;
use crate::dht::{self, DhtConfig, DhtHandle};
use crate::fairness::{KeyExchangeRate, PerHost, pressured};
use crate::hash::Digest;
use crate::metainfo::{InfoHash, Torrent};
use crate::peer;
use crate::peer::encryption::{self, Crypto, Encryption};
use crate::piece_store::PieceStore;
use crate::runtime::{self, Permits};
use crate::torrent::{self, Config, Event, Options, Stats};
use crate::wire::mse;
use crate::wire::{HANDSHAKE_LEN, Handshake, PROTOCOL};
use crate::{Error, Result};
use async_std::channel::{Receiver, Sender};
use async_std::io::ReadExt;
use async_std::net::TcpListener;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;
/// Handshakes in progress from one host (an IPv6 /64 counting as one): more from it are
/// closed at once, so one host cannot hold the others in the backlog.
const MAX_PENDING_PER_HOST: usize = 32;
/// The handshake timeout once half the handshake places are taken.
const PRESSED_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A torrent the session runs: its counters, and the way to stop it.
#[derive(Clone)]
pub struct TorrentRef {
    pub id: usize,
    pub stats: Arc<Stats>,
    events: Sender<Event>,
}

impl TorrentRef {
    /// Asks the torrent to stop (telling its tracker); its end then comes through
    /// [`Session::next_end`].
    pub async fn stop(&self) {
        let _ = self.events.send(Event::Stop).await;
    }

    /// Asks the torrent for its peers; the answer comes on the receiver (none if it ended).
    pub fn ask_peers(&self) -> async_std::channel::Receiver<Vec<crate::torrent::PeerInfo>> {
        let (tx, rx) = async_std::channel::bounded(1);
        let _ = self.events.try_send(Event::Peers(tx));
        rx
    }

    /// Asks the torrent to announce to its trackers now.
    pub async fn reannounce(&self) {
        let _ = self.events.send(Event::Reannounce).await;
    }

    /// Hands the torrent an event (its queue is unbounded: this does not wait).
    pub fn send(&self, event: Event) {
        let _ = self.events.try_send(event);
    }
}

/// A torrent task's end: which one and how it ended (parked, it is not over).
pub type Ended = (usize, torrent::End);

/// What came for a parked torrent (see [`Session::park`]): its owner's token, and the event.
pub type Call = (u64, Event);

/// Where a torrent's inbound connections and found peers go.
#[derive(Clone)]
enum Route {
    Task(Sender<Event>),
    /// To its owner, with the token it parked with.
    Parked(u64),
}

impl Route {
    /// Hands `event` to the torrent's task, or to its owner while it is parked.
    async fn deliver(&self, calls: &Sender<Call>, event: Event) {
        match self {
            Route::Task(task) => drop(task.send(event).await),
            Route::Parked(token) => drop(calls.send((*token, event)).await),
        }
    }

    /// [`Route::deliver`] without waiting: dropped when the queue is full.
    fn try_deliver(&self, calls: &Sender<Call>, event: Event) {
        match self {
            Route::Task(task) => drop(task.try_send(event)),
            Route::Parked(token) => drop(calls.try_send((*token, event))),
        }
    }
}

/// Calls for parked torrents waiting for their owner (inbound connections past their
/// handshake, peers found): the acceptors wait beyond this.
const CALLS_QUEUED: usize = 64;

pub struct Session {
    local: SocketAddr,
    peer_id: [u8; 20],
    routes: Routes,
    /// A hybrid torrent's other info-hash (BEP 52), routed to it as well, by its own.
    aliases: HashMap<InfoHash, InfoHash>,
    /// The id the next torrent task gets.
    next_id: usize,
    ended: (Sender<Ended>, Receiver<Ended>),
    /// Calls for parked torrents: sent by the acceptors and local peer discovery.
    call: Sender<Call>,
    calls: Receiver<Call>,
    policy: Encryption,
    dht: Option<DhtHandle>,
    port_mapper: Option<crate::portmap::PortMapper>,
    lsd: Option<crate::lsd::Lsd>,
    /// How connections are dialed: uTP on the peer port's UDP socket and/or TCP.
    via: peer::Transports,
}

impl Session {
    /// Binds `addr` (port 0 picks one), TCP and, unless `utp` is off, UDP on the same port
    /// for uTP, and starts accepting plaintext and encrypted connections as `policy` allows.
    pub async fn bind(
        addr: SocketAddr,
        policy: Encryption,
        utp: crate::utp::Mode,
    ) -> Result<Session> {
        let listener = match TcpListener::bind(addr).await {
            // `[::]` is both stacks (Linux's default, bindv6only=0); a machine without IPv6
            // gets IPv4 alone.
            Err(e) if addr.ip() == IpAddr::from(Ipv6Addr::UNSPECIFIED) => {
                let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port()));
                log::debug!("no IPv6 listener ({e}); listening on {v4}");
                TcpListener::bind(v4).await
            }
            other => other,
        }
        .map_err(|source| Error::Listen { addr, source })?;
        crate::net::source::confine(&listener).map_err(|source| Error::Listen { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Net {
            what: "the listener".into(),
            source,
        })?;
        let routes = Arc::new(Mutex::new(HashMap::new()));
        let (call, calls) = async_std::channel::bounded(CALLS_QUEUED);
        let inbound = Inbound::new(routes.clone(), call.clone(), policy);
        let via = peer::Transports {
            utp: start_utp(local, utp, &inbound)?,
            tcp: utp != crate::utp::Mode::Only,
        };
        runtime::spawn(accept_loop(listener, inbound, via.tcp));
        Ok(Session {
            local,
            peer_id: new_peer_id(),
            routes,
            aliases: HashMap::new(),
            next_id: 0,
            ended: async_std::channel::unbounded(),
            call,
            calls,
            policy,
            dht: None,
            port_mapper: None,
            lsd: None,
            via,
        })
    }

    /// Starts the node's DHT on the listener's address and port number (UDP), or a free port
    /// when that one is taken. A node without one finds peers through trackers and PEX only.
    pub async fn start_dht(&mut self, config: DhtConfig) {
        let same = self.local;
        let shared = self.via.utp.as_ref().map(|utp| utp.dht());
        let handle = match shared {
            // The uTP socket holds the port: the DHT shares it.
            Some(Ok((socket, incoming))) => dht::start_shared(socket, incoming, config),
            _ => match dht::start(same, config.clone()).await {
                Ok(h) => Ok(h),
                Err(e) => {
                    log::debug!("dht: UDP {same}: {e}; taking a free port");
                    dht::start(SocketAddr::new(same.ip(), 0), config).await
                }
            },
        };
        match handle {
            Ok(h) => {
                log::info!("dht node {} on {} (UDP)", h.id, h.local);
                self.dht = Some(h);
            }
            Err(e) => log::warn!("dht: not started: {e}"),
        }
    }

    pub fn dht(&self) -> Option<&DhtHandle> {
        self.dht.as_ref()
    }

    /// Asks the router in front of this host to forward the peer port (TCP and UDP), unless
    /// the listener is one only this host reaches.
    pub fn start_port_mapping(&mut self) {
        if crate::portmap::worth_mapping(self.local) {
            self.port_mapper = Some(crate::portmap::PortMapper::start(self.local.port()));
        }
    }

    /// Starts local peer discovery (BEP 14) for the public torrents, unless the listener is
    /// one only this host reaches.
    pub fn start_lsd(&mut self) {
        if self.local.ip().is_loopback() {
            return;
        }
        let (routes, call) = (self.routes.clone(), self.call.clone());
        let found = move |info_hash, addr| {
            let route = lock(&routes).get(&info_hash).cloned();
            if let Some(route) = route {
                route.try_deliver(&call, Event::PeersFound(vec![addr]));
            }
        };
        match crate::lsd::start(self.local.port(), found) {
            Ok(lsd) => {
                log::debug!("local peer discovery on {} (BEP 14)", crate::lsd::GROUP);
                self.lsd = Some(lsd);
            }
            Err(e) => log::warn!("local peer discovery not started: {e}"),
        }
    }

    /// Where peers on the Internet reach this node, once the router said.
    pub fn mapped(&self) -> Option<crate::portmap::Mapped> {
        self.port_mapper.as_ref().and_then(|m| m.mapped())
    }

    /// Stops the DHT, saving its state, and removes the port mapping.
    pub async fn close(&mut self) {
        if let Some(d) = &self.dht {
            d.stop().await;
        }
        if let Some(m) = self.port_mapper.take() {
            m.stop().await;
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Who this node is to peers it asks for a magnet link's metadata.
    pub fn asker(&self) -> metadata::Asker {
        metadata::Asker {
            peer_id: self.peer_id,
            listen_port: self.local.port(),
            policy: self.policy,
            via: self.via.clone(),
            dht: self.dht.clone(),
        }
    }

    /// Starts a torrent's task and routes inbound connections for its info-hash to it.
    pub fn add(
        &mut self,
        meta: Arc<Torrent>,
        store: Arc<PieceStore>,
        have: Bitfield,
        mut options: Options,
    ) -> TorrentRef {
        options.encryption = self.policy;
        options.via = self.via.clone();
        let info_hash = meta.info_hash;
        let config = Config {
            peer_id: self.peer_id,
            listen: self.local,
            options,
            // BEP 27: a private torrent's peers come from its tracker only.
            dht: self.dht.clone().filter(|_| !meta.info.private),
        };
        let hashes = meta.swarm_hashes();
        let mut routes = lock(&self.routes);
        // A parked torrent that starts again is known to local peer discovery already.
        let woken = routes.contains_key(&info_hash);
        if let Some(lsd) = self.lsd.as_ref().filter(|_| !meta.info.private && !woken) {
            hashes.iter().for_each(|&h| lsd.add(h));
        }
        let (ended, id) = (self.ended.0.clone(), self.next_id);
        // `ended` is unbounded: the report cannot wait.
        let on_end = move |end| {
            let _ = ended.try_send((id, end));
        };
        let handle = torrent::spawn(meta, store, have, config, Box::new(on_end));
        for &hash in &hashes {
            routes.insert(hash, Route::Task(handle.events.clone()));
        }
        drop(routes);
        if let Some(&alias) = hashes.get(1) {
            self.aliases.insert(info_hash, alias);
        }
        let torrent = TorrentRef {
            id,
            stats: handle.stats,
            events: handle.events,
        };
        self.next_id += 1;
        torrent
    }

    /// Routes what comes for the parked torrent with `info_hash` to [`Session::next_call`],
    /// with `token`, until it is added again (or removed).
    pub fn park(&mut self, info_hash: &InfoHash, token: u64) {
        let mut routes = lock(&self.routes);
        let alias = self.aliases.get(info_hash);
        for hash in std::iter::once(info_hash).chain(alias) {
            routes.insert(*hash, Route::Parked(token));
        }
    }

    /// Stops routing inbound connections to the torrent with `info_hash` (paused or removed):
    /// they are closed at the handshake, as for a torrent this node does not have.
    pub fn remove(&mut self, info_hash: &InfoHash) {
        let mut routes = lock(&self.routes);
        routes.remove(info_hash);
        let alias = self.aliases.remove(info_hash);
        if let Some(alias) = alias {
            routes.remove(&alias);
        }
        drop(routes);
        if let Some(lsd) = &self.lsd {
            lsd.remove(*info_hash);
            alias.into_iter().for_each(|a| lsd.remove(a));
        }
    }

    /// The next call for a parked torrent: an inbound connection, peers found.
    pub async fn next_call(&self) -> Call {
        match self.calls.recv().await {
            Ok(call) => call,
            // Cannot happen while `self` holds a sender.
            Err(_) => std::future::pending().await,
        }
    }

    /// The next torrent to end, with its outcome: a fetch that completed (without `--seed`),
    /// a torrent that failed, or one that was stopped.
    pub async fn next_end(&self) -> Ended {
        match self.ended.1.recv().await {
            Ok(end) => end,
            // Cannot happen while `self` holds a sender; wait forever rather than invent an end.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Binds UDP on the listener's address for uTP (unless off) and takes in its connections. A
/// port whose UDP side is taken leaves uTP off, with a warning, unless uTP is all there is.
fn start_utp(
    local: SocketAddr,
    mode: crate::utp::Mode,
    inbound: &Inbound,
) -> Result<Option<crate::utp::UtpSocket>> {
    if mode == crate::utp::Mode::Off {
        return Ok(None);
    }
    match crate::utp::UtpSocket::bind(local) {
        Ok((socket, incoming)) => {
            let inbound = inbound.clone();
            runtime::spawn(async move {
                while let Ok(stream) = incoming.recv().await {
                    let from = stream.peer_addr();
                    inbound.take(peer::PeerStream::Utp(stream), from).await;
                }
            });
            Ok(Some(socket))
        }
        Err(source) if mode == crate::utp::Mode::Only => Err(Error::Listen {
            addr: local,
            source,
        }),
        Err(e) => {
            log::warn!("uTP off: UDP {local}: {e}");
            Ok(None)
        }
    }
}

/// What every inbound connection goes through, TCP or uTP: a permit (bounding handshakes in
/// progress), a place among its host's, the handshake, then its torrent.
#[derive(Clone)]
struct Inbound {
    routes: Routes,
    call: Sender<Call>,
    policy: Encryption,
    permits: Arc<Permits>,
    per_host: Arc<PerHost>,
    key_exchanges: Arc<KeyExchangeRate>,
}

impl Inbound {
    fn new(routes: Routes, call: Sender<Call>, policy: Encryption) -> Inbound {
        Inbound {
            routes,
            call,
            policy,
            permits: Arc::new(Permits::new(MAX_PENDING_HANDSHAKES)),
            per_host: PerHost::new(MAX_PENDING_PER_HOST),
            key_exchanges: Arc::new(KeyExchangeRate::new(std::time::Instant::now())),
        }
    }

    /// Reads `stream`'s handshake (off this task) and hands it to its torrent.
    async fn take(&self, mut stream: peer::PeerStream, from: SocketAddr) {
        let permit = self.permits.acquire().await;
        // Handshakes must be quick while many are in progress.
        let limit = pressured(
            self.permits.in_use(),
            MAX_PENDING_HANDSHAKES,
            peer::HANDSHAKE_TIMEOUT,
            PRESSED_HANDSHAKE_TIMEOUT,
        );
        // An IPv4 peer on the dual-stack socket shows as ::ffff:a.b.c.d: one address per peer.
        let from = peer::canonical(from);
        let Some(slot) = self.per_host.take(from.ip()) else {
            return;
        };
        let this = self.clone();
        runtime::spawn(async move {
            let accepted = accept_handshake(
                &mut stream,
                &this.routes,
                this.policy,
                limit,
                &this.key_exchanges,
            )
            .await;
            drop((permit, slot));
            match accepted {
                Ok((hs, crypto, route)) => {
                    let event = Event::Inbound(Box::new((stream, hs, crypto)));
                    route.deliver(&this.call, event).await;
                }
                Err(e) => log::debug!("{from}: {e}"),
            }
        });
    }
}

/// Takes in TCP connections (`--utp only` closes them at once).
async fn accept_loop(listener: TcpListener, inbound: Inbound, tcp: bool) {
    loop {
        let (stream, from) = runtime::accept(&listener, "peer port").await;
        if tcp {
            inbound.take(stream.into(), from).await;
        }
    }
}

type Routes = Arc<Mutex<HashMap<InfoHash, Route>>>;

/// Reads an inbound connection's handshake, plaintext (it starts with the protocol string) or
/// inside an MSE/PE exchange, as `policy` allows; names the torrent it is for.
async fn accept_handshake(
    stream: &mut peer::PeerStream,
    routes: &Routes,
    policy: Encryption,
    limit: std::time::Duration,
    key_exchanges: &KeyExchangeRate,
) -> std::io::Result<(Handshake, Crypto, Route)> {
    let refused = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let mut first = [0u8; 20];
    runtime::timeout(
        "reading the handshake",
        limit,
        stream.read_exact(&mut first),
    )
    .await?;
    let plaintext = first[0] == 19 && &first[1..] == PROTOCOL;
    let mut crypto = if plaintext {
        if policy == Encryption::Require {
            return Err(refused("a plaintext handshake (--encryption require)"));
        }
        Crypto {
            leftover: first.to_vec(),
            ..Crypto::default()
        }
    } else {
        if policy == Encryption::Off {
            return Err(refused("not a BitTorrent handshake (--encryption off)"));
        }
        let from = stream.peer_addr()?.ip();
        if !key_exchanges.allow(from, std::time::Instant::now()) {
            return Err(refused(
                "too many encrypted handshakes: closed before the key exchange",
            ));
        }
        let ours = |req2: &Digest| {
            lock(routes)
                .keys()
                .find(|hash| mse::req2(&hash.0) == *req2)
                .copied()
        };
        encryption::respond(stream, &first, ours, policy == Encryption::Require)
            .await?
            .crypto
    };
    let mut buf = [0u8; HANDSHAKE_LEN];
    runtime::timeout(
        "reading the handshake",
        limit,
        crypto.read_exact(stream, &mut buf),
    )
    .await?;
    let hs = Handshake::decode(&buf).map_err(refused)?;
    let torrent = lock(routes)
        .get(&hs.info_hash)
        .cloned()
        .ok_or_else(|| refused(&format!("a handshake for unknown torrent {}", hs.info_hash)))?;
    Ok((hs, crypto, torrent))
}

fn lock(routes: &Routes) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Route>> {
    routes.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh Azureus-style peer id (BEP 20): `-P20001-` and 12 random bytes.
pub fn new_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-P20001-");
    id[8..].copy_from_slice(&crate::random::secure_bytes::<12>());
    id
}
