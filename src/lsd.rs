//! Local Service Discovery (BEP 14): peers on the same LAN find each other without a tracker
//! or the DHT. Every public torrent is announced (`BT-SEARCH * HTTP/1.1` with `Port`,
//! `Infohash` and our `cookie`) to 239.192.152.143:6771 and [ff15::efc0:988f]:6771 at start
//! and every five minutes, one message at least 200 ms after the last on each; announces
//! heard there name peers for the torrents we have, our own (our cookie) ignored. Never for
//! private torrents (BEP 27).

use crate::metainfo::InfoHash;
use async_std::channel::{Receiver, Sender, unbounded};
use async_std::net::UdpSocket;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

pub const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);
pub const GROUP_V6: SocketAddrV6 = SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    6771,
    0,
    0,
);
/// How often each torrent is announced.
pub const INTERVAL: Duration = Duration::from_secs(300);
/// The least time between two messages sent.
const GAP: Duration = Duration::from_millis(200);
/// A datagram longer than this is not an announce.
const MAX_PACKET: usize = 1400;
/// Info-hashes read from one announce.
const MAX_HASHES: usize = 16;

/// An announce to `group`: `port` and the torrent it is for, from the sender `cookie`.
pub fn announce(group: SocketAddr, port: u16, info_hash: &InfoHash, cookie: &str) -> Vec<u8> {
    format!(
        "BT-SEARCH * HTTP/1.1\r\nHost: {group}\r\nPort: {port}\r\nInfohash: {}\r\ncookie: {cookie}\r\n\r\n\r\n",
        info_hash.hex()
    )
    .into_bytes()
}

/// What an announce says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub port: u16,
    pub hashes: Vec<InfoHash>,
    pub cookie: Option<String>,
}

/// Reads an announce; `None` for anything else.
pub fn parse(packet: &[u8]) -> Option<Heard> {
    if packet.len() > MAX_PACKET {
        return None;
    }
    let text = std::str::from_utf8(packet).ok()?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    if lines.next()?.trim() != "BT-SEARCH * HTTP/1.1" {
        return None;
    }
    let mut heard = Heard {
        port: 0,
        hashes: Vec::new(),
        cookie: None,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "port" => heard.port = value.parse().ok()?,
            "infohash" if heard.hashes.len() < MAX_HASHES => {
                if let Some(h) = InfoHash::from_hex(value) {
                    heard.hashes.push(h);
                }
            }
            "cookie" => heard.cookie = Some(value.chars().take(64).collect()),
            _ => {}
        }
    }
    (heard.port != 0 && !heard.hashes.is_empty()).then_some(heard)
}

enum Command {
    Add(InfoHash),
    Remove(InfoHash),
}

/// The running service (a task for each address family): torrents come and go through it.
#[derive(Clone)]
pub struct Lsd {
    families: Vec<Sender<Command>>,
}

impl Lsd {
    /// Announces `info_hash` now and every [`INTERVAL`], and takes peers for it.
    pub fn add(&self, info_hash: InfoHash) {
        for f in &self.families {
            let _ = f.try_send(Command::Add(info_hash));
        }
    }

    pub fn remove(&self, info_hash: InfoHash) {
        for f in &self.families {
            let _ = f.try_send(Command::Remove(info_hash));
        }
    }
}

/// Joins both groups on port 6771 (shared with other programs on this host), each where the
/// source allows, and runs until every [`Lsd`] handle is dropped. `found` is given each peer
/// heard of, with its torrent. An error only when neither group could be joined.
pub fn start(
    port: u16,
    found: impl Fn(InfoHash, SocketAddr) + Clone + Send + 'static,
) -> std::io::Result<Lsd> {
    let cookie = format!("p2p{:08x}", crate::random::Rng::new().next_u64() as u32);
    let sockets = [
        (
            SocketAddr::V4(GROUP),
            crate::net::source::multicast_v4(GROUP),
        ),
        (
            SocketAddr::V6(GROUP_V6),
            crate::net::source::multicast_v6(GROUP_V6),
        ),
    ];
    let mut families = Vec::new();
    let mut last_error = None;
    for (group, socket) in sockets {
        match socket {
            Ok(socket) => {
                let (commands, rx) = unbounded();
                let found = found.clone();
                crate::runtime::spawn(run(socket, group, port, cookie.clone(), rx, found));
                families.push(commands);
            }
            Err(e) => {
                log::debug!("local peer discovery on {group}: {e}");
                last_error = Some(e);
            }
        }
    }
    match (families.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(Lsd { families }),
    }
}

