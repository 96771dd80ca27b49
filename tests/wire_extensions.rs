//! The fast extension (BEP 6) and the extension protocol (BEP 10) against `p2p seed`: a raw
//! peer that pipelines past our queue, and libtorrent, which pipelines hundreds of requests and
//! stalled when a seed dropped some.

mod common;
use common::*;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `p2p fetch` to its end within `limit`; whether it succeeded.
fn fetch(torrent: &Path, out: &Path, extra: &[&str], limit: Duration) -> bool {
    start_fetch("fetch", torrent, out, extra).finish(limit).0
}

/// A raw peer offering BEP 6 and BEP 10 asks for 2,100 blocks in one go: every request gets a
/// piece or a reject, and the extended handshake says how many may be queued.
#[test]
fn every_pipelined_request_gets_a_piece_or_a_reject() {
    let dir = tempfile::tempdir().unwrap();
    // 36 MiB in 64 KiB pieces: 2,304 blocks.
    let (content, torrent) = make_content(dir.path(), "big.bin", 36 << 20, "t@127.0.0.1:9", "64K");
    let original = fs::read(&content).unwrap();
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    let (mut s, theirs) = raw_handshake(port, &torrent, b"-XX0001-rawpipeliner");
    assert_eq!(
        theirs[25] & 0x10,
        0x10,
        "the seed offers the extension protocol"
    );
    assert_eq!(
        theirs[27] & 0x04,
        0x04,
        "the seed offers the fast extension"
    );
    s.write_all(&[0, 0, 0, 1, 2]).unwrap(); // interested
    let (mut have_all, mut reqq, mut unchoked) = (false, false, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(have_all && reqq && unchoked) {
        assert!(
            Instant::now() < deadline,
            "no have all / handshake / unchoke"
        );
        match read_message(&mut s) {
            Some((0x0E, _)) => have_all = true,
            Some((20, body)) if body[0] == 0 => {
                let text = String::from_utf8_lossy(&body[1..]).into_owned();
                assert!(text.contains("4:reqqi2000e"), "{text}");
                reqq = true;
            }
            Some((1, _)) => unchoked = true,
            _ => {}
        }
    }
    let mut requests = Vec::new();
    for i in 0..2100u32 {
        let (piece, begin) = (i / 4, (i % 4) * 16384);
        requests.extend_from_slice(&[0, 0, 0, 13, 6]);
        requests.extend_from_slice(&piece.to_be_bytes());
        requests.extend_from_slice(&begin.to_be_bytes());
        requests.extend_from_slice(&16384u32.to_be_bytes());
    }
    s.write_all(&requests).unwrap();
    let (mut pieces, mut rejects) = (0, 0);
    while pieces + rejects < 2100 {
        match read_message(&mut s) {
            Some((7, body)) => {
                let piece = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                let begin = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                let at = piece * 65536 + begin;
                assert!(
                    body[8..] == original[at..at + 16384],
                    "piece {piece} at {begin}"
                );
                pieces += 1;
            }
            Some((0x10, _)) => rejects += 1,
            _ => {}
        }
    }
    eprintln!("{pieces} pieces, {rejects} rejects");
    assert!(pieces >= 2000, "{pieces} served");
}

/// libtorrent pipelines hundreds of requests of a 24 MiB torrent in 16 KiB pieces: with
/// requests dropped past 512, about one run in six stalled for good.
#[test]
fn libtorrent_downloads_a_many_piece_torrent_ten_times_without_stalling() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "many.bin", 24 << 20, "t@127.0.0.1:9", "16K");
    let original = fs::read(&content).unwrap();
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    for run in 0..10 {
        let out = dir.path().join(format!("lt{run}"));
        fs::create_dir(&out).unwrap();
        let mut cmd = libtorrent_fetch(py, &torrent, &out, port, 40, &[]);
        let started = Instant::now();
        let status = Proc::spawn("libtorrent fetch", &mut cmd).wait_for(Duration::from_secs(50));
        assert!(status.success(), "run {run}: libtorrent stalled");
        assert!(
            fs::read(out.join("many.bin")).unwrap() == original,
            "run {run}: copy differs"
        );
        eprintln!("run {run}: {:.1}s", started.elapsed().as_secs_f64());
        fs::remove_dir_all(&out).unwrap();
    }
}

