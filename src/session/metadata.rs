//! Fetching a magnet link's metadata (BEP 9): peers come from the link's `x.pe`, `--peer` and
//! its trackers; up to [`PARALLEL`] of them are asked at once, each for a whole copy of the info
//! dictionary, so a copy that fails its SHA-1 check names the one peer that sent it (that peer
//! is not asked again). The first copy whose SHA-1 is the info-hash wins. A peer that lies
//! about sizes, rejects, is silent for [`READ_TIMEOUT`] or takes longer than [`PEER_DEADLINE`]
//! is dropped and another is asked.

use crate::extensions::metadata::{Assembly, MetadataMsg};
use crate::extensions::{self, ExtendedHandshake, ExtensionError, UT_METADATA};
use crate::hash::Digest256;
use crate::magnet::Magnet;
use crate::metainfo::{InfoHash, Torrent};
use crate::peer::PeerStream;
use crate::peer::{self, encryption::Crypto, encryption::Encryption};
use crate::runtime;
use crate::tracker::client::{Announcer, TrackerError};
use crate::tracker::{AnnounceEvent, AnnounceRequest};
use crate::wire::hashes::{HashRequest, RESERVED_V2};
use crate::wire::{self, Handshake, Message, RESERVED_EXTENSION, RESERVED_FAST};
use crate::{Error, Result};
use async_std::channel::Sender;
use async_std::io::WriteExt;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Peers asked at once.
pub const PARALLEL: usize = 4;
/// A peer silent this long while we wait for its metadata is dropped…
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// …and one that has not sent a whole copy in this long.
pub const PEER_DEADLINE: Duration = Duration::from_secs(60);
/// The DHT is asked again this often while no peer is left to try.
const DHT_AGAIN: Duration = Duration::from_secs(10);
/// Trackers are asked again this often while no peer is left to try.
const REANNOUNCE: Duration = Duration::from_secs(15);
/// The longest message read while waiting for metadata (a bitfield of 32 M pieces).
const MAX_MESSAGE: usize = 4 << 20;

/// Who we are to the peers we ask.
pub struct Asker {
    pub peer_id: [u8; 20],
    pub listen_port: u16,
    pub policy: Encryption,
    /// uTP and/or TCP.
    pub via: peer::Transports,
    /// The node's DHT: a link without trackers or peers is found through it.
    pub dht: Option<crate::dht::DhtHandle>,
}

/// What a metadata fetch found: the torrent, and every peer address it heard of.
pub struct Found {
    pub torrent: Torrent,
    pub peers: Vec<SocketAddr>,
}

enum Report {
    /// An announce's outcome, with the announcer back (it keeps the tracker that answered
    /// first, BEP 12).
    Announced(
        Announcer,
        std::result::Result<Vec<SocketAddr>, TrackerError>,
    ),
    /// Peers the DHT found.
    Peers(Vec<SocketAddr>),
    /// A verified `info` dictionary, and the piece layers of a v2 one (bencoded) if it needs them.
    Copy(SocketAddr, std::result::Result<Metadata, Failure>),
}

/// Why a peer gave no copy. A lie (a message that breaks BEP 9 or 10: bad sizes, a copy
/// failing its SHA-1) means that peer is never asked again; anything else (unreachable,
/// closed, rejected, slow) may be retried after [`RETRY`].
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Lie(#[from] ExtensionError),
    #[error("{0}")]
    Io(std::io::Error),
    #[error("closed by the peer")]
    Closed,
    #[error("does not speak the extension protocol (BEP 10)")]
    NoExtensions,
    #[error("does not offer ut_metadata")]
    NoMetadataExtension,
    #[error("offers no metadata_size")]
    NoMetadataSize,
    #[error("sent metadata before its extended handshake")]
    DataBeforeHandshake,
    #[error("rejected our request for metadata piece {0}")]
    Rejected(u32),
    #[error("a message of {0} bytes")]
    MessageTooLong(usize),
    #[error("an empty extension message")]
    EmptyExtensionMessage,
    #[error("no whole copy within {}s", .0.as_secs())]
    TooSlow(Duration),
    #[error("does not speak BitTorrent v2, so cannot send the piece layers (BEP 52)")]
    NoV2,
    #[error("rejected our request for piece layer hashes")]
    HashesRejected,
    #[error("sent piece layers that do not hash to the files' roots")]
    BadLayers,
    #[error("the torrent has more than {MAX_LAYER_HASHES} pieces in files longer than a piece")]
    TooManyPieces,
}

