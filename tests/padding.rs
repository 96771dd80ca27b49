//! BEP 47 padding files against real clients: a hybrid torrent made by libtorrent fetched from a
//! libtorrent seed, and `make-torrent --pad` (libtorrent's canonical layout) served to aria2c
//! and libtorrent. Padding is never a file on disk, in `info`, in `verify` or in file numbers.

mod common;
use common::*;
use std::fs;
use std::time::Duration;

#[test]
fn p2p_fetches_a_libtorrent_hybrid_torrent_and_writes_no_padding_file() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let content = uneven_content(dir.path());
    let torrent = dir.path().join("hybrid.torrent");
    let v1_hash = libtorrent_torrent(py, &content, &torrent, "hybrid");
    let t = torrent.to_str().unwrap();

    // `info` lists the four files, numbered without the padding between them.
    let o = p2p(&["info", t]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(&format!("info-hash:    {v1_hash}")), "{text}");
    assert!(text.contains("files:        4"), "{text}");
    assert!(text.contains("3          50000  pack/sub/b.bin"), "{text}");
    assert!(!text.contains(".pad"), "{text}");
    let json = stdout(&p2p(&["info", t, "--json"]));
    assert!(
        !json.contains(".pad") && json.contains("\"index\":4,"),
        "{json}"
    );
    assert!(!json.contains("\"index\":5,"), "{json}");

    let (_lt, lt_port) = libtorrent_seed(py, &torrent, dir.path(), 90, &[]);
    let peer = format!("127.0.0.1:{lt_port}");
    let out = dir.path().join("out");
    let (ok, _, _) = start_fetch("fetch", &torrent, &out, &["--peer", &peer, "--no-dht"])
        .finish(Duration::from_secs(60));
    assert!(ok, "the fetch of a hybrid torrent failed");
    assert_fetched_without_padding(&content, &out.join("pack"));

    // `verify` checks the four files (padding hashed as zeros) and names no other.
    let o = p2p(&["verify", t, "--dir", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("4 of 4 files complete"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains(".pad"), "{}", stdout(&o));

    // File 3 is sub/b.bin, as `info` numbers it.
    let only = dir.path().join("only");
    let (ok, _, _) = start_fetch(
        "fetch --only 3",
        &torrent,
        &only,
        &["--peer", &peer, "--no-dht", "--only", "3"],
    )
    .finish(Duration::from_secs(60));
    assert!(ok, "the selective fetch failed");
    assert_eq!(tree(&only.join("pack")), ["sub", "sub/b.bin"]);
    assert!(fs::read(only.join("pack/sub/b.bin")).unwrap() == data(50_000, 2));
}

#[test]
fn make_torrent_pad_is_libtorrents_layout_and_real_clients_fetch_it_from_p2p() {
    let py = require_libtorrent();
    let aria2c = require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let content = uneven_content(dir.path());
    let lt_hash = libtorrent_torrent(py, &content, &dir.path().join("lt.torrent"), "v1-padded");

    let (_t, tport) = start_tracker(5);
    let torrent = dir.path().join("p2p.torrent");
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--pad",
        "--piece-length",
        "16K",
        "--tracker",
        &format!("t@127.0.0.1:{tport}"),
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(": 4 files,"), "{}", stdout(&o));
    assert_eq!(
        info_hash(&torrent),
        lt_hash,
        "--pad differs from libtorrent"
    );

    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    // aria2c knows nothing of BEP 47: it asks for the padding too, which p2p serves as zeros.
    let aria_out = dir.path().join("aria");
    let status = Proc::spawn("aria2c", &mut aria2c_fetch(&aria2c, &torrent, &aria_out))
        .wait_for(Duration::from_secs(90));
    assert!(status.success(), "aria2c failed: {status:?}");
    for f in ["a.bin", "empty", "sub/b.bin", "tool.sh"] {
        assert!(
            fs::read(aria_out.join("pack").join(f)).unwrap() == fs::read(content.join(f)).unwrap(),
            "aria2c's {f} differs"
        );
    }

    let lt_dir = dir.path().join("lt");
    fs::create_dir(&lt_dir).unwrap();
    let mut cmd = libtorrent_fetch(py, &torrent, &lt_dir, port, 60, &[]);
    let status = Proc::spawn("libtorrent fetch", &mut cmd).wait_for(Duration::from_secs(70));
    assert!(status.success(), "libtorrent could not fetch from p2p");
    for f in ["a.bin", "sub/b.bin", "tool.sh"] {
        assert!(
            fs::read(lt_dir.join("pack").join(f)).unwrap() == fs::read(content.join(f)).unwrap(),
            "libtorrent's {f} differs"
        );
    }
}
