//! Content and torrents made for a test.

use super::process::{p2p, stderr, stdout};
use std::path::{Path, PathBuf};

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
