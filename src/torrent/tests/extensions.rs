//! The owner loop's extension-protocol side, driven without sockets: metadata served (BEP 9),
//! private torrents, peer exchange (BEP 11).

use super::*;

fn extended(id: u8, payload: &[u8]) -> Message {
    Message::Extended {
        id,
        payload: payload.to_vec(),
    }
}

/// The payloads of extension messages sent under `id`.
fn extension_payloads(messages: &[Message], id: u8) -> Vec<Vec<u8>> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Extended { id: i, payload } if *i == id => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn metadata_is_served_in_pieces_and_past_the_end_rejected() {
    use crate::extensions::metadata::{MetadataMsg, PIECE};
    let mut h = harness(8, B, true);
    let rx = h.connect_fast(1);
    let (m, _, _) = sent(&rx);
    let ours = ExtendedHandshake::parse(&extension_payloads(&m, 0)[0]).unwrap();
    assert_eq!(ours.metadata_size, Some(40_000));
    let our_id = ours.id_of("ut_metadata").expect("offered");
    // Before its handshake names an id for the answers, a request cannot be answered.
    h.say(1, extended(our_id, &MetadataMsg::Request(0).encode()));
    assert!(sent(&rx).0.is_empty());
    h.say(1, extended(0, b"d1:md11:ut_metadatai3eee"));
    for piece in 0..4 {
        h.say(1, extended(our_id, &MetadataMsg::Request(piece).encode()));
    }
    let (m, _, closed) = sent(&rx);
    assert!(!closed);
    let answers: Vec<MetadataMsg> = extension_payloads(&m, 3)
        .iter()
        .map(|p| MetadataMsg::parse(p).unwrap().unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    for (piece, answer) in answers[..3].iter().enumerate() {
        let MetadataMsg::Data {
            piece: p,
            total_size,
            data,
        } = answer
        else {
            panic!("{answer:?}");
        };
        assert_eq!((*p as usize, *total_size), (piece, 40_000));
        let start = piece * PIECE;
        assert_eq!(data[..], METADATA[start..(start + PIECE).min(40_000)]);
    }
    assert_eq!(answers[3], MetadataMsg::Reject(3));
    // Garbage under the metadata id closes that connection only.
    h.say(1, extended(our_id, b"not bencode"));
    assert!(sent(&rx).2);
}

#[test]
fn a_private_torrent_offers_neither_metadata_nor_peer_exchange() {
    let mut h = harness(8, B, true);
    Arc::get_mut(&mut h.task.meta).unwrap().info.private = true;
    let rx = h.connect_fast(1);
    let ours = ExtendedHandshake::parse(&extension_payloads(&sent(&rx).0, 0)[0]).unwrap();
    assert!(ours.m.is_empty() && ours.metadata_size.is_none());
    h.say(1, extended(0, b"d1:md11:ut_metadatai3e6:ut_pexi4eee"));
    h.say(1, extended(2, b"d8:msg_typei0e5:piecei0ee"));
    h.task.pex_round(Instant::now() + Duration::from_secs(120));
    let (m, _, closed) = sent(&rx);
    assert!(m.is_empty() && !closed, "{m:?}");
}

#[test]
fn peer_exchange_tells_of_joins_and_leaves_and_learns_bounded() {
    use crate::extensions::pex::{CONNECTABLE, PexMessage};
    let mut h = harness(8, B, false);
    let a = h.connect_fast(1);
    let b = h.connect_fast(2);
    // Peer 1 listens on 7001; peer 2 speaks ut_pex under id 9.
    h.say(1, extended(0, b"d1:pi7001ee"));
    h.say(2, extended(0, b"d1:md6:ut_pexi9ee1:pi7002ee"));
    sent(&b);
    let soon = Instant::now() + Duration::from_secs(2);
    h.task.pex_round(soon);
    let told = extension_payloads(&sent(&b).0, 9);
    assert_eq!(told.len(), 1);
    let msg = PexMessage::parse(&told[0]).unwrap();
    assert_eq!(
        msg.added,
        [("127.0.0.1:7001".parse().unwrap(), CONNECTABLE)],
        "peer 1 only: not peer 2 itself"
    );
    // Not again before a minute; then peer 1's leaving is told.
    h.task.pex_round(soon + Duration::from_secs(30));
    assert!(extension_payloads(&sent(&b).0, 9).is_empty());
    h.event(Event::Peer(
        1,
        PeerEvent::Closed(crate::peer::PeerError::Closed),
    ));
    assert!(sent(&a).2);
    h.task.pex_round(soon + Duration::from_secs(61));
    let told = extension_payloads(&sent(&b).0, 9);
    let msg = PexMessage::parse(&told[0]).unwrap();
    assert_eq!(msg.dropped, ["127.0.0.1:7001".parse().unwrap()]);
    assert!(msg.added.is_empty());
    // What peer 2 tells us goes to the dialer; a second message within 20 s is ignored.
    let (x, y): (SocketAddr, SocketAddr) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    let pex_id = crate::extensions::UT_PEX.1;
    let tell = |addr| {
        PexMessage {
            added: vec![(addr, CONNECTABLE)],
            dropped: vec![],
        }
        .encode()
    };
    h.say(2, extended(pex_id, &tell(x)));
    assert!(h.task.dialer.state(&x).is_some());
    h.say(2, extended(pex_id, &tell(y)));
    assert!(h.task.dialer.state(&y).is_none(), "flooding is ignored");
    // A malformed one closes that connection.
    h.say(2, extended(pex_id, b"i1e"));
    assert!(sent(&b).2);
}

#[test]
fn a_remote_peer_cannot_steer_us_at_loopback_lan_or_unreachable_addresses() {
    use crate::extensions::pex::{CONNECTABLE, PexMessage};
    let mut h = harness(8, B, false);
    // A peer on a public address speaks ut_pex.
    let reserved =
        crate::wire::Handshake::new(crate::metainfo::InfoHash([7; 20]), [5; 20]).reserved;
    let _rx = h.connect_from(5, reserved, SocketAddr::from(([203, 0, 113, 9], 6881)));
    h.say(5, extended(0, b"d1:md6:ut_pexi9eee"));
    let named = [
        "0.0.0.0:6881",
        "127.0.0.1:22",
        "224.0.0.1:6881",
        "255.255.255.255:6881",
        "10.0.0.1:6881",
        "192.168.1.1:80",
        "[::1]:6881",
        "198.51.100.20:6881",
    ];
    let msg = PexMessage {
        added: named
            .iter()
            .map(|a| (a.parse().unwrap(), CONNECTABLE))
            .collect(),
        dropped: vec![],
    };
    h.say(5, extended(crate::extensions::UT_PEX.1, &msg.encode()));
    for a in &named[..7] {
        let a: SocketAddr = a.parse().unwrap();
        assert!(h.task.dialer.state(&a).is_none(), "{a} reached the dialer");
    }
    assert!(
        h.task
            .dialer
            .state(&"198.51.100.20:6881".parse().unwrap())
            .is_some()
    );
}

#[test]
fn only_a_peers_first_dht_port_is_acted_on() {
    let mut h = harness(8, B, false);
    let (dht, mut told) = crate::dht::DhtHandle::detached();
    h.task.config.dht = Some(dht);
    let _a = h.connect_fast(1);
    for port in 1..=50u16 {
        h.say(1, Message::Port(6000 + port));
    }
    assert_eq!(told(), 1, "each `port` would make the node send a ping");
    let _b = h.connect_fast(2);
    h.say(2, Message::Port(7000));
    assert_eq!(told(), 1, "another peer is heard");
}
