//! Magnet links (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<tracker>&x.pe=<peer>`. The
//! info-hash comes as 40 hex digits or 32 base32 characters; `tr` may repeat (tried like an
//! announce-list, one tracker a tier); `x.pe` names peers, `HOST:PORT` or `[v6]:PORT`.
//! A v2 or hybrid torrent's link carries `xt=urn:btmh:1220<64 hex>` (BEP 52: the SHA-256
//! info-hash as a multihash), alone or beside the `btih`.

use crate::hash::Digest256;
use crate::metainfo::{InfoHash, Torrent};
use std::net::SocketAddr;

/// Longest magnet link read: real ones are a few hundred bytes.
const MAX_URI: usize = 64 << 10;
/// Trackers and peers kept of one link at most.
const MAX_TRACKERS: usize = 32;
const MAX_PEERS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The swarm's 20 bytes: the `btih`, or for a `btmh` alone its first 20 bytes.
    pub info_hash: InfoHash,
    /// The v2 info-hash (`btmh`), when the link names one.
    pub v2: Option<Digest256>,
    /// `dn`: the name to show until the metadata says.
    pub name: Option<String>,
    /// `tr`, in order.
    pub trackers: Vec<String>,
    /// `x.pe`.
    pub peers: Vec<SocketAddr>,
}

/// What is wrong with a magnet link: `part` names the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("magnet link {part}: {reason}")]
pub struct MagnetError {
    pub part: String,
    pub reason: String,
}

fn bad(part: &str, reason: impl Into<String>) -> MagnetError {
    MagnetError {
        part: crate::escape::untrusted(part, 80),
        reason: reason.into(),
    }
}

impl Magnet {
    /// Whether `text` is meant as a magnet link rather than a file name.
    pub fn is_magnet(text: &str) -> bool {
        text.get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("magnet:"))
    }

    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_URI {
            return Err(bad("length", format!("is longer than {MAX_URI} bytes")));
        }
        let query = uri
            .strip_prefix("magnet:?")
            .or_else(|| uri.strip_prefix("MAGNET:?"))
            .ok_or_else(|| bad("scheme", "does not start with `magnet:?`"))?;
        let (mut info_hash, mut name, mut v2) = (None, None, None);
        let (mut trackers, mut peers) = (Vec::new(), Vec::new());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| bad(key, "bad %-escape"))?;
            match key {
                "xt" => {
                    if let Some(multihash) = value.strip_prefix("urn:btmh:") {
                        if v2.is_some() {
                            return Err(bad("xt", "names two v2 info-hashes"));
                        }
                        v2 = Some(parse_multihash(multihash)?);
                        continue;
                    }
                    let Some(hash) = value.strip_prefix("urn:btih:") else {
                        // Other kinds of hash are not BitTorrent's; one of ours may follow.
                        continue;
                    };
                    if info_hash.is_some() {
                        return Err(bad("xt", "names two BitTorrent info-hashes"));
                    }
                    info_hash = Some(parse_hash(hash)?);
                }
                "dn" => name = Some(value),
                "tr" => {
                    if !crate::address::is_clean_url(&value, crate::address::TRACKER_SCHEMES) {
                        return Err(bad(
                            "tr",
                            format!(
                                "`{value}` is not an http://, https:// or udp:// URL without spaces"
                            ),
                        ));
                    }
                    if trackers.len() < MAX_TRACKERS && !trackers.contains(&value) {
                        trackers.push(value);
                    }
                }
                "x.pe" => {
                    let addr: SocketAddr = value.parse().map_err(|_| {
                        bad("x.pe", format!("`{value}` is not IPV4:PORT or [IPV6]:PORT"))
                    })?;
                    if addr.port() == 0 {
                        return Err(bad("x.pe", format!("`{value}` has port 0")));
                    }
                    if peers.len() < MAX_PEERS && !peers.contains(&addr) {
                        peers.push(addr);
                    }
                }
                "ws" => log::warn!("magnet link: web seeds (ws) are not supported; ignored"),
                _ => {}
            }
        }
        let truncated = v2.map(|h: Digest256| InfoHash(h[..20].try_into().expect("32 bytes")));
        Ok(Magnet {
            info_hash: info_hash
                .or(truncated)
                .ok_or_else(|| bad("xt", "is missing (no urn:btih: or urn:btmh: info-hash)"))?,
            v2,
            name,
            trackers,
            peers,
        })
    }

    /// The link of a torrent we have: info-hash, name and every tracker.
    pub fn of(torrent: &Torrent) -> Magnet {
        Magnet {
            info_hash: torrent.info_hash,
            v2: torrent.info.v2.as_ref().map(|v2| v2.info_hash),
            name: Some(torrent.info.name.clone()),
            trackers: torrent.tracker_tiers().into_iter().flatten().collect(),
            peers: Vec::new(),
        }
    }

    pub fn to_uri(&self) -> String {
        let v2_only = self.v2.is_some_and(|h| h[..20] == self.info_hash.0);
        let mut uri = String::from("magnet:?");
        if !v2_only {
            uri.push_str(&format!("xt=urn:btih:{}", self.info_hash.hex()));
        }
        if let Some(v2) = &self.v2 {
            uri.push_str(if v2_only { "" } else { "&" });
            uri.push_str("xt=urn:btmh:1220");
            uri.push_str(&crate::hash::hex(v2));
        }
        if let Some(name) = &self.name {
            uri.push_str("&dn=");
            uri.push_str(&percent_encode(name));
        }
        for t in &self.trackers {
            uri.push_str("&tr=");
            uri.push_str(&percent_encode(t));
        }
        for p in &self.peers {
            uri.push_str("&x.pe=");
            uri.push_str(&percent_encode(&p.to_string()));
        }
        uri
    }
}

