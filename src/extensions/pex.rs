//! `ut_pex` (BEP 11), sans-IO: peers added (with flags) and dropped since the last message,
//! IPv4 and IPv6, compact form.

use super::ExtensionError;
use crate::address::{decode_compact, encode_compact};
use crate::bencode::{self, Bencode};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Flags of an added peer.
pub const PREFERS_ENCRYPTION: u8 = 0x01;
pub const SEED: u8 = 0x02;
pub const CONNECTABLE: u8 = 0x10;
/// Peers one message adds at most (BEP 11 says 50); more from a peer are ignored.
pub const MAX_ADDED: usize = 50;
/// Entries of a list read at most: past this the message is flooding.
const MAX_READ: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    pub added: Vec<(SocketAddr, u8)>,
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut dict = BTreeMap::new();
        for (v6, key, flags_key, drop_key) in [
            (false, "added", "added.f", "dropped"),
            (true, "added6", "added6.f", "dropped6"),
        ] {
            let family: Vec<&(SocketAddr, u8)> = self
                .added
                .iter()
                .filter(|(a, _)| a.is_ipv6() == v6)
                .collect();
            let mut addrs = Vec::new();
            encode_compact(family.iter().map(|(a, _)| a), v6, &mut addrs);
            let flags: Vec<u8> = family.iter().map(|(_, f)| *f).collect();
            let mut dropped = Vec::new();
            encode_compact(&self.dropped, v6, &mut dropped);
            dict.insert(key.as_bytes().to_vec(), Bencode::Bytes(addrs));
            dict.insert(flags_key.as_bytes().to_vec(), Bencode::Bytes(flags));
            dict.insert(drop_key.as_bytes().to_vec(), Bencode::Bytes(dropped));
        }
        Bencode::Dict(dict).encode()
    }

    /// Reads a message leniently: a missing or malformed list counts as empty, flags that do
    /// not line up are taken as 0, and at most [`MAX_ADDED`] added peers are kept. Only a
    /// payload that is not a dictionary is an error.
    pub fn parse(payload: &[u8]) -> Result<PexMessage, ExtensionError> {
        let v = bencode::decode(payload).map_err(|source| ExtensionError::Bencode {
            message: "ut_pex message",
            source,
        })?;
        if !v.is_dict() {
            return Err(ExtensionError::NotADictionary("ut_pex message"));
        }
        let list = |key: &str, v6: bool| -> Vec<SocketAddr> {
            let size = if v6 { 18 } else { 6 };
            let bytes = v.get(key).and_then(|x| x.as_bytes()).unwrap_or_default();
            let bytes = &bytes[..bytes.len().min(MAX_READ * size)];
            let whole = bytes.len() - bytes.len() % size;
            decode_compact(&bytes[..whole], v6).unwrap_or_default()
        };
        let mut msg = PexMessage::default();
        for (v6, key, flags_key, drop_key) in [
            (false, "added", "added.f", "dropped"),
            (true, "added6", "added6.f", "dropped6"),
        ] {
            let flags = v
                .get(flags_key)
                .and_then(|x| x.as_bytes())
                .unwrap_or_default();
            for (i, addr) in list(key, v6).into_iter().enumerate() {
                if msg.added.len() < MAX_ADDED && addr.port() != 0 {
                    msg.added.push((addr, flags.get(i).copied().unwrap_or(0)));
                }
            }
            msg.dropped.extend(list(drop_key, v6));
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families_with_flags() {
        let msg = PexMessage {
            added: vec![
                ("10.0.0.1:6881".parse().unwrap(), SEED | CONNECTABLE),
                ("[2001:db8::1]:7000".parse().unwrap(), CONNECTABLE),
                ("10.0.0.2:80".parse().unwrap(), 0),
            ],
            dropped: vec!["10.9.9.9:1".parse().unwrap(), "[::2]:2".parse().unwrap()],
        };
        let back = PexMessage::parse(&msg.encode()).unwrap();
        let mut want = msg.added.clone();
        want.sort_by_key(|(a, _)| a.is_ipv6());
        assert_eq!(back.added, want);
        assert_eq!(back.dropped, msg.dropped);
    }

    #[test]
    fn reads_foreign_messages_leniently_and_bounded() {
        // libtorrent's shape: added + added.f, no IPv6 keys.
        let m = PexMessage::parse(b"d5:added6:\x7f\x00\x00\x01\x1a\xe17:added.f1:\x12e").unwrap();
        assert_eq!(m.added, [("127.0.0.1:6881".parse().unwrap(), 0x12)]);
        // Ragged lists and missing flags.
        let m = PexMessage::parse(b"d5:added7:\x01\x02\x03\x04\x00\x05\xffe").unwrap();
        assert_eq!(m.added, [("1.2.3.4:5".parse().unwrap(), 0)]);
        let flood: Vec<u8> = (0..1000u32)
            .flat_map(|i| {
                let mut e = i.to_be_bytes().to_vec();
                e.extend_from_slice(&[0, 1]);
                e
            })
            .collect();
        let mut payload = format!("d5:added{}:", flood.len()).into_bytes();
        payload.extend(flood);
        payload.push(b'e');
        assert_eq!(PexMessage::parse(&payload).unwrap().added.len(), MAX_ADDED);
        assert!(PexMessage::parse(b"le").is_err());
        assert!(PexMessage::parse(b"d5:added").is_err());
    }
}
