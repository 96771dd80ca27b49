//! The tracker: protocol types shared by server and client, the swarm store, the HTTP (BEP 3,
//! 23, 48) and UDP (BEP 15) servers, and the announce client peers use.

pub mod client;
pub mod http;
pub mod swarm;
pub mod udp;

use crate::metainfo::InfoHash;
use async_std::net::{TcpListener, UdpSocket};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How many peers an announce returns when it does not say, and the most it may ask for.
pub const DEFAULT_NUMWANT: u32 = 50;
pub const MAX_NUMWANT: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    None,
    Started,
    Completed,
    Stopped,
}

impl AnnounceEvent {
    /// The UDP tracker's number for the event (BEP 15).
    pub fn udp_code(self) -> u32 {
        match self {
            AnnounceEvent::None => 0,
            AnnounceEvent::Completed => 1,
            AnnounceEvent::Started => 2,
            AnnounceEvent::Stopped => 3,
        }
    }

    pub fn from_udp_code(code: u32) -> Option<AnnounceEvent> {
        [
            AnnounceEvent::None,
            AnnounceEvent::Completed,
            AnnounceEvent::Started,
            AnnounceEvent::Stopped,
        ]
        .into_iter()
        .find(|e| e.udp_code() == code)
    }

    pub fn as_str(self) -> Option<&'static str> {
        match self {
            AnnounceEvent::None => None,
            AnnounceEvent::Started => Some("started"),
            AnnounceEvent::Completed => Some("completed"),
            AnnounceEvent::Stopped => Some("stopped"),
        }
    }
}

/// One announce as the tracker sees it, whichever transport carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: AnnounceEvent,
    pub numwant: u32,
    pub compact: bool,
    pub no_peer_id: bool,
}

/// Starts the HTTP and UDP tracker on `listen` (UDP on the bound TCP port number, so `:0` gives
/// one port for both) and the sweeper that expires silent peers. Returns the bound address.
pub async fn start(
    listen: SocketAddr,
    interval: u32,
    name: String,
) -> crate::Result<(SocketAddr, Arc<http::Tracker>)> {
    let net = |what: String| move |source| crate::Error::Net { what, source };
    let tcp = TcpListener::bind(listen)
        .await
        .map_err(net(format!("TCP {listen}")))?;
    let bound = tcp.local_addr().map_err(net("the listener".into()))?;
    let udp_addr = SocketAddr::new(listen.ip(), bound.port());
    let udp = UdpSocket::bind(udp_addr)
        .await
        .map_err(net(format!("UDP {udp_addr}")))?;
    let tracker = Arc::new(http::Tracker::new(interval, name));
    crate::runtime::spawn(http::serve(tcp, tracker.clone()));
    crate::runtime::spawn(udp::serve(udp, tracker.clone()));
    let sweeper = tracker.clone();
    crate::runtime::spawn(async move {
        let every = Duration::from_secs((sweeper.interval as u64 / 2).clamp(1, 60));
        loop {
            crate::runtime::sleep(every).await;
            let gone = sweeper.store.expire();
            if gone > 0 {
                log::debug!("tracker: {gone} silent peers expired");
            }
        }
    });
    Ok((bound, tracker))
}

/// Decodes `%XX` escapes and `+` in a query component into raw bytes; `None` on a bad escape.
pub fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Percent-encodes raw bytes for a query string (unreserved characters stay as they are).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `key=value` pairs of a query string, values still encoded.
pub fn query_pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        })
}

