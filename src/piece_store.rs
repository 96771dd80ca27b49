//! The content on disk: positional reads and writes across the files of a torrent (pieces cross
//! file boundaries), piece verification, and the parallel re-check that makes resuming work.
//!
//! Files are only ever created at `DIR/<name>/…`, from path components that
//! [`crate::metainfo`] has already proved safe. A piece reaches the disk only after its SHA-1
//! matched, so whatever is on disk is either verified or is checked again on the next start.

mod cache;
mod direct;
mod extents;
mod files;
mod hashing;

use cache::write_cached;
use files::{ensure_real_dir, is_loop, make_executable, open_no_follow, symlink_error};
use hashing::hash_parallel;
pub use hashing::{sha1_of_pieces, v2_digest};

use crate::bitfield::Bitfield;
use crate::hash::{Digest, Digest256, sha1};
use crate::layout::Layout;
use crate::metainfo::Info;
use crate::selection::Selection;
use crate::{Error, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};

/// Open file handles kept at once; torrents with more files reopen as needed.
const MAX_OPEN_FILES: usize = 128;

pub struct PieceStore {
    layout: Layout,
    /// Behind a lock: [`PieceStore::move_root`] renames the download when it completes.
    paths: RwLock<Vec<PathBuf>>,
    hashes: Hashes,
    writable: bool,
    /// Files this run created empty: pieces lying only in them need no re-check.
    fresh: Vec<bool>,
    open: Mutex<HashMap<usize, Arc<File>>>,
    /// One piece written at a time: concurrent writes into one file only fight over its inode
    /// lock in the kernel (measured: 11% of a download's CPU spinning on it).
    /// Also what writes around the page cache, when `--direct-io` asked for it.
    write_lock: Mutex<Option<direct::Direct>>,
    /// The files a selective fetch takes; the others are never created, read or written.
    selection: Selection,
    /// Pieces holding bytes of a selected file (every piece without a selection).
    wanted: Bitfield,
    /// Pieces straddling a selected and an unselected file: kept whole in the part file.
    straddling: Bitfield,
    /// The part file (`DIR/.NAME.p2p-parts`), sparse, piece `p` at `p × piece length`: made
    /// for a selective fetch with straddling pieces, read if an earlier one left it.
    parts: Option<(PathBuf, File)>,
}

/// What a piece is checked against.
enum Hashes {
    /// SHA-1 of every piece (v1 and hybrid torrents).
    V1(Arc<[Digest]>),
    /// The v2 digest of every piece ([`merkle`]), from the piece layers.
    V2(Arc<[Digest256]>),
}

/// Progress of a hashing run, readable from another thread.
#[derive(Debug, Default)]
pub struct HashProgress {
    pub pieces_done: AtomicUsize,
    pub bytes_done: AtomicU64,
    /// Give up once cancelled: a torrent paused or removed while its data is checked, or a
    /// fetch stopped by Ctrl-C, stops hashing instead of going on to the end.
    pub cancel: crate::runtime::Cancel,
}

/// Files shorter than this many pieces are read whole in a check, never asked for holes.
const HOLES_FROM_PIECES: u64 = 16;

/// Which pieces of a store lie wholly in holes of its files (see [`extents`]).
struct Holes {
    runs: Vec<Option<extents::DataRuns>>,
}

impl Holes {
    fn is_hole(&self, store: &PieceStore, piece: usize) -> bool {
        if store.straddling.get(piece) {
            return false;
        }
        let layout = &store.layout;
        layout
            .spans(layout.piece_offset(piece), layout.piece_size(piece))
            .iter()
            .all(|s| {
                self.runs[s.file]
                    .as_ref()
                    .is_some_and(|runs| runs.is_hole(s.file_offset, s.len))
            })
    }
}

impl PieceStore {
    /// For fetching: creates `dir/<name>/…` as needed (missing files sparse at their full
    /// length), keeping whatever data is already there. Nothing is written outside `dir`: a
    /// symbolic link anywhere below it, or a file longer than the torrent says (which growing
    /// to length would truncate), is refused with an error naming it.
    pub fn create(dir: &Path, info: &Info) -> Result<PieceStore> {
        PieceStore::create_selected(dir, info, Selection::all(info.files.len()), None)
    }

