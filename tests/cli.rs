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

#[test]
fn verify_names_each_file_complete_missing_or_with_bad_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("album");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("a.bin"), data(300_000, 1)).unwrap();
    std::fs::write(content.join("sub/b.bin"), data(100_000, 2)).unwrap();
    std::fs::write(content.join("c.bin"), data(50_000, 3)).unwrap();
    let torrent = dir.path().join("album.torrent");
    make_torrent_file(&content, &torrent, "t@127.0.0.1:9", "16K");
    let (t, d) = (torrent.to_str().unwrap(), dir.path().to_str().unwrap());
    let good = p2p(&["verify", t, "--dir", d]);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(
        stdout(&good).contains("3 of 3 files complete"),
        "{}",
        stdout(&good)
    );
    // One byte flipped in a.bin, sub/b.bin gone, c.bin cut short.
    let mut a = std::fs::read(content.join("a.bin")).unwrap();
    a[40_000] ^= 1;
    std::fs::write(content.join("a.bin"), a).unwrap();
    std::fs::remove_file(content.join("sub/b.bin")).unwrap();
    std::fs::write(content.join("c.bin"), data(10, 3)).unwrap();
    let bad = p2p(&["verify", t, "--dir", d]);
    assert_error(&bad, "3 files are not complete");
    let out = stdout(&bad);
    let line = |name: &str| out.lines().find(|l| l.ends_with(name)).unwrap().to_string();
    // The flipped byte's piece, and the last piece, which it shares with the cut c.bin.
    assert!(
        line("album/a.bin").starts_with("2 bad of 19 pieces"),
        "{out}"
    );
    assert!(line("album/sub/b.bin").starts_with("missing"), "{out}");
    assert!(
        line("album/c.bin").starts_with("wrong size: 10 bytes, the torrent says 50000"),
        "{out}"
    );
}
