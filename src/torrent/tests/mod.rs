//! The owner loop driven event by event, without sockets: connections are channels, the
//! content a temporary directory.
use super::*;

mod dialing;
mod extensions;
mod fast;
mod hashes;
mod parking;
use crate::extensions::ExtendedHandshake;
use crate::hash::sha1;
use crate::layout::BLOCK_SIZE;
use crate::metainfo::{FileEntry, Info, InfoHash};
use crate::peer::Outgoing;
use crate::piece_store::PieceStore;
use async_std::channel::Receiver;

const B: usize = BLOCK_SIZE as usize;
/// Stands for an info dictionary of three metadata pieces.
const METADATA: &[u8; 40_000] = &[b'x'; 40_000];

struct Harness {
    task: Task,
    ctrl: Receiver<Event>,
    content: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// A torrent of `pieces` pieces of `piece_len` bytes; `seeding` puts the content on disk.
fn harness(pieces: usize, piece_len: usize, seeding: bool) -> Harness {
    harness_for(pieces, piece_len, seeding, None)
}

fn harness_for(pieces: usize, piece_len: usize, seeding: bool, announce: Option<&str>) -> Harness {
    let content: Vec<u8> = (0..pieces * piece_len)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let info = Info {
        name: "t.bin".into(),
        piece_length: piece_len as u64,
        pieces: content.chunks(piece_len).map(sha1).collect(),
        files: FileEntry::end_to_end([(vec![], content.len() as u64)]),
        stream_length: content.len() as u64,
        multi_file: false,
        private: false,
        source: None,
        v2: None,
    };
    let dir = tempfile::tempdir().unwrap();
    if seeding {
        std::fs::write(dir.path().join("t.bin"), &content).unwrap();
    }
    let store = Arc::new(PieceStore::create(dir.path(), &info).unwrap());
    let mut have = Bitfield::new(pieces);
    if seeding {
        (0..pieces).for_each(|p| {
            have.set(p);
        });
    }
    let meta = Arc::new(Torrent {
        info_hash: InfoHash([7; 20]),
        announce: announce.map(str::to_string),
        announce_list: vec![],
        comment: None,
        created_by: None,
        creation_date: None,
        info,
        nodes: vec![],
        url_list: vec![],
        // Stands for the info dictionary: three metadata pieces to serve.
        info_bytes: Arc::from(METADATA.to_vec()),
    });
    let config = Config {
        peer_id: [0xaa; 20],
        listen: "[::]:6881".parse().unwrap(),
        options: Options {
            keep_seeding: true,
            ..Options::default()
        },
        dht: None,
    };
    let (events, _) = async_std::channel::bounded(1);
    let (ctrl_tx, ctrl) = async_std::channel::unbounded();
    Harness {
        task: Task::new(meta, store, have, config, events, ctrl_tx),
        ctrl,
        content,
        _dir: dir,
    }
}

impl Harness {
    /// A plain BEP 3 peer (key, id and port all `n`) connects; returns what it is sent.
    fn connect(&mut self, n: u8) -> Receiver<Outgoing> {
        self.connect_with(n, [0; 8])
    }

    /// A peer offering the fast extension and the extension protocol, as p2p does.
    fn connect_fast(&mut self, n: u8) -> Receiver<Outgoing> {
        self.connect_with(n, Handshake::new(InfoHash([7; 20]), [n; 20]).reserved)
    }

    fn connect_with(&mut self, n: u8, reserved: [u8; 8]) -> Receiver<Outgoing> {
        self.connect_from(
            n,
            reserved,
            SocketAddr::from(([127, 0, 0, 1], 1000 + n as u16)),
        )
    }

    fn connect_from(&mut self, n: u8, reserved: [u8; 8], addr: SocketAddr) -> Receiver<Outgoing> {
        self.connect_kind(n, reserved, addr, crate::torrent::Kind::Peer)
    }

    fn connect_kind(
        &mut self,
        n: u8,
        reserved: [u8; 8],
        addr: SocketAddr,
        kind: crate::torrent::Kind,
    ) -> Receiver<Outgoing> {
        let (handle, rx) = PeerHandle::detached(addr);
        let theirs = Handshake {
            reserved,
            info_hash: InfoHash([7; 20]),
            peer_id: [n; 20],
        };
        self.event(Event::Connected(Box::new(super::Connected {
            key: n as PeerKey,
            addr,
            theirs,
            encrypted: false,
            handle,
            kind,
        })));
        rx
    }

