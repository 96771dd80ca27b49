//! The extension protocol (BEP 10), sans-IO: the registry of extensions we speak and the
//! extended handshake both ways. Extension messages travel as [`crate::wire::Message::Extended`];
//! id 0 is the handshake, other ids are the ones the receiver assigned in its `m` dictionary.

pub mod metadata;
pub mod pex;

use crate::bencode::{self, DecodeError, Kind, encode::Bencode};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why an extension message (BEP 9, 10, 11) could not be used. Each names the message and the
/// field at fault; all of them end that peer's connection (or, for metadata, its copy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("{message}: {source}")]
    Bencode {
        message: &'static str,
        source: DecodeError,
    },
    #[error("{0} is not a dictionary")]
    NotADictionary(&'static str),
    #[error("{message} without a valid `{field}`")]
    Field {
        message: &'static str,
        field: &'static str,
    },
    #[error("ut_metadata piece of {0} bytes")]
    MetadataPieceTooLong(usize),
    #[error("metadata_size {size} is outside 1..={max}")]
    MetadataSize { size: usize, max: usize },
    #[error("total_size {said} differs from the metadata_size {announced} it announced")]
    TotalSize { said: u32, announced: usize },
    #[error("metadata piece {0} does not exist")]
    NoSuchPiece(u32),
    #[error("metadata piece {piece} is {len} bytes, not {expected}")]
    PieceLength {
        piece: u32,
        len: usize,
        expected: usize,
    },
    #[error("metadata fails its SHA-1 check against the info-hash")]
    HashMismatch,
}

/// The extended handshake's message id.
pub const HANDSHAKE: u8 = 0;
/// Requests a peer may have queued with us; advertised as `reqq` (libtorrent's figure). A
/// queued request costs us 12 bytes.
pub const OUR_REQQ: usize = 2000;
/// What we assume of a peer that does not say (libtorrent's default).
pub const DEFAULT_REQQ: usize = 250;
/// Extensions we speak, and the id each should reach us under (the ids are ours to choose;
/// these are libtorrent's).
pub const UT_METADATA: (&str, u8) = ("ut_metadata", 2);
pub const UT_PEX: (&str, u8) = ("ut_pex", 1);
/// Entries of a peer's `m` dictionary we keep at most.
const MAX_EXTENSIONS: usize = 64;

/// The extended handshake (BEP 10). Fields a peer leaves out are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedHandshake {
    /// Extension name → the id the sender wants it under (0 disables it).
    pub m: BTreeMap<String, u8>,
    /// Client name and version.
    pub v: Option<String>,
    /// Requests the sender lets us queue.
    pub reqq: Option<u32>,
    /// The sender's listening port.
    pub p: Option<u16>,
    /// Our address as the sender sees it.
    pub yourip: Option<IpAddr>,
    /// Size of the info dictionary, for `ut_metadata` (BEP 9).
    pub metadata_size: Option<u32>,
}

impl ExtendedHandshake {
    /// Ours, to a peer at `their_ip`. `metadata_size` is the info dictionary's size when we
    /// have it; `public` is false for a private torrent (BEP 27), which offers neither
    /// metadata nor peer exchange.
    pub fn ours(
        listen_port: u16,
        their_ip: IpAddr,
        metadata_size: Option<usize>,
        public: bool,
    ) -> ExtendedHandshake {
        let offered: &[(&str, u8)] = if public { &[UT_METADATA, UT_PEX] } else { &[] };
        ExtendedHandshake {
            m: offered.iter().map(|(n, id)| (n.to_string(), *id)).collect(),
            v: Some(format!("p2p/{}", env!("CARGO_PKG_VERSION"))),
            reqq: Some(OUR_REQQ as u32),
            p: Some(listen_port),
            yourip: Some(their_ip),
            metadata_size: metadata_size
                .filter(|_| public)
                .and_then(|n| u32::try_from(n).ok()),
        }
    }

