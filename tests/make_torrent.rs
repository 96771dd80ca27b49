//! `p2p make-torrent` and `p2p info` as a user runs them, checked against mktorrent and libtorrent.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A tree with nested directories, an empty file, a hidden file and names whose byte order
/// differs from component order (`a.txt` sorts before `a/…`).
fn sample_tree(root: &Path) {
    write(&root.join("a.txt"), &data(40_000, 1));
    write(&root.join("a/b/c.bin"), &data(100_000, 2));
    write(&root.join("a/z"), &data(70_001, 3));
    write(&root.join("B"), &data(5, 4));
    write(&root.join(".hidden"), &data(33_333, 5));
    write(&root.join("empty"), b"");
}

fn mktorrent_hash(dir: &Path, target: &Path, log2_piece: u32) -> String {
    let mk = require("mktorrent", "mktorrent");
    let out = dir.join(format!("mk-{log2_piece}.torrent"));
    let status = Command::new(mk)
        .args([
            "-l",
            &log2_piece.to_string(),
            "-a",
            "http://127.0.0.1:6969/announce",
            "-o",
        ])
        .arg(&out)
        .arg(target)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "mktorrent failed: {}",
        stderr(&status)
    );
    info_hash(&out)
}

fn make(dir: &Path, target: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(format!(
        "p2p-{}.torrent",
        extra.join("_").replace(['/', '@', ':'], "-")
    ));
    let mut args = vec![
        "make-torrent",
        target.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ];
    args.extend_from_slice(extra);
    let o = p2p(&args);
    assert!(o.status.success(), "make-torrent failed: {}", stderr(&o));
    out
}

#[test]
fn single_file_info_hash_matches_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("movie.bin");
    write(&file, &data(1_000_003, 9));
    for log2 in [15u32, 16, 18] {
        let ours = make(
            dir.path(),
            &file,
            &[
                "--tracker",
                "tracker@127.0.0.1",
                "--piece-length",
                &(1u64 << log2).to_string(),
            ],
        );
        assert_eq!(
            info_hash(&ours),
            mktorrent_hash(dir.path(), &file, log2),
            "piece length 2^{log2}"
        );
    }
}

#[test]
fn directory_info_hash_matches_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    sample_tree(&root);
    for log2 in [15u32, 17] {
        let ours = make(
            dir.path(),
            &root,
            &[
                "--tracker",
                "t@127.0.0.1",
                "--piece-length",
                &(1u64 << log2).to_string(),
            ],
        );
        assert_eq!(
            info_hash(&ours),
            mktorrent_hash(dir.path(), &root, log2),
            "piece length 2^{log2}"
        );
    }
}

#[test]
fn torrents_load_in_libtorrent_with_the_same_info_hash() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    sample_tree(&root);
    let single = dir.path().join("one.bin");
    write(&single, &data(300_000, 7));
    for (target, extra) in [
        (&root, vec!["--private"]),
        (&single, vec!["--comment", "hello"]),
    ] {
        let mut args = vec![
            "--tracker",
            "t@127.0.0.1:7000",
            "--tracker",
            "udp://127.0.0.1:7001",
        ];
        args.extend(extra);
        let torrent = make(dir.path(), target, &args);
        let script = "import sys, libtorrent as lt\n\
            ti = lt.torrent_info(sys.argv[1])\n\
            print(str(ti.info_hash()), ti.num_files(), ti.total_size(), ' '.join(t.url for t in ti.trackers()))";
        let o = Command::new(py)
            .args(["-c", script])
            .arg(&torrent)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "libtorrent refused the torrent: {}",
            stderr(&o)
        );
        let line = stdout(&o);
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], info_hash(&torrent));
        assert_eq!(
            &fields[3..],
            ["http://127.0.0.1:7000/announce", "udp://127.0.0.1:7001"]
        );
    }
}