/// An `info` dictionary whose hash is the info-hash, and the piece layers a v2-only one needs
/// (a bencoded `piece layers` dictionary, checked against the files' roots).
type Metadata = (Vec<u8>, Option<Vec<u8>>);

/// Piece layer hashes fetched for one torrent at most (128 MiB of them).
const MAX_LAYER_HASHES: u64 = 4 << 20;
/// Piece layer hashes asked for in one hash request, as libtorrent asks.
const LAYER_CHUNK: u64 = 512;
/// Hash requests waiting for their answer at once.
const HASH_REQUESTS_AT_ONCE: usize = 16;

impl Failure {
    fn is_lie(&self) -> bool {
        matches!(self, Failure::Lie(_) | Failure::BadLayers)
    }
}

/// A peer that failed without lying is asked again after this long.
const RETRY: Duration = Duration::from_secs(20);

/// Finds the metadata of `magnet` among `peers` (and its trackers' and the DHT's peers). Fails when no peer
/// was being asked or could be for `give_up`.
pub async fn fetch(
    magnet: &Magnet,
    extra_peers: &[SocketAddr],
    asker: Asker,
    give_up: Duration,
) -> Result<Found> {
    let (tx, rx) = async_std::channel::unbounded();
    let mut peers = Candidates {
        // Listening on every address as far as it knows: loopback with its port is us too.
        own: SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), asker.listen_port),
        known: Vec::new(),
        queue: VecDeque::new(),
    };
    peers.heard(&magnet.peers);
    peers.heard(extra_peers);
    let tiers: Vec<Vec<String>> = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
    let mut announcer = Some(Announcer::new(tiers)).filter(|a| !a.is_empty());
    let mut last_announce: Option<Instant> = None;
    let mut last_dht: Option<Instant> = None;
    let mut last_problem = String::from("no peer was found");
    let mut asking = 0usize;
    let mut idle_since = Instant::now();
    let mut liars: HashSet<SocketAddr> = HashSet::new();
    let mut retry: Vec<(Instant, SocketAddr)> = Vec::new();
    loop {
        let now = Instant::now();
        retry.retain(|&(at, addr)| {
            if at <= now {
                peers.queue.push_back(addr);
            }
            at > now
        });
        while asking < PARALLEL {
            let Some(addr) = peers.queue.pop_front() else {
                break;
            };
            if liars.contains(&addr) {
                continue;
            }
            asking += 1;
            let (tx, hash) = (tx.clone(), magnet.info_hash);
            let mut hs = Handshake::new(hash, asker.peer_id);
            if magnet.v2.is_some() {
                // A v2 torrent's piece layers may have to be asked for (BEP 52).
                hs.reserved[RESERVED_V2.0] |= RESERVED_V2.1;
            }
            let (port, policy, via) = (asker.listen_port, asker.policy, asker.via.clone());
            runtime::spawn(async move {
                let copy = runtime::within(PEER_DEADLINE, ask(addr, hs, port, (policy, &via)))
                    .await
                    .unwrap_or(Err(Failure::TooSlow(PEER_DEADLINE)));
                let _ = tx.send(Report::Copy(addr, copy)).await;
            });
        }
        if asking > 0 {
            idle_since = Instant::now();
        }
        if peers.queue.is_empty()
            && let Some(mut a) = announcer.take()
            && last_announce.is_none_or(|t| t.elapsed() >= REANNOUNCE)
        {
            last_announce = Some(Instant::now());
            let params = AnnounceRequest {
                info_hash: magnet.info_hash,
                peer_id: asker.peer_id,
                port: asker.listen_port,
                uploaded: 0,
                downloaded: 0,
                // The size is not known yet; libtorrent says 16 KiB here too.
                left: 16 << 10,
                event: AnnounceEvent::Started,
                numwant: crate::tracker::proto::DEFAULT_NUMWANT,
                compact: true,
                no_peer_id: false,
            };
            let tx: Sender<Report> = tx.clone();
            runtime::spawn(async move {
                let outcome = a.announce(&params).await;
                let outcome = outcome.map(|r| r.peers);
                let _ = tx.send(Report::Announced(a, outcome)).await;
            });
        }
        if peers.queue.is_empty()
            && let Some(dht) = &asker.dht
            && last_dht.is_none_or(|t| t.elapsed() >= DHT_AGAIN)
        {
            last_dht = Some(Instant::now());
            let found = dht.get_peers(magnet.info_hash, Some(asker.listen_port));
            let tx = tx.clone();
            runtime::spawn(async move {
                while let Ok(addrs) = found.recv().await {
                    if tx.send(Report::Peers(addrs)).await.is_err() {
                        break;
                    }
                }
            });
        }
        if asking == 0 && retry.is_empty() && idle_since.elapsed() > give_up {
            return Err(Error::NoPeers {
                waited: give_up,
                last_problem,
            });
        }
        let Some(Ok(report)) = runtime::within(Duration::from_secs(1), rx.recv()).await else {
            continue;
        };
        match report {
            Report::Announced(a, Ok(addrs)) => {
                log::debug!("tracker gave {} peers", addrs.len());
                announcer = Some(a);
                peers.heard(&addrs);
            }
            Report::Peers(addrs) => {
                log::debug!("the DHT gave {} peers", addrs.len());
                peers.heard(&addrs);
            }
            Report::Announced(a, Err(e)) => {
                log::warn!("announce failed: {e}");
                announcer = Some(a);
                last_problem = e.to_string();
            }
            Report::Copy(addr, Err(why)) => {
                asking -= 1;
                log::warn!("{addr}: no metadata: {why}");
                if why.is_lie() {
                    liars.insert(addr);
                } else {
                    retry.push((Instant::now() + RETRY, addr));
                }
                last_problem = format!("{addr}: {why}");
            }
            Report::Copy(addr, Ok((bytes, layers))) => {
                let torrent = Torrent::from_metadata(
                    &bytes,
                    magnet.info_hash,
                    &magnet.trackers,
                    layers.as_deref(),
                )
                .map_err(|source| Error::Torrent {
                    path: format!("metadata from {addr}").into(),
                    source,
                })?;
                log::info!(
                    "metadata from {addr}: {} ({} bytes of info dictionary)",
                    torrent.info.name,
                    bytes.len()
                );
                return Ok(Found {
                    torrent,
                    peers: peers.known,
                });
            }
        }
    }
}

