//! `fetch --only/--skip`: only the chosen files appear, pieces shared with the others go to the
//! part file, the choice survives an interrupted run and can be widened later; aria2c's
//! `--select-file` on the same torrent from the same seed, for comparison.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// album/: a.bin, b.bin, c.bin, d.txt, with file boundaries inside 16 KiB pieces.
fn album(dir: &Path, b_len: usize) -> PathBuf {
    let root = dir.join("album");
    fs::create_dir_all(&root).unwrap();
    for (name, len, seed) in [
        ("a.bin", 50_000, 1),
        ("b.bin", b_len, 2),
        ("c.bin", 30_000, 3),
        ("d.txt", 1_000, 4),
    ] {
        fs::write(root.join(name), data(len, seed)).unwrap();
    }
    root
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn only_the_chosen_files_appear_and_the_choice_survives_an_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let content = album(dir.path(), 400_000);
    let torrent = dir.path().join("album.torrent");
    make_torrent_file(&content, &torrent, "t@127.0.0.1:9", "16K");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let peer = format!("127.0.0.1:{port}");

    // `info` numbers the files the way --only takes them.
    let info = stdout(&p2p(&["info", torrent.to_str().unwrap()]));
    assert!(
        info.lines()
            .any(|l| l.trim_start().starts_with("2 ") && l.ends_with("album/b.bin")),
        "{info}"
    );
    // Choosing nothing is a usage error.
    let none = p2p(&fetch_args(
        &torrent,
        &dir.path().join("none"),
        &["--peer", &peer, "--no-dht", "--only", "*.iso"],
    ));
    assert_usage_error(
        &none,
        "--only/--skip: they leave none of the torrent's 4 files",
    );

    // A slow run interrupted part way leaves its choice in the resume file.
    let out = dir.path().join("out");
    let mut first = start_fetch(
        "fetch 1",
        &torrent,
        &out,
        &[
            "--peer",
            &peer,
            "--no-dht",
            "--only",
            "b.*",
            "--download-limit",
            "64K",
        ],
    );
    assert!(wait_until(Duration::from_secs(30), || {
        fs::read_to_string(&first.err)
            .unwrap()
            .contains("fetching 1 of 4 files")
            && fs::read_dir(out.join("album.part")).is_ok_and(|d| d.count() == 1)
    }));
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("album.part")
    )));
    first.proc.signal("INT");
    let status = first.proc.wait_for(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130));
    assert!(out.join(".album.p2p-resume").exists());
    assert_eq!(listing(&out.join("album.part")), ["b.bin"]);

    // Run again with no flag: the same file, completed; nothing of the others appears.
    let mut again = start_fetch("fetch 2", &torrent, &out, &["--peer", &peer, "--no-dht"]);
    let (ok, stdout, stderr) = again.finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("going on with the 1 of 4 files the last run chose"),
        "{stderr}"
    );
    assert!(stdout.contains("complete:"), "{stdout}");
    assert_eq!(
        listing(&out),
        [".album.p2p-parts", "album"],
        "the part file holds the pieces b.bin shares with a.bin and c.bin"
    );
    assert_eq!(listing(&out.join("album")), ["b.bin"]);
    assert_eq!(
        fs::read(out.join("album/b.bin")).unwrap(),
        fs::read(content.join("b.bin")).unwrap()
    );

    // Widened later (no resume file once complete: every file): the rest comes, the shared
    // pieces from the part file, which then goes.
    let mut rest = start_fetch("fetch 3", &torrent, &out, &["--peer", &peer, "--no-dht"]);
    let (ok, _, stderr) = rest.finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("2 pieces shared with newly chosen files came from the part file"),
        "{stderr}"
    );
    for f in ["a.bin", "b.bin", "c.bin", "d.txt"] {
        assert_eq!(
            fs::read(out.join("album").join(f)).unwrap(),
            fs::read(content.join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!out.join(".album.p2p-parts").exists());
}

#[test]
fn skip_by_number_and_aria2c_select_file_on_the_same_torrent() {
    let aria2c = require("aria2c", "aria2");
    let (_t, tport) = start_tracker(5);
    let dir = tempfile::tempdir().unwrap();
    let content = album(dir.path(), 70_000);
    let torrent = dir.path().join("album.torrent");
    make_torrent_file(&content, &torrent, &format!("t@127.0.0.1:{tport}"), "16K");
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);

    // p2p: every file but 1 and 3 (a.bin, c.bin).
    let out = dir.path().join("p2p");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--skip", "1,3", "--no-dht"]);
    let (ok, _, stderr) = fetch.finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert_eq!(listing(&out.join("album")), ["b.bin", "d.txt"]);

    // aria2c takes the same two files from the same seed.
    let aria_out = dir.path().join("aria");
    let mut cmd = aria2c_fetch(&aria2c, &torrent, &aria_out);
    cmd.arg("--select-file=2,4");
    let status = Proc::spawn("aria2c", &mut cmd).wait_for(Duration::from_secs(90));
    assert!(status.success(), "aria2c failed: {status:?}");
    for f in ["b.bin", "d.txt"] {
        let want = fs::read(content.join(f)).unwrap();
        assert_eq!(
            fs::read(out.join("album").join(f)).unwrap(),
            want,
            "p2p {f}"
        );
        assert_eq!(
            fs::read(aria_out.join("album").join(f)).unwrap(),
            want,
            "aria2c {f}"
        );
    }
    // What each leaves of the files not chosen: aria2c writes the shared pieces' bytes into
    // them; p2p leaves them out entirely.
    eprintln!(
        "aria2c left: {:?}; p2p left: {:?}",
        listing(&aria_out.join("album")),
        listing(&out.join("album"))
    );
}
