//! Magnet links (BEP 9): p2p fetching from a magnet link (from p2p and from libtorrent, with
//! lying metadata peers in the way, interrupted and resumed), libtorrent and aria2c fetching
//! from p2p given only a magnet link, and bad links refused.

mod common;

use common::*;
use std::path::{Path, PathBuf};

use std::time::Duration;

/// A three-file directory `album` of `len` bytes in all, and its torrent announcing to
/// `tracker`.
fn album(dir: &Path, len: usize, tracker: &str) -> (PathBuf, PathBuf) {
    let content = dir.join("album");
    std::fs::create_dir_all(content.join("disc 2")).unwrap();
    let sizes = [len / 2, len / 3, len - len / 2 - len / 3];
    for (i, (name, size)) in ["one.bin", "two.bin", "disc 2/three.bin"]
        .iter()
        .zip(sizes)
        .enumerate()
    {
        std::fs::write(content.join(name), data(size, i as u64 + 1)).unwrap();
    }
    let torrent = dir.join("album.torrent");
    make_torrent_file(&content, &torrent, tracker, "32K");
    (content, torrent)
}

/// The magnet link `p2p info` prints.
fn magnet_of(torrent: &Path) -> String {
    let o = p2p(&["info", torrent.to_str().unwrap()]);
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("magnet:").map(|m| m.trim().to_string()))
        .expect("a magnet line")
}

fn assert_same_tree(a: &Path, b: &Path) {
    for name in ["one.bin", "two.bin", "disc 2/three.bin"] {
        assert!(
            std::fs::read(a.join(name)).unwrap() == std::fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
}

#[test]
fn info_and_make_torrent_print_the_magnet_link() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = album(dir.path(), 100_000, "t@127.0.0.1:7000");
    let link = magnet_of(&torrent);
    assert_eq!(
        link,
        format!(
            "magnet:?xt=urn:btih:{}&dn=album&tr=http://127.0.0.1:7000/announce",
            info_hash(&torrent)
        )
    );
    let o = p2p(&[
        "make-torrent",
        dir.path().join("album").to_str().unwrap(),
        "--tracker",
        "t@127.0.0.1:7000",
        "--piece-length",
        "32K",
        "--out",
        dir.path().join("again.torrent").to_str().unwrap(),
    ]);
    assert!(stdout(&o).lines().any(|l| l == link), "{}", stdout(&o));
}

#[test]
fn p2p_fetches_a_magnet_link_from_p2p_seed_saves_the_torrent_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 6 << 20, "t@127.0.0.1:9");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    let link = magnet_of(&torrent);
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    // A slow first run, interrupted once the metadata is in and some pieces are verified.
    let first = spawn_logged(
        "fetch 1",
        &fetch_args(
            Path::new(&link),
            &out,
            &["--peer", &peer, "--download-limit", "1M"],
        ),
    );
    first.wait_line("saved the torrent as", Duration::from_secs(20));
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("album.part")
    )));
    first.proc.signal("INT");
    let mut first = first;
    assert!(!first.proc.wait_for(Duration::from_secs(20)).success());
    let saved = out.join("album.torrent");
    assert_eq!(info_hash(&saved), info_hash(&torrent), "same info-hash");
    // The second run starts from the saved torrent and the verified pieces.
    let (ok, stdout, stderr) = start_fetch("fetch 2", Path::new(&link), &out, &["--peer", &peer])
        .finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("metadata from"),
        "no second metadata fetch"
    );
    let resumed = stderr
        .lines()
        .find_map(|l| l.split("resuming: ").nth(1))
        .expect("a resuming line");
    let verified: usize = resumed.split_whitespace().next().unwrap().parse().unwrap();
    assert!(verified > 0, "{resumed}");
    let downloaded: u64 = stdout
        .split("downloaded ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a summary");
    assert!(downloaded < 6 << 20, "{stdout}");
    assert_same_tree(&content, &out.join("album"));
}

#[test]
fn p2p_fetches_a_magnet_link_from_libtorrent() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 3 << 20, "t@127.0.0.1:9");
    let (_seed, port) = libtorrent_seed(py, &torrent, dir.path(), 120, &[]);
    let out = dir.path().join("out");
    let (ok, _, stderr) = start_fetch(
        "fetch",
        Path::new(&magnet_of(&torrent)),
        &out,
        &["--peer", &format!("127.0.0.1:{port}")],
    )
    .finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("metadata from 127.0.0.1"), "{stderr}");
    assert_eq!(info_hash(&out.join("album.torrent")), info_hash(&torrent));
    assert_same_tree(&content, &out.join("album"));
}

