//! One peer connection: the handshake, then a reader task (framing, validation, download limit,
//! a 3-minute silence timeout) and a writer task (batched writes, block reads straight into the
//! outgoing buffer — from the page cache without waiting, else on a blocking thread — upload
//! limit, keep-alives every 2 minutes). Both report [`PeerEvent`]s on a channel
//! they are given; a connection knows its key, never its torrent.

use crate::layout::Layout;
pub mod encryption;
mod stream;
pub use stream::{PeerStream, Transports};

use crate::layout::{BlockRef, PeerKey};
use crate::piece_store::PieceStore;
use crate::rate::{self, RateLimit};
use crate::runtime::timeout;
use crate::wire::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4, Rc4};
use crate::wire::{self, Decoded, HANDSHAKE_LEN, Handshake, Message, WireError};
use async_std::channel::{Receiver, Sender, TrySendError};
use async_std::io::{ReadExt, WriteExt};
use encryption::{Crypto, Encryption};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer silent for this long is dropped.
pub const READ_TIMEOUT: Duration = Duration::from_secs(180);
/// An idle connection gets a keep-alive this often.
pub const KEEPALIVE: Duration = Duration::from_secs(120);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Items a connection's writer may hold unsent. A peer that lets more pile up does not read
/// what we send (or choke/unchoke floods us into requesting without end): it is dropped, so one
/// peer can pin at most this many small items (about 40 bytes each) of our memory.
pub const MAX_UNSENT: usize = 8192;

/// What a connection reports to whoever owns it.
#[derive(Debug)]
pub enum PeerEvent {
    /// A message that decoded and passed validation against the torrent's layout.
    Message(Message),
    /// The connection is over; nothing more comes from it.
    Closed(PeerError),
    /// Payload the writer sent: bytes and blocks.
    Uploaded { bytes: u64, blocks: usize },
}

/// Why a connection ended: each ends that peer only, never the torrent.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("protocol error: {0}")]
    Protocol(#[from] WireError),
    #[error("closed by the peer")]
    Closed,
    /// Silent for too long, or a write that did not go through in time (the error names
    /// which and how long).
    #[error("{0}")]
    Timeout(std::io::Error),
    #[error("dropped: it does not read what we send ({MAX_UNSENT} messages unsent)")]
    NotReading,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the torrent asks a connection's writer to send.
#[derive(Debug)]
pub enum Outgoing {
    Message(Message),
    /// A block the peer asked for: read from disk, then sent as a piece message.
    Block(BlockRef),
}

/// The torrent's end of a connection: queues what the writer sends, and closes the connection
/// of a peer that does not read.
#[derive(Debug)]
pub struct PeerHandle {
    tx: Sender<Outgoing>,
    /// The socket, to shut it down; `None` for a connection without one (unit tests).
    stream: Option<PeerStream>,
    addr: SocketAddr,
    overflowed: Arc<AtomicBool>,
}

impl PeerHandle {
    /// Queues `item` for the writer. When the peer's queue is full the connection is shut down
    /// (its reader then reports it closed) and this returns false.
    pub fn send(&self, item: Outgoing) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if !self.overflowed.swap(true, Ordering::Relaxed) {
                    log::warn!("{}: {}", self.addr, PeerError::NotReading);
                    self.close();
                }
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// The connection runs over uTP.
    pub fn is_utp(&self) -> bool {
        self.stream.as_ref().is_some_and(PeerStream::is_utp)
    }

    pub fn send_message(&self, m: Message) -> bool {
        self.send(Outgoing::Message(m))
    }

    fn close(&self) {
        if let Some(stream) = &self.stream {
            stream.shutdown();
        }
    }

    /// A handle whose queue the caller reads instead of a writer task: a web seed, or the
    /// torrent owner's tests without sockets.
    pub fn detached(addr: SocketAddr) -> (PeerHandle, Receiver<Outgoing>) {
        let (tx, rx) = async_std::channel::bounded(MAX_UNSENT);
        let handle = PeerHandle {
            tx,
            stream: None,
            addr,
            overflowed: Arc::new(AtomicBool::new(false)),
        };
        (handle, rx)
    }
}

impl Drop for PeerHandle {
    /// The torrent is done with this peer: close at once, even when the writer is stuck in a
    /// write to a peer that does not read.
    fn drop(&mut self) {
        self.close();
    }
}

/// An IPv4-mapped IPv6 address (a v4 peer on a dual-stack socket) as the IPv4 address it is.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Connects out and trades handshakes, encrypted as `policy` says; the peer must answer for
/// the same torrent. With `Prefer`, a peer that fails the encryption handshake is dialed again
/// at once in plaintext; `plaintext_known` skips the encrypted try for a peer that needed that
/// before.
pub async fn connect(
    addr: SocketAddr,
    ours: Handshake,
    (policy, via): (Encryption, &Transports),
    plaintext_known: bool,
) -> std::io::Result<(PeerStream, Handshake, Crypto)> {
    if policy == Encryption::Off || plaintext_known {
        return connect_once(addr, ours, None, via).await;
    }
    let provide = if policy == Encryption::Require {
        CRYPTO_RC4
    } else {
        CRYPTO_RC4 | CRYPTO_PLAINTEXT
    };
    match connect_once(addr, ours, Some(provide), via).await {
        Err(e)
            if policy == Encryption::Prefer
                && e.kind() != std::io::ErrorKind::ConnectionRefused =>
        {
            log::debug!("{addr}: encrypted handshake failed ({e}); trying plaintext");
            connect_once(addr, ours, None, via).await
        }
        other => other,
    }
}

async fn connect_once(
    addr: SocketAddr,
    ours: Handshake,
    encrypted: Option<u32>,
    via: &Transports,
) -> std::io::Result<(PeerStream, Handshake, Crypto)> {
    let mut stream = PeerStream::open(addr, via).await?;
    let mut crypto = match encrypted {
        Some(provide) => {
            encryption::initiate(&mut stream, &ours.info_hash, &ours.encode(), provide).await?
        }
        None => {
            timeout(
                "sending the handshake",
                HANDSHAKE_TIMEOUT,
                stream.write_all(&ours.encode()),
            )
            .await?;
            Crypto::default()
        }
    };
    let mut buf = [0u8; HANDSHAKE_LEN];
    timeout(
        "reading the handshake",
        HANDSHAKE_TIMEOUT,
        crypto.read_exact(&mut stream, &mut buf),
    )
    .await?;
    let theirs = Handshake::decode(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    if theirs.info_hash != ours.info_hash {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "handshake for another torrent",
        ));
    }
    Ok((stream, theirs, crypto))
}

