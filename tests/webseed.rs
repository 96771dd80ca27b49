//! Web seeds (BEP 19): `make-torrent --web-seed`, and `fetch` taking pieces over HTTP from
//! `python3 -m http.server` (which ignores Range) or a Range-honouring server, alone or beside
//! a peer; a web seed lacking a file or lying about one; aria2c on the same torrents.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// DIR/album with four files whose boundaries fall inside 16 KiB pieces.
fn album(dir: &Path) -> PathBuf {
    let root = dir.join("album");
    fs::create_dir_all(root.join("cd 1")).unwrap();
    for (name, len, seed) in [
        ("cd 1/a b.bin", 300_000, 1),
        ("c&d.bin", 200_000, 2),
        ("e.bin", 50_001, 3),
        ("f.txt", 10, 4),
    ] {
        fs::write(root.join(name), data(len, seed)).unwrap();
    }
    root
}

fn same_tree(a: &Path, b: &Path) {
    for name in ["cd 1/a b.bin", "c&d.bin", "e.bin", "f.txt"] {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
}

/// `python3 -m http.server` on a free port serving `dir`.
fn plain_http_server(dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "http.server",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .arg("--directory")
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let server = Proc::spawn("http.server", &mut cmd);
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "http.server did not start"
    );
    (server, port)
}

fn fetch(torrent: &Path, out: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--no-dht"];
    args.extend_from_slice(extra);
    let mut run = start_fetch("fetch", torrent, out, &args);
    let (ok, stdout, stderr) = run.finish(Duration::from_secs(90));
    assert!(ok, "the fetch failed:\n{stderr}");
    (stdout, stderr)
}

fn web_seed_bytes(summary: &str) -> u64 {
    summary
        .split_once(" from web seeds")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_web_seed_alone_from_python_http_server_multi_and_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let content = album(dir.path());
    let (_server, port) = plain_http_server(dir.path());
    // Multi-file: the URL above the torrent's directory.
    let torrent = dir.path().join("album.torrent");
    let seed = format!("http://127.0.0.1:{port}/");
    make_16k_torrent(&content, &torrent, &["--web-seed", &seed]);
    let info = stdout(&p2p(&["info", torrent.to_str().unwrap()]));
    assert!(info.contains(&format!("web seeds:    {seed}")), "{info}");
    let out = dir.path().join("out");
    let (summary, _) = fetch(&torrent, &out, &[]);
    same_tree(&content, &out.join("album"));
    assert_eq!(web_seed_bytes(&summary), 550_011, "{summary}");

    // Single file: the URL of the file itself.
    let file = content.join("c&d.bin");
    let single = dir.path().join("single.torrent");
    make_16k_torrent(
        &file,
        &single,
        &[
            "--web-seed",
            &format!("http://127.0.0.1:{port}/album/c%26d.bin"),
        ],
    );
    let out = dir.path().join("out-single");
    fetch(&single, &out, &[]);
    assert_eq!(
        fs::read(out.join("c&d.bin")).unwrap(),
        fs::read(&file).unwrap()
    );

    // A web seed that is no URL we can use is a usage error.
    let bad = p2p(&[
        "make-torrent",
        file.to_str().unwrap(),
        "--out",
        dir.path().join("bad.torrent").to_str().unwrap(),
        "--web-seed",
        "example.org/x",
    ]);
    assert_usage_error(&bad, "--web-seed `example.org/x`");
}

#[test]
fn a_web_seed_beside_a_peer_lacking_one_file_and_a_lying_one_banned() {
    let dir = tempfile::tempdir().unwrap();
    let content = album(dir.path());
    // The web server's copy lacks e.bin: those pieces can only come from the peer.
    let served = dir.path().join("www");
    fs::create_dir_all(served.join("album/cd 1")).unwrap();
    for name in ["cd 1/a b.bin", "c&d.bin", "f.txt"] {
        fs::copy(content.join(name), served.join("album").join(name)).unwrap();
    }
    let (_server, port) = range_http_server(&served);
    let torrent = dir.path().join("album.torrent");
    make_16k_torrent(
        &content,
        &torrent,
        &["--web-seed", &format!("http://127.0.0.1:{port}")],
    );
    let (_seed, seed_port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let peer = format!("127.0.0.1:{seed_port}");
    let out = dir.path().join("out");
    let (summary, log) = fetch(&torrent, &out, &["--peer", &peer]);
    same_tree(&content, &out.join("album"));
    let from_web = web_seed_bytes(&summary);
    assert!(from_web > 0, "the web seed gave nothing: {summary}\n{log}");
    assert!(
        from_web < 550_011,
        "e.bin cannot have come from the web seed"
    );

    // A web seed serving a wrong a b.bin (and every other file) is banned like a lying peer;
    // the peer completes the download.
    fs::copy(content.join("e.bin"), served.join("album/e.bin")).unwrap();
    fs::write(served.join("album/cd 1/a b.bin"), data(300_000, 99)).unwrap();
    let out = dir.path().join("out2");
    let (_, log) = fetch(&torrent, &out, &["--peer", &peer]);
    same_tree(&content, &out.join("album"));
    assert!(
        log.contains(&format!("failed its hash check (sent by 127.0.0.1:{port})"))
            && log.contains(&format!("banning 127.0.0.1:{port}")),
        "{log}"
    );
}

#[test]
fn aria2c_fetches_from_the_web_seed_of_a_p2p_torrent() {
    let aria2c = require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let content = album(dir.path());
    let (_server, port) = range_http_server(dir.path());
    let torrent = dir.path().join("album.torrent");
    make_16k_torrent(
        &content,
        &torrent,
        &["--web-seed", &format!("http://127.0.0.1:{port}/")],
    );
    // No tracker, no peer: the web seed is all aria2c has.
    let out = dir.path().join("aria");
    let mut cmd = aria2c_fetch(&aria2c, &torrent, &out);
    let status = Proc::spawn("aria2c", &mut cmd).wait_for(Duration::from_secs(90));
    assert!(status.success(), "aria2c failed: {status:?}");
    same_tree(&content, &out.join("album"));
    // And p2p from the same server and torrent.
    let mine = dir.path().join("p2p");
    fetch(&torrent, &mine, &[]);
    same_tree(&content, &mine.join("album"));
}
