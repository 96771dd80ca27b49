//! The picker without sockets: rarest first, endgame, budgets, selections, timeouts.
use super::*;

fn picker(pieces: usize) -> Picker {
    // Pieces of two blocks; the last one short.
    let layout = Layout::new(32768, [(pieces as u64 - 1) * 32768 + 20000]);
    Picker::new(layout, Bitfield::new(pieces), 1 << 30)
}

#[test]
fn a_selective_fetch_picks_only_wanted_pieces_and_completes_with_them() {
    let mut p = picker(5);
    let all = Bitfield::full(5);
    let mut wanted = Bitfield::new(5);
    wanted.set(1);
    wanted.set(3);
    p.set_wanted(&wanted);
    assert!(!p.wants_piece(0) && p.wants_piece(1) && !p.wants_piece(4));
    let now = Instant::now();
    let picked = p.pick(7, &all, 100, now);
    let mut pieces: Vec<u32> = picked.iter().map(|b| b.piece).collect();
    pieces.dedup();
    pieces.sort_unstable();
    assert_eq!(pieces, [1, 3], "nothing outside the selection is asked for");
    assert!(!p.is_complete());
    for b in &picked {
        if let Received::PieceDone { piece, .. } =
            p.received(7, b.piece as usize, b.begin, &vec![0; b.length as usize])
        {
            p.verified(piece, true);
        }
    }
    assert!(p.is_complete(), "complete once the wanted pieces are in");
    assert!(!p.have().is_full());
    assert!(
        p.pick(7, &all, 100, now).is_empty(),
        "no endgame on skipped pieces"
    );
}

#[test]
fn rarest_first_after_a_random_first_piece() {
    let mut p = picker(4);
    let all = Bitfield::full(4);
    let now = Instant::now();
    for _ in 0..3 {
        p.peer_has_piece(0);
        p.peer_has_piece(1);
    }
    p.peer_has_piece(3);
    p.peer_has_all(&all);
    // First piece: any. Complete it.
    let first = p.pick(1, &all, 2, now);
    assert_eq!(first.len(), 2);
    let piece = first[0].piece as usize;
    let mut done = None;
    for b in &first {
        if let Received::PieceDone { piece, .. } =
            p.received(1, piece, b.begin, &vec![0; b.length as usize])
        {
            done = Some(piece);
        }
    }
    assert_eq!(done, Some(piece));
    p.verified(piece, true);
    // Then the rarest remaining: piece 2 (1 copy), unless it was the random first.
    let next = p.pick(1, &all, 1, now)[0].piece as usize;
    let expected = if piece == 2 { 3 } else { 2 };
    assert_eq!(next, expected);
}

#[test]
fn partial_pieces_are_finished_first_and_released_on_leave() {
    let mut p = picker(4);
    let all = Bitfield::full(4);
    let now = Instant::now();
    let a = p.pick(1, &all, 1, now);
    let b = p.pick(2, &all, 1, now);
    assert_eq!(
        a[0].piece, b[0].piece,
        "the second peer finishes the started piece"
    );
    assert_ne!(a[0].begin, b[0].begin);
    p.release_peer(1);
    let c = p.pick(3, &all, 1, now);
    assert_eq!(c, a, "a released block is handed out again");
}

#[test]
fn endgame_asks_twice_and_cancels_the_loser() {
    let mut p = picker(1);
    let all = Bitfield::full(1);
    let now = Instant::now();
    let first = p.pick(1, &all, 10, now);
    assert_eq!(first.len(), 2);
    assert!(p.in_endgame());
    let dup = p.pick(2, &all, 10, now);
    assert_eq!(dup, first, "peer 2 is asked for the same blocks");
    assert!(
        p.pick(3, &all, 10, now).is_empty(),
        "at most two peers a block"
    );
    let r = p.received(2, 0, 0, &[0; 16384]);
    assert_eq!(r, Received::Stored { cancel: vec![1] });
    assert_eq!(
        p.received(1, 0, 0, &[0; 16384]),
        Received::Unwanted,
        "duplicate"
    );
    let last = vec![0; first[1].length as usize];
    let Received::PieceDone {
        senders, cancel, ..
    } = p.received(1, 0, 16384, &last)
    else {
        panic!("whole")
    };
    assert_eq!(senders, vec![2, 1]);
    assert_eq!(cancel, vec![2]);
}

