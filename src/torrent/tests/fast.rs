//! Allowed-fast pieces (BEP 6) in a crowd: each goes to one choked peer at a time.

use super::*;

#[test]
fn a_seed_gives_each_allowed_fast_piece_to_one_choked_peer_at_a_time() {
    let mut h = harness(64, B, true);
    // Three peers of one /24: BEP 6 offers them the same pieces.
    let rx: Vec<_> = (1..=3).map(|n| h.connect_fast(n)).collect();
    let sets: Vec<Vec<u32>> = rx.iter().map(|r| allowed_fast(&sent(r).0)).collect();
    assert_eq!(sets[0], sets[1]);
    let (a, b) = (sets[0][0], sets[0][1]);
    // Peer 1 takes piece a while choked; peer 2, asking for it too, is refused, and takes b.
    h.say(1, request(a, 0));
    h.say(2, request(a, 0));
    h.say(2, request(b, 0));
    let (_, blocks, _) = sent(&rx[0]);
    assert_eq!(blocks.iter().map(|b| b.piece).collect::<Vec<_>>(), [a]);
    let (m, blocks, closed) = sent(&rx[1]);
    assert!(!closed);
    assert_eq!(blocks.iter().map(|b| b.piece).collect::<Vec<_>>(), [b]);
    assert_eq!(
        m,
        [Message::Reject {
            index: a,
            begin: 0,
            length: BLOCK_SIZE
        }]
    );
    // Once peer 1 is gone, piece a is on offer to the others again.
    h.event(Event::Peer(
        1,
        PeerEvent::Closed(crate::peer::PeerError::Closed),
    ));
    h.say(3, request(a, 0));
    let (m, blocks, _) = sent(&rx[2]);
    assert_eq!(rejects(&m), 0);
    assert_eq!(blocks.iter().map(|b| b.piece).collect::<Vec<_>>(), [a]);
}

#[test]
fn an_allowed_fast_piece_refused_while_choked_is_not_asked_for_again() {
    let mut h = harness(16, 2 * B, false);
    let rx = h.connect_fast(1);
    sent(&rx);
    h.say(1, Message::HaveAll);
    h.say(1, Message::AllowedFast(3));
    h.say(1, Message::AllowedFast(5));
    let asked = requests(&sent(&rx).0);
    let pieces: HashSet<u32> = asked.iter().map(|b| b.piece).collect();
    assert_eq!(pieces, HashSet::from([3, 5]), "{asked:?}");
    // It refuses piece 3 (both blocks): we ask for nothing more of it while choked.
    for begin in [0, BLOCK_SIZE] {
        h.say(
            1,
            Message::Reject {
                index: 3,
                begin,
                length: BLOCK_SIZE,
            },
        );
    }
    let again = requests(&sent(&rx).0);
    assert!(again.iter().all(|b| b.piece != 3), "{again:?}");
    // Unchoked, piece 3 is asked for like any other.
    h.say(1, Message::Unchoke);
    let now = requests(&sent(&rx).0);
    assert!(now.iter().any(|b| b.piece == 3), "{now:?}");
}
