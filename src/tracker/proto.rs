//! The tracker protocol, both ends, sans-IO: one [`AnnounceRequest`] for the HTTP query string
//! (BEP 3) and the UDP packet (BEP 15), UDP requests and responses with each field's byte offset
//! written once, compact peer lists (BEP 23) once. The servers and the client use these and no
//! other encoding; round-trip tests check that what one end writes the other reads back.

pub use crate::address::{decode_compact, encode_compact};
use crate::metainfo::InfoHash;
pub use crate::url::{percent_decode, percent_encode};
use std::net::SocketAddr;

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

/// One announce, as a client sends it and the tracker reads it, whichever transport carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
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

/// A client's `numwant`: negative means "the default" (some clients send -1); capped.
pub fn clamp_numwant(n: i64) -> u32 {
    if n < 0 {
        DEFAULT_NUMWANT
    } else {
        n.min(MAX_NUMWANT as i64) as u32
    }
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

impl AnnounceRequest {
    /// The BEP 3 query string (after `?`): info_hash and peer_id as raw percent-encoded bytes.
    pub fn to_query(&self) -> String {
        let mut q = format!(
            "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}&compact={}&numwant={}",
            percent_encode(&self.info_hash.0),
            percent_encode(&self.peer_id),
            self.port,
            self.uploaded,
            self.downloaded,
            self.left,
            self.compact as u8,
            self.numwant
        );
        if self.no_peer_id {
            q.push_str("&no_peer_id=1");
        }
        if let Some(event) = self.event.as_str() {
            q.push_str("&event=");
            q.push_str(event);
        }
        q
    }

    /// Parses a BEP 3 announce query. The error, as text, is the `failure reason` to send back.
    pub fn parse_query(query: &[u8]) -> Result<AnnounceRequest, QueryError> {
        parse_query(query)
    }
}

/// The `left` of an announce that gave none or an unreadable one: a leecher's.
pub const LEFT_UNKNOWN: u64 = u64::MAX;

/// Why an announce query was refused; its text is the `failure reason` sent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("bad percent-encoding in `{0}`")]
    Encoding(String),
    #[error("`{0}` is not a non-negative integer")]
    NotANumber(&'static str),
    #[error("`{field}` is {len} bytes, not 20")]
    Length { field: &'static str, len: usize },
    #[error("`port` {0} is not from 1 to 65535")]
    Port(u64),
    #[error("`numwant` is not an integer")]
    Numwant,
    #[error("`event` is not started, completed or stopped")]
    Event,
    #[error("missing `{0}`")]
    Missing(&'static str),
}

/// Why a UDP tracker's reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpReplyError {
    #[error("{what} reply shorter than {need} bytes")]
    Short { what: &'static str, need: usize },
    #[error("unknown action {0}")]
    Action(u32),
}

fn parse_query(query: &[u8]) -> Result<AnnounceRequest, QueryError> {
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
            .ok_or_else(|| QueryError::Encoding(String::from_utf8_lossy(key).into_owned()))?;
        let number = |name: &'static str| -> Result<u64, QueryError> {
            std::str::from_utf8(&value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(QueryError::NotANumber(name))
        };
        match key {
            b"info_hash" => {
                let hash: [u8; 20] = value.as_ref().try_into().map_err(|_| QueryError::Length {
                    field: "info_hash",
                    len: value.len(),
                })?;
                info_hash = Some(InfoHash(hash));
            }
            b"peer_id" => {
                let id: [u8; 20] = value.as_ref().try_into().map_err(|_| QueryError::Length {
                    field: "peer_id",
                    len: value.len(),
                })?;
                peer_id = Some(id);
            }
            b"port" => {
                let p = number("port")?;
                if p == 0 || p > 65535 {
                    return Err(QueryError::Port(p));
                }
                port = Some(p as u16);
            }
            b"uploaded" => uploaded = Some(number("uploaded")?),
            b"downloaded" => downloaded = Some(number("downloaded")?),
            // Lenient, as opentracker is: webtorrent sends `left=NaN` before it has the
            // metadata. What cannot be read counts as a leecher's.
            b"left" => left = Some(number("left").unwrap_or(LEFT_UNKNOWN)),
            b"numwant" => {
                // Some clients send -1 for "the default".
                numwant = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .map(clamp_numwant)
                    .ok_or(QueryError::Numwant)?;
            }
            b"compact" => compact = *value != *b"0",
            b"no_peer_id" => no_peer_id = *value == *b"1",
            b"event" => {
                event = match value.as_ref() {
                    b"started" => AnnounceEvent::Started,
                    b"completed" => AnnounceEvent::Completed,
                    b"stopped" => AnnounceEvent::Stopped,
                    b"" | b"empty" | b"paused" => AnnounceEvent::None,
                    _ => return Err(QueryError::Event),
                }
            }
            _ => {}
        }
    }
    Ok(AnnounceRequest {
        info_hash: info_hash.ok_or(QueryError::Missing("info_hash"))?,
        peer_id: peer_id.ok_or(QueryError::Missing("peer_id"))?,
        port: port.ok_or(QueryError::Missing("port"))?,
        uploaded: uploaded.unwrap_or(0),
        downloaded: downloaded.unwrap_or(0),
        left: left.unwrap_or(LEFT_UNKNOWN),
        event,
        numwant,
        compact,
        no_peer_id,
    })
}

/// The UDP tracker's magic connection id for `connect` (BEP 15).
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;
/// Info-hashes one UDP scrape may carry (so the reply fits a datagram).
pub const MAX_UDP_SCRAPE: usize = 74;
/// Every request starts: connection id (8), action (4), transaction id (4).
pub const UDP_HEADER: usize = 16;
/// An announce request's length: the header, then info_hash 16..36, peer_id 36..56,
/// downloaded 56..64, left 64..72, uploaded 72..80, event 80..84, ip 84..88, key 88..92,
/// numwant 92..96, port 96..98.
pub const UDP_ANNOUNCE_LEN: usize = 98;

pub(super) fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes in range"))
}

pub(super) fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes in range"))
}