/// Starts the writer and returns its handle and the reader, which the caller spawns once the
/// torrent knows the connection (so no message can arrive before it).
pub fn start<E: From<(PeerKey, PeerEvent)> + Send + 'static>(
    stream: PeerStream,
    crypto: Crypto,
    key: PeerKey,
    events: Sender<E>,
    store: Arc<PieceStore>,
    upload_limit: Option<Arc<RateLimit>>,
    download_limit: Option<Arc<RateLimit>>,
) -> (PeerHandle, impl Future<Output = ()> + Send + 'static) {
    let Crypto {
        encrypt,
        decrypt,
        leftover,
    } = crypto;
    let (tx, rx) = async_std::channel::bounded(MAX_UNSENT);
    let overflowed = Arc::new(AtomicBool::new(false));
    let handle = PeerHandle {
        tx,
        stream: Some(stream.clone()),
        addr: stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
        overflowed: overflowed.clone(),
    };
    let layout = store.layout().clone();
    crate::runtime::spawn(writer(
        stream.clone(),
        encrypt,
        key,
        rx,
        events.clone(),
        store,
        upload_limit,
    ));
    let reader = reader(
        stream,
        (decrypt, leftover),
        key,
        events,
        layout,
        download_limit,
        overflowed,
    );
    (handle, reader)
}

