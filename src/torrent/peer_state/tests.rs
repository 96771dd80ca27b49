//! The peer's bookkeeping, message by message.
use super::*;
use async_std::channel::Receiver;

fn peer(fast: bool) -> (Peer, Receiver<Outgoing>) {
    let addr: SocketAddr = "10.0.0.1:6881".parse().unwrap();
    let (conn, rx) = PeerHandle::detached(addr);
    let who = Negotiated {
        kind: Kind::Peer,
        addr,
        id: [1; 20],
        fast,
        extended: true,
        v2: false,
        dialed: true,
        encrypted: false,
    };
    (Peer::new(who, conn, 8, Instant::now()), rx)
}

fn sent(rx: &Receiver<Outgoing>) -> Vec<Message> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|o| match o {
            Outgoing::Message(m) => Some(m),
            Outgoing::Block(_) => None,
        })
        .collect()
}

fn block(piece: u32) -> BlockRef {
    BlockRef {
        piece,
        begin: 0,
        length: 16384,
    }
}

#[test]
fn a_choke_or_interest_flag_changes_only_with_the_message_that_says_so() {
    let (mut p, rx) = peer(false);
    assert!(p.set_choking(false) && !p.set_choking(false));
    p.set_interested(true);
    p.set_interested(true);
    assert_eq!(sent(&rx), [Message::Unchoke, Message::Interested]);
    assert!(!p.am_choking() && p.am_interested());
}

#[test]
fn a_choke_voids_requests_and_a_fast_peer_still_owes_their_answers() {
    let (mut slow, _) = peer(false);
    slow.request(block(0));
    assert_eq!(slow.choked_us(), 0);
    assert_eq!(slow.rejected(block(0)), Rejected::Unasked);
    let (mut fast, rx) = peer(true);
    fast.request(block(0));
    fast.request(block(1));
    assert!(fast.cancel(block(1)) && !fast.cancel(block(1)));
    assert_eq!(fast.inflight(), 1);
    assert_eq!(
        fast.choked_us(),
        2,
        "both owed: the choked one and the cancelled one"
    );
    assert_eq!(fast.inflight(), 0);
    assert_eq!(fast.rejected(block(0)), Rejected::Awaited);
    assert_eq!(fast.rejected(block(0)), Rejected::Unasked);
    let messages = sent(&rx);
    assert!(matches!(
        messages[..],
        [
            Message::Request { .. },
            Message::Request { .. },
            Message::Cancel { .. }
        ]
    ));
}

#[test]
fn wanted_moves_with_what_the_peer_has() {
    let (mut p, _) = peer(false);
    assert!(p.has_piece(3, true) && !p.has_piece(3, true));
    assert!(p.has_piece(4, false));
    assert_eq!(p.wanted(), 1);
    p.we_got(3);
    p.we_got(5);
    assert_eq!(p.wanted(), 0);
    let mut all = Bitfield::new(8);
    (0..8).for_each(|i| {
        all.set(i);
    });
    let old = p.replace_has(all, 6);
    assert_eq!(old.count(), 2);
    assert!(p.bitfield_seen() && p.has().is_full() && p.wanted() == 6);
}

#[test]
fn a_choke_we_give_voids_queued_requests_but_allowed_fast_ones() {
    let (mut p, _) = peer(true);
    p.allow_fast_out(2);
    p.set_choking(false);
    for piece in [1, 2, 3] {
        assert!(p.may_take(piece));
        p.queue_upload(block(piece));
    }
    p.set_choking(true);
    assert!(p.may_take(2) && !p.may_take(1));
    assert_eq!(p.void_queued(), [block(1), block(3)]);
    assert_eq!(p.upload_backlog(), 1);
    p.feed_writer(32);
    assert!(!p.unqueue(block(2)), "already with the writer");
    p.uploaded(16384, 1, Instant::now());
    assert_eq!(p.upload_backlog(), 0);
}

#[test]
fn the_pipeline_follows_a_faster_second_at_once_and_a_slower_one_slowly() {
    let (mut p, _rx) = peer(false);
    p.reqq = 1000;
    assert_eq!(p.pipeline(), 32, "no rate yet: the floor");
    // A second of 200 blocks: the next second's pipeline holds a second of it, not the
    // smoothed rate's 60 blocks, which would leave a long-haul peer waiting on us for
    // seconds as its rate grew.
    for piece in 0..200 {
        p.request(block(piece));
        p.received(block(piece), Instant::now());
    }
    p.tick();
    assert_eq!(p.pipeline(), 200);
    // Quiet seconds: the smoothed rate (42 blocks, then 29), not the silence.
    p.tick();
    assert_eq!(p.pipeline(), 42);
    p.tick();
    assert_eq!(p.pipeline(), 32, "the floor");
}