/// A UDP tracker request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequest {
    Connect {
        transaction: u32,
    },
    Announce {
        connection_id: u64,
        transaction: u32,
        request: AnnounceRequest,
        key: u32,
    },
    Scrape {
        connection_id: u64,
        transaction: u32,
        info_hashes: Vec<InfoHash>,
    },
}

/// Why a request could not be read: some deserve an error packet, some only silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequestError {
    /// Too short to carry a transaction id, or a `connect` without the magic: drop it.
    Unsendable,
    /// Answer with an error packet for this transaction.
    Sendable { transaction: u32, message: String },
}

/// The header of a request: connection id, action, transaction id.
pub fn udp_header(p: &[u8]) -> Option<(u64, u32, u32)> {
    (p.len() >= UDP_HEADER).then(|| (be_u64(p, 0), be_u32(p, 8), be_u32(p, 12)))
}

impl UdpRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(UDP_ANNOUNCE_LEN);
        match self {
            UdpRequest::Connect { transaction } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction.to_be_bytes());
            }
            UdpRequest::Announce {
                connection_id,
                transaction,
                request: r,
                key,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&transaction.to_be_bytes());
                out.extend_from_slice(&r.info_hash.0);
                out.extend_from_slice(&r.peer_id);
                out.extend_from_slice(&r.downloaded.to_be_bytes());
                out.extend_from_slice(&r.left.to_be_bytes());
                out.extend_from_slice(&r.uploaded.to_be_bytes());
                out.extend_from_slice(&r.event.udp_code().to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&key.to_be_bytes());
                out.extend_from_slice(&(r.numwant as i32).to_be_bytes());
                out.extend_from_slice(&r.port.to_be_bytes());
            }
            UdpRequest::Scrape {
                connection_id,
                transaction,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
        out
    }

    pub fn parse(p: &[u8]) -> Result<UdpRequest, UdpRequestError> {
        let (connection_id, action, transaction) =
            udp_header(p).ok_or(UdpRequestError::Unsendable)?;
        let reply = |message: &str| UdpRequestError::Sendable {
            transaction,
            message: message.into(),
        };
        match action {
            ACTION_CONNECT if connection_id == PROTOCOL_ID => {
                Ok(UdpRequest::Connect { transaction })
            }
            ACTION_CONNECT => Err(UdpRequestError::Unsendable),
            ACTION_ANNOUNCE => {
                if p.len() < UDP_ANNOUNCE_LEN {
                    return Err(reply("announce packet shorter than 98 bytes"));
                }
                let event = AnnounceEvent::from_udp_code(be_u32(p, 80))
                    .ok_or_else(|| reply("unknown event"))?;
                let port = u16::from_be_bytes([p[96], p[97]]);
                if port == 0 {
                    return Err(reply("port 0 is not a valid port"));
                }
                let request = AnnounceRequest {
                    info_hash: InfoHash(p[16..36].try_into().expect("20 bytes")),
                    peer_id: p[36..56].try_into().expect("20 bytes"),
                    downloaded: be_u64(p, 56),
                    left: be_u64(p, 64),
                    uploaded: be_u64(p, 72),
                    event,
                    port,
                    numwant: clamp_numwant(be_u32(p, 92) as i32 as i64),
                    compact: true,
                    no_peer_id: true,
                };
                Ok(UdpRequest::Announce {
                    connection_id,
                    transaction,
                    request,
                    key: be_u32(p, 88),
                })
            }
            ACTION_SCRAPE => {
                let hashes = &p[UDP_HEADER..];
                if hashes.is_empty()
                    || !hashes.len().is_multiple_of(20)
                    || hashes.len() / 20 > MAX_UDP_SCRAPE
                {
                    return Err(reply("scrape needs 1 to 74 whole info-hashes"));
                }
                let info_hashes = hashes
                    .chunks_exact(20)
                    .map(|h| InfoHash(h.try_into().expect("20 bytes")))
                    .collect();
                Ok(UdpRequest::Scrape {
                    connection_id,
                    transaction,
                    info_hashes,
                })
            }
            _ => Err(reply("unknown action")),
        }
    }
}