/// Addresses heard of (at most 2,000) and those not yet asked.
struct Candidates {
    known: Vec<SocketAddr>,
    queue: VecDeque<SocketAddr>,
    /// Our listening address (see [`crate::address::dialable`]).
    own: SocketAddr,
}

impl Candidates {
    /// Addresses to ask, unless no host can have them or they are us (trackers and the DHT
    /// have already dropped what their source may not name).
    fn heard(&mut self, addrs: &[SocketAddr]) {
        for a in addrs {
            if !crate::address::dialable(*a, Some(self.own)) {
                continue;
            }
            if !self.known.contains(a) && self.known.len() < 2000 {
                self.known.push(*a);
                self.queue.push_back(*a);
            }
        }
    }
}

/// Asks one peer for a whole copy; the copy returned has passed its SHA-1 (or SHA-256) check.
/// A v2 torrent's piece layers are asked for over the same connection when it needs them.
async fn ask(
    addr: SocketAddr,
    ours: Handshake,
    listen_port: u16,
    how: (Encryption, &peer::Transports),
) -> std::result::Result<Metadata, Failure> {
    let (mut stream, theirs, mut crypto) = peer::connect(addr, ours, how, false)
        .await
        .map_err(Failure::Io)?;
    if !theirs.supports(RESERVED_EXTENSION) {
        return Err(Failure::NoExtensions);
    }
    // BEP 6: with the fast extension on both ends the first message must say what we have.
    if theirs.supports(RESERVED_FAST) {
        send(&mut stream, &mut crypto, Message::HaveNone).await?;
    }
    let mut ours_ext = ExtendedHandshake::ours(listen_port, addr.ip(), None, true);
    // We have nothing yet to exchange peers about or to serve.
    ours_ext.m.retain(|name, _| name == UT_METADATA.0);
    send(
        &mut stream,
        &mut crypto,
        Message::Extended {
            id: extensions::HANDSHAKE,
            payload: ours_ext.encode(),
        },
    )
    .await?;
    let mut copy: Option<(Assembly, u8)> = None;
    loop {
        let (id, payload) = next_extended(&mut stream, &mut crypto).await?;
        if id == extensions::HANDSHAKE {
            let h = ExtendedHandshake::parse(&payload).map_err(Failure::Lie)?;
            let their_id = h.id_of(UT_METADATA.0).ok_or(Failure::NoMetadataExtension)?;
            let size = h.metadata_size.ok_or(Failure::NoMetadataSize)?;
            let assembly = Assembly::new(size, ours.info_hash).map_err(Failure::Lie)?;
            for piece in assembly.missing() {
                send(
                    &mut stream,
                    &mut crypto,
                    Message::Extended {
                        id: their_id,
                        payload: MetadataMsg::Request(piece).encode(),
                    },
                )
                .await?;
            }
            copy = Some((assembly, their_id));
            continue;
        }
        if id != UT_METADATA.1 {
            continue;
        }
        let Some((assembly, _)) = copy.as_mut() else {
            return Err(Failure::DataBeforeHandshake);
        };
        match MetadataMsg::parse(&payload).map_err(Failure::Lie)? {
            Some(MetadataMsg::Data {
                piece,
                total_size,
                data,
            }) => {
                assembly
                    .store(piece, total_size, &data)
                    .map_err(Failure::Lie)?;
                if assembly.is_complete() {
                    let (assembly, _) = copy.take().expect("checked above");
                    let info = assembly.finish().map_err(Failure::Lie)?;
                    let (wanted, base) = crate::metainfo::layers_wanted(&info);
                    if wanted.is_empty() {
                        return Ok((info, None));
                    }
                    // A connection under the v2 hash speaks v2; under the v1 hash of a hybrid,
                    // the peer says so with the reserved bit (as libtorrent reads them).
                    let v2_hash = crate::hash::sha256(&info)[..20] == ours.info_hash.0;
                    if !v2_hash && !theirs.supports(RESERVED_V2) {
                        return Err(Failure::NoV2);
                    }
                    let layers = piece_layers(&mut stream, &mut crypto, &wanted, base).await?;
                    return Ok((info, Some(layers)));
                }
            }
            Some(MetadataMsg::Reject(piece)) => {
                return Err(Failure::Rejected(piece));
            }
            Some(MetadataMsg::Request(_)) | None => {}
        }
    }
}