#[test]
fn info_shows_name_sizes_trackers_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    sample_tree(&root);
    let torrent = make(
        dir.path(),
        &root,
        &[
            "--tracker",
            "tracker@example.org",
            "--piece-length",
            "32K",
            "--comment",
            "a comment",
        ],
    );
    let o = p2p(&["info", torrent.to_str().unwrap()]);
    assert!(o.status.success());
    let text = stdout(&o);
    let total = 40_000 + 100_000 + 70_001 + 5 + 33_333;
    for needle in [
        "name:         tree".to_string(),
        format!("total size:   {total} bytes"),
        "piece length: 32768 bytes".to_string(),
        format!("pieces:       {}", (total as u64).div_ceil(32768)),
        "trackers:     http://example.org:6969/announce".to_string(),
        "comment:      a comment".to_string(),
        "files:        6".to_string(),
        "tree/a/b/c.bin".to_string(),
        "tree/empty".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    // Byte-wise path order: `.hidden`, `B`, `a.txt`, `a/b/c.bin`, `a/z`, `empty`.
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "tree/.hidden",
            "tree/B",
            "tree/a.txt",
            "tree/a/b/c.bin",
            "tree/a/z",
            "tree/empty"
        ]
    );
}

#[test]
fn default_output_is_name_dot_torrent_and_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("f.bin"), &data(50_000, 3));
    let o = p2p_in(dir.path(), &["make-torrent", "f.bin", "--tracker", "t@h"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("info-hash"));
    let torrent = dir.path().join("f.bin.torrent");
    let first = fs::read(&torrent).unwrap();
    let again = p2p_in(dir.path(), &["make-torrent", "f.bin", "--tracker", "t@h"]);
    assert_error(&again, "f.bin.torrent` already exists");
    assert_eq!(
        fs::read(&torrent).unwrap(),
        first,
        "the existing torrent must be untouched"
    );
    let forced = p2p_in(
        dir.path(),
        &["make-torrent", "f.bin", "--tracker", "other@h2", "--force"],
    );
    assert!(forced.status.success());
    assert_ne!(fs::read(&torrent).unwrap(), first);
}

