//! Where a torrent's data lives and what is verified of it: `.part` naming, the part file of a
//! selective fetch, the resume file, the check, the rename at completion, deletion. Blocking:
//! the engine calls these on a blocking thread.
//!
//! A fetch into `DIR` writes `DIR/NAME.part` until every piece is verified, then renames it to
//! `DIR/NAME`; content already at `DIR/NAME` is used where it is. A seed reads `DIR/NAME` and
//! never writes.

use crate::bitfield::Bitfield;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::runtime::Cancel;
use crate::selection::Selection;
use crate::{Error, Result, resume};
use std::path::{Path, PathBuf};

/// Which files a fetch takes.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Files {
    /// As the last run chose (its resume file), else all.
    #[default]
    AsBefore,
    /// Globs over the files' paths, as `--only` and `--skip`.
    Patterns {
        only: Vec<String>,
        skip: Vec<String>,
    },
    /// One flag a file, in torrent order.
    Flags(Vec<bool>),
}

/// A torrent's places on disk.
#[derive(Clone, Debug)]
pub struct Placement {
    pub dir: PathBuf,
    /// `DIR/NAME`: where the content is once complete.
    pub target: PathBuf,
    /// `DIR/NAME.part`: where a new download is written.
    pub part: PathBuf,
    /// `DIR/.NAME.p2p-parts`: pieces a selective fetch shares with files it skips.
    pub parts: PathBuf,
    pub resume_file: PathBuf,
    /// The resume file outlives the download: rewritten, not dropped, once it is whole.
    pub keep_resume: bool,
}

impl Placement {
    pub fn new(dir: &Path, name: &str) -> Placement {
        Placement {
            dir: dir.to_owned(),
            target: dir.join(name),
            part: dir.join(format!("{name}.part")),
            parts: dir.join(format!(".{name}.p2p-parts")),
            resume_file: resume::path_for(dir, name),
            keep_resume: false,
        }
    }

    /// [`Placement::new`] with the resume data at `resume_file` (when given) instead, kept
    /// once the download is whole: a daemon's, which serves the content after a restart
    /// without hashing it again.
    pub fn with_resume(dir: &Path, name: &str, resume_file: Option<&Path>) -> Placement {
        let mut place = Placement::new(dir, name);
        if let Some(file) = resume_file {
            place.resume_file = file.to_owned();
            place.keep_resume = true;
        }
        place
    }
}

/// A store ready to run, and what of it is verified.
pub struct Opened {
    pub store: PieceStore,
    pub have: Bitfield,
    /// Taken from the resume file, not hashed.
    pub resumed: bool,
    /// The store reads and writes `DIR/NAME` itself, not `NAME.part`.
    pub in_place: bool,
    /// The resume file already holds this content under its name and with this file choice:
    /// once whole, it need not be written again (a daemon's restart rewrites nothing).
    pub resume_current: bool,
}

/// For a fetch: opens (creating what is missing) the files `files` chooses and learns what
/// is verified, from the resume file unless `rehash`, else by hashing. Gives up with
/// [`Error::Stopped`] once `cancel` is cancelled.
pub fn open_for_fetch(
    meta: &Torrent,
    place: &Placement,
    files: &Files,
    direct_io: bool,
    rehash: bool,
    cancel: &Cancel,
) -> Result<Opened> {
    std::fs::create_dir_all(&place.dir).map_err(|source| Error::Io {
        path: place.dir.clone(),
        source,
    })?;
    // Read once: it holds both the file choice and the pieces.
    let saved = resume::read_saved(&place.resume_file, meta.info_hash);
    let selection = choose(meta, files, saved.as_ref())?;
    let mut info = meta.info.clone();
    let in_place = std::fs::symlink_metadata(&place.target).is_ok();
    if !in_place {
        info.name = format!("{}.part", meta.info.name);
    }
    let mut store = PieceStore::create_until(
        &place.dir,
        &info,
        selection,
        Some(place.parts.clone()),
        cancel,
    )?;
    if direct_io {
        store = store.write_direct();
    }
    let pieces = store.layout().piece_count();
    if !rehash
        && let Some(saved) = &saved
        && let Some(have) = saved.pieces(pieces, &store.resume_paths())
    {
        let chosen_as_saved = match files {
            Files::AsBefore => true,
            // The file records a choice only when it leaves files out.
            _ => match saved.selection(meta.info.files.len()) {
                Some(flags) => flags == store.selection().flags(),
                None => store.selection().is_all(),
            },
        };
        return Ok(Opened {
            store,
            have,
            resumed: true,
            in_place,
            resume_current: in_place && chosen_as_saved,
        });
    }
    let progress = HashProgress {
        cancel: cancel.clone(),
        ..HashProgress::default()
    };
    let have = store.check_all(&progress)?;
    Ok(Opened {
        store,
        have,
        resumed: false,
        in_place,
        resume_current: false,
    })
}

