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
    let mut h = harness(8, 2 * B, true);
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
        pieces: layer.clone(),
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
    // Block hashes (not kept), another root, a run past the layer: each declined, and the
    // connection stays.
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
