//! The UDP tracker (BEP 15): connect, announce, scrape, error. Packet handling is sans-IO
//! ([`handle_packet`]); [`serve`] only moves datagrams.
//!
//! Connection ids are the first 8 bytes of SHA-1(secret, time bucket, client address): a client
//! cannot forge one for an address it does not hold, and one expires after 1–2 minutes (two
//! 60 s buckets are accepted). Short or malformed packets are dropped or answered with an error
//! packet; nothing a client sends can panic the tracker.

use super::http::Tracker;
use super::{Announce, AnnounceEvent, DEFAULT_NUMWANT, MAX_NUMWANT};
use crate::hash::Sha1;
use crate::metainfo::InfoHash;
use async_std::net::UdpSocket;
use std::net::SocketAddr;
use std::sync::Arc;

pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;
const BUCKET_SECS: u64 = 60;
/// Hashes one scrape packet may carry (BEP 15).
pub const MAX_UDP_SCRAPE: usize = 74;

/// The secret behind connection ids.
pub struct ConnectionIds {
    secret: [u8; 32],
}

impl Default for ConnectionIds {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionIds {
    pub fn new() -> ConnectionIds {
        ConnectionIds {
            secret: crate::random::secure_bytes(),
        }
    }

    fn id_for(&self, addr: &SocketAddr, bucket: u64) -> u64 {
        let mut h = Sha1::new();
        h.update(&self.secret);
        h.update(&bucket.to_be_bytes());
        match addr {
            SocketAddr::V4(a) => h.update(&a.ip().octets()),
            SocketAddr::V6(a) => h.update(&a.ip().octets()),
        }
        h.update(&addr.port().to_be_bytes());
        let d = h.finish();
        u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
    }

    pub fn issue(&self, addr: &SocketAddr, now_secs: u64) -> u64 {
        self.id_for(addr, now_secs / BUCKET_SECS)
    }

