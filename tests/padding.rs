//! BEP 47 padding files against real clients: a hybrid torrent made by libtorrent fetched from a
//! libtorrent seed, and `make-torrent --pad` (libtorrent's canonical layout) served to aria2c
//! and libtorrent. Padding is never a file on disk, in `info`, in `verify` or in file numbers.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Files of uneven sizes (none a multiple of 16 KiB, so every one is followed by padding), an
/// empty file, a subdirectory and an executable.
fn uneven_content(dir: &Path) -> PathBuf {
    let root = dir.join("pack");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.bin"), data(20_000, 1)).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("sub/b.bin"), data(50_000, 2)).unwrap();
    fs::write(root.join("tool.sh"), data(70_000, 3)).unwrap();
    fs::set_permissions(root.join("tool.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// libtorrent's `create_torrent` of `content` (KIND as `lt_make_torrent.py` takes it); returns
/// the torrent and the info-hash libtorrent gives it.
fn libtorrent_torrent(py: &str, content: &Path, out: &Path, kind: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/lt_make_torrent.py"
    );
    let o = Command::new(py)
        .args([
            script,
            content.to_str().unwrap(),
            out.to_str().unwrap(),
            "16384",
            kind,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// Every path below `root`, relative to it.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The four files of [`uneven_content`] arrived whole, nothing else (no `.pad`) did, and the
/// executable is executable.
fn assert_fetched_without_padding(original: &Path, copy: &Path) {
    assert_eq!(
        tree(copy),
        ["a.bin", "empty", "sub", "sub/b.bin", "tool.sh"],
        "what the fetch left in {}",
        copy.display()
    );
    for f in ["a.bin", "empty", "sub/b.bin", "tool.sh"] {
        assert!(
            fs::read(copy.join(f)).unwrap() == fs::read(original.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let mode = fs::metadata(copy.join("tool.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o100,
        0o100,
        "tool.sh (attr x) is not executable: {mode:o}"
    );
    let mode = fs::metadata(copy.join("a.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0, "a.bin became executable: {mode:o}");
}

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