/// The piece layers of `wanted` (each file's root and piece count; `base` the layer's height),
/// asked for in runs of [`LAYER_CHUNK`] with a few requests in flight, each whole layer checked
/// against its root. Returns them as a bencoded `piece layers` dictionary.
async fn piece_layers(
    stream: &mut PeerStream,
    crypto: &mut Crypto,
    wanted: &[(Digest256, u64)],
    base: u32,
) -> std::result::Result<Vec<u8>, Failure> {
    let total: u64 = wanted.iter().map(|(_, n)| n.next_power_of_two()).sum();
    if total > MAX_LAYER_HASHES {
        return Err(Failure::TooManyPieces);
    }
    let mut requests: VecDeque<HashRequest> = VecDeque::new();
    let mut layers: Vec<Vec<Digest256>> = Vec::with_capacity(wanted.len());
    for &(root, pieces) in wanted {
        let level = pieces.next_power_of_two();
        layers.push(vec![[0; 32]; level as usize]);
        for index in (0..level).step_by(LAYER_CHUNK as usize) {
            requests.push_back(HashRequest {
                root,
                base,
                index: index as u32,
                count: LAYER_CHUNK.min(level - index) as u32,
                proof_layers: 0,
            });
        }
    }
    let mut waiting: Vec<HashRequest> = Vec::new();
    while !requests.is_empty() || !waiting.is_empty() {
        while waiting.len() < HASH_REQUESTS_AT_ONCE
            && let Some(r) = requests.pop_front()
        {
            send(stream, crypto, Message::HashRequest(r)).await?;
            waiting.push(r);
        }
        let body = next_message(stream, crypto).await?;
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        let message = match wire::decode(&framed, u32::MAX) {
            wire::Decoded::Message(m, _) => m,
            _ => continue,
        };
        let (answered, hashes) = match message {
            Message::Hashes(r, hashes) => (r, hashes),
            Message::HashReject(r) if waiting.contains(&r) => return Err(Failure::HashesRejected),
            _ => continue,
        };
        let Some(at) = waiting.iter().position(|r| *r == answered) else {
            continue;
        };
        if hashes.len() != answered.count as usize {
            return Err(Failure::BadLayers);
        }
        waiting.swap_remove(at);
        let file = wanted
            .iter()
            .position(|(root, _)| *root == answered.root)
            .expect("we asked for it");
        let start = answered.index as usize;
        layers[file][start..start + hashes.len()].copy_from_slice(&hashes);
    }
    let piece_length = crate::hash::merkle::BLOCK << base;
    let mut out = std::collections::BTreeMap::new();
    for ((root, pieces), layer) in wanted.iter().zip(layers) {
        let layer = &layer[..*pieces as usize];
        if crate::hash::merkle::file_root(layer, piece_length) != *root {
            return Err(Failure::BadLayers);
        }
        out.insert(
            root.to_vec(),
            crate::bencode::Bencode::Bytes(layer.concat()),
        );
    }
    Ok(crate::bencode::Bencode::Dict(out).encode())
}

