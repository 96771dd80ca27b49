//! Content and torrents made for a test.

use super::process::{p2p, stderr, stdout};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The info-hash `p2p info` prints for a torrent.
pub fn info_hash(torrent: &Path) -> String {
    let o = p2p(&["info", torrent.to_str().unwrap()]);
    assert!(o.status.success(), "p2p info failed: {}", stderr(&o));
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("info-hash:").map(|h| h.trim().to_string()))
        .expect("info-hash line")
}

/// `p2p make-torrent CONTENT --tracker TRACKER --piece-length PIECE --out OUT`, which must work.
pub fn make_torrent_file(content: &Path, out: &Path, tracker: &str, piece_length: &str) {
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--tracker",
        tracker,
        "--piece-length",
        piece_length,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "make-torrent: {}", stderr(&o));
}

/// A file of `len` pseudo-random bytes and a torrent for it announcing to `tracker`.
pub fn make_content(
    dir: &Path,
    name: &str,
    len: usize,
    tracker: &str,
    piece_length: &str,
) -> (PathBuf, PathBuf) {
    let content = dir.join(name);
    std::fs::write(&content, data(len, len as u64)).unwrap();
    let torrent = dir.join(format!("{name}.torrent"));
    make_torrent_file(&content, &torrent, tracker, piece_length);
    (content, torrent)
}

/// Whether a verified piece has reached `path` (a file, or a directory of them): p2p creates a
/// download's files sparse and writes a piece only after its hash check, so allocated blocks
/// mean verified data. What a test waits for before it interrupts a download part way.
pub fn has_verified_data(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if meta.is_dir() {
        return std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| has_verified_data(&e.path()));
    }
    meta.is_file() && meta.blocks() > 0
}

/// `p2p make-torrent CONTENT --out TORRENT --piece-length 16K --force EXTRA...`, which must work.
pub fn make_16k_torrent(content: &Path, torrent: &Path, extra: &[&str]) {
    let mut args = vec![
        "make-torrent",
        content.to_str().unwrap(),
        "--out",
        torrent.to_str().unwrap(),
        "--piece-length",
        "16K",
        "--force",
    ];
    args.extend_from_slice(extra);
    let o = p2p(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Files of uneven sizes (none a multiple of 16 KiB, so every one is followed by padding), an
/// empty file, a subdirectory and an executable.
pub fn uneven_content(dir: &Path) -> PathBuf {
    let root = dir.join("pack");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.bin"), data(20_000, 1)).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("sub/b.bin"), data(50_000, 2)).unwrap();
    fs::write(root.join("tool.sh"), data(70_000, 3)).unwrap();
    fs::set_permissions(root.join("tool.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// libtorrent's `create_torrent` of `content` with 16 KiB pieces (KIND as `lt_make_torrent.py`
/// takes it); returns the info-hash libtorrent gives it (the v2 one for KIND v2).
pub fn libtorrent_torrent(py: &str, content: &Path, out: &Path, kind: &str) -> String {
    libtorrent_torrent_with(py, content, out, kind, 16384)
}

/// [`libtorrent_torrent`] with pieces of `piece_length`.
pub fn libtorrent_torrent_with(
    py: &str,
    content: &Path,
    out: &Path,
    kind: &str,
    piece_length: u64,
) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/lt_make_torrent.py"
    );
    let o = Command::new(py)
        .args([
            script,
            content.to_str().unwrap(),
            out.to_str().unwrap(),
            &piece_length.to_string(),
            kind,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// Every path below `root`, relative to it.
pub fn tree(root: &Path) -> Vec<String> {
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
pub fn assert_fetched_without_padding(original: &Path, copy: &Path) {
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

/// Every file below `original` is below `copy` with the same bytes, and nothing else is.
pub fn assert_same_files(original: &Path, copy: &Path) {
    assert_eq!(
        tree(original),
        tree(copy),
        "what landed in {}",
        copy.display()
    );
    for f in tree(original) {
        if original.join(&f).is_file() {
            assert!(
                fs::read(original.join(&f)).unwrap() == fs::read(copy.join(&f)).unwrap(),
                "{f} differs"
            );
        }
    }
}

/// `p2p make-torrent CONTENT FLAG --piece-length PIECE --out OUT` (FLAG such as `--v2`,
/// `--hybrid`), which must work.
pub fn make_torrent_with(content: &Path, flag: &str, piece_length: &str, out: &Path) {
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        flag,
        "--piece-length",
        piece_length,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "make-torrent {flag}: {}", stderr(&o));
}
