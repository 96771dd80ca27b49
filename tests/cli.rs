//! The command line's conventions: version, help, usage errors that name what is wrong.

mod common;

use common::*;

#[test]
fn version_names_the_commit_and_what_p2p_speaks() {
    for flag in ["--version", "-V", "version"] {
        let o = p2p(&[flag]);
        assert!(o.status.success(), "{flag}");
        let text = stdout(&o);
        assert!(text.starts_with("p2p 0.1.0 (git "), "{text}");
        assert!(text.contains("BEPs: 3 5 6 7 9 10 11 12"), "{text}");
    }
}

#[test]
fn bare_p2p_and_dash_h_show_the_commands() {
    let bare = p2p(&[]);
    assert_eq!(bare.status.code(), Some(2));
    let help = stderr(&bare);
    for command in [
        "tracker",
        "dht",
        "make-torrent",
        "seed",
        "fetch",
        "info",
        "demo",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    assert!(help.contains("Share files the BitTorrent way"), "{help}");
    let h = p2p(&["fetch", "-h"]);
    assert!(h.status.success());
    assert!(stdout(&h).contains("--out"), "{}", stdout(&h));
}

#[test]
fn seed_without_a_torrent_is_a_usage_error_and_a_duplicate_is_seeded_once() {
    let o = p2p(&["seed"]);
    assert_usage_error(&o, "TORRENT: give at least one .torrent to seed");
    assert!(!stderr(&o).contains("``"), "no empty name in backticks");
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 50_000, "t@127.0.0.1:9", "16K");
    let t = torrent.to_str().unwrap();
    let seed = spawn_logged(
        "seed",
        &[
            "seed",
            t,
            t,
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
        ],
    );
    seed.wait_line(
        "is given twice; seeded once",
        std::time::Duration::from_secs(20),
    );
}

#[test]
fn a_v2_only_torrent_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("v2.torrent");
    std::fs::write(
        &v2,
        b"d4:infod9:file treede12:meta versioni2e4:name1:x12:piece lengthi16384eee",
    )
    .unwrap();
    assert_error(
        &p2p(&["info", v2.to_str().unwrap()]),
        "BitTorrent v2 torrent (no v1 `pieces`): v2 is not supported yet",
    );
}