async fn send(
    stream: &mut PeerStream,
    crypto: &mut Crypto,
    m: Message,
) -> std::result::Result<(), Failure> {
    let mut bytes = m.encode();
    crypto.seal(&mut bytes);
    runtime::timeout("sending", peer::WRITE_TIMEOUT, stream.write_all(&bytes))
        .await
        .map_err(Failure::Io)
}

/// The body of the next message (its id first; empty for a keep-alive).
async fn next_message(
    stream: &mut PeerStream,
    crypto: &mut Crypto,
) -> std::result::Result<Vec<u8>, Failure> {
    let mut len = [0u8; 4];
    read(stream, crypto, &mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(Failure::MessageTooLong(len));
    }
    let mut body = vec![0u8; len];
    read(stream, crypto, &mut body).await?;
    Ok(body)
}

/// The next extension message (id, payload); other messages are read and skipped.
async fn next_extended(
    stream: &mut PeerStream,
    crypto: &mut Crypto,
) -> std::result::Result<(u8, Vec<u8>), Failure> {
    loop {
        let body = next_message(stream, crypto).await?;
        if body.first() == Some(&wire::id::EXTENDED) {
            if body.len() < 2 {
                return Err(Failure::EmptyExtensionMessage);
            }
            return Ok((body[1], body[2..].to_vec()));
        }
    }
}

async fn read(
    stream: &mut PeerStream,
    crypto: &mut Crypto,
    buf: &mut [u8],
) -> std::result::Result<(), Failure> {
    runtime::timeout(
        "waiting for metadata",
        READ_TIMEOUT,
        crypto.read_exact(stream, buf),
    )
    .await
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Failure::Closed,
        _ => Failure::Io(e),
    })
}

/// A saved `.torrent` in `dir` for `hash` (written by an earlier `fetch MAGNET`), if any.
pub fn saved_torrent(dir: &std::path::Path, hash: InfoHash) -> Option<Torrent> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .take(10_000)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "torrent"))
        .filter_map(|p| Torrent::load_saved(&p).ok())
        .find(|t| t.info_hash == hash)
}