#[test]
fn bad_input_gets_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("empty-dir")).unwrap();
    write(&d.join("only-empty/x"), b"");
    write(&d.join("f"), &data(10, 1));
    fs::write(d.join("garbage.torrent"), b"d4:infoi3ee").unwrap();
    fs::write(d.join("truncated.torrent"), b"d4:infod4:name").unwrap();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "make-torrent".into(),
                p("empty-dir"),
                "--tracker".into(),
                "t@h".into(),
            ],
            "is an empty directory",
        ),
        (
            vec![
                "make-torrent".into(),
                p("only-empty"),
                "--tracker".into(),
                "t@h".into(),
            ],
            "holds no data",
        ),
        (
            vec![
                "make-torrent".into(),
                p("missing"),
                "--tracker".into(),
                "t@h".into(),
            ],
            "missing",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--tracker".into(),
                "t@h".into(),
                "--piece-length".into(),
                "1000".into(),
            ],
            "piece length 1000",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--tracker".into(),
                "t@h".into(),
                "--piece-length".into(),
                "8K".into(),
            ],
            "piece length 8192",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--tracker".into(),
                "t@h".into(),
                "--piece-length".into(),
                "big".into(),
            ],
            "--piece-length `big`",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--tracker".into(),
                "nohost".into(),
            ],
            "tracker `nohost`",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--tracker".into(),
                "t@h:70000".into(),
            ],
            "tracker `t@h:70000`",
        ),
        (
            vec![
                "make-torrent".into(),
                p("f"),
                "--dht-node".into(),
                "nohost".into(),
            ],
            "--dht-node `nohost`",
        ),
        (vec!["info".into(), p("missing.torrent")], "missing.torrent"),
        (
            vec!["info".into(), p("garbage.torrent")],
            "field `info` has the wrong type",
        ),
        (
            vec!["info".into(), p("truncated.torrent")],
            "unexpected end of input",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // What the command line got wrong is a usage error (exit 2); files, exit 1.
        let usage = ["piece length", "--piece-length", "tracker `", "--dht-node"];
        if usage.iter().any(|u| needle.contains(u)) {
            assert_usage_error(&p2p(&args), needle);
        } else {
            assert_error(&p2p(&args), needle);
        }
    }
    // Usage errors are argh's: exit code 2.
    assert_eq!(p2p(&["make-torrent"]).status.code(), Some(2));
    assert_eq!(p2p(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn symlinks_are_followed_and_fifos_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    write(&root.join("real"), &data(20_000, 1));
    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    let fifo = root.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let ours = make(
        dir.path(),
        &root,
        &["--tracker", "t@127.0.0.1", "--piece-length", "32K"],
    );
    let text = stdout(&p2p(&["info", ours.to_str().unwrap()]));
    assert!(
        text.contains("tree/link") && text.contains("tree/real") && !text.contains("pipe"),
        "{text}"
    );
    assert_eq!(info_hash(&ours), mktorrent_hash(dir.path(), &root, 15));
    // A link back up the tree is refused rather than walked forever.
    std::os::unix::fs::symlink("..", root.join("loop")).unwrap();
    let o = p2p(&[
        "make-torrent",
        root.to_str().unwrap(),
        "--tracker",
        "t@h",
        "--out",
        dir.path().join("x.torrent").to_str().unwrap(),
    ]);
    assert_error(&o, "loop");
}

#[test]
fn torrents_load_in_transmission_and_aria2_with_the_same_info_hash() {
    let show = require("transmission-show", "transmission-cli");
    let aria2c = require("aria2c", "aria2");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    sample_tree(&root);
    let single = dir.path().join("one.bin");
    write(&single, &data(300_000, 7));
    for target in [&root, &single] {
        let torrent = make(
            dir.path(),
            target,
            &["--tracker", "t@127.0.0.1:7000", "--piece-length", "32K"],
        );
        let ours = info_hash(&torrent);
        let t = Command::new(&show).arg(&torrent).output().unwrap();
        assert!(
            t.status.success(),
            "transmission-show refused the torrent: {}",
            stderr(&t)
        );
        assert!(
            stdout(&t).contains(&format!("Hash: {ours}")),
            "transmission: {}",
            stdout(&t)
        );
        let a = Command::new(&aria2c)
            .arg("-S")
            .arg(&torrent)
            .output()
            .unwrap();
        assert!(
            a.status.success(),
            "aria2c -S refused the torrent: {}",
            stderr(&a)
        );
        assert!(
            stdout(&a).contains(&format!("Info Hash: {ours}")),
            "aria2c: {}",
            stdout(&a)
        );
    }
}

#[test]
fn make_torrent_of_the_current_directory_leaves_out_its_own_output_and_excluded_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("share");
    write(&d.join("movie.mkv"), &data(60_000, 1));
    write(&d.join("notes.nfo"), &data(100, 2));
    write(&d.join(".git/HEAD"), b"ref: x\n");
    write(&d.join("sub/more.mkv"), &data(30_000, 3));
    write(&d.join("sub/skip/x.bin"), &data(10, 4));
    // A torrent from an earlier run sits in the directory: overwriting it must not add it.
    write(&d.join("share.torrent"), b"d4:junki1ee");
    let o = p2p_in(
        &d,
        &[
            "make-torrent",
            ".",
            "--tracker",
            "t@h",
            "--force",
            "--exclude",
            "*.nfo",
            "--exclude",
            ".git",
            "--exclude",
            "sub/skip",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let info = p2p(&["info", "--json", d.join("share.torrent").to_str().unwrap()]);
    let text = stdout(&info);
    assert!(
        text.contains("movie.mkv") && text.contains("more.mkv"),
        "{text}"
    );
    for gone in ["share.torrent", "notes.nfo", ".git", "x.bin"] {
        assert!(!text.contains(gone), "{gone} was swept in: {text}");
    }
    // Excluding everything is an error naming the directory and the flag.
    let none = p2p(&[
        "make-torrent",
        d.to_str().unwrap(),
        "--out",
        dir.path().join("x.torrent").to_str().unwrap(),
        "--exclude",
        "*",
    ]);
    assert_error(&none, "has no file left once --exclude is applied");
}

#[test]
fn default_piece_length_is_the_one_libtorrent_chooses() {
    let python = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [("small.bin", 3_000_000usize), ("mid.bin", 23 << 20)] {
        let f = dir.path().join(name);
        // Sparse: the piece length depends on the size only.
        let file = fs::File::create(&f).unwrap();
        file.set_len(len as u64).unwrap();
        let o = p2p_in(
            dir.path(),
            &["make-torrent", name, "--tracker", "t@h", "--json"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let ours = stdout(&o);
        let lt = Command::new(python)
            .args([
                "-c",
                "import libtorrent as lt, sys; fs = lt.file_storage(); \
                 fs.add_file(sys.argv[1], int(sys.argv[2])); \
                 print(lt.create_torrent(fs).piece_length())",
                name,
                &len.to_string(),
            ])
            .output()
            .unwrap();
        let theirs = stdout(&lt).trim().to_string();
        assert!(
            ours.contains(&format!("\"piece_length\":{theirs}")),
            "{name}: libtorrent chooses {theirs}; we wrote {ours}"
        );
    }
}