    /// The id the peer wants extension `name` under, if it speaks it.
    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut dict = BTreeMap::new();
        let m = self
            .m
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Bencode::Int(*v as i64)))
            .collect();
        dict.insert(b"m".to_vec(), Bencode::Dict(m));
        if let Some(v) = &self.v {
            dict.insert(b"v".to_vec(), Bencode::Bytes(v.as_bytes().to_vec()));
        }
        if let Some(reqq) = self.reqq {
            dict.insert(b"reqq".to_vec(), Bencode::Int(reqq as i64));
        }
        if let Some(p) = self.p {
            dict.insert(b"p".to_vec(), Bencode::Int(p as i64));
        }
        if let Some(ip) = self.yourip {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            dict.insert(b"yourip".to_vec(), Bencode::Bytes(bytes));
        }
        if let Some(size) = self.metadata_size {
            dict.insert(b"metadata_size".to_vec(), Bencode::Int(size as i64));
        }
        Bencode::Dict(dict).encode()
    }

    /// Reads a peer's handshake. Not a dictionary, or an `m` that is not one, is an error (the
    /// connection closes); fields of the wrong type or out of range are left out.
    pub fn parse(payload: &[u8]) -> Result<ExtendedHandshake, ExtensionError> {
        let v = bencode::decode(payload).map_err(|source| ExtensionError::Bencode {
            message: "extended handshake",
            source,
        })?;
        if !v.is_dict() {
            return Err(ExtensionError::NotADictionary("extended handshake"));
        }
        let mut m = BTreeMap::new();
        match v.get("m").map(|m| &m.kind) {
            None => {}
            Some(Kind::Dict(entries)) => {
                for (name, id) in entries.iter().take(MAX_EXTENSIONS) {
                    let id = id.as_int().and_then(|i| u8::try_from(i).ok());
                    if let (Ok(name), Some(id)) = (std::str::from_utf8(name), id) {
                        m.insert(name.to_string(), id);
                    }
                }
            }
            Some(_) => return Err(ExtensionError::NotADictionary("extended handshake `m`")),
        }
        let int = |key| v.get(key).and_then(|x| x.as_int());
        let yourip = v
            .get("yourip")
            .and_then(|x| x.as_bytes())
            .and_then(|b| match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
                _ => None,
            });
        Ok(ExtendedHandshake {
            m,
            v: v.get("v")
                .and_then(|x| x.as_bytes())
                .map(|b| crate::escape::untrusted_bytes(b, 64)),
            reqq: int("reqq")
                .and_then(|r| u32::try_from(r).ok())
                .filter(|&r| r > 0),
            p: int("p")
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p > 0),
            yourip,
            metadata_size: int("metadata_size")
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_handshake_round_trips_and_carries_reqq() {
        let ours = ExtendedHandshake::ours(6881, "10.1.2.3".parse().unwrap(), Some(5000), true);
        let bytes = ours.encode();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("4:reqqi2000e"), "{text}");
        assert!(text.contains("1:v9:p2p/0.1.0"), "{text}");
        assert!(text.contains("13:metadata_sizei5000e"), "{text}");
        assert!(text.contains("1:md11:ut_metadatai2e6:ut_pexi1ee"), "{text}");
        let private = ExtendedHandshake::ours(6881, "10.1.2.3".parse().unwrap(), Some(5000), false);
        assert!(private.m.is_empty() && private.metadata_size.is_none());
        assert_eq!(ExtendedHandshake::parse(&bytes).unwrap(), ours);
    }

    #[test]
    fn foreign_handshakes_are_read_leniently_but_a_non_dictionary_is_refused() {
        let lt = b"d1:md11:ut_metadatai2e6:ut_pexi1e4:junk3:abce1:pi6881e4:reqqi2000e1:v17:libtorrent 2.0.8 6:yourip4:\x7f\x00\x00\x01e";
        let h = ExtendedHandshake::parse(lt).unwrap();
        assert_eq!(h.m.get("ut_metadata"), Some(&2));
        assert_eq!(h.m.get("junk"), None);
        assert_eq!(h.reqq, Some(2000));
        assert_eq!(h.p, Some(6881));
        assert_eq!(h.yourip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(h.v.as_deref(), Some("libtorrent 2.0.8 "));
        let odd = ExtendedHandshake::parse(b"d4:reqqi-5e1:pi70000e1:v3:\x1b[1e").unwrap();
        assert_eq!((odd.reqq, odd.p), (None, None));
        assert_eq!(odd.v.as_deref(), Some("\\u{1b}[1"));
        assert!(ExtendedHandshake::parse(b"li1ee").is_err());
        assert!(ExtendedHandshake::parse(b"d1:mi3ee").is_err());
        assert!(ExtendedHandshake::parse(b"d1:m").is_err());
    }
}
