//! Which peer and node addresses are worth dialing, given where we heard of them: the one filter
//! for every source (trackers, PEX, the DHT, magnet `x.pe`). A remote host must never steer us
//! at our own loopback or LAN services, nor at addresses no host can have. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How far from us an address is, coarsely: what a source may tell us of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// This machine: 127.0.0.0/8, ::1.
    Loopback,
    /// A private network: 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), link-local
    /// 169.254/16 and fe80::/10, unique local fc00::/7.
    Private,
    Public,
}

pub fn scope(ip: IpAddr) -> Scope {
    match ip.to_canonical() {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => scope_v6(v6),
    }
}

fn scope_v4(ip: Ipv4Addr) -> Scope {
    let o = ip.octets();
    if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_private() || ip.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        Scope::Private
    } else {
        Scope::Public
    }
}

fn scope_v6(ip: Ipv6Addr) -> Scope {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Scope::Loopback
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
        Scope::Private
    } else {
        Scope::Public
    }
}

/// True when no host can be reached at `ip`: unspecified, multicast, broadcast, the reserved
/// 240/4 and 0/8.
pub fn is_unreachable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

/// Whether `addr` could be a peer other than us, whoever named it: not port 0, not an address
/// no host can have, not our listening address `own`: its own IP with its port, or, when it
/// listens on every address, this machine's loopback with its port. (Listening on 127.0.0.10,
/// 127.0.0.11 with the same port is another process.)
pub fn dialable(addr: SocketAddr, own: Option<SocketAddr>) -> bool {
    let ip = addr.ip().to_canonical();
    let own = own.is_some_and(|own| {
        let own_ip = own.ip().to_canonical();
        own.port() == addr.port()
            && (ip == own_ip
                || own_ip.is_unspecified() && (ip.is_loopback() || ip.is_unspecified()))
    });
    addr.port() != 0 && !is_unreachable(ip) && !own
}

/// Whether to dial `addr`, heard of from `source` (the tracker's, peer's or node's address;
/// `None` for what the user gave, which is taken as it is). A source may name addresses as far
/// out as itself or farther: a loopback source anything, a private one private or public ones,
/// a public one public ones only.
pub fn admissible(addr: SocketAddr, source: Option<IpAddr>) -> bool {
    let ip = addr.ip();
    if !dialable(addr, None) {
        return false;
    }
    match source {
        None => true,
        Some(from) => scope(ip) >= scope(from),
    }
}

/// Schemes a tracker URL may have.
pub const TRACKER_SCHEMES: &[&str] = &["http://", "https://", "udp://"];
/// Schemes a web seed URL may have.
pub const WEB_SEED_SCHEMES: &[&str] = &["http://", "https://", "ftp://"];

/// Whether a URL from a torrent or a link may be used: one of `schemes`, something after it,
/// and no whitespace or control character (a CR/LF in it would end up in a request's head).
pub fn is_clean_url(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| {
        let url = url.as_bytes();
        url.len() > s.len() && url[..s.len()].eq_ignore_ascii_case(s.as_bytes())
    }) && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Appends the peers of one address family in compact form (BEP 23: 4-byte IPv4 or 16-byte
/// IPv6 address, then the port, big-endian); peers of the other family are skipped.
pub fn encode_compact<'a>(
    peers: impl IntoIterator<Item = &'a SocketAddr>,
    v6: bool,
    out: &mut Vec<u8>,
) {
    for addr in peers {
        match addr.ip() {
            IpAddr::V4(ip) if !v6 => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) if v6 => out.extend_from_slice(&ip.octets()),
            _ => continue,
        }
        out.extend_from_slice(&addr.port().to_be_bytes());
    }
}

/// Reads a compact peer list; `None` when its length is not a whole number of entries. Peers
/// with port 0 are dropped.
pub fn decode_compact(bytes: &[u8], v6: bool) -> Option<Vec<SocketAddr>> {
    let size = if v6 { 18 } else { 6 };
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    let peers = bytes
        .chunks_exact(size)
        .map(|c| {
            let ip = if v6 {
                IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(&c[..16]).expect("16 bytes"),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            };
            SocketAddr::new(ip, u16::from_be_bytes([c[size - 2], c[size - 1]]))
        })
        .filter(|a| a.port() != 0)
        .collect();
    Some(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_public_source_names_only_public_addresses() {
        let public = ip("203.0.113.7");
        for bad in [
            "0.0.0.0:6881",
            "127.0.0.1:6881",
            "224.0.0.1:6881",
            "255.255.255.255:6881",
            "10.0.0.5:6881",
            "192.168.1.1:80",
            "172.16.0.1:22",
            "169.254.1.1:6881",
            "100.64.0.1:6881",
            "240.0.0.1:6881",
            "[::1]:6881",
            "[::]:6881",
            "[ff02::1]:6881",
            "[fe80::1]:6881",
            "[fd00::1]:6881",
            "[::ffff:127.0.0.1]:6881",
            "8.8.8.8:0",
        ] {
            assert!(!admissible(a(bad), public), "{bad}");
        }
        for good in ["8.8.8.8:6881", "[2001:db8::1]:6881", "[::ffff:8.8.8.8]:1"] {
            assert!(admissible(a(good), public), "{good}");
        }
    }

    #[test]
    fn urls_with_spaces_or_line_breaks_are_refused() {
        assert!(is_clean_url("http://t.example/announce", TRACKER_SCHEMES));
        assert!(is_clean_url("UDP://t.example:80", TRACKER_SCHEMES));
        for bad in [
            "http://t.example/a\r\nX-Injected: 1",
            "http://t.example/a b",
            "http://t.example/\ta",
            "http://",
            "gopher://t.example/",
            "file:///etc/passwd",
            "ht\u{2da}p://x",
        ] {
            assert!(!is_clean_url(bad, TRACKER_SCHEMES), "{bad:?}");
        }
        assert!(is_clean_url("ftp://w.example/f", WEB_SEED_SCHEMES));
        assert!(!is_clean_url("udp://w.example:1", WEB_SEED_SCHEMES));
    }

    #[test]
    fn a_nearer_source_may_name_nearer_addresses() {
        assert!(admissible(a("127.0.0.1:6881"), ip("127.0.0.1")));
        assert!(admissible(a("10.0.0.5:6881"), ip("127.0.0.1")));
        assert!(admissible(a("10.0.0.5:6881"), ip("192.168.0.1")));
        assert!(!admissible(a("127.0.0.1:6881"), ip("192.168.0.1")));
        assert!(admissible(a("8.8.8.8:6881"), ip("::1")));
        // Addresses no host has are refused whoever names them, the user aside.
        assert!(!admissible(a("0.0.0.0:6881"), ip("127.0.0.1")));
        assert!(!admissible(a("224.0.0.1:6881"), ip("127.0.0.1")));
        assert!(admissible(a("127.0.0.1:6881"), None));
        assert!(!admissible(a("0.0.0.0:6881"), None));
    }
}
