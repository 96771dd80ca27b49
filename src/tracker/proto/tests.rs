//! Tests of the tracker protocol: query parsing, and round trips of every encoding.

use super::*;

fn query(info_hash: &[u8], rest: &str) -> Vec<u8> {
    format!(
        "info_hash={}&peer_id={}&{rest}",
        percent_encode(info_hash),
        percent_encode(&[b'-'; 20])
    )
    .into_bytes()
}

#[test]
fn percent_round_trip() {
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(
        percent_decode(percent_encode(&all).as_bytes())
            .unwrap()
            .as_ref(),
        all
    );
    assert_eq!(percent_decode(b"a%2"), None);
    assert_eq!(percent_decode(b"%zz"), None);
    assert_eq!(percent_decode(b"a+b").unwrap().as_ref(), b"a b");
    assert_eq!(percent_decode(b"123").unwrap().as_ref(), b"123");
}

#[test]
fn parses_a_full_announce() {
    let q = query(
        &[0xAB; 20],
        "port=6881&uploaded=1&downloaded=2&left=3&event=started&compact=1&numwant=500",
    );
    let a = AnnounceRequest::parse_query(&q).unwrap();
    assert_eq!(a.info_hash, InfoHash([0xAB; 20]));
    assert_eq!((a.port, a.uploaded, a.downloaded, a.left), (6881, 1, 2, 3));
    assert_eq!(a.event, AnnounceEvent::Started);
    assert!(a.compact);
    assert_eq!(a.numwant, MAX_NUMWANT);
}

#[test]
fn bad_announces_get_a_reason() {
    let cases = [
        (
            format!(
                "info_hash={}&peer_id={}&port=1&left=0",
                "abc",
                percent_encode(&[1; 20])
            ),
            "`info_hash` is 3 bytes",
        ),
        (
            format!(
                "info_hash={}&peer_id=x&port=1&left=0",
                percent_encode(&[1; 20])
            ),
            "`peer_id` is 1 bytes",
        ),
        (
            String::from_utf8(query(&[1; 20], "port=0&left=0")).unwrap(),
            "`port` 0",
        ),
        (
            String::from_utf8(query(&[1; 20], "port=70000&left=0")).unwrap(),
            "`port` 70000",
        ),
        (
            String::from_utf8(query(&[1; 20], "port=x&left=0")).unwrap(),
            "`port` is not",
        ),
        (
            String::from_utf8(query(&[1; 20], "left=1")).unwrap(),
            "missing `port`",
        ),
        ("peer_id=x".to_string(), "`peer_id`"),
        (
            String::from_utf8(query(&[1; 20], "port=1&left=1&event=bogus")).unwrap(),
            "`event`",
        ),
        (
            String::from_utf8(query(&[1; 20], "port=1&left=1&uploaded=%zz")).unwrap(),
            "percent-encoding",
        ),
    ];
    // `left` missing or unreadable (webtorrent's `left=NaN`): a leecher, as opentracker has it.
    for rest in ["port=1", "port=1&left=NaN", "port=1&left=-5"] {
        let a = AnnounceRequest::parse_query(&query(&[1; 20], rest)).unwrap();
        assert_eq!(a.left, LEFT_UNKNOWN, "{rest}");
    }
    for (q, needle) in cases {
        let e = AnnounceRequest::parse_query(q.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{q}: {e}");
    }
}

mod round_trip {
    use super::super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn event() -> impl Strategy<Value = AnnounceEvent> {
        (0u32..4).prop_map(|c| AnnounceEvent::from_udp_code(c).expect("0..4"))
    }

    prop_compose! {
        fn request()(
            info_hash in any::<[u8; 20]>(),
            peer_id in any::<[u8; 20]>(),
            port in 1u16..,
            uploaded in any::<u64>(),
            downloaded in any::<u64>(),
            left in any::<u64>(),
            event in event(),
            numwant in 0..=MAX_NUMWANT,
            compact in any::<bool>(),
            no_peer_id in any::<bool>(),
        ) -> AnnounceRequest {
            AnnounceRequest {
                info_hash: InfoHash(info_hash),
                peer_id,
                port,
                uploaded,
                downloaded,
                left,
                event,
                numwant,
                compact,
                no_peer_id,
            }
        }
    }

    fn peers(v6: bool) -> impl Strategy<Value = Vec<SocketAddr>> {
        let one = (any::<[u8; 16]>(), 1u16..).prop_map(move |(ip, port)| {
            if v6 {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)
            } else {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])), port)
            }
        });
        proptest::collection::vec(one, 0..50)
    }

    proptest! {
        #[test]
        fn announce_queries(r in request()) {
            prop_assert_eq!(AnnounceRequest::parse_query(r.to_query().as_bytes()), Ok(r));
        }

        #[test]
        fn udp_requests(
            r in request(),
            connection_id in any::<u64>(),
            transaction in any::<u32>(),
            key in any::<u32>(),
            hashes in proptest::collection::vec(any::<[u8; 20]>(), 1..=MAX_UDP_SCRAPE),
        ) {
            // A UDP announce is always compact, without peer ids.
            let request = AnnounceRequest { compact: true, no_peer_id: true, ..r };
            for packet in [
                UdpRequest::Connect { transaction },
                UdpRequest::Announce { connection_id, transaction, request, key },
                UdpRequest::Scrape {
                    connection_id,
                    transaction,
                    info_hashes: hashes.iter().map(|h| InfoHash(*h)).collect(),
                },
            ] {
                prop_assert_eq!(UdpRequest::parse(&packet.encode()), Ok(packet));
            }
        }

        #[test]
        fn udp_responses(
            v6 in any::<bool>(),
            peers4 in peers(false),
            peers6 in peers(true),
            transaction in any::<u32>(),
            connection_id in any::<u64>(),
            numbers in any::<[u32; 3]>(),
            message in "[ -~]{0,40}",
        ) {
            let peers = if v6 { peers6 } else { peers4 };
            let counts = vec![ScrapeCounts {
                seeders: numbers[0],
                completed: numbers[1],
                leechers: numbers[2],
            }];
            for response in [
                UdpResponse::Connect { transaction, connection_id },
                UdpResponse::Announce {
                    transaction,
                    interval: numbers[0],
                    leechers: numbers[1],
                    seeders: numbers[2],
                    peers: peers.clone(),
                },
                UdpResponse::Scrape { transaction, counts },
                UdpResponse::Error { transaction, message: message.clone() },
            ] {
                prop_assert_eq!(UdpResponse::parse(&response.encode(v6), v6), Ok(response));
            }
        }

        #[test]
        fn compact_peer_lists(v6 in any::<bool>(), p4 in peers(false), p6 in peers(true)) {
            let mixed: Vec<SocketAddr> = p4.iter().chain(&p6).copied().collect();
            let mut out = Vec::new();
            encode_compact(&mixed, v6, &mut out);
            let want = if v6 { p6 } else { p4 };
            prop_assert_eq!(decode_compact(&out, v6), Some(want));
        }
    }
}
