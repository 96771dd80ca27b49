//! The daemon's web pages in a real browser: Debian's headless Chromium, driven by Selenium
//! (`tests/support/web_page.py`): p2p's own page, and Transmission 3.00's web client served
//! with `--web-home`. Needs the Debian packages chromium, chromium-driver and python3-selenium.

mod common;
use common::*;
use p2p::json::{Json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const TRANSMISSION_WEB: &str = "/usr/share/transmission/web";

fn require_browser() {
    require("chromium", "chromium");
    require("chromedriver", "chromium-driver");
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Selenium missing: install the Debian package `python3-selenium` (apt-get install -y python3-selenium)"
    );
}

/// Runs the page script; its stdout lines, or the test fails with them.
fn drive(args: &[&str]) -> String {
    require_browser();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/web_page.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(&script).args(args);
    let mut run = Proc::spawn("web_page.py", cmd.stdout(std::process::Stdio::piped()));
    let status = run.wait_for(Duration::from_secs(180));
    let mut out = String::new();
    std::io::Read::read_to_string(run.child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "web_page.py {args:?}:\n{out}");
    out
}

fn add(d: &Daemon, torrent: &Path) {
    let bytes = std::fs::read(torrent).unwrap();
    d.call(
        "torrent-add",
        Json::Obj(vec![("metainfo", Json::str(p2p::base64::encode(&bytes)))]),
    );
}

#[test]
fn the_web_page_shows_progress_adds_a_magnet_and_pauses_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tport) = start_tracker(1);
    let tracker = format!("t@127.0.0.1:{tport}");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let (content, torrent) = make_content(&src, "holiday.mkv", 2 << 20, &tracker, "32768");
    let (_, other) = make_content(&src, "other.bin", 100_000, &tracker, "16384");
    let hash = info_hash(&torrent);
    let other_hash = info_hash(&other);
    let (_seed, _) = start_seed("seed", &torrent, &src, &["--no-dht"]);
    let d = start_daemon("daemon", dir.path(), &[]);
    add(&d, &torrent);
    let shot: PathBuf = dir.path().join("page.png");
    let magnet = format!("magnet:?xt=urn:btih:{other_hash}&dn=other.bin");
    let out = drive(&[
        "p2p",
        &format!("http://{}/", d.rpc),
        &hash,
        &magnet,
        shot.to_str().unwrap(),
    ]);
    assert!(
        out.contains("progress 100") && out.contains(&format!("paused {hash}")),
        "{out}"
    );
    assert_eq!(
        std::fs::read(d.downloads.join("holiday.mkv")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    // What the page did, seen over the RPC: the magnet is added, the torrent paused.
    let torrents = d.torrents(&["hashString", "status"]);
    let status = |h: &str| {
        torrents
            .iter()
            .find(|t| t.get("hashString").and_then(Value::as_str) == Some(h))
            .map(|t| num(t, "status"))
    };
    assert_eq!(status(&hash), Some(0.0), "{torrents:?}");
    assert!(status(&other_hash).is_some(), "{torrents:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000);
    if let Some(keep) = std::env::var_os("P2P_WEB_SCREENSHOT") {
        std::fs::write(keep, png).unwrap();
    }
}

#[test]
fn transmissions_own_web_client_served_with_web_home_shows_the_torrent_seeding() {
    require("transmission-remote", "transmission-cli");
    assert!(
        Path::new(TRANSMISSION_WEB).join("index.html").exists(),
        "{TRANSMISSION_WEB} missing: install the Debian package `transmission-common`"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tport) = start_tracker(1);
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let tracker = format!("t@127.0.0.1:{tport}");
    let (_, torrent) = make_content(&src, "concert.flac", 1 << 20, &tracker, "32768");
    let (_seed, _) = start_seed("seed", &torrent, &src, &["--no-dht"]);
    let d = start_daemon("daemon", dir.path(), &["--web-home", TRANSMISSION_WEB]);
    add(&d, &torrent);
    let out = drive(&[
        "transmission",
        &format!("http://{}/transmission/web/", d.rpc),
        "concert.flac",
    ]);
    assert!(out.contains("Seeding"), "{out}");
}