    /// Peer `n` (connected, sending through `rx`) has the first four pieces, unchokes us, and
    /// answers the first request with garbage: the piece, one block long, fails its check.
    /// Returns that block.
    fn send_a_bad_piece(&mut self, n: u8, rx: &Receiver<Outgoing>) -> BlockRef {
        self.say(n, Message::Bitfield(vec![0xf0]));
        self.say(n, Message::Unchoke);
        let b = requests(&sent(rx).0)[0];
        self.say(
            n,
            Message::Piece {
                index: b.piece,
                begin: b.begin,
                data: vec![0xee; b.length as usize],
            },
        );
        self.settle_verification();
        b
    }

    fn event(&mut self, e: Event) -> bool {
        self.task.handle(e).expect("the torrent goes on") == Flow::Continue
    }

    fn say(&mut self, n: u8, m: Message) {
        self.event(Event::Peer(n as PeerKey, PeerEvent::Message(m)));
    }

    /// Waits for the verification the last piece triggered and hands its verdict back.
    fn settle_verification(&mut self) {
        let e = crate::runtime::block_on(crate::runtime::within(
            Duration::from_secs(10),
            self.ctrl.recv(),
        ))
        .expect("a verdict within 10 s")
        .unwrap();
        assert!(matches!(e, Event::Verified { .. }));
        self.event(e);
    }

