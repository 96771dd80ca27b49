//! The UDP tracker (BEP 15): connect, announce, scrape, error. Packet handling is sans-IO
//! ([`handle_packet`]); [`serve`] only moves datagrams, in batches ([`super::mmsg`]), on threads
//! of its own.
//!
//! Connection ids are the first 8 bytes of SHA-1(secret, time bucket, client address): a client
//! cannot forge one for an address it does not hold, and one expires after 1–2 minutes (two
//! 60 s buckets are accepted). Short or malformed packets are dropped or answered with an error
//! packet; nothing a client sends can panic the tracker.

use super::Tracker;
use super::proto::{
    ACTION_CONNECT, ScrapeCounts, UdpRequest, UdpRequestError, UdpResponse, udp_header,
};
use super::stats::Counters;
use crate::hash::Sha1;
use std::net::SocketAddr;
use std::sync::Arc;

const BUCKET_SECS: u64 = 60;

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

/// The answer to one datagram from `from`, or `None` to drop it.
pub fn handle_packet(
    tracker: &Tracker,
    ids: &ConnectionIds,
    packet: &[u8],
    from: SocketAddr,
    now_secs: u64,
) -> Option<Vec<u8>> {
    let (connection_id, action, transaction) = udp_header(packet)?;
    // One address family a reply (BEP 15): the asker's.
    let v6 = super::swarm::canonical_ip(from.ip()).is_ipv6();
    let error = |message: &str| {
        Some(
            UdpResponse::Error {
                transaction,
                message: message.into(),
            }
            .encode(v6),
        )
    };
    // A forged, expired or foreign connection id gets no answer: an error packet would be a
    // reply larger than the request to a source address nobody checked (amplification). A
    // client whose id expired times out and connects again, as BEP 15 says.
    if action != ACTION_CONNECT && !ids.valid(connection_id, &from, now_secs) {
        return None;
    }
    let response = match UdpRequest::parse(packet) {
        Err(UdpRequestError::Unsendable) => return None,
        Err(UdpRequestError::Sendable { message, .. }) => {
            tracker.counters.refuse(false, from.ip(), &message);
            return error(&message);
        }
        Ok(UdpRequest::Connect { transaction }) => UdpResponse::Connect {
            transaction,
            connection_id: ids.issue(&from, now_secs),
        },
        Ok(UdpRequest::Announce {
            transaction,
            request,
            ..
        }) => {
            Counters::bump(&tracker.counters.udp_announces);
            let reply = match tracker.store.announce(&request, from.ip()) {
                Ok(r) => r,
                Err(full) => {
                    tracker.counters.refuse(true, from.ip(), &full);
                    return error(&full.to_string());
                }
            };
            UdpResponse::Announce {
                transaction,
                interval: tracker.interval,
                leechers: reply.incomplete as u32,
                seeders: reply.complete as u32,
                peers: reply.peers,
            }
        }
        Ok(UdpRequest::Scrape {
            transaction,
            info_hashes,
            ..
        }) => {
            Counters::bump(&tracker.counters.scrapes);
            UdpResponse::Scrape {
                transaction,
                counts: info_hashes
                    .iter()
                    .map(|h| {
                        let e = tracker.store.scrape(h);
                        ScrapeCounts {
                            seeders: e.complete as u32,
                            completed: e.downloaded as u32,
                            leechers: e.incomplete as u32,
                        }
                    })
                    .collect(),
            }
        }
    };
    Some(response.encode(v6))
}

/// One thread's loop on the socket; every thread shares `ids` (an id one issues, another
/// accepts) and `start` (their clock).
pub fn serve(
    socket: std::net::UdpSocket,
    tracker: Arc<Tracker>,
    ids: Arc<ConnectionIds>,
    start: std::time::Instant,
) {
    use super::mmsg::{Batch, SockAddr, send_all};
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let mut batch = Batch::default();
    let mut answers: Vec<(Vec<u8>, SockAddr)> = Vec::new();
    loop {
        let n = match batch.receive(fd) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("tracker: udp receive failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let now = start.elapsed().as_secs() + BUCKET_SECS;
        answers.clear();
        for i in 0..n {
            let (packet, name) = batch.datagram(i);
            let Some(from) = name.get() else { continue };
            if let Some(reply) = handle_packet(&tracker, &ids, packet, from, now) {
                answers.push((reply, *name));
            }
        }
        send_all(fd, &mut answers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::proto::{
        ACTION_ANNOUNCE, ACTION_ERROR, ACTION_SCRAPE, PROTOCOL_ID, be_u32, be_u64,
    };

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
        // Still valid a minute later, not two minutes later; never from another address; a bad
        // id gets no answer at all.
        let ok = handle_packet(&t, &ids, &announce_packet(id, 1, 1), a, 1059);
        assert!(ok.is_some() && !is_error(ok));
        for (conn, from, now) in [
            (id, a, 1000 + 2 * BUCKET_SECS),
            (id, other, 1000),
            (12345, a, 1000),
        ] {
            assert_eq!(
                handle_packet(&t, &ids, &announce_packet(conn, 1, 1), from, now),
                None
            );
        }
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