    pub fn valid(&self, id: u64, addr: &SocketAddr, now_secs: u64) -> bool {
        let bucket = now_secs / BUCKET_SECS;
        id == self.id_for(addr, bucket) || id == self.id_for(addr, bucket.saturating_sub(1))
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes in range"))
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes in range"))
}

fn error_packet(transaction: u32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + message.len());
    out.extend_from_slice(&ACTION_ERROR.to_be_bytes());
    out.extend_from_slice(&transaction.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// The answer to one datagram from `from`, or `None` to drop it.
pub fn handle_packet(
    tracker: &Tracker,
    ids: &ConnectionIds,
    packet: &[u8],
    from: SocketAddr,
    now_secs: u64,
) -> Option<Vec<u8>> {
    if packet.len() < 16 {
        return None;
    }
    let connection_id = be_u64(packet, 0);
    let action = be_u32(packet, 8);
    let transaction = be_u32(packet, 12);
    if action == ACTION_CONNECT {
        if connection_id != PROTOCOL_ID {
            return None;
        }
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
        out.extend_from_slice(&transaction.to_be_bytes());
        out.extend_from_slice(&ids.issue(&from, now_secs).to_be_bytes());
        return Some(out);
    }
    if !ids.valid(connection_id, &from, now_secs) {
        return Some(error_packet(
            transaction,
            "connection id is invalid or expired",
        ));
    }
    match action {
        ACTION_ANNOUNCE => Some(announce(tracker, packet, from, transaction)),
        ACTION_SCRAPE => Some(scrape(tracker, packet, transaction)),
        _ => Some(error_packet(transaction, "unknown action")),
    }
}

fn announce(tracker: &Tracker, p: &[u8], from: SocketAddr, transaction: u32) -> Vec<u8> {
    if p.len() < 98 {
        return error_packet(transaction, "announce packet shorter than 98 bytes");
    }
    let Some(event) = AnnounceEvent::from_udp_code(be_u32(p, 80)) else {
        return error_packet(transaction, "unknown event");
    };
    let port = u16::from_be_bytes([p[96], p[97]]);
    if port == 0 {
        return error_packet(transaction, "port 0 is not a valid port");
    }
    let numwant = match be_u32(p, 92) as i32 {
        n if n < 0 => DEFAULT_NUMWANT,
        n => (n as u32).min(MAX_NUMWANT),
    };
    let a = Announce {
        info_hash: InfoHash(p[16..36].try_into().expect("20 bytes")),
        peer_id: p[36..56].try_into().expect("20 bytes"),
        downloaded: be_u64(p, 56),
        left: be_u64(p, 64),
        uploaded: be_u64(p, 72),
        event,
        port,
        numwant,
        compact: true,
        no_peer_id: true,
    };
    let reply = match tracker.store.announce(&a, from.ip()) {
        Ok(r) => r,
        Err(full) => return error_packet(transaction, &full.to_string()),
    };
    let mut out = Vec::with_capacity(20 + reply.peers.len() * 18);
    out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction.to_be_bytes());
    out.extend_from_slice(&tracker.interval.to_be_bytes());
    out.extend_from_slice(&(reply.incomplete as u32).to_be_bytes());
    out.extend_from_slice(&(reply.complete as u32).to_be_bytes());
    // One address family a reply (BEP 15): the asker's.
    let v6 = super::swarm::canonical_ip(from.ip()).is_ipv6();
    for (addr, _) in &reply.peers {
        match addr {
            SocketAddr::V4(a) if !v6 => out.extend_from_slice(&a.ip().octets()),
            SocketAddr::V6(a) if v6 => out.extend_from_slice(&a.ip().octets()),
            _ => continue,
        }
        out.extend_from_slice(&addr.port().to_be_bytes());
    }
    out
}

fn scrape(tracker: &Tracker, p: &[u8], transaction: u32) -> Vec<u8> {
    let hashes = &p[16..];
    if hashes.is_empty() || !hashes.len().is_multiple_of(20) || hashes.len() / 20 > MAX_UDP_SCRAPE {
        return error_packet(transaction, "scrape needs 1 to 74 whole info-hashes");
    }
    let mut out = Vec::with_capacity(8 + hashes.len() / 20 * 12);
    out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction.to_be_bytes());
    for h in hashes.chunks_exact(20) {
        let e = tracker
            .store
            .scrape(&InfoHash(h.try_into().expect("20 bytes")));
        out.extend_from_slice(&(e.complete as u32).to_be_bytes());
        out.extend_from_slice(&(e.downloaded as u32).to_be_bytes());
        out.extend_from_slice(&(e.incomplete as u32).to_be_bytes());
    }
    out
}

pub async fn serve(socket: UdpSocket, tracker: Arc<Tracker>) {
    let ids = ConnectionIds::new();
    let start = std::time::Instant::now();
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                log::debug!("tracker: udp receive failed: {e}");
                crate::runtime::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let now = start.elapsed().as_secs() + BUCKET_SECS;
        if let Some(reply) = handle_packet(&tracker, &ids, &buf[..n], from, now) {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(tracker: &Tracker, ids: &ConnectionIds, from: SocketAddr, now: u64) -> u64 {
        let mut p = PROTOCOL_ID.to_be_bytes().to_vec();
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&77u32.to_be_bytes());
        let r = handle_packet(tracker, ids, &p, from, now).unwrap();
        assert_eq!(be_u32(&r, 0), ACTION_CONNECT);
        assert_eq!(be_u32(&r, 4), 77);
        be_u64(&r, 8)
    }

    fn announce_packet(conn: u64, peer: u8, port: u16) -> Vec<u8> {
        let mut p = conn.to_be_bytes().to_vec();
        p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
        p.extend_from_slice(&5u32.to_be_bytes());
        p.extend_from_slice(&[3; 20]);
        p.extend_from_slice(&[peer; 20]);
        p.extend_from_slice(&0u64.to_be_bytes());
        p.extend_from_slice(&100u64.to_be_bytes());
        p.extend_from_slice(&0u64.to_be_bytes());
        p.extend_from_slice(&2u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&(-1i32).to_be_bytes());
        p.extend_from_slice(&port.to_be_bytes());
        p
    }

    #[test]
    fn connect_then_announce_and_scrape() {
        let t = Tracker::new(30, "t".into());
        let ids = ConnectionIds::new();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let ca = connect(&t, &ids, a, 1000);
        handle_packet(&t, &ids, &announce_packet(ca, 1, 6881), a, 1000).unwrap();
        let cb = connect(&t, &ids, b, 1000);
        let r = handle_packet(&t, &ids, &announce_packet(cb, 2, 6882), b, 1000).unwrap();
        assert_eq!(be_u32(&r, 0), ACTION_ANNOUNCE);
        assert_eq!(be_u32(&r, 8), 30);
        assert_eq!(be_u32(&r, 12), 2, "leechers");
        assert_eq!(&r[20..], &[10, 0, 0, 1, 0x1A, 0xE1]);
        let mut s = cb.to_be_bytes().to_vec();
        s.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
        s.extend_from_slice(&9u32.to_be_bytes());
        s.extend_from_slice(&[3; 20]);
        let r = handle_packet(&t, &ids, &s, b, 1000).unwrap();
        assert_eq!((be_u32(&r, 0), be_u32(&r, 16)), (ACTION_SCRAPE, 2));
    }

    #[test]
    fn forged_expired_and_malformed_packets() {
        let t = Tracker::new(30, "t".into());
        let ids = ConnectionIds::new();
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let other: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let id = connect(&t, &ids, a, 1000);
        let is_error =
            |r: Option<Vec<u8>>| r.map(|r| be_u32(&r, 0) == ACTION_ERROR).unwrap_or(false);
        // Still valid a minute later, not two minutes later; never from another address.
        assert!(!is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(id, 1, 1),
            a,
            1059
        )));
        assert!(is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(id, 1, 1),
            a,
            1000 + 2 * BUCKET_SECS
        )));
        assert!(is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(id, 1, 1),
            other,
            1000
        )));
        assert!(is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(12345, 1, 1),
            a,
            1000
        )));
        // Short, truncated, zero-port and unknown-action packets.
        assert_eq!(handle_packet(&t, &ids, &[0; 15], a, 1000), None);
        assert_eq!(handle_packet(&t, &ids, &[0; 16], a, 1000), None);
        assert!(is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(id, 1, 1)[..97],
            a,
            1000
        )));
        assert!(is_error(handle_packet(
            &t,
            &ids,
            &announce_packet(id, 1, 0),
            a,
            1000
        )));
        let mut odd = id.to_be_bytes().to_vec();
        odd.extend_from_slice(&9u32.to_be_bytes());
        odd.extend_from_slice(&1u32.to_be_bytes());
        assert!(is_error(handle_packet(&t, &ids, &odd, a, 1000)));
        for len in 0..120 {
            let _ = handle_packet(&t, &ids, &vec![0xFF; len], a, 1000);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_packets_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), action in 0u32..5) {
            let t = Tracker::new(30, "t".into());
            let ids = ConnectionIds::new();
            let from: SocketAddr = "10.0.0.1:5000".parse().unwrap();
            let _ = handle_packet(&t, &ids, &bytes, from, 1000);
            // The same bytes behind a valid connection id and a chosen action.
            let mut p = ids.issue(&from, 1000).to_be_bytes().to_vec();
            p.extend_from_slice(&action.to_be_bytes());
            p.extend_from_slice(&bytes);
            let _ = handle_packet(&t, &ids, &p, from, 1000);
        }
    }
}