    fn block(&self, b: BlockRef) -> Vec<u8> {
        let start =
            b.piece as usize * self.task.store.layout().piece_length() as usize + b.begin as usize;
        self.content[start..start + b.length as usize].to_vec()
    }
}

/// Everything queued for a peer so far; `None` at the end marks a closed connection.
fn sent(rx: &Receiver<Outgoing>) -> (Vec<Message>, Vec<BlockRef>, bool) {
    let (mut messages, mut blocks) = (Vec::new(), Vec::new());
    loop {
        match rx.try_recv() {
            Ok(Outgoing::Message(m)) => messages.push(m),
            Ok(Outgoing::Block(b)) => blocks.push(b),
            Err(e) => return (messages, blocks, e.is_closed()),
        }
    }
}

fn requests(messages: &[Message]) -> Vec<BlockRef> {
    messages
        .iter()
        .filter(|m| matches!(m, Message::Request { .. }))
        .filter_map(Message::block)
        .collect()
}

#[test]
fn a_seed_unchokes_five_interested_peers_then_ranks_them_by_what_they_take() {
    let mut h = harness(4, B, true);
    let rx: Vec<_> = (1..=7).map(|n| h.connect(n)).collect();
    for r in &rx {
        let (m, _, _) = sent(r);
        assert!(matches!(m[..], [Message::Bitfield(_)]), "{m:?}");
    }
    for n in 1..=7 {
        h.say(n, Message::Interested);
    }
    let unchoked: Vec<bool> = rx
        .iter()
        .map(|r| sent(r).0 == vec![Message::Unchoke])
        .collect();
    assert_eq!(unchoked, [true, true, true, true, true, false, false]);
    h.event(Event::Tick);
    let getting = h.task.stats.getting_from_us.load(Ordering::Relaxed);
    assert_eq!(getting, 5, "what a client shows as peers getting from us");
    assert_eq!(h.task.stats.sending_to_us.load(Ordering::Relaxed), 0);
    // Peers 6 and 7 take the most this round: the next choke round gives them slots.
    for n in [6u64, 7] {
        h.event(Event::Peer(
            n,
            PeerEvent::Uploaded {
                bytes: 1 << 20,
                blocks: 0,
            },
        ));
    }
    for _ in 0..10 {
        h.event(Event::Tick);
    }
    let after: Vec<Vec<Message>> = rx.iter().map(|r| sent(r).0).collect();
    assert_eq!(after[5], vec![Message::Unchoke]);
    assert_eq!(after[6], vec![Message::Unchoke]);
    assert!(
        after[0].is_empty() && after[1].is_empty(),
        "kept by rank: {after:?}"
    );
    let choked = after.iter().filter(|m| **m == vec![Message::Choke]).count();
    assert_eq!(
        choked, 2,
        "of peers 3, 4, 5 one stays as optimistic: {after:?}"
    );
    assert_eq!(h.task.unchoked(), choke::UPLOAD_SLOTS + 1);
}

#[test]
fn a_slot_freed_between_rounds_goes_to_a_waiting_peer_at_once() {
    let mut h = harness(4, B, true);
    let rx: Vec<_> = (1..=7).map(|n| h.connect(n)).collect();
    for n in 1..=7 {
        h.say(n, Message::Interested);
    }
    let unchoked = |rx: &[Receiver<Outgoing>]| -> Vec<bool> {
        rx.iter()
            .map(|r| sent(r).0.contains(&Message::Unchoke))
            .collect()
    };
    assert_eq!(unchoked(&rx), [true, true, true, true, true, false, false]);
    // Peer 1 completes: its slot goes to one of the two waiting, no tick needed.
    h.say(1, Message::NotInterested);
    let now = unchoked(&rx);
    assert_eq!(now[5..].iter().filter(|&&u| u).count(), 1, "{now:?}");
    // Peer 2 leaves: the last one waiting gets its slot.
    h.event(Event::Peer(
        2,
        PeerEvent::Closed(crate::peer::PeerError::Closed),
    ));
    let now = unchoked(&rx);
    assert_eq!(now[5..].iter().filter(|&&u| u).count(), 1, "{now:?}");
    assert_eq!(h.task.unchoked(), choke::UPLOAD_SLOTS + 1);
}

#[test]
fn requests_are_served_only_to_unchoked_peers_for_pieces_we_have() {
    let mut h = harness(4, B, true);
    let rx = h.connect(1);
    let request = Message::Request {
        index: 2,
        begin: 0,
        length: BLOCK_SIZE,
    };
    h.say(1, request.clone());
    assert!(sent(&rx).1.is_empty(), "choked: not served");
    h.say(1, Message::Interested);
    h.say(1, request);
    let (m, blocks, _) = sent(&rx);
    assert!(m.contains(&Message::Unchoke));
    assert_eq!(
        blocks,
        vec![BlockRef {
            piece: 2,
            begin: 0,
            length: BLOCK_SIZE
        }]
    );
}

#[test]
fn unchoke_fills_the_pipeline_choke_empties_it_and_pieces_end_in_have() {
    let mut h = harness(64, B, false);
    let rx = h.connect(1);
    h.say(1, Message::Bitfield(vec![0xff; 8]));
    assert_eq!(sent(&rx).0, vec![Message::Interested]);
    h.say(1, Message::Unchoke);
    let first = requests(&sent(&rx).0);
    assert_eq!(first.len(), 32, "a new peer gets 32 requests in flight");
    h.say(1, Message::Choke);
    h.say(1, Message::Unchoke);
    let again = requests(&sent(&rx).0);
    assert_eq!(
        again.len(),
        32,
        "a choke drops what was in flight; asked again"
    );
    // Eight blocks in (one piece each): eight free slots, topped up in one go.
    for &b in &again[..8] {
        let data = h.block(b);
        h.say(
            1,
            Message::Piece {
                index: b.piece,
                begin: b.begin,
                data,
            },
        );
    }
    assert_eq!(requests(&sent(&rx).0).len(), 8, "the pipeline is topped up");
    for _ in 0..8 {
        h.settle_verification();
    }
    let (m, _, _) = sent(&rx);
    for b in &again[..8] {
        assert!(m.contains(&Message::Have(b.piece)), "{m:?}");
    }
    assert_eq!(h.task.stats.have_pieces.load(Ordering::Relaxed), 8);
}

#[test]
fn peers_that_unchoke_us_in_one_second_all_get_a_full_pipeline() {
    // Pieces of 16 blocks: the budget of 4 MiB is 16 pieces in progress, the pipelines of
    // eight new peers. Twenty-four seeds unchoke us before the first tick: each is asked for
    // 32 blocks, the pieces in progress widening as each unchoke comes, not at the next tick.
    let mut h = harness(192, 16 * B, false);
    let mut asked = Vec::new();
    for n in 1..=24 {
        let rx = h.connect(n);
        h.say(n, Message::Bitfield(vec![0xff; 24]));
        h.say(n, Message::Unchoke);
        asked.push(requests(&sent(&rx).0).len());
    }
    assert_eq!(asked, vec![32; 24]);
}

#[test]
fn a_web_seed_is_asked_for_blocks_in_order_whatever_its_key() {
    let fast = Handshake::new(InfoHash([7; 20]), [0; 20]).reserved;
    let addr = SocketAddr::from(([127, 0, 0, 1], 80));
    let in_order = |kind| {
        let mut h = harness(64, B, false);
        // Two peers have the first half only, so rarest first would start in the second.
        for n in [2, 3] {
            h.connect(n);
            h.say(
                n,
                Message::Bitfield(vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
            );
        }
        let rx = h.connect_kind(1, fast, addr, kind);
        h.say(1, Message::HaveAll);
        h.say(1, Message::Unchoke);
        let pieces: Vec<u32> = requests(&sent(&rx).0).iter().map(|b| b.piece).collect();
        pieces.windows(2).all(|w| w[0] < w[1]) && pieces[0] == 0
    };
    assert!(in_order(crate::torrent::Kind::WebSeed));
    assert!(
        !in_order(crate::torrent::Kind::Peer),
        "a peer is asked rarest first"
    );
}

#[test]
fn endgame_asks_two_peers_and_cancels_the_slower_one() {
    let mut h = harness(1, 2 * B, false);
    let (a, b) = (h.connect(1), h.connect(2));
    for n in [1, 2] {
        h.say(n, Message::Bitfield(vec![0x80]));
        h.say(n, Message::Unchoke);
    }
    let from_a = requests(&sent(&a).0);
    let from_b = requests(&sent(&b).0);
    assert_eq!(from_a.len(), 2);
    assert_eq!(
        from_b, from_a,
        "endgame: the same blocks asked of the second peer"
    );
    let block = from_a[0];
    let data = h.block(block);
    h.say(
        1,
        Message::Piece {
            index: block.piece,
            begin: block.begin,
            data,
        },
    );
    let cancel = Message::Cancel {
        index: block.piece,
        begin: block.begin,
        length: block.length,
    };
    assert_eq!(sent(&b).0, vec![cancel]);
    assert!(sent(&a).0.is_empty());
}

#[test]
fn a_peer_that_alone_sends_a_bad_piece_is_banned_and_refused_when_it_returns() {
    let mut h = harness(4, B, false);
    let rx = h.connect(1);
    let b = h.send_a_bad_piece(1, &rx);
    let (_, _, closed) = sent(&rx);
    assert!(closed, "the liar's connection is closed");
    assert!(h.task.peers.is_empty());
    let again = h.connect(1);
    assert!(sent(&again).2, "a banned peer id is refused");
    // A loopback address is not banned: another peer id from 127.0.0.1 is welcome.
    let other = h.connect(2);
    assert!(!sent(&other).2);
    assert_eq!(h.task.stats.have_pieces.load(Ordering::Relaxed), 0);
    assert!(!h.task.picker.have().get(b.piece as usize));
}

#[test]
fn a_failed_announce_backs_off_and_the_announcer_comes_back() {
    // Nothing listens on the discard port: the announce fails at once with a refused connection.
    let mut h = harness_for(4, B, false, Some("http://127.0.0.1:9/announce"));
    h.event(Event::Tick);
    let e = crate::runtime::block_on(crate::runtime::within(
        Duration::from_secs(20),
        h.ctrl.recv(),
    ))
    .expect("the announce comes back")
    .unwrap();
    let Event::Announced(_, AnnounceEvent::Started, result) = &e else {
        panic!("expected a failed `started` announce");
    };
    let Err(_) = **result else {
        panic!("expected a failed `started` announce");
    };
    let sent_at = Instant::now();
    h.event(e);
    assert!(
        h.task.announcer.is_some(),
        "the announcer is kept after a failure"
    );
    assert!(
        h.task
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("127.0.0.1:9")
    );
    h.event(Event::Tick);
    assert!(h.task.announcer.is_some(), "not announced again at once");
    let mut schedule = h.task.schedule.clone();
    assert_eq!(schedule.due(sent_at + Duration::from_secs(29)), None);
    assert_eq!(
        schedule.due(sent_at + Duration::from_secs(31)),
        Some(AnnounceEvent::Started),
        "retried after 30 s"
    );
}

fn request(piece: u32, begin: u32) -> Message {
    Message::Request {
        index: piece,
        begin,
        length: BLOCK_SIZE,
    }
}

/// The pieces `allowed fast` messages among `messages` offer.
fn allowed_fast(messages: &[Message]) -> Vec<u32> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::AllowedFast(p) => Some(*p),
            _ => None,
        })
        .collect()
}

