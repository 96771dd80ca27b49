//! The socket driver on 127.0.0.1: streams, the DHT's share, strangers, floods, resets.
use super::*;
use async_std::io::{ReadExt, WriteExt};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn a_stream_carries_a_megabyte_each_way_and_closes_cleanly() {
    crate::runtime::block_on(async {
        let (a, _) = UtpSocket::bind(local()).unwrap();
        let (b, incoming) = UtpSocket::bind(local()).unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
        let expected = data.clone();
        let server = crate::runtime::spawn(async move {
            let mut s = incoming.recv().await.unwrap();
            let mut got = vec![0u8; 1 << 20];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(&got).await.unwrap();
            let mut end = [0u8; 1];
            assert_eq!(s.read(&mut end).await.unwrap(), 0, "the client's FIN");
            got
        });
        let mut c = a.connect(b.local_addr()).await.unwrap();
        assert_eq!(c.peer_addr(), b.local_addr());
        c.write_all(&data).await.unwrap();
        let mut back = vec![0u8; 1 << 20];
        c.read_exact(&mut back).await.unwrap();
        c.shutdown();
        assert!(back == expected);
        assert!(server.await == expected);
    });
}

#[test]
fn a_port_without_utp_fails_the_connect_at_once_and_is_remembered() {
    crate::runtime::block_on(async {
        let (a, _) = UtpSocket::bind(local()).unwrap();
        // A port nobody listens on (UDP): the kernel answers port unreachable.
        let gone = std::net::UdpSocket::bind(local()).unwrap();
        let addr = gone.local_addr().unwrap();
        drop(gone);
        let t0 = Instant::now();
        assert!(a.connect(addr).await.is_err());
        assert!(
            t0.elapsed() < Duration::from_millis(900),
            "{:?}",
            t0.elapsed()
        );
        assert!(a.failed_before(addr));
    });
}

#[test]
fn datagrams_starting_with_d_go_to_the_dht_and_strangers_get_one_reset() {
    crate::runtime::block_on(async {
        let (a, _) = UtpSocket::bind(local()).unwrap();
        let (_send, dht) = a.dht().unwrap();
        let other = std::net::UdpSocket::bind(local()).unwrap();
        other
            .send_to(
                b"d1:ad2:id20:xxxxxxxxxxxxxxxxxxxxe1:q4:ping1:t2:aa1:y1:qe",
                a.local_addr(),
            )
            .unwrap();
        let (bytes, from) = dht.recv().await.unwrap();
        assert!(bytes.starts_with(b"d1:a") && from == other.local_addr().unwrap());
        // A DATA packet for no connection: one RESET, no longer than it.
        let stray = Header {
            kind: super::super::packet::ST_DATA,
            conn_id: 77,
            timestamp: 1,
            timestamp_diff: 0,
            wnd_size: 0,
            seq_nr: 9,
            ack_nr: 1,
            sack: None,
            max_datagram: None,
        }
        .encode(&[0u8; 1000]);
        other.send_to(&stray, a.local_addr()).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let n = other.recv(&mut buf).unwrap();
        let (h, _) = Header::decode(&buf[..n]).unwrap();
        assert_eq!((h.kind, h.conn_id, h.ack_nr, n), (ST_RESET, 77, 9, 20));
    });
}

#[test]
fn a_flood_of_syns_from_one_host_is_capped_and_a_real_peer_still_connects() {
    crate::runtime::block_on(async {
        let (a, incoming) = UtpSocket::bind(local()).unwrap();
        let flood = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        for i in 0..10_000u32 {
            let syn = Header {
                kind: ST_SYN,
                conn_id: (i * 2) as u16,
                timestamp: 0,
                timestamp_diff: 0,
                wnd_size: 1 << 20,
                seq_nr: 1,
                ack_nr: 0,
                sack: None,
                max_datagram: None,
            };
            let _ = flood.send_to(&syn.encode(&[]), a.local_addr());
        }
        // Let the driver read them all.
        let taken = async_std::task::spawn(async move {
            let mut n = 0;
            while crate::runtime::within(Duration::from_millis(500), incoming.recv())
                .await
                .is_some()
            {
                n += 1;
            }
            n
        });
        let (b, _) = UtpSocket::bind(local()).unwrap();
        let mut ok = b.connect(a.local_addr()).await.unwrap();
        ok.write_all(b"still served").await.unwrap();
        let accepted = taken.await;
        assert!(accepted <= MAX_PER_HOST + 1, "{accepted} accepted");
        let held = a.shared.lock().conns.len();
        assert!(held <= MAX_PER_HOST + 1, "{held} connections held");
    });
}

#[test]
fn a_reset_from_a_restarted_peer_ends_the_connection_at_once() {
    crate::runtime::block_on(async {
        let (a, _) = UtpSocket::bind(local()).unwrap();
        let peer = std::net::UdpSocket::bind(local()).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = peer.local_addr().unwrap();
        let dial = crate::runtime::spawn({
            let a = a.clone();
            async move { a.connect(to).await }
        });
        let mut buf = [0u8; 2048];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        let (syn, _) = Header::decode(&buf[..n]).unwrap();
        assert_eq!(syn.kind, ST_SYN);
        let state = Header {
            kind: super::super::packet::ST_STATE,
            conn_id: syn.conn_id,
            timestamp: 1,
            timestamp_diff: 0,
            wnd_size: 1 << 20,
            seq_nr: 500,
            ack_nr: syn.seq_nr,
            sack: None,
            max_datagram: None,
        };
        peer.send_to(&state.encode(&[]), from).unwrap();
        let mut stream = dial.await.unwrap();
        // The peer restarts: it knows the connection no more and answers the id our
        // packets carry (the SYN's plus one) with a RESET.
        let reset = Header {
            kind: ST_RESET,
            conn_id: syn.conn_id.wrapping_add(1),
            ..state
        };
        peer.send_to(&reset.encode(&[]), from).unwrap();
        let mut one = [0u8; 1];
        let got = crate::runtime::within(Duration::from_secs(2), stream.read(&mut one)).await;
        let err = got.expect("the read ends at once").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    });
}
