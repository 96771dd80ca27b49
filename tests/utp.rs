//! uTP (BEP 29) against libtorrent 2.0 (Debian's python3-libtorrent) with TCP turned off on
//! its side, both ways, 64 MiB each; and between p2p processes, uTP first with TCP as the
//! fallback, and `--utp off|only`.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A 64 MiB file and its torrent (1 MiB pieces) in `dir`.
fn big_torrent(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let content = dir.join("big.bin");
    fs::write(&content, data(64 << 20, 21)).unwrap();
    let torrent = dir.join("big.torrent");
    let made = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--piece-length",
        "1M",
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    (content, torrent)
}

/// The value of `"key":N` in the `complete` line of a fetch's `--json` output.
fn count(json: &str, key: &str) -> u64 {
    let line = json
        .lines()
        .find(|l| l.contains("\"event\":\"complete\""))
        .unwrap_or_else(|| panic!("no complete event in {json}"));
    let at = line.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn p2p_fetches_64_mib_from_a_libtorrent_seed_that_speaks_only_utp() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = big_torrent(dir.path());
    let (_lt, port) = libtorrent_seed(py, &torrent, dir.path(), 120, &["--utp-only"]);
    let out = dir.path().join("out");
    let (ok, json, err) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &["--peer", &format!("127.0.0.1:{port}"), "--no-dht", "--json"],
    )
    .finish(Duration::from_secs(90));
    assert!(ok, "{err}");
    assert_eq!(count(&json, "utp_connections"), 1, "{json}");
    assert_eq!(count(&json, "tcp_connections"), 0, "{json}");
    assert!(fs::read(out.join("big.bin")).unwrap() == fs::read(&content).unwrap());
}

#[test]
fn libtorrent_speaking_only_utp_fetches_64_mib_from_a_p2p_seed() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = big_torrent(dir.path());
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let lt_dir = dir.path().join("lt");
    fs::create_dir(&lt_dir).unwrap();
    let log = dir.path().join("lt.out");
    let mut cmd = libtorrent_fetch(py, &torrent, &lt_dir, port, 90, &["--utp-only"]);
    cmd.stdout(fs::File::create(&log).unwrap());
    let status = Proc::spawn("libtorrent", &mut cmd).wait_for(Duration::from_secs(100));
    let said = fs::read_to_string(&log).unwrap();
    assert!(status.success(), "libtorrent did not finish: {said}");
    assert!(
        said.contains("utp peers: 1"),
        "libtorrent saw no uTP peer: {said}"
    );
    assert!(fs::read(lt_dir.join("big.bin")).unwrap() == fs::read(&content).unwrap());
}

#[test]
fn p2p_peers_speak_utp_by_default_fall_back_to_tcp_and_honour_off_and_only() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("f.bin");
    fs::write(&content, data(3 << 20, 22)).unwrap();
    let torrent = dir.path().join("f.torrent");
    let made = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(made.status.success());
    // (seed's --utp, fetch's --utp) → the connection the fetch made: uTP or TCP.
    for (seed_mode, fetch_mode, utp) in [
        ("on", "on", 1),
        ("off", "on", 0),
        ("only", "only", 1),
        ("on", "off", 0),
    ] {
        let (_seed, port) = start_seed(
            "seed",
            &torrent,
            dir.path(),
            &["--no-dht", "--utp", seed_mode],
        );
        let out = dir.path().join(format!("out-{seed_mode}-{fetch_mode}"));
        let (ok, json, err) = start_fetch(
            "fetch",
            &torrent,
            &out,
            &[
                "--peer",
                &format!("127.0.0.1:{port}"),
                "--no-dht",
                "--json",
                "--utp",
                fetch_mode,
            ],
        )
        .finish(Duration::from_secs(60));
        assert!(ok, "seed {seed_mode}, fetch {fetch_mode}: {err}");
        assert_eq!(
            (
                count(&json, "utp_connections"),
                count(&json, "tcp_connections")
            ),
            (utp, 1 - utp),
            "seed {seed_mode}, fetch {fetch_mode}"
        );
        assert!(fs::read(out.join("f.bin")).unwrap() == fs::read(&content).unwrap());
    }
    // A bad mode is refused by name.
    let bad = p2p(&["fetch", torrent.to_str().unwrap(), "--utp", "maybe"]);
    assert_usage_error(&bad, "--utp");
}
