//! The announce client peers use: HTTP (BEP 3, both peer-list models, `peers6`) and UDP (BEP 15,
//! retries with 15·2ⁿ s backoff), across BEP 12 tiers.

use super::AnnounceRequest;
use super::proto::{UdpRequest, UdpResponse, decode_compact};
use crate::bencode;
use crate::escape;
use crate::http1;
use crate::net::Stream;
pub use crate::url::{default_port, host_header, split_url};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Largest tracker response read over HTTP.
pub const MAX_RESPONSE: usize = 2 << 20;
/// Characters of a tracker's failure reason or status line kept for logs and errors.
const MAX_REASON: usize = 200;
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// UDP attempts (15, 30 s), kept short of BEP 15's eight so a dead tracker yields to the next one.
const UDP_ATTEMPTS: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResult {
    pub interval: Duration,
    pub peers: Vec<SocketAddr>,
    pub complete: Option<u64>,
    pub incomplete: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("tracker {url} refused: {reason}")]
    Failure { url: String, reason: String },
    #[error("tracker {url}: {reason}")]
    Bad { url: String, reason: String },
    #[error("tracker {url}: {op}: {source}")]
    Io {
        url: String,
        op: &'static str,
        source: std::io::Error,
    },
}

/// Tries the tiers in order and the trackers of a tier in order; a tracker that answers moves to
/// the front of its tier (BEP 12).
#[derive(Debug, Clone)]
pub struct Announcer {
    tiers: Vec<Vec<String>>,
}

impl Announcer {
    pub fn new(tiers: Vec<Vec<String>>) -> Announcer {
        Announcer { tiers }
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.iter().all(Vec::is_empty)
    }

    pub async fn announce(
        &mut self,
        params: &AnnounceRequest,
    ) -> Result<AnnounceResult, TrackerError> {
        let mut last = None;
        for tier in &mut self.tiers {
            for i in 0..tier.len() {
                match announce(&tier[i], params).await {
                    Ok(result) => {
                        let url = tier.remove(i);
                        tier.insert(0, url);
                        return Ok(result);
                    }
                    Err(e) => {
                        log::debug!("{e}");
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| TrackerError::Bad {
            url: String::new(),
            reason: "the torrent names no tracker".into(),
        }))
    }
}

/// One announce to one tracker URL.
pub async fn announce(url: &str, params: &AnnounceRequest) -> Result<AnnounceResult, TrackerError> {
    // Boxed: each is a large future (buffers held across awaits), kept out of its callers'.
    if url.starts_with("http://") || url.starts_with("https://") {
        Box::pin(http_announce(url, params)).await
    } else if url.starts_with("udp://") {
        Box::pin(udp_announce(url, params)).await
    } else {
        Err(TrackerError::Bad {
            url: url.into(),
            reason: "only http://, https:// and udp:// trackers can be announced to".into(),
        })
    }
}

async fn resolve(url: &str, host: &str, port: u16) -> Result<SocketAddr, TrackerError> {
    crate::runtime::resolve(host, port)
        .await
        .map_err(|source| TrackerError::Io {
            url: url.into(),
            op: "resolving the host",
            source,
        })
}

async fn http_announce(url: &str, p: &AnnounceRequest) -> Result<AnnounceResult, TrackerError> {
    let bad = |reason: String| TrackerError::Bad {
        url: url.into(),
        reason,
    };
    let (host, port, path) =
        split_url(url, default_port(url)).ok_or_else(|| bad("not a valid URL".into()))?;
    let mut target = path;
    target.push(if target.contains('?') { '&' } else { '?' });
    target.push_str(&p.to_query());
    let addr = resolve(url, &host, port).await?;
    let io = |op| {
        move |source| TrackerError::Io {
            url: url.into(),
            op,
            source,
        }
    };
    let exchange = async {
        let https = url.starts_with("https://");
        let mut stream = Stream::open(addr, &host, https)
            .await
            .map_err(io("connecting"))?;
        let host_header = host_header(&host, port, https);
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: p2p/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(io("sending the request"))?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(io("reading the response"))?;
            response.extend_from_slice(&chunk[..n]);
            if response.len() > MAX_RESPONSE {
                return Err(bad(format!("response larger than {MAX_RESPONSE} bytes")));
            }
            // Whole (by its length or chunks) before the tracker closes: no need to wait;
            // at the end of the stream, whole or an error.
            if let Some(body) = reply_body(&response, n == 0).map_err(|e| bad(e.to_string()))? {
                break Ok(body);
            }
        }
    };
    let body = crate::runtime::within(HTTP_TIMEOUT, exchange)
        .await
        .ok_or_else(|| bad(format!("no answer within {}s", HTTP_TIMEOUT.as_secs())))??;
    let mut result = parse_announce_response(&body).map_err(|e| match e {
        ResponseError::Failure(reason) => TrackerError::Failure {
            url: url.into(),
            reason,
        },
        ResponseError::Bad(reason) => bad(reason),
    })?;
    keep_admissible(&mut result.peers, addr);
    Ok(result)
}

/// A tracker may name only peers as far out as itself: no loopback or LAN address from a
/// tracker on the Internet, nothing no host can have ([`crate::address::admissible`]).
fn keep_admissible(peers: &mut Vec<SocketAddr>, tracker: SocketAddr) {
    let before = peers.len();
    peers.retain(|p| crate::address::admissible(*p, Some(tracker.ip())));
    if peers.len() < before {
        log::debug!(
            "tracker {tracker}: {} peer addresses it may not name were dropped",
            before - peers.len()
        );
    }
}

/// A tracker's response head may be this long.
const RESPONSE_HEAD: http1::Limits = http1::Limits {
    line: 8192,
    head: 16384,
};

/// Why a tracker's HTTP response gave no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Http(#[from] http1::HttpError),
    #[error("HTTP status `{0}`")]
    Status(String),
}

