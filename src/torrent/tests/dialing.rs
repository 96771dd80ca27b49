//! Duplicate and simultaneous connections to one peer.
use super::*;

/// Our dial to `listen` completes (key 2) with a peer whose id is all `id`; returns what the
/// connection is sent.
fn dial(h: &mut Harness, listen: SocketAddr, id: u8) -> Receiver<Outgoing> {
    h.task.dialer.add(listen, false, Instant::now());
    assert_eq!(h.task.dialer.due(Instant::now(), 10), [listen]);
    let (handle, rx) = PeerHandle::detached(listen);
    h.event(Event::Connected(Box::new(crate::torrent::Connected {
        key: 2,
        addr: listen,
        theirs: Handshake {
            reserved: [0; 8],
            info_hash: InfoHash([7; 20]),
            peer_id: [id; 20],
        },
        encrypted: false,
        handle,
        kind: crate::torrent::Kind::Peer,
    })));
    rx
}

#[test]
fn a_dialed_duplicate_refused_is_dialed_again_when_the_kept_connection_ends() {
    use super::peers::DialState;
    let mut h = harness(4, B, true);
    // The peer connected to us first, from a passing port.
    let kept = h.connect_from(1, [0; 8], SocketAddr::from(([10, 0, 0, 9], 40000)));
    // Our own dial to where it listens completes second: a duplicate, refused.
    let listen = SocketAddr::from(([10, 0, 0, 9], 6881));
    let dup = dial(&mut h, listen, 1);
    assert!(sent(&dup).2, "the duplicate is closed");
    assert_eq!(h.task.dialer.state(&listen), Some(DialState::Live));
    // The other end kept our dial and closed its own: the kept connection ends. The address
    // must not stay 'live' for good: it is dialed again later.
    h.event(Event::Peer(
        1,
        PeerEvent::Closed(crate::peer::PeerError::Closed),
    ));
    assert!(sent(&kept).2);
    assert!(
        matches!(h.task.dialer.state(&listen), Some(DialState::Idle { .. })),
        "{:?}",
        h.task.dialer.state(&listen)
    );
}

#[test]
fn of_two_simultaneous_connections_both_ends_keep_the_one_the_lower_id_dialed() {
    // Our id is 0xaa…; this peer's, 0xff…, is higher: the connection we dialed is kept.
    let mut h = harness(4, B, true);
    let inbound = h.connect_from(0xff, [0; 8], SocketAddr::from(([10, 0, 0, 9], 40000)));
    let listen = SocketAddr::from(([10, 0, 0, 9], 6881));
    let dialed = dial(&mut h, listen, 0xff);
    assert!(
        sent(&inbound).2,
        "the connection the higher id made is closed"
    );
    assert!(!sent(&dialed).2, "ours is kept");
    assert_eq!(h.task.peers.len(), 1);
    assert_eq!(h.task.peers[&2].addr(), listen);
    // Arriving the other way round (our dial first, then theirs) gives the same answer.
    let mut h = harness(4, B, true);
    let dialed = dial(&mut h, listen, 0xff);
    let inbound = h.connect_from(0xff, [0; 8], SocketAddr::from(([10, 0, 0, 9], 40000)));
    assert!(sent(&inbound).2, "theirs is refused");
    assert!(!sent(&dialed).2, "ours stays");
    assert_eq!(h.task.peers.len(), 1);
}
