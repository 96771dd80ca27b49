//! `p2p seed --super-seed` (BEP 16): what a peer sees of it on the wire (have none, two offers,
//! the next after its `have`, a reject for what was not offered), and real clients fetching
//! from it.

mod common;
use common::*;
use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const PIECE: usize = 64 << 10;

fn request(s: &mut TcpStream, piece: u32, begin: u32) {
    let mut m = vec![0, 0, 0, 13, 6];
    m.extend_from_slice(&piece.to_be_bytes());
    m.extend_from_slice(&begin.to_be_bytes());
    m.extend_from_slice(&16384u32.to_be_bytes());
    s.write_all(&m).unwrap();
}

fn index(body: &[u8]) -> u32 {
    u32::from_be_bytes(body[0..4].try_into().unwrap())
}

/// Reads until `want` returns a value, within 20 s; every `have` seen on the way goes to `haves`
/// (which `want` is shown), and a bitfield or have all fails the test: a super-seed shows none.
fn until<T>(
    s: &mut TcpStream,
    haves: &mut Vec<u32>,
    mut want: impl FnMut(u8, &[u8], &[u32]) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "nothing awaited came in 20 s");
        let Some((id, body)) = read_message(s) else {
            continue;
        };
        assert!(
            id != 5 && id != 0x0E,
            "a super-seed sent its pieces (message {id})"
        );
        if id == 4 {
            haves.push(index(&body));
        }
        if let Some(t) = want(id, &body, haves) {
            return t;
        }
    }
}

#[test]
fn a_super_seed_offers_two_pieces_then_one_for_each_have_and_rejects_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "s.bin", 16 * PIECE, "t@127.0.0.1:9", "64K");
    let original = fs::read(&content).unwrap();
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--super-seed"]);
    let (mut s, theirs) = raw_handshake(port, &torrent, b"-XX0001-superseedtst");
    assert_eq!(
        theirs[27] & 0x04,
        0x04,
        "the seed offers the fast extension"
    );
    s.write_all(&[0, 0, 0, 1, 0x0F]).unwrap(); // have none
    s.write_all(&[0, 0, 0, 1, 2]).unwrap(); // interested

    // Have none, two offers and an unchoke, in whatever order.
    let mut haves = Vec::new();
    let (mut have_none, mut unchoked) = (false, false);
    until(&mut s, &mut haves, |id, _, haves| {
        have_none |= id == 0x0F;
        unchoked |= id == 1;
        (have_none && unchoked && haves.len() >= 2).then_some(())
    });
    assert_eq!(haves.len(), 2, "two offers: {haves:?}");
    let (a, b) = (haves[0], haves[1]);
    assert!(a != b && a < 16 && b < 16, "{haves:?}");

    // A piece not offered is rejected; an offered one is served, byte for byte.
    let other = (0..16).find(|p| *p != a && *p != b).unwrap();
    request(&mut s, other, 0);
    until(&mut s, &mut haves, |id, body, _| {
        (id == 0x10 && index(body) == other).then_some(())
    });
    request(&mut s, a, 0);
    let data = until(&mut s, &mut haves, |id, body, _| {
        (id == 7 && index(body) == a).then(|| body[8..].to_vec())
    });
    let at = a as usize * PIECE;
    assert!(data == original[at..at + 16384], "piece {a} as served");

    // Our have of `a` spends that offer: exactly one new piece is offered.
    let mut have = vec![0, 0, 0, 5, 4];
    have.extend_from_slice(&a.to_be_bytes());
    s.write_all(&have).unwrap();
    let next = until(&mut s, &mut haves, |id, body, _| {
        (id == 4).then(|| index(body))
    });
    assert!(next != a && next != b && next < 16, "{haves:?}");
    assert_eq!(haves.len(), 3, "{haves:?}");
}

/// libtorrent and `p2p fetch` take a whole torrent from a super-seed at once (they see pieces
/// only as each is offered, and pass them on to each other).
#[test]
fn libtorrent_and_p2p_fetch_a_whole_torrent_from_a_super_seed() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "s.bin", 64 * PIECE, "t@127.0.0.1:9", "64K");
    let original = fs::read(&content).unwrap();
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--super-seed"]);
    let lt_out = dir.path().join("lt");
    fs::create_dir(&lt_out).unwrap();
    let mut lt = Proc::spawn(
        "libtorrent fetch",
        &mut libtorrent_fetch(py, &torrent, &lt_out, port, 60, &[]),
    );
    let seed_addr = format!("127.0.0.1:{port}");
    let out = dir.path().join("p2p");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--peer", &seed_addr, "--no-dht"]);
    let (ok, _, stderr) = fetch.finish(Duration::from_secs(60));
    assert!(ok, "p2p fetch from a super-seed failed: {stderr}");
    assert!(
        fs::read(out.join("s.bin")).unwrap() == original,
        "p2p's copy differs"
    );
    assert!(
        lt.wait_for(Duration::from_secs(60)).success(),
        "libtorrent did not complete from a super-seed"
    );
    assert!(
        fs::read(lt_out.join("s.bin")).unwrap() == original,
        "libtorrent's copy differs"
    );
}