/// The body of a whole HTTP response (the connection has closed or the body is complete),
/// checking the status; chunked encoding undone ([`crate::http1`]).
pub fn http_body(response: &[u8]) -> Result<Vec<u8>, ReplyError> {
    reply_body(response, true)?.ok_or(ReplyError::Http(http1::HttpError::CutShort))
}

/// [`http_body`] of what has come so far; `None` while more is to come (never once `closed`).
fn reply_body(response: &[u8], closed: bool) -> Result<Option<Vec<u8>>, ReplyError> {
    let Some((head, body)) = http1::whole_response(response, RESPONSE_HEAD, MAX_RESPONSE, closed)?
    else {
        return Ok(None);
    };
    if head.status != 200 {
        let line = String::from_utf8_lossy(head.status_line);
        return Err(ReplyError::Status(escape::untrusted(
            line.trim(),
            MAX_REASON,
        )));
    }
    Ok(Some(body))
}

#[derive(Debug, PartialEq, Eq)]
pub enum ResponseError {
    Failure(String),
    Bad(String),
}

/// Parses a bencoded announce reply: compact or dictionary peers, `peers6`, `failure reason`.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResult, ResponseError> {
    let bad = |r: &str| ResponseError::Bad(r.to_string());
    let v = bencode::decode(body).map_err(|e| ResponseError::Bad(e.to_string()))?;
    if !v.is_dict() {
        return Err(bad("the response is not a dictionary"));
    }
    if let Some(reason) = v.get("failure reason") {
        let text = reason
            .as_bytes()
            .map(|b| escape::untrusted_bytes(b, MAX_REASON))
            .unwrap_or_default();
        return Err(ResponseError::Failure(text));
    }
    let interval = v
        .get("interval")
        .and_then(|i| i.as_int())
        .unwrap_or(1800)
        .clamp(1, 24 * 3600) as u64;
    let mut peers = Vec::new();
    match v.get("peers").map(|p| &p.kind) {
        Some(bencode::Kind::Bytes(b)) => peers.extend(
            decode_compact(b, false)
                .ok_or_else(|| bad("compact `peers` is not a multiple of 6 bytes"))?,
        ),
        Some(bencode::Kind::List(list)) => {
            for entry in list {
                let ip = entry
                    .get("ip")
                    .and_then(|i| i.as_str())
                    .and_then(|s| s.parse::<IpAddr>().ok());
                let port = entry
                    .get("port")
                    .and_then(|p| p.as_int())
                    .and_then(|p| u16::try_from(p).ok());
                if let (Some(ip), Some(port)) = (ip, port) {
                    peers.push(SocketAddr::new(ip, port));
                }
            }
        }
        None => {}
        Some(_) => return Err(bad("`peers` has the wrong type")),
    }
    if let Some(b) = v.get("peers6").and_then(|p| p.as_bytes()) {
        peers.extend(
            decode_compact(b, true).ok_or_else(|| bad("`peers6` is not a multiple of 18 bytes"))?,
        );
    }
    peers.retain(|p| p.port() != 0);
    let count = |k| {
        v.get(k)
            .and_then(|x| x.as_int())
            .and_then(|x| u64::try_from(x).ok())
    };
    Ok(AnnounceResult {
        interval: Duration::from_secs(interval),
        peers,
        complete: count("complete"),
        incomplete: count("incomplete"),
    })
}