/// Parses a BEP 3 announce query. The error is the `failure reason` to send back.
pub fn parse_announce_query(query: &[u8]) -> Result<Announce, String> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let (mut uploaded, mut downloaded, mut left) = (None, None, None);
    let mut event = AnnounceEvent::None;
    let mut numwant = DEFAULT_NUMWANT;
    // Compact unless the client asks otherwise, as most trackers do (BEP 23).
    let mut compact = true;
    let mut no_peer_id = false;
    for (key, raw) in query_pairs(query) {
        let value = percent_decode(raw)
            .ok_or_else(|| format!("bad percent-encoding in `{}`", String::from_utf8_lossy(key)))?;
        let number = |name: &str| -> Result<u64, String> {
            std::str::from_utf8(&value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("`{name}` is not a non-negative integer"))
        };
        match key {
            b"info_hash" => {
                let hash: [u8; 20] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("`info_hash` is {} bytes, not 20", value.len()))?;
                info_hash = Some(InfoHash(hash));
            }
            b"peer_id" => {
                let id: [u8; 20] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("`peer_id` is {} bytes, not 20", value.len()))?;
                peer_id = Some(id);
            }
            b"port" => {
                let p = number("port")?;
                if p == 0 || p > 65535 {
                    return Err(format!("`port` {p} is not from 1 to 65535"));
                }
                port = Some(p as u16);
            }
            b"uploaded" => uploaded = Some(number("uploaded")?),
            b"downloaded" => downloaded = Some(number("downloaded")?),
            b"left" => left = Some(number("left")?),
            b"numwant" => {
                // Some clients send -1 for "the default".
                numwant = match std::str::from_utf8(&value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(n) if n < 0 => DEFAULT_NUMWANT,
                    Some(n) => n.min(MAX_NUMWANT as i64) as u32,
                    None => return Err("`numwant` is not an integer".into()),
                };
            }
            b"compact" => compact = value != b"0",
            b"no_peer_id" => no_peer_id = value == b"1",
            b"event" => {
                event = match value.as_slice() {
                    b"started" => AnnounceEvent::Started,
                    b"completed" => AnnounceEvent::Completed,
                    b"stopped" => AnnounceEvent::Stopped,
                    b"" | b"empty" | b"paused" => AnnounceEvent::None,
                    _ => return Err("`event` is not started, completed or stopped".into()),
                }
            }
            _ => {}
        }
    }
    Ok(Announce {
        info_hash: info_hash.ok_or("missing `info_hash`")?,
        peer_id: peer_id.ok_or("missing `peer_id`")?,
        port: port.ok_or("missing `port`")?,
        uploaded: uploaded.unwrap_or(0),
        downloaded: downloaded.unwrap_or(0),
        left: left.ok_or("missing `left`")?,
        event,
        numwant,
        compact,
        no_peer_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(info_hash: &[u8], rest: &str) -> Vec<u8> {
        format!(
            "info_hash={}&peer_id={}&{rest}",
            percent_encode(info_hash),
            percent_encode(&[b'-'; 20])
        )
        .into_bytes()
    }

    #[test]
    fn percent_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            percent_decode(percent_encode(&all).as_bytes()).unwrap(),
            all
        );
        assert_eq!(percent_decode(b"a%2"), None);
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"a+b").unwrap(), b"a b");
    }

    #[test]
    fn parses_a_full_announce() {
        let q = query(
            &[0xAB; 20],
            "port=6881&uploaded=1&downloaded=2&left=3&event=started&compact=1&numwant=500",
        );
        let a = parse_announce_query(&q).unwrap();
        assert_eq!(a.info_hash, InfoHash([0xAB; 20]));
        assert_eq!((a.port, a.uploaded, a.downloaded, a.left), (6881, 1, 2, 3));
        assert_eq!(a.event, AnnounceEvent::Started);
        assert!(a.compact);
        assert_eq!(a.numwant, MAX_NUMWANT);
    }

    #[test]
    fn bad_announces_get_a_reason() {
        let cases = [
            (
                format!(
                    "info_hash={}&peer_id={}&port=1&left=0",
                    "abc",
                    percent_encode(&[1; 20])
                ),
                "`info_hash` is 3 bytes",
            ),
            (
                format!(
                    "info_hash={}&peer_id=x&port=1&left=0",
                    percent_encode(&[1; 20])
                ),
                "`peer_id` is 1 bytes",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=0&left=0")).unwrap(),
                "`port` 0",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=70000&left=0")).unwrap(),
                "`port` 70000",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=x&left=0")).unwrap(),
                "`port` is not",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=1&left=-5")).unwrap(),
                "`left` is not",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=1")).unwrap(),
                "missing `left`",
            ),
            (
                String::from_utf8(query(&[1; 20], "left=1")).unwrap(),
                "missing `port`",
            ),
            ("peer_id=x".to_string(), "`peer_id`"),
            (
                String::from_utf8(query(&[1; 20], "port=1&left=1&event=bogus")).unwrap(),
                "`event`",
            ),
            (
                String::from_utf8(query(&[1; 20], "port=1&left=1&uploaded=%zz")).unwrap(),
                "percent-encoding",
            ),
        ];
        for (q, needle) in cases {
            let e = parse_announce_query(q.as_bytes()).unwrap_err();
            assert!(e.contains(needle), "{q}: {e}");
        }
    }
}
