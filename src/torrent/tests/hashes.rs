//! The owner loop answering BEP 52 hash requests, driven without sockets.

use super::*;
use crate::hash::{Digest256, merkle};
use crate::wire::hashes::HashRequest;

/// The request for the whole piece layer of the file whose root is `root`.
fn whole_layer(root: Digest256) -> HashRequest {
    HashRequest {
        root,
        base: 1,
        index: 0,
        count: 8,
        proof_layers: 0,
    }
}

/// A harness whose torrent is also v2: 8 pieces of 32 KiB (2 blocks each) in one file.
fn v2_harness() -> (Harness, Digest256, Vec<Digest256>) {
    v2_harness_seeding(true)
}

fn v2_harness_seeding(seeding: bool) -> (Harness, Digest256, Vec<Digest256>) {
    let mut h = harness(8, 2 * B, seeding);
    let piece = 2 * B as u64;
    let layer: Vec<Digest256> = h
        .content
        .chunks(2 * B)
        .map(|p| merkle::piece_digest(p, piece, false))
        .collect();
    let root = merkle::file_root(&layer, piece);
    let mut meta = (*h.task.meta).clone();
    meta.info.v2 = Some(Box::new(crate::metainfo::V2 {
        info_hash: [9; 32],
        roots: vec![Some(root)],
        pieces: layer.clone().into(),
    }));
    h.task.meta = Arc::new(meta);
    (h, root, layer)
}

#[test]
fn hash_requests_are_answered_from_the_piece_layer_or_rejected() {
    let (mut h, root, layer) = v2_harness();
    let rx = h.connect_fast(1);
    sent(&rx);
    // The whole piece layer (height 1 above the blocks).
    let whole = whole_layer(root);
    h.say(1, Message::HashRequest(whole));
    let (m, _, closed) = sent(&rx);
    assert!(!closed);
    assert_eq!(m, vec![Message::Hashes(whole, layer.clone())]);
    // Two of them with the proof up to the root: the run, then two uncles.
    let part = HashRequest {
        index: 2,
        count: 2,
        proof_layers: 2,
        ..whole
    };
    h.say(1, Message::HashRequest(part));
    let (m, _, _) = sent(&rx);
    let [Message::Hashes(r, hashes)] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!((r, &hashes[..2]), (&part, &layer[2..4]));
    assert_eq!(hashes.len(), 4);
    // Block hashes of more than one piece, another root, a run past the layer: each
    // declined, and the connection stays.
    for bad in [
        HashRequest { base: 0, ..whole },
        HashRequest {
            root: [1; 32],
            ..whole
        },
        HashRequest {
            index: 4,
            count: 8,
            ..whole
        },
    ] {
        h.say(1, Message::HashRequest(bad));
        let (m, _, closed) = sent(&rx);
        assert_eq!(m, vec![Message::HashReject(bad)]);
        assert!(!closed);
    }
}

#[test]
fn a_v1_torrent_rejects_every_hash_request() {
    let mut h = harness(8, B, true);
    let rx = h.connect_fast(1);
    sent(&rx);
    let r = HashRequest {
        root: [3; 32],
        base: 0,
        index: 0,
        count: 2,
        proof_layers: 0,
    };
    h.say(1, Message::HashRequest(r));
    assert_eq!(sent(&rx).0, vec![Message::HashReject(r)]);
}

