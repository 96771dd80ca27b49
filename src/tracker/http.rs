//! The HTTP tracker: a small hand-written HTTP/1.1 server for `GET /announce` (BEP 3, compact
//! peers BEP 23, `peers6`) and `GET /scrape` (BEP 48).
//!
//! Request parsing is sans-IO ([`parse_request`]); the connection loop only moves bytes. Limits:
//! a request line over 2 KiB gets 414, a head over 8 KiB gets 431, both then close (after reading
//! and discarding up to 256 KiB for 2 s, so the reply is not lost to a reset); a request
//! (or an idle keep-alive connection) has 15 s to arrive whole; at most [`MAX_CONNECTIONS`]
//! connections are open at once and at most [`MAX_CONNECTIONS_PER_HOST`] from one host;
//! further ones are closed on accept.

use super::Tracker;
use super::proto::{AnnounceRequest, encode_compact, percent_decode, query_pairs};
use super::stats::{self, Counters};
use super::swarm::AnnounceReply;
use crate::bencode::encode::{put_bytes, put_decimal};
use crate::fairness::{PerHost, pressured};
use crate::http1;
use crate::metainfo::InfoHash;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MAX_REQUEST_LINE: usize = 2048;
pub const MAX_HEAD: usize = 8192;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The request timeout once half the connections are taken.
pub const PRESSED_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections one host (an IPv6 /64 counting as one) may hold open at once.
pub const MAX_CONNECTIONS_PER_HOST: usize = 64;
/// Hashes one scrape may ask about.
pub const MAX_SCRAPE: usize = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    Incomplete,
    Request {
        target: &'a [u8],
        keep_alive: bool,
        used: usize,
    },
    /// Answer with this status and close.
    Reject(u16),
}

/// Looks for one whole request head at the start of `buf` ([`crate::http1`] reads it).
pub fn parse_request(buf: &[u8]) -> Parsed<'_> {
    let limits = http1::Limits {
        line: MAX_REQUEST_LINE,
        head: MAX_HEAD,
    };
    let request = match http1::parse_request(buf, limits) {
        Ok(Some(r)) => r,
        Ok(None) => return Parsed::Incomplete,
        Err(e) => return Parsed::Reject(e.status()),
    };
    if request.method != b"GET" {
        return Parsed::Reject(405);
    }
    // A GET with a body: we do not read bodies, so we cannot find the next request.
    let body = request
        .headers
        .get("content-length")
        .is_some_and(|v| v != b"0")
        || request.headers.get("transfer-encoding").is_some();
    if body {
        return Parsed::Reject(400);
    }
    Parsed::Request {
        target: request.target,
        keep_alive: request.keep_alive(),
        used: request.head_len,
    }
}

/// Status and bencoded body for a request target, from a client at `ip`.
pub fn respond(tracker: &Tracker, target: &[u8], ip: IpAddr) -> (u16, Vec<u8>) {
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &b""[..]),
    };
    match path {
        b"/announce" => (200, announce(tracker, query, ip)),
        b"/scrape" => (200, scrape(tracker, query)),
        _ => (
            404,
            failure("not found: the tracker answers /announce, /scrape, /stats and /metrics"),
        ),
    }
}

pub fn failure(reason: &str) -> Vec<u8> {
    let mut out = b"d14:failure reason".to_vec();
    put_bytes(&mut out, reason.as_bytes());
    out.push(b'e');
    out
}

fn put_int(out: &mut Vec<u8>, key: &[u8], value: u64) {
    put_bytes(out, key);
    out.push(b'i');
    put_decimal(out, value);
    out.push(b'e');
}

fn announce(tracker: &Tracker, query: &[u8], ip: IpAddr) -> Vec<u8> {
    let a = match AnnounceRequest::parse_query(query) {
        Ok(a) => a,
        Err(reason) => {
            tracker.counters.refuse(false, ip, &reason);
            return failure(&reason.to_string());
        }
    };
    Counters::bump(&tracker.counters.http_announces);
    let reply = match tracker.store.announce(&a, ip) {
        Ok(r) => r,
        Err(full) => {
            tracker.counters.refuse(true, ip, &full);
            return failure(&full.to_string());
        }
    };
    encode_announce_reply(tracker, &reply, a.compact)
}