#[test]
fn libtorrent_fetches_a_magnet_link_from_p2p_seed() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 3 << 20, "t@127.0.0.1:9");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("lt");
    let link = magnet_of(&torrent);
    let mut lt = Proc::spawn(
        "libtorrent",
        &mut libtorrent_fetch(py, Path::new(&link), &out, port, 60, &[]),
    );
    assert!(
        lt.wait_for(Duration::from_secs(90)).success(),
        "libtorrent got no metadata or content from p2p seed"
    );
    assert_same_tree(&content, &out.join("album"));
}

#[test]
fn aria2c_fetches_a_magnet_link_through_p2p_tracker() {
    let aria2c = require("aria2c", "aria2");
    let (_tracker, tport) = start_tracker(2);
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 3 << 20, &format!("t@127.0.0.1:{tport}"));
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("aria");
    let link = magnet_of(&torrent);
    let mut cmd = aria2c_fetch(&aria2c, Path::new(&link), &out);
    cmd.arg("--bt-save-metadata=false");
    let mut aria = Proc::spawn("aria2c", &mut cmd);
    assert!(
        aria.wait_for(Duration::from_secs(90)).success(),
        "aria2c did not complete the magnet link"
    );
    assert_same_tree(&content, &out.join("album"));
}

/// Fetches `torrent`'s magnet link from the `liars` (asked first) and then an honest seed;
/// returns the fetch's stderr once it has completed.
fn fetch_past_liars(dir: &Path, torrent: &Path, content: &Path, liars: &[(Proc, u16)]) -> String {
    let (_seed, port) = start_seed("honest", torrent, dir, &[]);
    let mut args = Vec::new();
    for (_, p) in liars {
        args.push("--peer".to_string());
        args.push(format!("127.0.0.1:{p}"));
    }
    // The honest seed comes last: the liars are asked first (four at a time). Over TCP
    // alone: the liars speak no uTP, and uTP's head start before TCP (and the kernel's rate
    // limit on the port-unreachable answers that cut it short) would let the honest seed,
    // which answers uTP at once, finish before every liar had been heard.
    args.push("--peer".into());
    args.push(format!("127.0.0.1:{port}"));
    args.extend(["--utp".into(), "off".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dir.join("out");
    let (ok, _, stderr) = start_fetch("fetch", Path::new(&magnet_of(torrent)), &out, &args)
        .finish(Duration::from_secs(90));
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("metadata from 127.0.0.1:{port}")));
    assert_same_tree(content, &out.join("album"));
    stderr
}

fn dropped_for(stderr: &str, port: u16, why: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains(&format!("127.0.0.1:{port}: no metadata")) && l.contains(why))
}

#[test]
fn lying_metadata_peers_are_dropped_and_an_honest_one_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 1 << 20, "t@127.0.0.1:9");
    let liars: Vec<(Proc, u16)> = ["wrong-bytes", "wrong-total", "huge", "silent"]
        .iter()
        .map(|m| metadata_liar(m, &torrent))
        .collect();
    let stderr = fetch_past_liars(dir.path(), &torrent, &content, &liars);
    for (why, (_, p)) in [
        "fails its SHA-1 check",
        "differs from the metadata_size",
        "metadata_size 100000000 is outside",
    ]
    .iter()
    .zip(&liars)
    {
        assert!(
            dropped_for(&stderr, *p, why),
            "liar at {p} not dropped for {why:?}:\n{stderr}"
        );
    }
}

#[test]
fn silent_metadata_peers_time_out_and_another_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = album(dir.path(), 1 << 20, "t@127.0.0.1:9");
    // As many silent peers as are asked at once: the honest one waits for a timeout.
    let liars: Vec<(Proc, u16)> = (0..4).map(|_| metadata_liar("silent", &torrent)).collect();
    let stderr = fetch_past_liars(dir.path(), &torrent, &content, &liars);
    assert!(
        liars
            .iter()
            .any(|(_, p)| dropped_for(&stderr, *p, "timed out")),
        "{stderr}"
    );
}

#[test]
fn bad_magnet_links_exit_2_naming_the_part_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let hex = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    for (link, part) in [
        ("magnet:?dn=x".to_string(), "magnet link xt: is missing"),
        (
            "magnet:?xt=urn:btih:abc".into(),
            "magnet link xt: info-hash has 3 characters",
        ),
        (
            format!("magnet:?xt=urn:btih:{}", "1".repeat(32)),
            "magnet link xt: `11111111111111111111111111111111` is not base32",
        ),
        (
            format!("magnet:?xt=urn:btih:{hex}&x.pe=example"),
            "magnet link x.pe: `example` is not IPV4:PORT",
        ),
        (
            format!("magnet:?xt=urn:btih:{hex}&tr=ftp://x"),
            "magnet link tr:",
        ),
    ] {
        let o = p2p(&["fetch", &link, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{link}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(part), "{link}: {err}");
    }
}
