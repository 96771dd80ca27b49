//! Fast resume: a stopped fetch leaves `DIR/.NAME.p2p-resume` with the pieces it had verified
//! and each file's size and modification time then. The next start trusts it (no rehash) only
//! when the info-hash and every file's size and time still match; anything else — a crash
//! after more writes, an edited file — means hashing what is on disk, as without it. A
//! selective fetch also records which files it takes, so that a rerun without `--only` or
//! `--skip` goes on with the same ones.

use crate::bencode::{self, Bencode};
use crate::bitfield::Bitfield;
use crate::metainfo::InfoHash;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub fn path_for(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.p2p-resume"))
}

/// A torrent's resume data in a folder of them (a daemon's): `DIR/HASH.resume`.
pub fn path_in(dir: &Path, hash: InfoHash) -> PathBuf {
    dir.join(format!("{}.resume", hash.hex()))
}

/// Size and modification time (seconds, nanoseconds) of each file; `None` if one is missing.
fn stamps(files: &[PathBuf]) -> Option<Vec<Bencode>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::symlink_metadata(f).ok()?;
            Some(Bencode::List(vec![
                Bencode::Int(m.len() as i64),
                Bencode::Int(m.mtime()),
                Bencode::Int(m.mtime_nsec()),
            ]))
        })
        .collect()
}

/// `files`: what to stamp; `selected`: which of the torrent's files the fetch takes.
pub fn save(
    path: &Path,
    hash: InfoHash,
    have: &Bitfield,
    files: &[PathBuf],
    selected: &[bool],
) -> std::io::Result<()> {
    let Some(stamps) = stamps(files) else {
        return Ok(());
    };
    let mut fields = vec![
        ("info_hash", Bencode::Bytes(hash.0.to_vec())),
        ("piece_count", Bencode::Int(have.len() as i64)),
        ("pieces", Bencode::Bytes(have.as_bytes().to_vec())),
        ("files", Bencode::List(stamps)),
    ];
    if selected.iter().any(|&s| !s) {
        let mut bits = Bitfield::new(selected.len());
        selected
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .for_each(|(i, _)| {
                bits.set(i);
            });
        fields.push(("selected", Bencode::Bytes(bits.as_bytes().to_vec())));
    }
    let v: Bencode = fields.into_iter().collect();
    crate::state_file::replace(path, &v.encode())
}

/// A resume file is small; it is never read through a link, nor unless it is a regular file.
const MAX_RESUME_FILE: u64 = 64 << 20;

fn read(path: &Path) -> Option<Vec<u8>> {
    use crate::state_file::{Links, read};
    match read(path, MAX_RESUME_FILE, Links::Refuse) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            log::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// What a resume file of this torrent records, read once: its pieces (to be trusted only
/// while the files match their stamps) and the file choice of a selective fetch.
pub struct Saved {
    piece_count: i64,
    pieces: Vec<u8>,
    /// The files' stamps as encoded, compared byte for byte with the files' now.
    stamps: Vec<u8>,
    selected: Option<Vec<u8>>,
}

/// The resume file at `path` if it is this torrent's: `None` when there is none, it cannot be
/// read or parsed, or it names another torrent.
pub fn read_saved(path: &Path, hash: InfoHash) -> Option<Saved> {
    let bytes = read(path)?;
    let v = bencode::decode(&bytes).ok()?;
    if v.get("info_hash")?.as_bytes()? != hash.0 {
        return None;
    }
    Some(Saved {
        piece_count: v.get("piece_count")?.as_int()?,
        pieces: v.get("pieces")?.as_bytes()?.to_vec(),
        stamps: v.get("files")?.raw.to_vec(),
        selected: v
            .get("selected")
            .and_then(|s| s.as_bytes())
            .map(<[u8]>::to_vec),
    })
}

impl Saved {
    /// The verified pieces it records, if it has this piece count and every file's size and
    /// time are as it stamped them.
    pub fn pieces(&self, pieces: usize, files: &[PathBuf]) -> Option<Bitfield> {
        if self.piece_count != pieces as i64 {
            return None;
        }
        if Bencode::List(stamps(files)?).encode() != self.stamps {
            return None;
        }
        Bitfield::from_bytes(&self.pieces, pieces)
    }

    /// The files a selective fetch took (`None`: it took every file).
    pub fn selection(&self, file_count: usize) -> Option<Vec<bool>> {
        let bits = Bitfield::from_bytes(self.selected.as_deref()?, file_count)?;
        Some((0..file_count).map(|i| bits.get(i)).collect())
    }
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &Path, hash: InfoHash, pieces: usize, files: &[PathBuf]) -> Option<Bitfield> {
        read_saved(path, hash)?.pieces(pieces, files)
    }

    fn saved_selection(path: &Path, hash: InfoHash, file_count: usize) -> Option<Vec<bool>> {
        read_saved(path, hash)?.selection(file_count)
    }

    #[test]
    fn trusted_only_while_the_files_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, b"hello").unwrap();
        let files = vec![f.clone()];
        let mut have = Bitfield::new(10);
        have.set(3);
        let r = path_for(dir.path(), "x");
        save(&r, InfoHash([1; 20]), &have, &files, &[true]).unwrap();
        assert_eq!(load(&r, InfoHash([1; 20]), 10, &files), Some(have.clone()));
        assert_eq!(saved_selection(&r, InfoHash([1; 20]), 1), None);
        let picked = [false, true, true, false, true];
        save(&r, InfoHash([1; 20]), &have, &files, &picked).unwrap();
        assert_eq!(load(&r, InfoHash([1; 20]), 10, &files), Some(have.clone()));
        assert_eq!(
            saved_selection(&r, InfoHash([1; 20]), 5).as_deref(),
            Some(&picked[..])
        );
        assert_eq!(saved_selection(&r, InfoHash([2; 20]), 5), None);
        assert_eq!(
            load(&r, InfoHash([2; 20]), 10, &files),
            None,
            "another torrent"
        );
        assert_eq!(
            load(&r, InfoHash([1; 20]), 11, &files),
            None,
            "another piece count"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"HELLO").unwrap();
        assert_eq!(
            load(&r, InfoHash([1; 20]), 10, &files),
            None,
            "the file changed"
        );
        std::fs::write(&r, b"garbage").unwrap();
        assert_eq!(load(&r, InfoHash([1; 20]), 10, &files), None);
    }
}