/// The bencoded reply, keys in sorted order as BEP 3 wants.
pub fn encode_announce_reply(tracker: &Tracker, reply: &AnnounceReply, compact: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + reply.peers.len() * 18);
    out.push(b'd');
    put_int(&mut out, b"complete", reply.complete as u64);
    put_int(&mut out, b"incomplete", reply.incomplete as u64);
    put_int(&mut out, b"interval", tracker.interval as u64);
    put_int(&mut out, b"min interval", tracker.min_interval() as u64);
    put_bytes(&mut out, b"peers");
    if compact {
        // Straight into the reply: the lengths are known from the counts.
        let v6 = reply.peers.iter().filter(|a| a.is_ipv6()).count();
        put_decimal(&mut out, ((reply.peers.len() - v6) * 6) as u64);
        out.push(b':');
        encode_compact(&reply.peers, false, &mut out);
        if v6 > 0 {
            put_bytes(&mut out, b"peers6");
            put_decimal(&mut out, (v6 * 18) as u64);
            out.push(b':');
            encode_compact(&reply.peers, true, &mut out);
        }
    } else {
        out.push(b'l');
        // The store keeps addresses, not peer ids (see [`super::swarm`]): a dictionary peer is
        // its ip and port, which every client reads without a `peer id` (libtorrent, aria2,
        // Transmission, our own client).
        for addr in &reply.peers {
            out.push(b'd');
            put_bytes(&mut out, b"ip");
            put_bytes(&mut out, addr.ip().to_string().as_bytes());
            put_int(&mut out, b"port", addr.port() as u64);
            out.push(b'e');
        }
        out.push(b'e');
    }
    put_bytes(&mut out, b"tracker id");
    put_bytes(&mut out, tracker.name.as_bytes());
    out.push(b'e');
    out
}

