//! Peer exchange (BEP 11): a fetch given only a slow peer finds the seed that peer is connected
//! to, for p2p and for libtorrent learning from p2p. In each case the middle peer uploads at
//! 1 KiB/s, so the newcomer can complete only by finding the seed through PEX.

mod common;

use common::*;
use std::time::{Duration, Instant};

const SIZE: usize = 8 << 20;

/// A seed A and a fetch B connected to A that downloads slowly and uploads almost nothing;
/// returns them, with the torrent, its content and B's port.
fn seed_and_slow_middle(
    dir: &std::path::Path,
) -> (Logged, Logged, std::path::PathBuf, std::path::PathBuf, u16) {
    let (content, torrent) = make_content(dir, "f.bin", SIZE, "t@127.0.0.1:9", "64K");
    let (a, aport) = start_seed("A", &torrent, dir, &[]);
    let b_out = dir.join("b");
    let b = spawn_logged(
        "B",
        &fetch_args(
            &torrent,
            &b_out,
            &[
                "--peer",
                &format!("127.0.0.1:{aport}"),
                "--download-limit",
                "128K",
                "--upload-limit",
                "1K",
            ],
        ),
    );
    let bport = b.listening_port();
    (a, b, torrent, content, bport)
}

#[test]
fn a_fetch_given_only_a_slow_peer_finds_the_seed_through_pex() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, _b, torrent, content, bport) = seed_and_slow_middle(dir.path());
    let out = dir.path().join("c");
    let started = Instant::now();
    let (ok, _, stderr) = start_fetch(
        "C",
        &torrent,
        &out,
        &["--peer", &format!("127.0.0.1:{bport}")],
    )
    .finish(Duration::from_secs(60));
    let took = started.elapsed();
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        content_of(&content)
    );
    // Through B alone 8 MiB at 1 KiB/s would take over two hours.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    eprintln!("C completed in {:.1}s", took.as_secs_f64());
}

#[test]
fn libtorrent_finds_a_p2p_seed_through_p2p_pex() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (_a, _b, torrent, content, bport) = seed_and_slow_middle(dir.path());
    let out = dir.path().join("lt");
    let started = Instant::now();
    let mut lt = Proc::spawn(
        "libtorrent",
        &mut libtorrent_fetch(py, &torrent, &out, bport, 50, &[]),
    );
    assert!(
        lt.wait_for(Duration::from_secs(60)).success(),
        "libtorrent did not complete: it found no seed through p2p's PEX"
    );
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        content_of(&content)
    );
    eprintln!(
        "libtorrent completed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn content_of(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}
