//! The piece store on a temporary directory: spans across files, resume, links, selections.
use super::*;
use crate::metainfo::FileEntry;

/// A new empty file at `path`, open for reading and writing (the store's own modules test
/// their I/O on these).
pub(super) fn scratch_file(path: &Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

fn info(lengths: &[u64], piece_length: u64, content: &[u8]) -> Info {
    let layout = Layout::new(piece_length, lengths.iter().copied());
    Info {
        name: "t".into(),
        piece_length,
        pieces: (0..layout.piece_count())
            .map(|p| {
                let start = layout.piece_offset(p) as usize;
                sha1(&content[start..start + layout.piece_size(p) as usize])
            })
            .collect(),
        files: FileEntry::end_to_end(
            lengths
                .iter()
                .enumerate()
                .map(|(i, &length)| (vec![format!("f{i}")], length)),
        ),
        stream_length: layout.total(),
        multi_file: true,
        private: false,
        source: None,
        v2: None,
    }
}

/// A block as a peer gets it, read the blocking way; the read that never waits must agree
/// whenever it answers.
fn block(store: &PieceStore, piece: u32, begin: u32, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    store.read_block(piece, begin, &mut buf).unwrap();
    let mut cached = vec![0; len];
    if store.read_run_cached(piece, begin, &mut [&mut cached]) {
        assert_eq!(cached, buf);
    }
    buf
}

#[test]
fn pieces_cross_files_and_resume_keeps_verified_ones() {
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let lengths = [30_000u64, 0, 50_000, 20_000];
    let info = info(&lengths, 32768, &content);
    let dir = tempfile::tempdir().unwrap();
    let store = PieceStore::create(dir.path(), &info).unwrap();
    assert_eq!(
        store.check_all(&HashProgress::default()).unwrap().count(),
        0
    );
    for p in [0usize, 2] {
        let start = p * 32768;
        let data = &content[start..start + store.layout().piece_size(p) as usize];
        assert!(store.verify(p, data));
        store.write_piece(p, data).unwrap();
    }
    assert!(!store.verify(1, &content[..32768]));
    assert_eq!(
        block(&store, 2, 100, 1000),
        &content[65536 + 100..65536 + 1100]
    );
    // Across f2 and f3, just written, so the page cache has it: read without waiting.
    let mut cached = vec![0; 2000];
    assert!(store.read_run_cached(2, 14_000, &mut [&mut cached]));
    assert_eq!(cached, &content[79_536..81_536]);
    assert_eq!(block(&store, 2, 14_000, 2000), cached);
    // Runs of blocks end to end: in one file (one read), and across f2 and f3.
    for (begin, lens) in [(0u32, [8000usize, 6000]), (10_000, [4000, 6000])] {
        let (mut a, mut b) = (vec![0; lens[0]], vec![0; lens[1]]);
        assert!(store.read_run_cached(2, begin, &mut [&mut a, &mut b]));
        let at = 65_536 + begin as usize;
        assert_eq!(a, &content[at..at + lens[0]]);
        assert_eq!(b, &content[at + lens[0]..at + lens[0] + lens[1]]);
    }
    drop(store);
    let again = PieceStore::create(dir.path(), &info).unwrap();
    let have = again.check_all(&HashProgress::default()).unwrap();
    assert_eq!(have.ones().collect::<Vec<_>>(), vec![0, 2]);
    assert_eq!(again.first_bad_file(&have), Some(dir.path().join("t/f2")));
    assert!(dir.path().join("t/f1").exists(), "empty files are created");
    assert_eq!(
        std::fs::metadata(dir.path().join("t/f2")).unwrap().len(),
        50_000
    );
}

#[test]
fn a_selection_creates_only_its_files_and_keeps_shared_pieces_in_the_part_file() {
    let content: Vec<u8> = (0..64_000u32).map(|i| (i * 13 % 251) as u8).collect();
    // Pieces of 16 KiB: 0 = f0, 1 = f0+f1, 2 = f1, 3 = f1+f2.
    let info = info(&[20_000, 30_000, 14_000], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join(".t.p2p-parts");
    let middle = Selection::from_flags(vec![false, true, false]);
    let store = PieceStore::create_selected(dir.path(), &info, middle.clone(), Some(parts.clone()))
        .unwrap();
    assert_eq!(store.wanted().ones().collect::<Vec<_>>(), [1, 2, 3]);
    let piece = |p: usize| &content[p * 16384..(p * 16384 + 16384).min(content.len())];
    for p in [1, 2, 3] {
        store.write_piece(p, piece(p)).unwrap();
    }
    assert!(
        !dir.path().join("t/f0").exists(),
        "unselected files are not created"
    );
    assert!(!dir.path().join("t/f2").exists());
    assert_eq!(
        std::fs::read(dir.path().join("t/f1")).unwrap(),
        &content[20_000..50_000]
    );
    // Straddling pieces are served whole, from the part file.
    assert_eq!(block(&store, 1, 0, 16384), piece(1));
    assert_eq!(block(&store, 3, 100, 50), &piece(3)[100..150]);
    assert!(
        !store.read_run_cached(1, 0, &mut [&mut [0; 100]]),
        "the part file is read the slow way"
    );
    drop(store);
    let store = PieceStore::create_selected(dir.path(), &info, middle.clone(), Some(parts.clone()))
        .unwrap();
    let have = store.check_all(&HashProgress::default()).unwrap();
    assert_eq!(have.ones().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        store.resume_paths(),
        [dir.path().join("t/f1"), parts.clone()]
    );
    drop(store);
    // Widened to every file: what the part file holds is written out to the new files.
    let all =
        PieceStore::create_selected(dir.path(), &info, Selection::all(3), Some(parts.clone()))
            .unwrap();
    let have = all.check_all(&HashProgress::default()).unwrap();
    assert_eq!(have.ones().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        std::fs::read(dir.path().join("t/f2")).unwrap(),
        &content[50_000..]
    );
    // A part file that is a link is refused like any other.
    drop(all);
    std::fs::remove_file(&parts).unwrap();
    std::os::unix::fs::symlink("/tmp/elsewhere", &parts).unwrap();
    let e = PieceStore::create_selected(dir.path(), &info, middle, Some(parts))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is a symbolic link"), "{e}");
}

#[test]
fn open_existing_names_the_missing_or_short_file() {
    let content = vec![1u8; 40_000];
    let info = info(&[20_000, 20_000], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    let e = PieceStore::open_existing(&dir.path().join("nope"), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/nope` is not a directory (--dir"), "{e}");
    let e = PieceStore::open_existing(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/t` does not exist"), "{e}");
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/f0"), &content[..20_000]).unwrap();
    let e = PieceStore::open_existing(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("t/f1"), "{e}");
    std::fs::write(dir.path().join("t/f1"), &content[..100]).unwrap();
    let e = PieceStore::open_existing(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("t/f1") && e.contains("has 100 bytes"), "{e}");
}

#[test]
fn create_refuses_links_and_longer_files_below_the_directory() {
    use std::os::unix::fs::symlink;
    let content = vec![3u8; 40_000];
    let info = info(&[20_000, 20_000], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("t")).unwrap();
    let e = PieceStore::create(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/t` is a symbolic link"), "{e}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    std::fs::remove_file(dir.path().join("t")).unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    symlink(outside.path().join("x"), dir.path().join("t/f1")).unwrap();
    let e = PieceStore::create(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("t/f1` is a symbolic link"), "{e}");
    assert!(!outside.path().join("x").exists());
    std::fs::remove_file(dir.path().join("t/f1")).unwrap();
    std::fs::write(dir.path().join("t/f1"), vec![1u8; 30_000]).unwrap();
    let e = PieceStore::create(dir.path(), &info)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("has 30000 bytes, more than"), "{e}");
    std::fs::write(dir.path().join("t/f1"), vec![1u8; 100]).unwrap();
    PieceStore::create(dir.path(), &info).unwrap();
    assert_eq!(
        std::fs::metadata(dir.path().join("t/f1")).unwrap().len(),
        20_000
    );
}

/// Pieces of a fetch's existing files: data is read and hashed, holes are known zeros.
fn written_store(dir: &Path, info: &Info, content: &[u8], skip_zeros: bool) -> PieceStore {
    let first = PieceStore::create(dir, info).unwrap();
    for p in 0..first.layout().piece_count() {
        let (start, size) = (
            first.layout().piece_offset(p) as usize,
            first.layout().piece_size(p) as usize,
        );
        let piece = &content[start..start + size];
        if !(skip_zeros && piece.iter().all(|&b| b == 0)) {
            first.write_piece(p, piece).unwrap();
        }
    }
    drop(first);
    PieceStore::create(dir, info).unwrap()
}

#[test]
fn a_sparse_file_is_checked_right_through_its_holes() {
    let mut content = vec![0u8; 32 * 16384];
    for p in [5usize, 20, 31] {
        content[p * 16384..p * 16384 + 100].fill(p as u8);
    }
    let info = info(&[content.len() as u64], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    let store = written_store(dir.path(), &info, &content, true);
    let have = store.check_all(&HashProgress::default()).unwrap();
    assert_eq!(have.count(), 32, "data pieces read, zero pieces in holes");
    // Bytes where a hole was: that piece no longer verifies, the rest still do.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("t/f0"))
        .unwrap()
        .write_all_at(b"x", 7 * 16384 + 5)
        .unwrap();
    let store = PieceStore::create(dir.path(), &info).unwrap();
    let have = store.check_all(&HashProgress::default()).unwrap();
    assert_eq!((have.count(), have.get(7)), (31, false));
}

#[test]
fn a_cancelled_check_stops_and_leaves_other_checks_alone() {
    let content: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let info = info(&[65536], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    let store = written_store(dir.path(), &info, &content, false);
    let stoppable = HashProgress::default();
    stoppable.cancel.cancel();
    let err = store.check_all(&stoppable).unwrap_err();
    assert!(
        err.to_string().contains("interrupted while checking"),
        "{err}"
    );
    assert_eq!(
        store.check_all(&HashProgress::default()).unwrap().count(),
        4
    );
}

#[test]
fn padding_is_never_on_disk_and_reads_as_zeros() {
    // BEP 47 as libtorrent lays it out: f0 (20,000 bytes) padded to 32 KiB, then f1 (10,000).
    let mut stream = vec![0u8; 32768 + 10_000];
    for (i, b) in stream.iter_mut().enumerate() {
        if !(20_000..32768).contains(&i) {
            *b = (i % 251) as u8 | 1;
        }
    }
    let mut info = info(&[20_000, 10_000], 32768, &[0; 30_000]);
    info.files[1].offset = 32768;
    info.files[1].executable = true;
    info.stream_length = stream.len() as u64;
    info.pieces = stream.chunks(32768).map(sha1).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = PieceStore::create(dir.path(), &info).unwrap();
    for p in 0..2 {
        let data = &stream[p * 32768..(p * 32768 + store.layout().piece_size(p) as usize)];
        assert!(store.verify(p, data));
        store.write_piece(p, data).unwrap();
    }
    let mut names: Vec<_> = std::fs::read_dir(dir.path().join("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["f0", "f1"], "nothing but the two files is on disk");
    assert_eq!(
        std::fs::read(dir.path().join("t/f0")).unwrap(),
        &stream[..20_000]
    );
    assert_eq!(
        std::fs::read(dir.path().join("t/f1")).unwrap(),
        &stream[32768..]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| {
        let m = std::fs::metadata(dir.path().join("t").join(f)).unwrap();
        m.permissions().mode()
    };
    assert_eq!((mode("f0") & 0o100, mode("f1") & 0o100), (0, 0o100));
    // A block across the end of f0 and the padding, and one wholly in the padding, as a peer
    // asks for them: the padding is zeros, blocking read or cached read alike.
    assert_eq!(block(&store, 0, 16384, 16384), &stream[16384..32768]);
    assert!(block(&store, 0, 24_576, 8192).iter().all(|&b| b == 0));
    let (mut a, mut b) = (vec![7u8; 16384], vec![7u8; 16384]);
    if store.read_run_cached(0, 0, &mut [&mut a, &mut b]) {
        assert_eq!([a, b].concat(), &stream[..32768]);
    }
    drop(store);
    // On a restart both pieces check good, padding hashed as zeros.
    let again = PieceStore::create(dir.path(), &info).unwrap();
    let have = again.check_all(&HashProgress::default()).unwrap();
    assert_eq!(have.count(), 2);
}

#[test]
fn closed_files_open_again_when_read() {
    let content: Vec<u8> = (0..40_000u32).map(|i| (i * 3 % 251) as u8).collect();
    let info = info(&[25_000, 15_000], 16384, &content);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/f0"), &content[..25_000]).unwrap();
    std::fs::write(dir.path().join("t/f1"), &content[25_000..]).unwrap();
    let store = PieceStore::create(dir.path(), &info).unwrap();
    let open = |s: &PieceStore| s.open.lock().unwrap().len();
    assert_eq!(block(&store, 1, 0, 16384), &content[16384..32768]);
    assert_eq!(open(&store), 2, "a block across both files opens both");
    store.close_files();
    assert_eq!(open(&store), 0);
    assert_eq!(block(&store, 2, 0, 1000), &content[32768..33768]);
    assert_eq!(open(&store), 1, "opened again as read");
}