fn scrape(tracker: &Tracker, query: &[u8]) -> Vec<u8> {
    Counters::bump(&tracker.counters.scrapes);
    let mut hashes = Vec::new();
    for (key, raw) in query_pairs(query) {
        if key != b"info_hash" {
            continue;
        }
        let Some(value) = percent_decode(raw) else {
            return failure("bad percent-encoding in `info_hash`");
        };
        let Ok(hash) = <[u8; 20]>::try_from(value.as_ref()) else {
            return failure(&format!("`info_hash` is {} bytes, not 20", value.len()));
        };
        hashes.push(InfoHash(hash));
        if hashes.len() > MAX_SCRAPE {
            return failure(&format!(
                "at most {MAX_SCRAPE} info_hash values in one scrape"
            ));
        }
    }
    if hashes.is_empty() {
        return failure("scrape needs at least one `info_hash` (a full scrape is not offered)");
    }
    hashes.sort();
    hashes.dedup();
    let mut out = b"d5:filesd".to_vec();
    for hash in hashes {
        let e = tracker.store.scrape(&hash);
        put_bytes(&mut out, &hash.0);
        out.push(b'd');
        put_int(&mut out, b"complete", e.complete as u64);
        put_int(&mut out, b"downloaded", e.downloaded);
        put_int(&mut out, b"incomplete", e.incomplete as u64);
        out.push(b'e');
    }
    out.extend_from_slice(b"ee");
    out
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

fn response(status: u16, body: &[u8], keep_alive: bool) -> Vec<u8> {
    typed_response(status, "text/plain", body, keep_alive)
}

fn typed_response(status: u16, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 128);
    out.extend_from_slice(b"HTTP/1.1 ");
    put_decimal(&mut out, status as u64);
    out.push(b' ');
    out.extend_from_slice(status_text(status).as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    put_decimal(&mut out, body.len() as u64);
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Connections waiting for their next request, with when they started waiting: when every
/// connection is taken, the one idle longest is closed to make room for a newcomer.
#[derive(Default)]
struct Idle {
    waiting: Mutex<HashMap<u64, (Instant, TcpStream)>>,
}

impl Idle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, TcpStream)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn waiting(&self, id: u64, stream: &TcpStream) {
        self.lock().insert(id, (Instant::now(), stream.clone()));
    }

    fn busy(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection idle longest; false when none is idle.
    fn evict_oldest(&self) -> bool {
        let mut waiting = self.lock();
        let Some(id) = waiting
            .iter()
            .min_by_key(|(_, (t, _))| *t)
            .map(|(id, _)| *id)
        else {
            return false;
        };
        if let Some((_, stream)) = waiting.remove(&id) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        true
    }
}

/// Accepts connections until the listener fails for good; one task a connection.
pub async fn serve(listener: TcpListener, tracker: Arc<Tracker>) {
    let open = Arc::new(AtomicUsize::new(0));
    let per_host = PerHost::new(MAX_CONNECTIONS_PER_HOST);
    let idle = Arc::new(Idle::default());
    let mut next_id = 0u64;
    loop {
        let (stream, addr) = crate::runtime::accept(&listener, "tracker").await;
        // A host over its share is turned away at once. When all connections are taken, the
        // one idle longest makes room; with none idle, the newcomer is turned away.
        let Some(slot) = per_host.take(addr.ip()) else {
            continue;
        };
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS && !idle.evict_oldest() {
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        next_id += 1;
        let start = match answer_at_once(&stream, addr, &tracker) {
            AtOnce::Done => {
                open.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            AtOnce::Continue(start) => start,
        };
        let (tracker, open, idle, id) = (tracker.clone(), open.clone(), idle.clone(), next_id);
        crate::runtime::spawn(async move {
            let keep = stream.clone();
            if connection(stream, addr, &tracker, (&idle, id), &open, start)
                .await
                .is_err()
                && unread(&keep).is_some_and(|n| n > 0)
            {
                reset(&keep);
            }
            idle.busy(id);
            open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
}

/// The whole reply to one request.
fn reply_to(tracker: &Tracker, target: &[u8], ip: IpAddr, keep_alive: bool) -> Vec<u8> {
    match stats::page(tracker, target) {
        Some((kind, body)) => typed_response(200, kind, &body, keep_alive),
        None => {
            let (status, body) = respond(tracker, target, ip);
            response(status, &body, keep_alive)
        }
    }
}

use libc::{MSG_DONTWAIT, MSG_NOSIGNAL};

/// What a connection's task starts from: bytes already read, and a reply not sent yet.
#[derive(Default)]
struct Start {
    read: Vec<u8>,
    unsent: Vec<u8>,
    keep_alive: bool,
}

enum AtOnce {
    /// Answered and closing (or closed by the client): no task needed.
    Done,
    Continue(Start),
}

/// A client sends its request right after connecting, so it is usually waiting by the time the
/// connection is accepted: then it is read, answered and, without keep-alive, closed here, with
/// no task, timer or wakeup — what a tracker answering a connection an announce spends most of
/// its time on. Anything else (nothing yet, a partial head, a reply the socket did not take
/// whole) goes on in the connection's task from where this left it.
fn answer_at_once(stream: &TcpStream, addr: SocketAddr, tracker: &Tracker) -> AtOnce {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let mut buf = [0u8; 2048];
    // SAFETY: a non-blocking recv into a buffer we own, of its length, on the stream's socket.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), MSG_DONTWAIT) };
    let buf = match n {
        0 => return AtOnce::Done,
        n if n < 0 => return AtOnce::Continue(Start::default()),
        n => &buf[..n as usize],
    };
    let Parsed::Request {
        target,
        keep_alive,
        used,
    } = parse_request(buf)
    else {
        return AtOnce::Continue(Start {
            read: buf.to_vec(),
            ..Start::default()
        });
    };
    let reply = reply_to(tracker, target, addr.ip(), keep_alive);
    // SAFETY: a non-blocking send of a buffer we own, of its length, on the stream's socket.
    let sent = unsafe {
        libc::send(
            fd,
            reply.as_ptr().cast(),
            reply.len(),
            MSG_DONTWAIT | MSG_NOSIGNAL,
        )
    };
    let sent = sent.max(0) as usize;
    if sent == reply.len() && !keep_alive {
        return AtOnce::Done;
    }
    AtOnce::Continue(Start {
        read: buf[used..].to_vec(),
        unsent: reply[sent..].to_vec(),
        keep_alive,
    })
}

/// Input a refused client may still send that is read and thrown away before closing.
const LINGER_BYTES: usize = 256 << 10;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Sends an error reply, then closes gently: writing is shut down and what the client is still
/// sending is read (bounded in bytes and time) and discarded, because closing a socket with
/// unread input makes the kernel send a reset that destroys the reply before it is read.
async fn reply_and_linger(stream: &mut TcpStream, reply: &[u8]) -> std::io::Result<()> {
    send(stream, reply).await?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + LINGER_TIME;
    // On the heap: inline, these 16 KiB made every connection's task that large, and spawning
    // one copied it (a tenth of the tracker's time with a connection an announce).
    let (mut drained, mut sink) = (0, vec![0u8; 16 << 10]);
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match crate::runtime::within(left, stream.read(&mut sink)).await {
            Some(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
    Ok(())
}

/// A reply the client does not take within this long ends its connection: one that pipelines
/// requests and never reads cannot hold a connection (and its buffers) for good.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

async fn send(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    crate::runtime::timeout("sending the reply", WRITE_TIMEOUT, stream.write_all(bytes)).await
}

/// A client that pipelines requests may leave at most this many bytes of replies unread, a
/// hundred replies; past that it is not reading, and its connection ends at once rather than
/// after the write timeout.
const MAX_UNREAD: usize = 64 << 10;

/// Ends a connection given up on with a reset, dropping what it still had to send. Closed
/// normally, a client that does not read kept those bytes in the kernel, and its own writes
/// going, for the two minutes TCP spends probing a closed window.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = crate::net::source::set_option(
        stream.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &linger,
    );
}

/// Bytes written to `stream` that its peer has not acknowledged (`SIOCOUTQ`), if known.
fn unread(stream: &TcpStream) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ on Linux) writes one int to the pointer it is given.
    let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    (r == 0).then_some(queued.max(0) as usize)
}

async fn connection(
    mut stream: TcpStream,
    addr: SocketAddr,
    tracker: &Tracker,
    (idle, id): (&Idle, u64),
    open: &AtomicUsize,
    start: Start,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    if !start.unsent.is_empty() {
        send(&mut stream, &start.unsent).await?;
        if !start.keep_alive {
            return Ok(());
        }
    }
    // Most requests fit in 2 KiB; the buffer grows to its bound only for those that do not.
    let mut buf = start.read;
    let mut filled = buf.len();
    buf.resize(2048.max(filled), 0);
    // Each request must come whole within the timeout, shorter while the tracker is busy.
    let timeout = || {
        pressured(
            open.load(Ordering::Relaxed),
            MAX_CONNECTIONS,
            REQUEST_TIMEOUT,
            PRESSED_REQUEST_TIMEOUT,
        )
    };
    let mut started = Instant::now();
    loop {
        match parse_request(&buf[..filled]) {
            Parsed::Incomplete => {
                if filled == buf.len() && buf.len() < MAX_HEAD + 1024 {
                    buf.resize(MAX_HEAD + 1024, 0);
                } else if filled == buf.len() {
                    let reply = response(431, &failure("request head too large"), false);
                    return reply_and_linger(&mut stream, &reply).await;
                }
                let left = (started + timeout()).saturating_duration_since(Instant::now());
                // Between requests a connection may be closed to make room for a newcomer.
                if filled == 0 {
                    idle.waiting(id, &stream);
                }
                let n = crate::runtime::timeout(
                    "reading the request",
                    left,
                    stream.read(&mut buf[filled..]),
                )
                .await;
                idle.busy(id);
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                filled += n;
            }
            Parsed::Reject(status) => {
                let body = failure(status_text(status));
                return reply_and_linger(&mut stream, &response(status, &body, false)).await;
            }
            Parsed::Request {
                target,
                keep_alive,
                used,
            } => {
                let reply = reply_to(tracker, target, addr.ip(), keep_alive);
                send(&mut stream, &reply).await?;
                if !keep_alive {
                    return Ok(());
                }
                // Only a client with requests already waiting behind this one can have left
                // much unread; the others cost no system call here.
                if filled > used && unread(&stream).is_some_and(|n| n > MAX_UNREAD) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client leaves its replies unread",
                    ));
                }
                buf.copy_within(used..filled, 0);
                filled -= used;
                started = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode;
    use crate::tracker::proto::percent_encode;

    #[test]
    fn request_heads() {
        assert_eq!(
            parse_request(b"GET /announce HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Incomplete
        );
        let req = b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nGET";
        assert_eq!(
            parse_request(req),
            Parsed::Request {
                target: b"/a?b",
                keep_alive: true,
                used: req.len() - 3
            }
        );
        assert!(matches!(
            parse_request(b"GET / HTTP/1.0\n\n"),
            Parsed::Request {
                keep_alive: false,
                ..
            }
        ));
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            Parsed::Request {
                keep_alive: false,
                ..
            }
        ));
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\n\r\n"),
            Parsed::Reject(405)
        );
        assert_eq!(parse_request(b"GET / HTTP/2\r\n\r\n"), Parsed::Reject(505));
        assert_eq!(parse_request(b"GARBAGE\r\n\r\n"), Parsed::Reject(400));
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Parsed::Reject(400)
        );
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(parse_request(long_line.as_bytes()), Parsed::Reject(414));
        assert_eq!(
            parse_request(&vec![b'a'; MAX_REQUEST_LINE + 1]),
            Parsed::Reject(414)
        );
        let big_head = format!(
            "GET / HTTP/1.1\r\n{}\r\n\r\n",
            "X-A: b\r\n".repeat(MAX_HEAD / 8)
        );
        assert_eq!(parse_request(big_head.as_bytes()), Parsed::Reject(431));
    }

    fn target(id: u8, extra: &str) -> Vec<u8> {
        format!(
            "/announce?info_hash={}&peer_id={}&port={}&left=5&{extra}",
            percent_encode(&[9; 20]),
            percent_encode(&[id; 20]),
            7000 + id as u16
        )
        .into_bytes()
    }

    #[test]
    fn announce_replies_are_valid_bencode_in_both_models() {
        let t = Tracker::new(60, "node1".into());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        respond(&t, &target(1, "compact=1"), ip);
        let (status, body) = respond(&t, &target(2, "compact=1"), "10.0.0.2".parse().unwrap());
        assert_eq!(status, 200);
        let v = bencode::decode(&body).unwrap();
        assert_eq!(
            v.get("peers").unwrap().as_bytes().unwrap(),
            &[10, 0, 0, 1, 0x1B, 0x59]
        );
        assert_eq!(v.get("interval").unwrap().as_int(), Some(60));
        assert_eq!(v.get("tracker id").unwrap().as_str(), Some("node1"));
        assert_eq!(v.get("incomplete").unwrap().as_int(), Some(2));
        let (_, body) = respond(&t, &target(3, "compact=0"), "::1".parse().unwrap());
        let v = bencode::decode(&body).unwrap();
        let peers = v.get("peers").unwrap().as_list().unwrap();
        assert_eq!(peers.len(), 2);
        assert!(
            peers
                .iter()
                .all(|p| p.get("ip").is_some() && p.get("port").is_some())
        );
        assert!(peers[0].get("peer id").is_none(), "addresses, not ids");
        let (_, body) = respond(&t, &target(1, "compact=1"), ip);
        let v = bencode::decode(&body).unwrap();
        assert_eq!(v.get("peers6").unwrap().as_bytes().unwrap().len(), 18);
    }

    #[test]
    fn scrape_and_errors() {
        let t = Tracker::new(60, "t".into());
        respond(&t, &target(1, ""), "10.0.0.1".parse().unwrap());
        let q = format!("/scrape?info_hash={}", percent_encode(&[9; 20]));
        let (_, body) = respond(&t, q.as_bytes(), "10.0.0.1".parse().unwrap());
        let v = bencode::decode(&body).unwrap();
        let entry = v.get("files").unwrap();
        let bencode::Kind::Dict(entries) = &entry.kind else {
            panic!()
        };
        assert_eq!(entries[0].0, &[9; 20]);
        assert_eq!(entries[0].1.get("incomplete").unwrap().as_int(), Some(1));
        let (status, body) = respond(&t, b"/nope", "10.0.0.1".parse().unwrap());
        assert_eq!(status, 404);
        assert!(
            bencode::decode(&body)
                .unwrap()
                .get("failure reason")
                .is_some()
        );
        let (_, body) = respond(&t, b"/scrape", "10.0.0.1".parse().unwrap());
        assert!(String::from_utf8_lossy(&body).contains("failure reason"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_requests_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)) {
            let t = Tracker::new(60, "t".into());
            if let Parsed::Request { target, .. } = parse_request(&bytes) {
                let _ = respond(&t, target, "10.0.0.1".parse().unwrap());
            }
            let mut target = b"/announce?".to_vec();
            target.extend_from_slice(&bytes);
            let _ = respond(&t, &target, "10.0.0.1".parse().unwrap());
            target[..9].copy_from_slice(b"/scrape?x");
            let _ = respond(&t, &target, "10.0.0.1".parse().unwrap());
        }
    }
}