/// A BEP 52 multihash: `1220` (SHA-256, 32 bytes) and 64 hex digits.
fn parse_multihash(text: &str) -> Result<Digest256, MagnetError> {
    let not = || {
        bad(
            "xt",
            format!("`urn:btmh:{text}` is not 1220 and 64 hex digits (SHA-256)"),
        )
    };
    let hex = text.strip_prefix("1220").ok_or_else(not)?;
    if hex.len() != 64 {
        return Err(not());
    }
    let mut hash = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| not())?;
        hash[i] = u8::from_str_radix(pair, 16).map_err(|_| not())?;
    }
    Ok(hash)
}

fn parse_hash(text: &str) -> Result<InfoHash, MagnetError> {
    let mut hash = [0u8; 20];
    match text.len() {
        40 => {
            for (i, pair) in text.as_bytes().chunks(2).enumerate() {
                let hex = std::str::from_utf8(pair).ok();
                hash[i] = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("xt", format!("`{text}` is not 40 hex digits")))?;
            }
        }
        32 => {
            // RFC 4648 base32: 32 characters of 5 bits are the 160 bits.
            let mut acc: u64 = 0;
            let mut bits = 0;
            let mut out = 0;
            for c in text.bytes() {
                let v = match c.to_ascii_uppercase() {
                    c @ b'A'..=b'Z' => c - b'A',
                    c @ b'2'..=b'7' => c - b'2' + 26,
                    _ => return Err(bad("xt", format!("`{text}` is not base32"))),
                };
                acc = (acc << 5) | v as u64;
                bits += 5;
                if bits >= 8 {
                    bits -= 8;
                    hash[out] = (acc >> bits) as u8;
                    out += 1;
                }
            }
        }
        n => {
            return Err(bad(
                "xt",
                format!("info-hash has {n} characters, not 40 (hex) or 32 (base32)"),
            ));
        }
    }
    Ok(InfoHash(hash))
}

/// `%XX` and `+` (a space, as forms write it) decoded, as the tracker decodes a query;
/// `None` for a bad escape or non-UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    String::from_utf8(crate::url::percent_decode(text.as_bytes())?.into_owned()).ok()
}