#[test]
fn failed_pieces_are_queued_again_and_bad_blocks_ignored() {
    let mut p = picker(2);
    let all = Bitfield::full(2);
    let now = Instant::now();
    let got = p.pick(1, &all, 4, now);
    assert_eq!(got.len(), 4);
    assert_eq!(
        p.received(1, 0, 1, &[0; 16384]),
        Received::Unwanted,
        "unaligned"
    );
    assert_eq!(
        p.received(1, 0, 0, &[0; 100]),
        Received::Unwanted,
        "wrong size"
    );
    assert_eq!(
        p.received(1, 5, 0, &[0; 100]),
        Received::Unwanted,
        "not asked"
    );
    for b in got.iter().filter(|b| b.piece == 1) {
        p.received(1, 1, b.begin, &vec![0; b.length as usize]);
    }
    p.verified(1, false);
    assert!(p.wants_piece(1));
    let again = p.pick(2, &all, 1, now);
    assert_eq!(
        again[0].piece, 1,
        "the failed piece is started again, owned by peer 2"
    );
    let third = p.pick(3, &all, 10, now);
    assert!(
        third.iter().all(|b| b.piece != 1),
        "a failed piece is retried from one peer alone: {third:?}"
    );
    assert!(!p.is_complete());
}

#[test]
fn in_progress_pieces_are_capped() {
    let layout = Layout::new(32768, [10 * 32768]);
    let mut p = Picker::new(layout, Bitfield::new(10), 2 * 32768);
    let got = p.pick(1, &Bitfield::full(10), 100, Instant::now());
    assert_eq!(got.len(), 4, "two pieces of two blocks");
    let later = Instant::now() + Duration::from_secs(60);
    assert_eq!(p.overdue(later, Duration::from_secs(30)).len(), 4);
}

#[test]
fn sequential_picks_in_order_within_a_window_rarest_first() {
    let layout = Layout::new(BLOCK_SIZE as u64, [BLOCK_SIZE as u64 * 40]);
    let mut p = Picker::new(layout, Bitfield::new(40), 1 << 30);
    p.set_sequential(true);
    let mut all = Bitfield::new(40);
    (0..40).for_each(|i| {
        all.set(i);
    });
    p.peer_has_all(&all);
    // Piece 5 is rarer than the rest of the window: another peer lacks it.
    let mut most = all.clone();
    most.clear(5);
    p.peer_has_all(&most);
    let now = Instant::now();
    let first: Vec<u32> = p.pick(1, &all, 3, now).iter().map(|b| b.piece).collect();
    assert_eq!(first, [5, 0, 1], "the rarest in the window, then in order");
    // Far pieces are not started while the window has work.
    let next: Vec<u32> = p.pick(1, &all, 10, now).iter().map(|b| b.piece).collect();
    assert!(next.iter().all(|&x| x < 16), "{next:?}");
    assert_eq!(p.prefix_bytes(), 0);
}

#[test]
fn a_verified_pieces_buffer_is_the_next_pieces() {
    let mut p = picker(4);
    let all = Bitfield::full(4);
    let now = Instant::now();
    let blocks = p.pick(1, &all, 2, now);
    assert!(
        blocks.iter().all(|b| b.piece == blocks[0].piece),
        "{blocks:?}"
    );
    let done = blocks.iter().find_map(|b| {
        match p.received(1, b.piece as usize, b.begin, &vec![5; b.length as usize]) {
            Received::PieceDone { piece, data, .. } => Some((piece, data)),
            _ => None,
        }
    });
    let (piece, data) = done.expect("both blocks make the piece");
    let at = data.as_ptr();
    p.verified(piece, true);
    p.recycle(data);
    let next = p.pick(1, &all, 1, now)[0];
    assert_ne!(next.piece as usize, piece);
    assert_eq!(p.partial[&(next.piece as usize)].buffer.as_ptr(), at);
}