    /// [`PieceStore::create`] for the files `selection` takes; the pieces they share with the
    /// others are kept whole in the part file `parts` (needed when any straddle), which is
    /// also read when an earlier run left it.
    pub fn create_selected(
        dir: &Path,
        info: &Info,
        selection: Selection,
        parts: Option<PathBuf>,
    ) -> Result<PieceStore> {
        PieceStore::create_until(dir, info, selection, parts, &crate::runtime::Cancel::new())
    }

    /// [`PieceStore::create_selected`], given up with [`Error::Stopped`] once `stop` is
    /// cancelled (creating a million files takes a while).
    pub fn create_until(
        dir: &Path,
        info: &Info,
        selection: Selection,
        parts: Option<PathBuf>,
        stop: &crate::runtime::Cancel,
    ) -> Result<PieceStore> {
        let mut store = PieceStore::new(dir, info, true);
        store.wanted = selection.wanted(&store.layout);
        store.straddling = selection.straddling(&store.layout);
        store.selection = selection;
        // `dir` itself is the user's choice (it may be a link); below it, nothing is followed.
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        if let Some(path) = parts {
            let create = store.straddling.count() > 0;
            match open_no_follow(&path, create) {
                Ok(file) => store.parts = Some((path, file)),
                Err(e) if is_loop(&e) => return Err(symlink_error(&path)),
                Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        for (i, entry) in info.files.iter().enumerate() {
            if !store.selection.is_selected(i) {
                continue;
            }
            if i % 256 == 0 && stop.is_cancelled() {
                return Err(Error::Stopped(
                    "interrupted while creating the download's files".into(),
                ));
            }
            let path = &store.path(i);
            let io = |source| Error::Io {
                path: path.clone(),
                source,
            };
            let rel = info.file_path(entry);
            let mut parent = dir.to_path_buf();
            let components: Vec<_> = rel.components().collect();
            for c in &components[..components.len() - 1] {
                parent.push(c);
                ensure_real_dir(&parent)?;
            }
            let want = entry.length;
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_error(path)),
                Ok(m) if !m.is_file() => {
                    return Err(Error::Input {
                        path: path.clone(),
                        reason: "is in the way of a file of the torrent and is not a regular file"
                            .into(),
                    });
                }
                Ok(m) if m.len() > want => {
                    return Err(Error::Input {
                        path: path.clone(),
                        reason: format!(
                            "has {} bytes, more than the torrent's {want}: it is not this \
                             torrent's file; move it away",
                            m.len()
                        ),
                    });
                }
                _ => {}
            }
            let file = open_no_follow(path, true).map_err(|e| {
                if is_loop(&e) {
                    symlink_error(path)
                } else {
                    io(e)
                }
            })?;
            let have = file.metadata().map_err(io)?.len();
            store.fresh[i] = have == 0;
            if have < want {
                file.set_len(want).map_err(io)?;
            }
            if entry.executable {
                make_executable(&file).map_err(io)?;
            }
        }
        Ok(store)
    }

    /// For seeding: every file must already be there at its full length.
    pub fn open_existing(dir: &Path, info: &Info) -> Result<PieceStore> {
        let store = PieceStore::new(dir, info, false);
        // Name the directory when that is what is missing, not the first file inside it.
        if !dir.is_dir() {
            return Err(Error::Input {
                path: dir.to_owned(),
                reason: "is not a directory (--dir names the directory holding the content)".into(),
            });
        }
        let root = dir.join(&info.name);
        if std::fs::symlink_metadata(&root).is_err() {
            return Err(Error::Input {
                path: root,
                reason: "does not exist: the torrent's content is looked for there (see --dir)"
                    .into(),
            });
        }
        for (i, path) in store.paths().iter().enumerate() {
            let meta = std::fs::metadata(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let want = info.files[i].length;
            if !meta.is_file() || meta.len() != want {
                return Err(Error::Input {
                    path: path.clone(),
                    reason: format!("has {} bytes, the torrent says {want}", meta.len()),
                });
            }
        }
        Ok(store)
    }

    /// For `verify`: reads `dir/<name>/…` as it is, whatever is missing or the wrong size.
    pub fn inspect(dir: &Path, info: &Info) -> PieceStore {
        PieceStore::new(dir, info, false)
    }

    /// The files' paths, in torrent order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.paths.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn path(&self, file: usize) -> PathBuf {
        self.paths.read().unwrap_or_else(|p| p.into_inner())[file].clone()
    }