fn rejects(messages: &[Message]) -> usize {
    messages
        .iter()
        .filter(|m| matches!(m, Message::Reject { .. }))
        .count()
}

#[test]
fn a_fast_peer_gets_have_all_our_reqq_and_its_allowed_fast_pieces() {
    let mut h = harness(64, B, true);
    let rx = h.connect_fast(1);
    let (m, _, _) = sent(&rx);
    assert_eq!(m[0], Message::HaveAll, "instead of a bitfield");
    let Message::Extended { id: 0, payload } = &m[1] else {
        panic!("an extended handshake second: {m:?}");
    };
    let ours = ExtendedHandshake::parse(payload).unwrap();
    assert_eq!(ours.reqq, Some(2000));
    assert_eq!(ours.p, Some(6881));
    let allowed: Vec<u32> = m[2..]
        .iter()
        .map(|m| match m {
            Message::AllowedFast(p) => *p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(allowed.len(), uploads::ALLOWED_FAST_SET);
    // Choked, it may still take an allowed-fast piece; others are rejected.
    h.say(1, request(allowed[0], 0));
    let other = (0..64).find(|p| !allowed.contains(p)).unwrap();
    h.say(1, request(other, 0));
    let (m, blocks, _) = sent(&rx);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].piece, allowed[0]);
    assert_eq!(rejects(&m), 1);
}