async fn run(
    socket: UdpSocket,
    group: SocketAddr,
    port: u16,
    cookie: String,
    commands: Receiver<Command>,
    found: impl Fn(InfoHash, SocketAddr),
) {
    // When each torrent is next announced.
    let mut due: HashMap<InfoHash, Instant> = HashMap::new();
    let mut last_sent = Instant::now() - GAP;
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        let now = Instant::now();
        let next = due
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(h, at)| (*h, *at));
        let wake = next.map_or(INTERVAL, |(_, at)| {
            at.max(last_sent + GAP).saturating_duration_since(now)
        });
        enum Wake {
            Command(Option<Command>),
            Datagram(std::io::Result<(usize, SocketAddr)>),
            Time,
        }
        let command = async { Wake::Command(commands.recv().await.ok()) };
        let datagram = async { Wake::Datagram(socket.recv_from(&mut buf).await) };
        let timer = async {
            crate::runtime::sleep(wake).await;
            Wake::Time
        };
        let woke = crate::runtime::race(command, crate::runtime::race(datagram, timer)).await;
        match woke {
            Wake::Command(None) => return,
            Wake::Command(Some(Command::Add(h))) => {
                due.insert(h, Instant::now());
            }
            Wake::Command(Some(Command::Remove(h))) => {
                due.remove(&h);
            }
            Wake::Datagram(Ok((n, from))) => {
                let Some(heard) = parse(&buf[..n]) else {
                    continue;
                };
                if heard.cookie.as_deref() == Some(cookie.as_str()) {
                    continue;
                }
                let mut peer = from;
                peer.set_port(heard.port);
                for h in heard.hashes.iter().filter(|h| due.contains_key(h)) {
                    log::debug!("lsd: {peer} has {}", h.hex());
                    found(*h, peer);
                }
            }
            Wake::Datagram(Err(e)) => {
                log::debug!("lsd: {e}");
                crate::runtime::sleep(GAP).await;
            }
            Wake::Time => {
                let Some((h, at)) = next else { continue };
                if at > Instant::now() || last_sent.elapsed() < GAP {
                    continue;
                }
                let message = announce(group, port, &h, &cookie);
                if let Err(e) = socket.send_to(&message, group).await {
                    log::debug!("lsd: announcing {}: {e}", h.hex());
                }
                last_sent = Instant::now();
                due.insert(h, last_sent + INTERVAL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> InfoHash {
        InfoHash::from_hex(&format!("{b:02x}").repeat(20)).unwrap()
    }

    #[test]
    fn an_announce_reads_back() {
        let packet = announce(SocketAddr::V4(GROUP), 6881, &hash(0xab), "p2pcafe");
        let text = String::from_utf8(packet.clone()).unwrap();
        assert!(text.starts_with("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
        assert_eq!(
            parse(&packet),
            Some(Heard {
                port: 6881,
                hashes: vec![hash(0xab)],
                cookie: Some("p2pcafe".into())
            })
        );
        let v6 = announce(SocketAddr::V6(GROUP_V6), 1, &hash(1), "c");
        assert!(
            String::from_utf8(v6)
                .unwrap()
                .contains("Host: [ff15::efc0:988f]:6771\r\n")
        );
    }

    #[test]
    fn libtorrent_s_form_and_junk() {
        // libtorrent: several Infohash lines, lower-case header names, no cookie required.
        let lt = format!(
            "BT-SEARCH * HTTP/1.1\r\nhost: 239.192.152.143:6771\r\nport: 7000\r\ninfohash: {}\r\n\
             infohash: {}\r\ncookie: 1a2b\r\n\r\n\r\n",
            hash(1).hex(),
            hash(2).hex().to_uppercase()
        );
        let heard = parse(lt.as_bytes()).unwrap();
        assert_eq!(heard.port, 7000);
        assert_eq!(heard.hashes, vec![hash(1), hash(2)]);
        for junk in [
            &b"M-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n"[..],
            b"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: 0101010101010101010101010101010101010101\r\n\r\n",
            b"BT-SEARCH * HTTP/1.1\r\nPort: 99999\r\n\r\n",
            b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n",
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(parse(junk), None, "{junk:?}");
        }
        assert_eq!(parse(&vec![b'a'; 2000]), None);
    }
}