async fn reader<E: From<(PeerKey, PeerEvent)>>(
    mut stream: PeerStream,
    (mut decrypt, leftover): (Option<Rc4>, Vec<u8>),
    key: PeerKey,
    events: Sender<E>,
    layout: Layout,
    limit: Option<Arc<RateLimit>>,
    overflowed: Arc<AtomicBool>,
) {
    let max_len = wire::max_message_len(layout.piece_count());
    let mut buf = vec![0u8; (max_len as usize + 4).max(256 << 10)];
    // Bytes that came with the handshake (a few KiB at most) are already plaintext.
    let mut filled = leftover.len().min(buf.len());
    buf[..filled].copy_from_slice(&leftover[..filled]);
    let reason = 'conn: loop {
        let mut start = 0;
        loop {
            match wire::decode(&buf[start..filled], max_len) {
                Decoded::Incomplete => break,
                Decoded::Invalid(reason) => break 'conn PeerError::Protocol(reason),
                Decoded::Message(msg, used) => {
                    start += used;
                    if let Err(reason) = msg.validate(&layout) {
                        break 'conn PeerError::Protocol(reason);
                    }
                    if let Message::Piece { data, .. } = &msg {
                        rate::take(&limit, data.len()).await;
                    }
                    let event = (key, PeerEvent::Message(msg)).into();
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        match timeout(
            "waiting for the peer",
            READ_TIMEOUT,
            stream.read(&mut buf[filled..]),
        )
        .await
        {
            Ok(0) => break PeerError::Closed,
            Ok(n) => {
                if let Some(rc4) = &mut decrypt {
                    rc4.apply(&mut buf[filled..filled + n]);
                }
                filled += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                break PeerError::Timeout(e);
            }
            Err(e) => break PeerError::Io(e),
        }
    };
    let reason = if overflowed.load(Ordering::Relaxed) {
        PeerError::NotReading
    } else {
        reason
    };
    stream.shutdown();
    let _ = events.send((key, PeerEvent::Closed(reason)).into()).await;
}

/// `blocks` cut into runs of one piece each lying end to end (what a peer asking for a piece
/// block after block sends), to be read with one call each.
fn runs_of(blocks: &[(BlockRef, usize)]) -> impl Iterator<Item = &[(BlockRef, usize)]> {
    blocks.chunk_by(|(a, _), (b, _)| a.piece == b.piece && a.begin + a.length == b.begin)
}

/// The places in `buf` of the blocks of `run` (at increasing offsets, not overlapping).
fn block_slices<'a>(buf: &'a mut [u8], run: &[(BlockRef, usize)]) -> Vec<&'a mut [u8]> {
    let mut slices = Vec::with_capacity(run.len());
    let (mut rest, mut base) = (buf, 0);
    for (b, at) in run {
        let (_, tail) = rest.split_at_mut(at - base);
        let (block, tail) = tail.split_at_mut(b.length as usize);
        slices.push(block);
        (rest, base) = (tail, at + b.length as usize);
    }
    slices
}

/// A writer's send buffer: `buf[..used]` is the batch being framed. What lies past `used` is
/// left from earlier batches and overwritten, so room for a block is zeroed only once, when the
/// buffer grows (memset was 5% of a seed's CPU). It holds one batch at most (32 blocks and a
/// few messages, about 530 KiB) and is given back when the connection has been idle for
/// [`KEEPALIVE`].
#[derive(Default)]
struct SendBuf {
    buf: Vec<u8>,
    used: usize,
}

impl SendBuf {
    /// Makes room for `n` more bytes; returns where they start.
    fn room(&mut self, n: usize) -> usize {
        let at = self.used;
        self.used += n;
        if self.buf.len() < self.used {
            self.buf.resize(self.used, 0);
        }
        at
    }

    fn push(&mut self, bytes: &[u8]) {
        let at = self.room(bytes.len());
        self.buf[at..self.used].copy_from_slice(bytes);
    }
}