#[test]
fn requests_past_our_reqq_are_rejected_never_dropped() {
    let mut h = harness(600, 4 * B, true);
    let rx = h.connect_fast(1);
    h.say(1, Message::Interested);
    sent(&rx);
    let mut asked = 0;
    'all: for piece in 0..600 {
        for block in 0..4 {
            if asked == 2100 {
                break 'all;
            }
            h.say(1, request(piece, block * BLOCK_SIZE));
            asked += 1;
        }
    }
    let (m, blocks, closed) = sent(&rx);
    assert!(!closed);
    assert_eq!(
        blocks.len(),
        uploads::WRITER_WINDOW,
        "the writer gets a window at a time"
    );
    assert_eq!(rejects(&m), 100, "2,000 queued, the rest rejected");
    // As the writer reports blocks sent, the queue feeds it; every request is served.
    let mut served = blocks.len();
    while served < 2000 {
        h.event(Event::Peer(
            1,
            PeerEvent::Uploaded {
                bytes: 0,
                blocks: uploads::WRITER_WINDOW,
            },
        ));
        let (_, more, _) = sent(&rx);
        assert!(!more.is_empty(), "stuck at {served}");
        served += more.len();
    }
    assert_eq!(served, 2000);
}

#[test]
fn choking_and_cancel_answer_queued_requests_with_rejects() {
    let mut h = harness(200, 4 * B, true);
    let rx = h.connect_fast(1);
    h.say(1, Message::Interested);
    let allowed = allowed_fast(&sent(&rx).0);
    let pieces: Vec<u32> = (0..200).filter(|p| !allowed.contains(p)).take(20).collect();
    for &piece in &pieces {
        for block in 0..4 {
            h.say(1, request(piece, block * BLOCK_SIZE));
        }
    }
    let (_, with_writer, _) = sent(&rx);
    assert_eq!(with_writer.len(), uploads::WRITER_WINDOW);
    // A cancel of a queued request gets a reject; one already with the writer gets its piece.
    h.say(
        1,
        Message::Cancel {
            index: pieces[19],
            begin: 3 * BLOCK_SIZE,
            length: BLOCK_SIZE,
        },
    );
    assert_eq!(rejects(&sent(&rx).0), 1);
    h.say(
        1,
        Message::Cancel {
            index: with_writer[0].piece,
            begin: with_writer[0].begin,
            length: BLOCK_SIZE,
        },
    );
    assert_eq!(rejects(&sent(&rx).0), 0);
    // Choked by the next round (six peers want four slots and peer 1 gave nothing).
    for n in 2..=7 {
        h.connect_fast(n);
        h.say(n, Message::Interested);
        h.event(Event::Peer(
            n as PeerKey,
            PeerEvent::Uploaded {
                bytes: 1 << 20,
                blocks: 0,
            },
        ));
    }
    for _ in 0..10 {
        h.event(Event::Tick);
    }
    let (m, _, _) = sent(&rx);
    if m.contains(&Message::Choke) {
        assert_eq!(rejects(&m), 80 - uploads::WRITER_WINDOW - 1, "{m:?}");
    } else {
        assert_eq!(rejects(&m), 0, "kept as the optimistic unchoke");
    }
}