    /// Renames the download's top entry `from` (a file or directory) to `to`, which must not
    /// exist, and goes on reading and writing there. Used when a fetch into `NAME.part`
    /// completes.
    pub fn move_root(&self, from: &Path, to: &Path) -> Result<()> {
        let _no_writes = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut paths = self.paths.write().unwrap_or_else(|p| p.into_inner());
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(Error::Input {
                path: to.to_owned(),
                reason: "appeared while downloading: the download stays in its .part name".into(),
            });
        }
        std::fs::rename(from, to).map_err(|source| Error::Io {
            path: to.to_owned(),
            source,
        })?;
        for p in paths.iter_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() {
                    to.to_owned()
                } else {
                    to.join(rest)
                };
            }
        }
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Hashes `pieces` on every core; returns those whose SHA-1 matches the torrent.
    pub fn check(&self, pieces: &[usize], progress: &HashProgress) -> Result<Bitfield> {
        let holes = self.holes();
        let read = |p, buf: &mut [u8]| self.read(p, 0, buf);
        let hole = |p| holes.is_hole(self, p);
        // Only the pieces that pass are kept: 8 bytes each, not a digest for every piece.
        let good = match &self.hashes {
            Hashes::V1(hashes) => hash_parallel(
                &self.layout,
                pieces,
                read,
                hole,
                sha1_of_pieces(&self.layout),
                |p, digest| (digest == hashes[p]).then_some(()),
                progress,
            )?,
            Hashes::V2(hashes) => hash_parallel(
                &self.layout,
                pieces,
                read,
                hole,
                |p, data, _| v2_digest(&self.layout, p, data),
                |p, digest| (digest.is_some() && digest == hashes.get(p).copied()).then_some(()),
                progress,
            )?,
        };
        let mut have = Bitfield::new(self.layout.piece_count());
        for (piece, ()) in good {
            have.set(piece);
        }
        Ok(have)
    }

    /// Where the files of `info` lie under `dir`, in torrent order.
    pub fn file_paths(dir: &Path, info: &Info) -> Vec<PathBuf> {
        info.files
            .iter()
            .map(|f| dir.join(info.file_path(f)))
            .collect()
    }

    fn new(dir: &Path, info: &Info, writable: bool) -> PieceStore {
        let mut store = PieceStore::reader(PieceStore::file_paths(dir, info), info.layout());
        store.hashes = match &info.v2 {
            Some(v2) if info.pieces.is_empty() => Hashes::V2(v2.pieces.clone()),
            _ => Hashes::V1(info.pieces.clone()),
        };
        store.writable = writable;
        store.selection = Selection::all(info.files.len());
        store.wanted = Bitfield::full(store.layout.piece_count());
        store.straddling = Bitfield::new(store.layout.piece_count());
        store
    }

    /// Read-only access to every file of `info` under `dir`, opening nothing until it reads:
    /// what serves a complete torrent again (a daemon's parked seed, woken).
    pub fn serving(dir: &Path, info: &Info) -> PieceStore {
        PieceStore::new(dir, info, false)
    }

    /// Read-only access to `paths` laid end to end as `layout` says, with no piece hashes:
    /// what torrent creation reads its input through.
    pub fn reader(paths: Vec<PathBuf>, layout: Layout) -> PieceStore {
        PieceStore {
            fresh: vec![false; paths.len()],
            layout,
            paths: RwLock::new(paths),
            hashes: Hashes::V1(Arc::from([])),
            writable: false,
            open: Mutex::new(HashMap::new()),
            write_lock: Mutex::new(None),
            selection: Selection::all(0),
            wanted: Bitfield::new(0),
            straddling: Bitfield::new(0),
            parts: None,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Pieces are written with `O_DIRECT` where the file system allows (see [`direct`]).
    pub fn write_direct(self) -> PieceStore {
        *self.write_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Default::default());
        self
    }

    /// The data runs of the files a check reads that are long enough to be worth asking.
    fn holes(&self) -> Holes {
        let (layout, selection) = (&self.layout, self.selection.flags());
        let runs = (0..layout.file_count())
            .map(|f| {
                let len = layout.file_length(f);
                let asked = selection.get(f).copied().unwrap_or(true)
                    && len >= HOLES_FROM_PIECES * layout.piece_length();
                let file = asked.then(|| self.handle(f).ok()).flatten()?;
                Some(extents::DataRuns::of(&file, len))
            })
            .collect();
        Holes { runs }
    }

    /// Like [`PieceStore::check`] for a reader: `digest(piece, bytes, zeros)` of every piece
    /// (`zeros`: the piece is known to hold only zeros), holes not read.
    pub fn hash_all<D: Send>(
        &self,
        progress: &HashProgress,
        digest: impl Fn(usize, &[u8], bool) -> D + Sync,
    ) -> Result<Vec<(usize, D)>> {
        let holes = self.holes();
        let pieces: Vec<usize> = (0..self.layout.piece_count()).collect();
        hash_parallel(
            &self.layout,
            &pieces,
            |p, buf| self.read_at(self.layout.piece_offset(p), buf),
            |p| holes.is_hole(self, p),
            digest,
            |_, digest| Some(digest),
            progress,
        )
    }

    /// Closes the files it holds open (they open again as needed): a daemon's parked seeds
    /// hold no descriptors.
    pub fn close_files(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = HashMap::new();
    }

    fn handle(&self, file: usize) -> Result<Arc<File>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = open.get(&file) {
            return Ok(f.clone());
        }
        let path = self.path(file);
        let opened = if self.writable {
            open_no_follow(&path, false)
        } else {
            OpenOptions::new().read(true).open(&path)
        };
        let f = opened.map_err(|source| Error::Io { path, source })?;
        if open.len() >= MAX_OPEN_FILES {
            open.clear();
        }
        let f = Arc::new(f);
        open.insert(file, f.clone());
        Ok(f)
    }

    /// Calls `each(file, offset in the file, range of the torrent's bytes)` for every file span
    /// of `len` bytes from torrent offset `offset`, naming the file in any error.
    fn each_span(
        &self,
        offset: u64,
        len: usize,
        mut each: impl FnMut(&File, u64, std::ops::Range<usize>) -> std::io::Result<()>,
    ) -> Result<()> {
        for span in self.layout.spans(offset, len as u64) {
            let range = span.at as usize..(span.at + span.len) as usize;
            let file = self.handle(span.file)?;
            each(&file, span.file_offset, range).map_err(|source| Error::Io {
                path: self.path(span.file),
                source,
            })?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes from torrent offset `offset`; padding (BEP 47) reads as zeros.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut covered = 0;
        self.each_span(offset, buf.len(), |file, at, range| {
            buf[covered..range.start].fill(0);
            covered = range.end;
            file.read_exact_at(&mut buf[range], at)
        })?;
        buf[covered..].fill(0);
        Ok(())
    }

    /// Reads `buf.len()` bytes of `piece` from `begin`: from the part file for a piece that
    /// straddles an unselected file, else from the files.
    fn read(&self, piece: usize, begin: u64, buf: &mut [u8]) -> Result<()> {
        let offset = self.layout.piece_offset(piece) + begin;
        match &self.parts {
            Some((path, file)) if self.straddling.get(piece) => {
                file.read_exact_at(buf, offset).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })
            }
            _ => self.read_at(offset, buf),
        }
    }

    /// Reads one block for a peer into `buf`.
    pub fn read_block(&self, piece: u32, begin: u32, buf: &mut [u8]) -> Result<()> {
        self.read(piece as usize, begin as u64, buf)
    }

    pub fn verify(&self, piece: usize, data: &[u8]) -> bool {
        match &self.hashes {
            Hashes::V1(hashes) => hashes.get(piece) == Some(&sha1(data)),
            Hashes::V2(hashes) => {
                let digest = v2_digest(&self.layout, piece, data);
                digest.is_some() && digest == hashes.get(piece).copied()
            }
        }
    }

    /// Writes a whole piece; the caller has verified it.
    pub fn write_piece(&self, piece: usize, data: &[u8]) -> Result<()> {
        let mut writer = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let offset = self.layout.piece_offset(piece);
        if let Some((path, file)) = &self.parts
            && self.straddling.get(piece)
        {
            write_cached(file, data, offset).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        for span in self.layout.spans(offset, data.len() as u64) {
            let range = span.at as usize..(span.at + span.len) as usize;
            if !self.selection.is_selected(span.file) {
                continue;
            }
            let file = self.handle(span.file)?;
            let written = match writer.as_mut() {
                Some(direct) => direct.write(
                    span.file,
                    || self.path(span.file),
                    &file,
                    &data[range],
                    span.file_offset,
                ),
                None => write_cached(&file, &data[range], span.file_offset),
            };
            written.map_err(|source| Error::Io {
                path: self.path(span.file),
                source,
            })?;
        }
        Ok(())
    }

    /// The pieces holding bytes of a selected file.
    pub fn wanted(&self) -> &Bitfield {
        &self.wanted
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The part file, when there is one.
    pub fn parts_path(&self) -> Option<&Path> {
        self.parts.as_ref().map(|(p, _)| p.as_path())
    }

    /// What a resume file stamps: the selected files, and the part file.
    pub fn resume_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .paths()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.selection.is_selected(*i))
            .map(|(_, p)| p)
            .collect();
        paths.extend(self.parts_path().map(Path::to_owned));
        paths
    }

    /// Hashes every piece on disk on every core; returns the verified ones. Pieces lying only in
    /// files this run created empty are skipped.
    pub fn check_all(&self, progress: &HashProgress) -> Result<Bitfield> {
        let wanted = &self.wanted;
        let parts_len = self
            .parts
            .as_ref()
            .and_then(|(_, f)| f.metadata().ok())
            .map_or(0, |m| m.len());
        let pieces: Vec<usize> = wanted
            .ones()
            .filter(|&p| {
                if self.straddling.get(p) {
                    // Only what the part file reaches was ever written there.
                    return self.layout.piece_offset(p) + self.layout.piece_size(p) <= parts_len;
                }
                // A piece wholly in padding has no span, and is checked (it hashes zeros).
                let spans = self
                    .layout
                    .spans(self.layout.piece_offset(p), self.layout.piece_size(p));
                spans.is_empty() || !spans.iter().all(|s| self.fresh[s.file])
            })
            .collect();
        let mut have = self.check(&pieces, progress)?;
        self.recover_from_parts(&mut have, parts_len)?;
        Ok(have)
    }

    /// A selection widened since an earlier run: pieces that straddled then lie whole in the
    /// part file, and are written out to the files now selected once they verify there.
    /// `len`: the part file's length.
    fn recover_from_parts(&self, have: &mut Bitfield, len: u64) -> Result<()> {
        let Some((_, file)) = &self.parts else {
            return Ok(());
        };
        let mut recovered = 0;
        for p in self.wanted.ones() {
            let (offset, size) = (self.layout.piece_offset(p), self.layout.piece_size(p));
            // Only a piece across a file boundary can ever have straddled a selection.
            if have.get(p)
                || self.straddling.get(p)
                || offset + size > len
                || self.layout.spans(offset, size).len() < 2
            {
                continue;
            }
            let mut buf = vec![0u8; size as usize];
            if file.read_exact_at(&mut buf, offset).is_ok() && self.verify(p, &buf) {
                self.write_piece(p, &buf)?;
                have.set(p);
                recovered += 1;
            }
        }
        if recovered > 0 {
            log::info!("{recovered} pieces shared with newly chosen files came from the part file");
        }
        Ok(())
    }

    /// The file holding the first piece that is not in `have`, for "which file is wrong".
    pub fn first_bad_file(&self, have: &Bitfield) -> Option<PathBuf> {
        let piece = (0..self.layout.piece_count()).find(|&p| !have.get(p))?;
        let span = self.layout.spans(
            self.layout.piece_offset(piece),
            self.layout.piece_size(piece),
        );
        span.first().map(|s| self.path(s.file))
    }
}

#[cfg(test)]
mod tests;