async fn udp_announce(url: &str, p: &AnnounceRequest) -> Result<AnnounceResult, TrackerError> {
    let bad = |reason: String| TrackerError::Bad {
        url: url.into(),
        reason,
    };
    let (host, port, _) = split_url(url, 0).ok_or_else(|| bad("not a valid URL".into()))?;
    if port == 0 {
        return Err(bad("a udp:// tracker URL needs a port".into()));
    }
    let addr = resolve(url, &host, port).await?;
    let io = |op| {
        move |source| TrackerError::Io {
            url: url.into(),
            op,
            source,
        }
    };
    let socket = crate::net::source::udp_for(addr)
        .await
        .map_err(io("binding a UDP socket"))?;
    socket
        .connect(addr)
        .await
        .map_err(io("connecting the UDP socket"))?;

    let mut rng = crate::random::Rng::new();
    let mut connection: Option<u64> = None;
    let mut buf = vec![0u8; 65536];
    let mut timeouts = 0;
    while timeouts < UDP_ATTEMPTS {
        let wait = Duration::from_secs(15 << timeouts);
        let transaction = rng.next_u64() as u32;
        let request = match connection {
            None => UdpRequest::Connect { transaction },
            Some(connection_id) => UdpRequest::Announce {
                connection_id,
                transaction,
                request: p.clone(),
                key: rng.next_u64() as u32,
            },
        };
        let packet = request.encode();
        socket.send(&packet).await.map_err(io("sending"))?;
        let deadline = std::time::Instant::now() + wait;
        // Read until the matching transaction arrives or this attempt's time is up.
        let reply = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match crate::runtime::timeout(
                "waiting for the UDP tracker",
                left,
                socket.recv(&mut buf),
            )
            .await
            {
                Ok(n)
                    if n >= 8
                        && u32::from_be_bytes(buf[4..8].try_into().expect("4")) == transaction =>
                {
                    break Some(buf[..n].to_vec());
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break None,
                // An ICMP "port unreachable" surfaces here: nobody listens, try again later.
                Err(e) => return Err(io("receiving")(e)),
            }
        };
        let Some(reply) = reply else {
            timeouts += 1;
            continue;
        };
        match (
            UdpResponse::parse(&reply, addr.is_ipv6()).map_err(|e| bad(e.to_string()))?,
            &request,
        ) {
            (UdpResponse::Error { message, .. }, _) => {
                return Err(TrackerError::Failure {
                    url: url.into(),
                    reason: escape::untrusted(&message, MAX_REASON),
                });
            }
            (UdpResponse::Connect { connection_id, .. }, UdpRequest::Connect { .. }) => {
                connection = Some(connection_id);
            }
            (
                UdpResponse::Announce {
                    interval,
                    leechers,
                    seeders,
                    peers,
                    ..
                },
                UdpRequest::Announce { .. },
            ) => {
                let mut peers = peers;
                keep_admissible(&mut peers, addr);
                return Ok(AnnounceResult {
                    interval: Duration::from_secs((interval as u64).clamp(1, 24 * 3600)),
                    peers,
                    complete: Some(seeders as u64),
                    incomplete: Some(leechers as u64),
                });
            }
            (other, _) => return Err(bad(format!("answered {other:?} to {request:?}"))),
        }
    }
    Err(bad(
        "no answer to UDP (tried with 15 s and 30 s timeouts)".into()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_with_hostile_sizes_are_errors_not_panics() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let reply = |body: &str| http_body(format!("{head}{body}").as_bytes());
        assert_eq!(reply("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        for bad in [
            "ffffffffffffffff\r\nxx",
            "fffffffffffffffe\r\nxx\r\n",
            "ffffffffffffffff\r\n",
            "10000000000000000\r\nxx",
            "3\r\nabcXY0\r\n\r\n",
            "3\r\nab",
        ] {
            assert!(reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://h:7/announce", 80),
            Some(("h".into(), 7, "/announce".into()))
        );
        assert_eq!(
            split_url("http://h/a?x=1", 80),
            Some(("h".into(), 80, "/a?x=1".into()))
        );
        assert_eq!(
            split_url("udp://[::1]:9", 0),
            Some(("::1".into(), 9, "/".into()))
        );
        assert_eq!(split_url("http://:7/", 80), None);
        assert_eq!(split_url("http://h:x/", 80), None);
        let https = "https://tracker.example/announce";
        assert_eq!(
            split_url(https, default_port(https)),
            Some(("tracker.example".into(), 443, "/announce".into()))
        );
        assert_eq!(default_port("udp://h:1"), 0);
        assert_eq!(host_header("h", 443, true), "h");
        assert_eq!(host_header("h", 80, true), "h:80");
        assert_eq!(host_header("h", 80, false), "h");
        assert_eq!(host_header("::1", 6969, false), "[::1]:6969");
    }

    #[test]
    fn parses_both_peer_models_and_failures() {
        let compact = b"d8:intervali60e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e";
        let r = parse_announce_response(compact).unwrap();
        assert_eq!(r.interval, Duration::from_secs(60));
        assert_eq!(
            r.peers,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap()
            ]
        );
        let dict = b"d8:intervali5e5:peersld2:ip3:::14:porti9eed2:ip7:1.2.3.44:porti8eeee";
        let r = parse_announce_response(dict).unwrap();
        assert_eq!(
            r.peers,
            vec!["[::1]:9".parse().unwrap(), "1.2.3.4:8".parse().unwrap()]
        );
        let mut six = b"d5:peers0:6:peers618:".to_vec();
        six.extend_from_slice(&[0; 15]);
        six.extend_from_slice(&[1, 0, 7]);
        six.push(b'e');
        assert_eq!(
            parse_announce_response(&six).unwrap().peers,
            vec!["[::1]:7".parse().unwrap()]
        );
        assert_eq!(
            parse_announce_response(b"d14:failure reason6:no waye"),
            Err(ResponseError::Failure("no way".into()))
        );
        assert!(matches!(
            parse_announce_response(b"d5:peers5:abcdee"),
            Err(ResponseError::Bad(_))
        ));
        assert!(matches!(
            parse_announce_response(b"garbage"),
            Err(ResponseError::Bad(_))
        ));
    }

    #[test]
    fn http_bodies() {
        assert_eq!(
            http_body(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nde").unwrap(),
            b"de"
        );
        assert_eq!(http_body(b"HTTP/1.0 200 OK\r\n\r\nde").unwrap(), b"de");
        assert_eq!(
            http_body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nd\r\n1;x\r\ne\r\n0\r\n\r\n").unwrap(),
            b"de"
        );
        assert!(
            http_body(b"HTTP/1.1 404 Not Found\r\n\r\n")
                .unwrap_err()
                .to_string()
                .contains("404")
        );
        assert!(http_body(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nde").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_tracker_replies_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1000)) {
            let _ = parse_announce_response(&bytes);
            let _ = http_body(&bytes);
            let _ = UdpResponse::parse(&bytes, false);
            let _ = UdpResponse::parse(&bytes, true);
        }
    }
}