#[test]
fn a_peer_asking_for_the_same_hashes_over_and_over_is_refused_past_its_allowance() {
    let (mut h, root, layer) = v2_harness();
    let rx = h.connect_fast(1);
    sent(&rx);
    let whole = whole_layer(root);
    // 2 × 8 pieces + 8192 spare: 1026 answers of 8, then rejects.
    let mut answered = 0;
    for _ in 0..1100 {
        h.say(1, Message::HashRequest(whole));
        match &sent(&rx).0[..] {
            [Message::Hashes(_, hashes)] if hashes == &layer => answered += 1,
            [Message::HashReject(r)] if *r == whole => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answered, (2 * 8 + 8192) / 8);
}

/// A peer offering the fast extension, the extension protocol and v2 (hash requests).
fn connect_v2(h: &mut Harness, n: u8) -> Receiver<Outgoing> {
    let mut reserved = Handshake::new(InfoHash([7; 20]), [n; 20]).reserved;
    let (byte, bit) = crate::wire::hashes::RESERVED_V2;
    reserved[byte] |= bit;
    h.connect_with(n, reserved)
}

/// Waits for the block hashes the task had read from disk, and hands them back.
fn settle_read(h: &mut Harness) {
    let e = crate::runtime::block_on(crate::runtime::within(
        Duration::from_secs(10),
        h.ctrl.recv(),
    ))
    .expect("an answer within 10 s")
    .unwrap();
    assert!(matches!(e, Event::HashesRead(..)));
    h.event(e);
}

/// Follows `proof` (uncles, lowest first) up from `node`, the root of the run at `at` in its
/// layer.
fn climb(mut node: Digest256, mut at: usize, proof: &[Digest256]) -> Digest256 {
    for uncle in proof {
        node = if at.is_multiple_of(2) {
            merkle::parent(&node, uncle)
        } else {
            merkle::parent(uncle, &node)
        };
        at /= 2;
    }
    node
}

#[test]
fn block_hashes_are_read_from_disk_and_proved_up_to_the_root() {
    let (mut h, root, layer) = v2_harness();
    let rx = connect_v2(&mut h, 1);
    sent(&rx);
    let blocks: Vec<Digest256> = h.content.chunks(B).map(crate::hash::sha256).collect();
    // The two blocks of piece 5, as libtorrent asks after a failed piece, with proofs to the
    // root (16 leaves: 4 layers, so 3 proof layers at most): the run, then 3 uncles.
    let r = HashRequest {
        root,
        base: 0,
        index: 10,
        count: 2,
        proof_layers: 3,
    };
    h.say(1, Message::HashRequest(r));
    settle_read(&mut h);
    let (m, _, _) = sent(&rx);
    let [Message::Hashes(got, hashes)] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!((got, &hashes[..2]), (&r, &blocks[10..12]));
    assert_eq!(merkle::parent(&hashes[0], &hashes[1]), layer[5]);
    assert_eq!(climb(layer[5], 5, &hashes[2..]), root);
    // One block: as libtorrent answers, the uncles start above the block's own layer (its
    // sibling block is not among them), and still lead to the root.
    let one = HashRequest {
        index: 3,
        count: 1,
        proof_layers: 3,
        ..r
    };
    h.say(1, Message::HashRequest(one));
    settle_read(&mut h);
    let (m, _, _) = sent(&rx);
    let [Message::Hashes(_, hashes)] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(hashes.len(), 4);
    assert_eq!(hashes[0], blocks[3]);
    let pair = merkle::parent(&blocks[2], &blocks[3]);
    assert_eq!(climb(pair, 1, &hashes[1..]), root);
}

#[test]
fn block_hashes_of_a_piece_we_lack_are_rejected() {
    let (mut h, root, _) = v2_harness_seeding(false);
    let rx = connect_v2(&mut h, 1);
    sent(&rx);
    let r = HashRequest {
        root,
        base: 0,
        index: 0,
        count: 2,
        proof_layers: 0,
    };
    h.say(1, Message::HashRequest(r));
    assert_eq!(sent(&rx).0, vec![Message::HashReject(r)]);
}

/// What the task asks for `piece`'s two block hashes: the run of them, no proof (the piece's
/// own digest proves it).
fn block_ask(root: Digest256, piece: usize) -> HashRequest {
    HashRequest {
        root,
        base: 0,
        index: 2 * piece as u32,
        count: 2,
        proof_layers: 0,
    }
}

/// Peer 1 sends one bad block of a piece and leaves; peer 2 (v2) sends the rest of it, and
/// the piece fails. Returns the piece, the bad block's index in it, and peer 2's channel.
fn a_piece_spoilt_by_one_block(h: &mut Harness) -> (usize, u32, Receiver<Outgoing>) {
    let liar = h.connect_fast(1);
    h.say(1, Message::HaveAll);
    h.say(1, Message::Unchoke);
    let first = requests(&sent(&liar).0)[0];
    h.say(
        1,
        Message::Piece {
            index: first.piece,
            begin: first.begin,
            data: vec![0xee; first.length as usize],
        },
    );
    h.event(Event::Peer(
        1,
        PeerEvent::Closed(crate::peer::PeerError::Closed),
    ));
    let honest = connect_v2(h, 2);
    h.say(2, Message::HaveAll);
    h.say(2, Message::Unchoke);
    let asked = requests(&sent(&honest).0);
    let rest: Vec<BlockRef> = asked
        .into_iter()
        .filter(|b| b.piece == first.piece)
        .collect();
    assert!(!rest.is_empty(), "the piece's other block goes to peer 2");
    for b in rest {
        let data = h.block(b);
        h.say(
            2,
            Message::Piece {
                index: b.piece,
                begin: b.begin,
                data,
            },
        );
    }
    h.settle_verification();
    (first.piece as usize, first.begin / B as u32, honest)
}

#[test]
fn a_bad_block_in_a_piece_from_two_peers_is_pinned_on_its_sender_by_block_hashes() {
    let (mut h, root, _) = v2_harness_seeding(false);
    let (piece, _, honest) = a_piece_spoilt_by_one_block(&mut h);
    assert!(!h.task.bans.is_banned(&[1; 20]), "two senders: no one yet");
    // The v2 peer is asked for the piece's two block hashes.
    let ask = block_ask(root, piece);
    let (m, _, _) = sent(&honest);
    assert!(m.contains(&Message::HashRequest(ask)), "{m:?}");
    let start = piece * 2 * B;
    let blocks: Vec<Digest256> = h.content[start..start + 2 * B]
        .chunks(B)
        .map(crate::hash::sha256)
        .collect();
    h.say(2, Message::Hashes(ask, blocks));
    assert!(h.task.bans.is_banned(&[1; 20]), "the bad block's sender");
    assert!(!h.task.bans.is_banned(&[2; 20]));
    assert!(!h.task.bans.wants_good_copy(piece), "judged: nothing kept");
}

#[test]
fn block_hashes_that_do_not_prove_are_a_lie_and_another_peer_is_asked() {
    let (mut h, root, _) = v2_harness_seeding(false);
    let (piece, _, honest) = a_piece_spoilt_by_one_block(&mut h);
    let other = connect_v2(&mut h, 3);
    h.say(3, Message::HaveAll);
    sent(&other);
    let ask = block_ask(root, piece);
    assert!(sent(&honest).0.contains(&Message::HashRequest(ask)));
    // Peer 2 answers with hashes that do not lead to the piece layer: banned for it, and
    // peer 3 is asked; its reject leaves the piece to be judged by its good copy.
    h.say(2, Message::Hashes(ask, vec![[5; 32]; 2]));
    assert!(h.task.bans.is_banned(&[2; 20]));
    assert!(!h.task.bans.is_banned(&[1; 20]));
    assert!(sent(&other).0.contains(&Message::HashRequest(ask)));
    h.say(3, Message::HashReject(ask));
    assert!(h.task.bans.wants_good_copy(piece));
    assert!(h.task.v2.asks_pending() == 0, "no one else to ask");
}