/// libtorrent with encryption forced (RC4 only) downloads from `p2p seed --encryption require`,
/// and `p2p fetch --encryption require` downloads from such a libtorrent seed. A plaintext-only
/// fetch gets nothing from the requiring seed.
#[test]
fn libtorrent_with_encryption_forced_both_ways() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "e.bin", 8 << 20, "t@127.0.0.1:9", "64K");
    let original = fs::read(&content).unwrap();
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--encryption", "require"]);
    let lt_out = dir.path().join("lt");
    fs::create_dir(&lt_out).unwrap();
    let mut cmd = libtorrent_fetch(py, &torrent, &lt_out, port, 40, &["--require-encryption"]);
    let status = Proc::spawn("libtorrent fetch", &mut cmd).wait_for(Duration::from_secs(50));
    assert!(
        status.success(),
        "libtorrent (encryption forced) fetched nothing from p2p"
    );
    assert!(fs::read(lt_out.join("e.bin")).unwrap() == original);

    let plain = dir.path().join("plain");
    assert!(
        !fetch(
            &torrent,
            &plain,
            &[
                "--peer",
                &format!("127.0.0.1:{port}"),
                "--encryption",
                "off",
                "--timeout",
                "10s"
            ],
            Duration::from_secs(45)
        ),
        "a plaintext fetch must not get through to a seed that requires encryption"
    );

    let (_lt, lt_port) = libtorrent_seed(py, &torrent, dir.path(), 60, &["--require-encryption"]);
    let out = dir.path().join("p2p");
    // With --timeout the fetch gives up by itself without a peer, so this cannot hang.
    let peer = format!("127.0.0.1:{lt_port}");
    let o = p2p(&fetch_args(
        &torrent,
        &out,
        &[
            "--peer",
            &peer,
            "--encryption",
            "require",
            "--timeout",
            "30s",
        ],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("; 1 of 1 connections encrypted"),
        "{}",
        stdout(&o)
    );
    assert!(fs::read(out.join("e.bin")).unwrap() == original);
}

/// aria2c with --bt-require-crypto downloads from `p2p seed --encryption require`, and
/// `p2p fetch --encryption require` from such an aria2c seed, both through `p2p tracker`.
#[test]
fn aria2c_requiring_encryption_both_ways() {
    let aria2c = require("aria2c", "aria2");
    let (_t, tport) = start_tracker(2);
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(
        dir.path(),
        "a.bin",
        4 << 20,
        &format!("t@127.0.0.1:{tport}"),
        "64K",
    );
    let original = fs::read(&content).unwrap();
    let (seed, _) = start_seed("seed", &torrent, dir.path(), &["--encryption", "require"]);
    let aria_out = dir.path().join("aria");
    let mut cmd = aria2c_fetch(&aria2c, &torrent, &aria_out);
    cmd.arg("--bt-require-crypto=true");
    let status = Proc::spawn("aria2c", &mut cmd).wait_for(Duration::from_secs(60));
    assert!(
        status.success(),
        "aria2c (crypto required) failed: {status:?}"
    );
    assert!(fs::read(aria_out.join("a.bin")).unwrap() == original);
    drop(seed);

    let mut cmd = Command::new(&aria2c);
    cmd.args([
        "--enable-dht=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--bt-require-crypto=true",
        "--seed-ratio=0.0",
        "--seed-time=60",
        "--bt-seed-unverified=true",
        "--console-log-level=warn",
        "--summary-interval=0",
        &format!("--listen-port={}", free_port()),
        &format!("--dir={}", dir.path().display()),
        torrent.to_str().unwrap(),
    ])
    .stdout(Stdio::null());
    let _aria_seed = Proc::spawn("aria2c seed", &mut cmd);
    let out = dir.path().join("p2p");
    assert!(fetch(
        &torrent,
        &out,
        &["--encryption", "require"],
        Duration::from_secs(60)
    ));
    assert!(fs::read(out.join("a.bin")).unwrap() == original);
}

#[test]
fn a_bad_encryption_policy_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "x.bin", 1000, "t@127.0.0.1:9", "16K");
    let out = dir.path().join("out");
    let o = p2p(&fetch_args(&torrent, &out, &["--encryption", "maybe"]));
    assert_usage_error(&o, "--encryption `maybe`: must be prefer, require or off");
    let o = p2p(&["seed", torrent.to_str().unwrap(), "--encryption", "always"]);
    assert_usage_error(&o, "--encryption `always`");
}

/// A peer that breaks the extension and fast protocols (a non-dictionary extended handshake, a
/// reject never asked for, have all after a bitfield, garbage under ut_metadata, an oversized
/// message; one a connection) is dropped each time it is dialed, and the fetch completes from
/// the honest seed.
#[test]
fn protocol_violations_end_only_that_peer_and_the_fetch_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 2 << 20, "t@127.0.0.1:9", "32K");
    let hash = info_hash(&torrent);
    let (_bad, bad_port) = bad_seed("protocol", &hash, 64);
    // The honest seed is slow (about 12 s for the file), so the bad peer is dialed again.
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--upload-limit", "170K"]);
    let out = dir.path().join("out");
    let (ok, _, stderr) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &format!("127.0.0.1:{bad_port}"),
            "--peer",
            &format!("127.0.0.1:{port}"),
        ],
    )
    .finish(std::time::Duration::from_secs(90));
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
}