#[test]
fn fast_protocol_violations_close_only_that_connection() {
    let mut h = harness(8, B, false);
    // A reject for a block never requested.
    let a = h.connect_fast(1);
    h.say(
        1,
        Message::Reject {
            index: 0,
            begin: 0,
            length: BLOCK_SIZE,
        },
    );
    assert!(sent(&a).2, "closed");
    // Have all after a bitfield.
    let b = h.connect_fast(2);
    h.say(2, Message::Bitfield(vec![0x80]));
    h.say(2, Message::HaveAll);
    assert!(sent(&b).2, "closed");
    // An extended handshake that is not a dictionary.
    let c = h.connect_fast(3);
    h.say(
        3,
        Message::Extended {
            id: 0,
            payload: b"li1ee".to_vec(),
        },
    );
    assert!(sent(&c).2, "closed");
    // Fast messages from a peer that did not offer the extension.
    let d = h.connect(4);
    h.say(4, Message::HaveNone);
    assert!(sent(&d).2, "closed");
    // A good one stays, its reqq caps what we keep in flight, and a reject of a block we
    // asked for puts the block back for others.
    let e = h.connect_fast(5);
    h.say(
        5,
        Message::Extended {
            id: 0,
            payload: b"d1:md11:ut_metadatai2ee4:reqqi20ee".to_vec(),
        },
    );
    h.say(5, Message::HaveAll);
    h.say(5, Message::Unchoke);
    let asked = requests(&sent(&e).0);
    assert_eq!(asked.len(), 8, "the whole torrent: 8 blocks, under reqq 20");
    let b0 = asked[0];
    h.say(
        5,
        Message::Reject {
            index: b0.piece,
            begin: b0.begin,
            length: b0.length,
        },
    );
    let (m, _, closed) = sent(&e);
    assert!(!closed);
    assert_eq!(requests(&m), vec![b0], "asked again");
    assert_eq!(h.task.peers.len(), 1);
    assert!(h.task.peers.contains_key(&5));
}

#[test]
fn a_banned_peer_back_under_a_new_id_from_its_address_is_refused() {
    let mut h = harness(4, B, false);
    let at = |port| SocketAddr::from(([10, 0, 0, 5], port));
    let rx = h.connect_from(1, [0; 8], at(1000));
    h.send_a_bad_piece(1, &rx);
    assert!(sent(&rx).2, "banned");
    // Same address, another port and a fresh peer id: still refused.
    let back = h.connect_from(9, [0; 8], at(2000));
    assert!(sent(&back).2, "its address is banned for a while");
    // Another address is not.
    let other = h.connect_from(3, [0; 8], SocketAddr::from(([10, 0, 0, 6], 1000)));
    assert!(!sent(&other).2);
}

#[test]
fn a_full_table_makes_room_by_dropping_a_long_idle_peer_and_one_address_holds_eight() {
    let mut h = harness(4, B, true);
    let mut rxs = Vec::new();
    for n in 0..MAX_PEERS as u8 {
        let addr = SocketAddr::from(([10, 0, 1, n], 6881));
        rxs.push(h.connect_from(n + 1, [0; 8], addr));
    }
    assert_eq!(h.task.peers.len(), MAX_PEERS);
    // Full and nobody idle long enough: a newcomer is refused.
    let late = h.connect_from(200, [0; 8], SocketAddr::from(([10, 0, 2, 1], 6881)));
    assert!(sent(&late).2, "refused while every peer is fresh");
    // One peer has been of no use for over a minute: it makes room.
    let idle_key = 7;
    h.task
        .peers
        .get_mut(&idle_key)
        .unwrap()
        .set_last_useful(Instant::now() - connections::IDLE_EVICTION - Duration::from_secs(1));
    let newcomer = h.connect_from(201, [0; 8], SocketAddr::from(([10, 0, 2, 2], 6881)));
    assert!(!sent(&newcomer).2, "taken in place of the idle one");
    assert!(
        sent(&rxs[idle_key as usize - 1]).2,
        "the idle peer was dropped"
    );
    // One address holds 8 connections at most.
    let mut h = harness(4, B, true);
    let from_one: Vec<_> = (0..10u8)
        .map(|n| {
            h.connect_from(
                n + 1,
                [0; 8],
                SocketAddr::from(([10, 9, 9, 9], 7000 + n as u16)),
            )
        })
        .collect();
    let open = from_one.iter().filter(|rx| !sent(rx).2).count();
    assert_eq!(open, connections::MAX_PEERS_PER_IP);
}