#[test]
fn blocks_of_padding_are_never_asked_for_and_read_as_zeros() {
    // Pieces of 4 blocks: 20,000 bytes of a file, padding to 64 KiB, then 100 bytes and
    // padding to 128 KiB. Pieces 0 and 1 hold 2 and 1 blocks of data; the rest is padding.
    let layout = Layout::with_padding(65536, [(0, 20_000), (65536, 100)], 131072).unwrap();
    let mut p = Picker::new(layout, Bitfield::new(2), 1 << 30);
    let all = Bitfield::full(2);
    let picked = p.pick(7, &all, 100, Instant::now());
    let asked: Vec<(u32, u32)> = picked.iter().map(|b| (b.piece, b.begin)).collect();
    let mut sorted = asked.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [(0, 0), (0, 16384), (1, 0)],
        "only blocks holding data"
    );
    let mut done = Vec::new();
    for b in &picked {
        if let Received::PieceDone {
            piece,
            data,
            senders,
            ..
        } = p.received(7, b.piece as usize, b.begin, &vec![1; b.length as usize])
        {
            done.push((piece, data, senders));
        }
    }
    done.sort_by_key(|d| d.0);
    let (piece, data, senders) = &done[0];
    assert_eq!(*piece, 0);
    assert!(data[..32768].iter().all(|&b| b == 1) && data[32768..].iter().all(|&b| b == 0));
    assert_eq!(senders, &[7, 7, NOBODY, NOBODY]);
    assert_eq!(done[1].2, [7, NOBODY, NOBODY, NOBODY]);
    p.verified(0, true);
    p.verified(1, true);
    assert!(p.is_complete());
    assert_eq!(p.bytes_have(), 20_100, "what is had is the files' bytes");
}

#[test]
fn many_senders_widen_the_budget_to_fill_their_pipelines_up_to_a_cap() {
    // A budget of two pieces of two blocks; 40 pieces to fetch.
    let layout = Layout::new(32768, [40 * 32768]);
    let mut p = Picker::new(layout, Bitfield::new(40), 2 * 32768);
    let all = Bitfield::full(40);
    let now = Instant::now();
    assert_eq!(
        p.pick(1, &all, 8, now).len(),
        4,
        "the budget alone: two pieces"
    );
    assert!(p.pick(2, &all, 8, now).is_empty(), "a second peer starves");
    // Three senders, 24 blocks asked of them at most: 12 pieces for the pipelines, one more
    // a sender, twice over.
    p.set_demand(3, 24);
    assert_eq!(p.pick(2, &all, 8, now).len(), 8);
    assert_eq!(p.pick(3, &all, 8, now).len(), 8);
    assert_eq!(p.pick(4, &all, 100, now).len(), 2 * (30 - 10));
    // One sender, 24 blocks: 12 pieces and one more, once.
    p.set_demand(1, 24);
    assert_eq!(p.max_partial, 13);
    // However many ask, the pieces in progress stay within MAX_PARTIAL_BYTES.
    let big = Layout::new(16 << 20, [1 << 30]);
    let mut q = Picker::new(big, Bitfield::new(64), 4 << 20);
    q.set_demand(50, 50 * 256);
    assert_eq!(q.max_partial, (MAX_PARTIAL_BYTES / (16 << 20)) as usize);
    q.set_demand(0, 0);
    assert_eq!(q.max_partial, 2, "back to the budget when they stop");
}