/// Counts for one info-hash in a scrape reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub seeders: u32,
    pub completed: u32,
    pub leechers: u32,
}

/// A UDP tracker response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpResponse {
    Connect {
        transaction: u32,
        connection_id: u64,
    },
    /// Peers of one address family: the asker's (BEP 15).
    Announce {
        transaction: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: Vec<SocketAddr>,
    },
    Scrape {
        transaction: u32,
        counts: Vec<ScrapeCounts>,
    },
    Error {
        transaction: u32,
        message: String,
    },
}

impl UdpResponse {
    /// Encodes the response; an announce's peers of the other family than `v6` are left out.
    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let room = match self {
            UdpResponse::Announce { peers, .. } => 20 + peers.len() * if v6 { 18 } else { 6 },
            UdpResponse::Scrape { counts, .. } => 8 + counts.len() * 12,
            _ => 64,
        };
        let mut out = Vec::with_capacity(room);
        let head = |out: &mut Vec<u8>, action: u32, transaction: u32| {
            out.extend_from_slice(&action.to_be_bytes());
            out.extend_from_slice(&transaction.to_be_bytes());
        };
        match self {
            UdpResponse::Connect {
                transaction,
                connection_id,
            } => {
                head(&mut out, ACTION_CONNECT, *transaction);
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            UdpResponse::Announce {
                transaction,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                head(&mut out, ACTION_ANNOUNCE, *transaction);
                out.extend_from_slice(&interval.to_be_bytes());
                out.extend_from_slice(&leechers.to_be_bytes());
                out.extend_from_slice(&seeders.to_be_bytes());
                encode_compact(peers, v6, &mut out);
            }
            UdpResponse::Scrape {
                transaction,
                counts,
            } => {
                head(&mut out, ACTION_SCRAPE, *transaction);
                for c in counts {
                    out.extend_from_slice(&c.seeders.to_be_bytes());
                    out.extend_from_slice(&c.completed.to_be_bytes());
                    out.extend_from_slice(&c.leechers.to_be_bytes());
                }
            }
            UdpResponse::Error {
                transaction,
                message,
            } => {
                head(&mut out, ACTION_ERROR, *transaction);
                out.extend_from_slice(message.as_bytes());
            }
        }
        out
    }

    /// Reads a response; `v6` says which family an announce's peers are (the tracker's).
    pub fn parse(r: &[u8], v6: bool) -> Result<UdpResponse, UdpReplyError> {
        let short = |what, need| UdpReplyError::Short { what, need };
        if r.len() < 8 {
            return Err(short("a", 8));
        }
        let (action, transaction) = (be_u32(r, 0), be_u32(r, 4));
        match action {
            ACTION_CONNECT if r.len() >= 16 => Ok(UdpResponse::Connect {
                transaction,
                connection_id: be_u64(r, 8),
            }),
            ACTION_CONNECT => Err(short("connect", 16)),
            ACTION_ANNOUNCE if r.len() >= 20 => {
                // A trailing partial entry is ignored, as clients do.
                let size = if v6 { 18 } else { 6 };
                let whole = 20 + (r.len() - 20) / size * size;
                Ok(UdpResponse::Announce {
                    transaction,
                    interval: be_u32(r, 8),
                    leechers: be_u32(r, 12),
                    seeders: be_u32(r, 16),
                    peers: decode_compact(&r[20..whole], v6).unwrap_or_default(),
                })
            }
            ACTION_ANNOUNCE => Err(short("announce", 20)),
            ACTION_SCRAPE => Ok(UdpResponse::Scrape {
                transaction,
                counts: r[8..]
                    .chunks_exact(12)
                    .map(|c| ScrapeCounts {
                        seeders: be_u32(c, 0),
                        completed: be_u32(c, 4),
                        leechers: be_u32(c, 8),
                    })
                    .collect(),
            }),
            ACTION_ERROR => Ok(UdpResponse::Error {
                transaction,
                message: String::from_utf8_lossy(&r[8..]).into_owned(),
            }),
            other => Err(UdpReplyError::Action(other)),
        }
    }

    pub fn transaction(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction, .. }
            | UdpResponse::Announce { transaction, .. }
            | UdpResponse::Scrape { transaction, .. }
            | UdpResponse::Error { transaction, .. } => *transaction,
        }
    }
}

#[cfg(test)]
mod tests;