/// Everything but RFC 3986's unreserved characters and a few harmless in a query value.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/[]".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn reads_hex_and_base32_hashes_names_trackers_and_peers() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Some+file%20name&tr=http%3A%2F%2Ft.example%3A6969%2Fannounce&tr=udp://u.example:80&x.pe=10.0.0.1:6881&x.pe=[::1]:7000&ws=http://w/"
        ))
        .unwrap();
        assert_eq!(m.info_hash.hex(), HEX);
        assert_eq!(m.name.as_deref(), Some("Some file name"));
        assert_eq!(
            m.trackers,
            ["http://t.example:6969/announce", "udp://u.example:80"]
        );
        assert_eq!(
            m.peers,
            [
                "10.0.0.1:6881".parse::<SocketAddr>().unwrap(),
                "[::1]:7000".parse().unwrap()
            ]
        );
        // The same hash in base32 (RFC 4648), upper and lower case.
        let b32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}"))
                .unwrap()
                .info_hash,
            m.info_hash
        );
        assert_eq!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", b32.to_lowercase()))
                .unwrap()
                .info_hash,
            m.info_hash
        );
    }

    #[test]
    fn round_trips_through_to_uri() {
        let mut m = Magnet {
            info_hash: InfoHash([0xab; 20]),
            v2: None,
            name: Some("a b&c=d/é".into()),
            trackers: vec!["http://h:1/announce?x=1&y=2".into()],
            peers: vec!["[::1]:5".parse().unwrap(), "1.2.3.4:5".parse().unwrap()],
        };
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        // A hybrid: both hashes; a v2-only torrent: the btmh alone.
        m.v2 = Some([0xcd; 32]);
        assert!(
            m.to_uri()
                .contains(&format!("&xt=urn:btmh:1220{}", "cd".repeat(32)))
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
        m.info_hash = InfoHash([0xcd; 20]);
        assert!(
            m.to_uri()
                .starts_with(&format!("magnet:?xt=urn:btmh:1220{}&dn=", "cd".repeat(32)))
        );
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn a_btmh_link_parses_alone_and_beside_a_btih() {
        let v2 = "1220".to_string() + &"0f".repeat(32);
        let alone = Magnet::parse(&format!("magnet:?xt=urn:btmh:{v2}")).unwrap();
        assert_eq!(alone.v2, Some([0x0f; 32]));
        assert_eq!(alone.info_hash, InfoHash([0x0f; 20]), "its first 20 bytes");
        let both = Magnet::parse(&format!(
            "magnet:?xt=urn:btmh:{v2}&xt=urn:btih:{}",
            "ab".repeat(20)
        ))
        .unwrap();
        assert_eq!(both.info_hash, InfoHash([0xab; 20]), "the v1 swarm");
        assert_eq!(both.v2, Some([0x0f; 32]));
        for bad in [
            "1114".to_string() + &"0f".repeat(20),
            "1220".to_string() + &"0f".repeat(31),
            "1220".to_string() + &"zz".repeat(32),
        ] {
            let e = Magnet::parse(&format!("magnet:?xt=urn:btmh:{bad}")).unwrap_err();
            assert_eq!(e.part, "xt", "{bad}");
        }
    }

    #[test]
    fn names_the_part_at_fault() {
        let part = |uri: &str| Magnet::parse(uri).unwrap_err().part;
        assert_eq!(part("magnet:?dn=x"), "xt");
        assert_eq!(part("magnet:?xt=urn:btih:abcd"), "xt");
        assert_eq!(
            part(&format!("magnet:?xt=urn:btih:{}", "1".repeat(32))),
            "xt"
        );
        assert_eq!(
            part(&format!("magnet:?xt=urn:btih:{}", "g".repeat(40))),
            "xt"
        );
        assert_eq!(
            part(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=nothost")),
            "x.pe"
        );
        assert_eq!(
            part(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=1.2.3.4:0")),
            "x.pe"
        );
        assert_eq!(part(&format!("magnet:?xt=urn:btih:{HEX}&tr=ftp://x")), "tr");
        assert_eq!(part(&format!("magnet:?xt=urn:btih:{HEX}&dn=%zz")), "dn");
        assert_eq!(part("http://x"), "scheme");
        let e = Magnet::parse("magnet:?xt=urn:btih:abcd").unwrap_err();
        assert_eq!(
            e.to_string(),
            "magnet link xt: info-hash has 4 characters, not 40 (hex) or 32 (base32)"
        );
    }
}