/// For a seed: the content must be at `DIR/NAME`, whole in size; every piece is hashed, and
/// none passing is an error naming the first file at fault.
pub fn open_for_seed(meta: &Torrent, dir: &Path, cancel: &Cancel) -> Result<Opened> {
    let store = PieceStore::open_existing(dir, &meta.info)?;
    let progress = HashProgress {
        cancel: cancel.clone(),
        ..HashProgress::default()
    };
    let have = store.check_all(&progress)?;
    let bad_file = || {
        store
            .first_bad_file(&have)
            .map(|p| p.to_owned())
            .unwrap_or_default()
    };
    if have.count() == 0 {
        return Err(Error::Input {
            path: bad_file(),
            reason: format!(
                "does not match torrent {} ({}): none of its {} pieces pass their hash check",
                crate::escape::untrusted(&meta.info.name, 80),
                meta.info_hash,
                have.len()
            ),
        });
    }
    if !have.is_full() {
        log::warn!(
            "{}: {} of {} pieces fail their hash check; serving the {} that pass (p2p verify names the files)",
            bad_file().display(),
            have.len() - have.count(),
            have.len(),
            have.count()
        );
    }
    Ok(Opened {
        store,
        have,
        resumed: false,
        in_place: true,
        resume_current: false,
    })
}

/// The files to fetch: as `files` says, else as the last run of this download chose (its
/// resume file), else all. Selecting none is a usage error.
fn choose(meta: &Torrent, files: &Files, saved: Option<&resume::Saved>) -> Result<Selection> {
    let count = meta.info.files.len();
    let selection = match files {
        Files::AsBefore => match saved.and_then(|s| s.selection(count)) {
            Some(flags) => {
                let s = Selection::from_flags(flags);
                log::info!(
                    "{}: going on with the {} of {count} files the last run chose (--only '**' takes all)",
                    crate::escape::untrusted(&meta.info.name, 80),
                    s.count()
                );
                s
            }
            None => Selection::all(count),
        },
        Files::Patterns { only, skip } => Selection::new(&meta.info, only, skip),
        Files::Flags(flags) if flags.len() == count => Selection::from_flags(flags.clone()),
        Files::Flags(flags) => {
            return Err(Error::BadArgument {
                what: "files",
                value: flags.len().to_string(),
                reason: format!("the torrent has {count} files"),
            });
        }
    };
    if selection.count() == 0 {
        return Err(Error::BadArgument {
            what: "--only/--skip",
            value: String::new(),
            reason: format!(
                "they leave none of the torrent's {count} files (`p2p info` lists them)"
            ),
        });
    }
    if !selection.is_all() {
        log::info!(
            "{}: fetching {} of {count} files",
            crate::escape::untrusted(&meta.info.name, 80),
            selection.count()
        );
    }
    Ok(selection)
}

/// The download is whole: drops the part file (when every file is taken) and gives the
/// content its name (`in_place`: it already has it); drops the resume file, or rewrites it for
/// the content under its name when the placement keeps it (unless `resume_current`: it already
/// says so). Returns where the content now is.
pub fn finish(
    store: &PieceStore,
    place: &Placement,
    meta: &Torrent,
    (in_place, resume_current): (bool, bool),
) -> PathBuf {
    let path = finish_names(store, place, in_place);
    if place.keep_resume {
        if !resume_current {
            save_resume(store, place, meta, store.wanted());
        }
    } else {
        resume::remove(&place.resume_file);
    }
    path
}

fn finish_names(store: &PieceStore, place: &Placement, in_place: bool) -> PathBuf {
    match store.parts_path() {
        Some(parts) if store.selection().is_all() => {
            let _ = std::fs::remove_file(parts);
        }
        Some(parts) => log::info!(
            "{} keeps the pieces the chosen files share with the others",
            parts.display()
        ),
        None => {}
    }
    if in_place {
        return place.target.clone();
    }
    match store.move_root(&place.part, &place.target) {
        Ok(()) => place.target.clone(),
        Err(e) => {
            log::warn!("{e}");
            place.part.clone()
        }
    }
}