/// Encrypts (when the connection is) and writes `out`.
/// Writes `out` whole, each write within [`WRITE_TIMEOUT`]; on failure, how much of it went
/// out first, with the error.
async fn send(
    stream: &mut PeerStream,
    out: &mut [u8],
    encrypt: &mut Option<Rc4>,
) -> Result<(), (usize, std::io::Error)> {
    if let Some(rc4) = encrypt {
        rc4.apply(out);
    }
    let mut written = 0;
    while written < out.len() {
        match timeout("sending", WRITE_TIMEOUT, stream.write(&out[written..])).await {
            Ok(0) => return Err((written, std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}

/// Payload bytes and count of the blocks wholly within the first `upto` bytes of the batch
/// (`blocks` holds each block and where its data starts).
fn delivered(blocks: &[(BlockRef, usize)], upto: usize) -> (u64, usize) {
    blocks
        .iter()
        .filter(|(b, at)| at + b.length as usize <= upto)
        .fold((0, 0), |(bytes, n), (b, _)| {
            (bytes + b.length as u64, n + 1)
        })
}

async fn writer<E: From<(PeerKey, PeerEvent)>>(
    mut stream: PeerStream,
    mut encrypt: Option<Rc4>,
    key: PeerKey,
    rx: Receiver<Outgoing>,
    events: Sender<E>,
    store: Arc<PieceStore>,
    limit: Option<Arc<RateLimit>>,
) {
    let mut out = SendBuf::default();
    let mut scratch = Vec::new();
    loop {
        let first = match crate::runtime::within(KEEPALIVE, rx.recv()).await {
            Some(Ok(item)) => item,
            Some(Err(_)) => break,
            None => {
                // Idle for two minutes: the room blocks took goes back.
                out.buf = Vec::new();
                Outgoing::Message(Message::KeepAlive)
            }
        };
        let mut batch = vec![first];
        while batch.len() < 64 {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        // Frame the batch; each block's data is read straight into its place in `out`, from
        // the page cache on this thread where it can be, else on a blocking thread.
        let mut blocks: Vec<(BlockRef, usize)> = Vec::new();
        for item in batch {
            match item {
                Outgoing::Message(m) => {
                    scratch.clear();
                    m.encode_into(&mut scratch);
                    out.push(&scratch);
                }
                Outgoing::Block(b) => {
                    out.push(&wire::piece_header(b.piece, b.begin, b.length));
                    blocks.push((b, out.room(b.length as usize)));
                }
            }
        }
        let mut uncached: Vec<(BlockRef, usize)> = Vec::new();
        for run in runs_of(&blocks) {
            let first = run[0].0;
            let mut bufs = block_slices(&mut out.buf, run);
            if !store.read_run_cached(first.piece, first.begin, &mut bufs) {
                uncached.extend_from_slice(run);
            }
        }
        if !uncached.is_empty() {
            let store = store.clone();
            let mut taken = std::mem::take(&mut out.buf);
            let (back, read) = crate::runtime::spawn_blocking(move || {
                let read = uncached.iter().try_for_each(|(b, at)| {
                    let data = &mut taken[*at..*at + b.length as usize];
                    store.read_block(b.piece, b.begin, data)
                });
                (taken, read)
            })
            .await;
            out.buf = back;
            if let Err(e) = read {
                log::warn!("serving a block failed: {e}");
                break;
            }
        }
        let payload_total: usize = blocks.iter().map(|(b, _)| b.length as usize).sum();
        // With an upload limit, out 128 KiB at a time, so that it paces the bytes, not the
        // batch (it counts block payload only); else in one write.
        let step = if limit.is_some() { 128 << 10 } else { out.used };
        let mut payload_left = payload_total;
        let mut at = 0;
        // What of this batch the torrent was told went out: blocks are counted as soon as
        // they are written whole, so that one cut short later (the peer left, or we stop
        // while the rate limit holds the rest back) is counted all the same.
        let mut told = (0u64, 0usize);
        let mut ended = false;
        while at < out.used && !ended {
            let end = (at + step).min(out.used);
            let payload = (end - at).min(payload_left);
            payload_left -= payload;
            rate::take(&limit, payload).await;
            match send(&mut stream, &mut out.buf[at..end], &mut encrypt).await {
                Ok(()) => at = end,
                Err((written, _)) => {
                    at += written;
                    ended = true;
                }
            }
            let (bytes, count) = delivered(&blocks, at);
            if count > told.1 {
                let uploaded = PeerEvent::Uploaded {
                    bytes: bytes - told.0,
                    blocks: count - told.1,
                };
                told = (bytes, count);
                if events.send((key, uploaded).into()).await.is_err() {
                    ended = true;
                }
            }
        }
        out.used = 0;
        if ended {
            break;
        }
    }
    stream.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_cut_short_counts_the_blocks_that_went_out_whole() {
        let block = |begin| BlockRef {
            piece: 0,
            begin,
            length: 16384,
        };
        // Two blocks, each after its 13-byte header.
        let blocks = [(block(0), 13), (block(16384), 13 + 16384 + 13)];
        let end = 2 * (13 + 16384);
        assert_eq!(delivered(&blocks, end), (32768, 2));
        assert_eq!(delivered(&blocks, end - 1), (16384, 1));
        assert_eq!(delivered(&blocks, 13 + 16384), (16384, 1));
        assert_eq!(delivered(&blocks, 13 + 16383), (0, 0));
    }
}
