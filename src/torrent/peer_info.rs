//! The torrent's peers as a client lists them (Transmission's `peers`, `p2p status`): address,
//! client, progress, rates and the choke and interest of each side. Read on request, from the
//! task that owns them.

use super::{Kind, Task};
use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The client its peer id names (`qBittorrent 4.6.2`), else the id's printable start.
    pub client: String,
    /// Its share of the torrent's pieces, 0 to 1.
    pub progress: f64,
    /// Bytes a second it sends us, and takes from us.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub incoming: bool,
    pub encrypted: bool,
    /// The connection runs over uTP.
    pub utp: bool,
    pub web_seed: bool,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
}

impl Task {
    /// What `p2p seed` tells of its peers as they come, complete and leave (a fetch or a
    /// daemon keeps that to the debug log: they have thousands).
    pub(super) fn seed_says(&self, what: std::fmt::Arguments) {
        if self.config.options.upload_only {
            log::info!(
                "{}: {what}",
                crate::escape::untrusted(&self.meta.info.name, 80)
            );
        }
    }

    pub(super) fn peer_list(&self) -> Vec<PeerInfo> {
        let pieces = self.picker.have().len().max(1);
        let mut list: Vec<PeerInfo> = self
            .peers
            .values()
            .map(|p| {
                let (download_rate, upload_rate) = p.rates();
                PeerInfo {
                    addr: p.addr(),
                    client: client_name(&p.id()),
                    progress: p.has().count() as f64 / pieces as f64,
                    download_rate,
                    upload_rate,
                    incoming: !p.dialed(),
                    encrypted: p.encrypted(),
                    utp: p.utp(),
                    web_seed: p.kind() == Kind::WebSeed,
                    am_choking: p.am_choking(),
                    am_interested: p.am_interested(),
                    peer_choking: p.peer_choking(),
                    peer_interested: p.peer_interested(),
                }
            })
            .collect();
        list.sort_by_key(|p| p.addr);
        list
    }
}

/// The client an Azureus-style peer id (`-qB4620-…`, BEP 20) names, with its version; an id of
/// another form shows its printable start.
pub fn client_name(id: &[u8; 20]) -> String {
    const KNOWN: &[(&[u8; 2], &str)] = &[
        (b"qB", "qBittorrent"),
        (b"TR", "Transmission"),
        (b"LT", "libtorrent"),
        (b"lt", "libtorrent (rakshasa)"),
        (b"UT", "µTorrent"),
        (b"DE", "Deluge"),
        (b"AZ", "Vuze"),
        (b"BC", "BitComet"),
        (b"WW", "WebTorrent"),
        (b"rQ", "rqbit"),
        (b"P2", "p2p"),
        (b"BT", "BitTorrent"),
    ];
    if id[0] == b'-' && id[7] == b'-' && id[1..7].iter().all(u8::is_ascii_alphanumeric) {
        let code = [id[1], id[2]];
        let version = id[3..7]
            .iter()
            .map(|&b| char::from(b).to_string())
            .collect::<Vec<_>>()
            .join(".");
        return match KNOWN.iter().find(|(c, _)| **c == code) {
            Some((_, name)) => format!("{name} {version}"),
            None => format!("{}{} {version}", char::from(code[0]), char::from(code[1])),
        };
    }
    // aria2's `A2-1-36-0-…`, Mainline's `M7-4-3--…`, and the rest: what is readable of it.
    let readable: String = id
        .iter()
        .take_while(|b| b.is_ascii_graphic())
        .take(12)
        .map(|&b| char::from(b))
        .collect();
    if readable.is_empty() {
        "unknown".into()
    } else {
        readable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &[u8]) -> [u8; 20] {
        let mut id = [0xffu8; 20];
        id[..prefix.len()].copy_from_slice(prefix);
        id
    }

    #[test]
    fn peer_ids_name_their_clients() {
        assert_eq!(client_name(&id(b"-qB4620-")), "qBittorrent 4.6.2.0");
        assert_eq!(client_name(&id(b"-TR3000-")), "Transmission 3.0.0.0");
        assert_eq!(client_name(&id(b"-P20001-")), "p2p 0.0.0.1");
        assert_eq!(client_name(&id(b"-ZZ0102-")), "ZZ 0.1.0.2");
        assert_eq!(client_name(&id(b"A2-1-36-0-")), "A2-1-36-0-");
        assert_eq!(client_name(&[0; 20]), "unknown");
    }
}