/// Records what is verified, so that the next start need not hash it again.
pub fn save_resume(store: &PieceStore, place: &Placement, meta: &Torrent, have: &Bitfield) {
    if let Err(e) = resume::save(
        &place.resume_file,
        meta.info_hash,
        have,
        &store.resume_paths(),
        store.selection().flags(),
    ) {
        log::warn!("could not write {}: {e}", place.resume_file.display());
    }
}

/// Moves what this torrent has under `from` (the content under either name, the part file,
/// and the resume file when it lives beside them) to the same names under `to`, renaming, or
/// copying then removing across file systems. A name already taken at `to` is an error, and
/// nothing is moved then.
pub fn move_data(from: &Placement, to: &Placement) -> Result<()> {
    let present = movable(from, to)?;
    std::fs::create_dir_all(&to.dir).map_err(|source| Error::Io {
        path: to.dir.clone(),
        source,
    })?;
    for (a, b) in present {
        let io = |source| Error::Io {
            path: b.to_path_buf(),
            source,
        };
        match std::fs::rename(a, b) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                copy_tree(a, b).map_err(io)?;
                remove_tree(a).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}

/// What of `from` is there to move to `to`, (from, to) by name; an error naming the first name
/// already taken at `to`. What the engine checks before it agrees to a move.
pub fn movable<'a>(from: &'a Placement, to: &'a Placement) -> Result<Vec<(&'a Path, &'a Path)>> {
    let mut pairs = vec![
        (from.target.as_path(), to.target.as_path()),
        (&from.part, &to.part),
        (&from.parts, &to.parts),
    ];
    if !from.keep_resume {
        pairs.push((&from.resume_file, &to.resume_file));
    }
    let present: Vec<_> = pairs
        .into_iter()
        .filter(|(a, b)| a != b && std::fs::symlink_metadata(a).is_ok())
        .collect();
    for (_, b) in &present {
        if std::fs::symlink_metadata(b).is_ok() {
            return Err(Error::Input {
                path: b.to_path_buf(),
                reason: "already exists: the torrent's data is not moved over it".into(),
            });
        }
    }
    Ok(present)
}

/// A copy of `from` (a file, a link, or a directory of them) at `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if meta.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

fn remove_tree(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Removes what this torrent wrote under its directory: the content (under either name), the
/// part file and the resume file. Nothing outside `place.dir` is touched, and a link is
/// removed as a link, never followed.
pub fn delete_data(place: &Placement) {
    for path in [&place.target, &place.part] {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        if let Err(e) = removed {
            log::warn!("could not remove {}: {e}", path.display());
        }
    }
    let _ = std::fs::remove_file(&place.parts);
    resume::remove(&place.resume_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_data_takes_the_content_and_its_part_files_and_never_overwrites() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = Placement::new(a.path(), "show");
        let to = Placement::new(&b.path().join("new"), "show");
        std::fs::create_dir(&from.part).unwrap();
        std::fs::write(from.part.join("e1"), b"one").unwrap();
        std::fs::write(&from.resume_file, b"r").unwrap();
        std::fs::write(a.path().join("other"), b"stays").unwrap();
        move_data(&from, &to).unwrap();
        assert_eq!(std::fs::read(to.part.join("e1")).unwrap(), b"one");
        assert_eq!(std::fs::read(&to.resume_file).unwrap(), b"r");
        assert!(!from.part.exists() && a.path().join("other").exists());
        // Back again onto a name that is taken: refused, nothing moved.
        std::fs::create_dir(&from.part).unwrap();
        let e = move_data(&to, &from).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert!(to.part.join("e1").exists());
        // Across file systems the copy stands in for the rename.
        let copy = a.path().join("copied");
        copy_tree(&to.part, &copy).unwrap();
        assert_eq!(std::fs::read(copy.join("e1")).unwrap(), b"one");
    }

    #[test]
    fn delete_data_removes_both_names_and_the_side_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let place = Placement::new(dir.path(), "movie");
        std::fs::create_dir(&place.part).unwrap();
        std::fs::write(place.part.join("a"), b"x").unwrap();
        std::fs::write(&place.resume_file, b"r").unwrap();
        std::fs::write(&place.parts, b"p").unwrap();
        std::fs::write(dir.path().join("other"), b"keep").unwrap();
        // A link at the final name is removed, not followed.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), b"!").unwrap();
        std::os::unix::fs::symlink(outside.path(), &place.target).unwrap();
        delete_data(&place);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["other"]);
        assert!(outside.path().join("precious").exists());
    }
}
