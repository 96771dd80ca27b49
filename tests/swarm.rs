//! `p2p seed` and `p2p fetch` as separate processes on 127.0.0.1: swarms, resuming, dying and
//! lying peers, and real clients on either side.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A multi-file tree whose pieces (64 KiB) cross file boundaries, with an empty file.
fn multi_file_content(dir: &Path) -> PathBuf {
    let root = dir.join("album");
    fs::create_dir_all(root.join("disc 2")).unwrap();
    fs::write(root.join("01.flac"), data(300_001, 1)).unwrap();
    fs::write(root.join("02.flac"), data(70_000, 2)).unwrap();
    fs::write(root.join("cover.jpg"), b"").unwrap();
    fs::write(root.join("disc 2/03.flac"), data(1_234_567, 3)).unwrap();
    fs::write(root.join("disc 2/notes.txt"), data(999, 4)).unwrap();
    root
}

fn torrent_for(dir: &Path, content: &Path, tracker: &str, piece: &str) -> PathBuf {
    let out = dir.join("t.torrent");
    make_torrent_file(content, &out, tracker, piece);
    out
}

fn downloaded_bytes(stdout: &str) -> u64 {
    let after = stdout.split("downloaded ").nth(1).expect("a summary line");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn uploaded_bytes(stdout: &str) -> u64 {
    let after = stdout.split("uploaded ").nth(1).expect("a summary line");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// The fetched copy equals the original (without printing megabytes when it does not).
fn assert_same_file(copy: &Path, original: &Path) {
    assert!(
        fs::read(copy).unwrap() == fs::read(original).unwrap(),
        "{} differs from {}",
        copy.display(),
        original.display()
    );
}

fn assert_same_tree(a: &Path, b: &Path) {
    for entry in fs::read_dir(a).unwrap() {
        let entry = entry.unwrap();
        let other = b.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            assert_same_tree(&entry.path(), &other);
        } else {
            assert_same_file(&other, &entry.path());
        }
    }
}

#[test]
fn tracker_seed_and_four_fetchers_of_a_multi_file_torrent() {
    let (_t, tport) = start_tracker(2);
    let dir = tempfile::tempdir().unwrap();
    let content = multi_file_content(dir.path());
    let torrent = torrent_for(dir.path(), &content, &format!("t@127.0.0.1:{tport}"), "64K");
    // A slow seed, so the fetchers must trade pieces among themselves.
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &["--upload-limit", "400K"]);
    let mut fetches: Vec<(PathBuf, FetchRun)> = (0..4)
        .map(|i| {
            let out = dir.path().join(format!("fetch{i}"));
            let run = start_fetch(&format!("fetch{i}"), &torrent, &out, &["--seed"]);
            (out, run)
        })
        .collect();
    let total: u64 = 300_001 + 70_000 + 1_234_567 + 999;
    for (out, run) in &fetches {
        let done = wait_until(Duration::from_secs(90), || {
            fs::read_to_string(&run.out).unwrap().contains("complete:")
        });
        assert!(
            done,
            "{} did not complete: {}",
            run.proc.name,
            fs::read_to_string(&run.err).unwrap()
        );
        assert_same_tree(&content, &out.join("album"));
    }
    let mut shared = 0;
    for (_, run) in &mut fetches {
        run.proc.signal("INT");
        let (ok, stdout, _) = run.finish(Duration::from_secs(15));
        assert!(ok, "a seeding fetch exits 0 on SIGINT");
        // The summary times the whole fetch: "done in", not "verified in".
        assert!(stdout.contains(") done in "), "{stdout}");
        assert!(
            downloaded_bytes(&stdout) >= total,
            "every byte was received"
        );
        shared += uploaded_bytes(&stdout);
    }
    assert!(
        shared > 0,
        "fetchers must upload to each other, not lean on the seed for every byte"
    );
}

#[test]
fn a_fetch_killed_half_way_resumes_without_fetching_verified_pieces_again() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "big.bin", 8 << 20, "t@127.0.0.1:9", "256K");
    let (_seed, sport) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{sport}");
    let mut first = start_fetch(
        "first",
        &torrent,
        &out,
        &["--peer", &peer, "--download-limit", "2M"],
    );
    // Pieces reach the disk only once verified, in `big.bin.part` until all are: kill as soon
    // as 2 MiB of them are there.
    let target = out.join("big.bin.part");
    let progressed = wait_until(Duration::from_secs(30), || {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&target)
            .map(|m| m.blocks() * 512 >= 2 << 20)
            .unwrap_or(false)
    });
    assert!(progressed, "the first fetch made no progress");
    first.proc.signal("KILL");
    first.proc.wait_for(Duration::from_secs(5));
    assert!(
        !out.join("big.bin").exists(),
        "an incomplete download keeps its .part name"
    );

    let mut second = start_fetch("second", &torrent, &out, &["--peer", &peer]);
    let (ok, stdout, stderr) = second.finish(Duration::from_secs(60));
    assert!(ok);
    let kept: u64 = stderr
        .lines()
        .find_map(|l| l.split("resuming: ").nth(1))
        .expect("a resuming line")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pieces = (8u64 << 20) / (256 << 10);
    assert!(kept > 0 && kept < pieces, "kept {kept} of {pieces}");
    let fetched = downloaded_bytes(&stdout);
    assert_eq!(
        fetched,
        (pieces - kept) * (256 << 10),
        "only the missing pieces travel again"
    );
    assert_same_file(&out.join("big.bin"), &content);
}

#[test]
fn ctrl_c_stops_a_fetch_cleanly_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 4 << 20, "t@127.0.0.1:9", "64K");
    let (_seed, sport) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{sport}");
    let mut first = start_fetch(
        "first",
        &torrent,
        &out,
        &["--peer", &peer, "--download-limit", "1M"],
    );
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("f.bin.part")
    )));
    first.proc.signal("INT");
    let status = first.proc.wait_for(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(130),
        "SIGINT ends with 130, as shells expect"
    );
    let stderr = fs::read_to_string(&first.err).unwrap();
    assert!(
        stderr.contains("p2p: error: interrupted") && stderr.contains("resume"),
        "{stderr}"
    );
    // Stopped cleanly, it left a resume file: the next run trusts it instead of hashing.
    assert!(out.join(".f.bin.p2p-resume").exists());
    assert!(out.join("f.bin.part").exists() && !out.join("f.bin").exists());
    let (ok, _, stderr) =
        start_fetch("second", &torrent, &out, &["--peer", &peer]).finish(Duration::from_secs(60));
    assert!(ok);
    assert!(
        stderr.contains("(from the resume file, not hashed again)"),
        "{stderr}"
    );
    assert_same_file(&out.join("f.bin"), &content);
    assert!(!out.join("f.bin.part").exists() && !out.join(".f.bin.p2p-resume").exists());
}

/// Files of odd sizes put piece boundaries off every 4 KiB block: the aligned middles go
/// around the page cache, heads and tails through it, and the tree comes out whole — on the
/// temporary directory's file system (ext4 here, which takes O_DIRECT) and on /dev/shm (tmpfs,
/// which refuses it: ordinary writes).
#[test]
fn a_direct_io_fetch_writes_every_byte() {
    let shm = Path::new("/dev/shm");
    let bases = [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir_in(if shm.is_dir() { shm } else { Path::new("/tmp") }).unwrap(),
    ];
    for base in &bases {
        let content = multi_file_content(base.path());
        let torrent = torrent_for(base.path(), &content, "t@127.0.0.1:9", "64K");
        let (_seed, port) = start_seed("seed", &torrent, base.path(), &[]);
        let out = base.path().join("out");
        let peer = format!("127.0.0.1:{port}");
        let mut fetch = start_fetch("fetch", &torrent, &out, &["--peer", &peer, "--direct-io"]);
        let (ok, stdout, stderr) = fetch.finish(Duration::from_secs(60));
        assert!(ok, "{stdout}{stderr}");
        assert_same_tree(&content, &out.join("album"));
    }
}

#[test]
fn the_fetch_completes_when_one_of_two_seeds_dies() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 6 << 20, "t@127.0.0.1:9", "128K");
    let (a, aport) = start_seed("seed-a", &torrent, dir.path(), &[]);
    let (_b, bport) = start_seed("seed-b", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    let mut fetch = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &format!("127.0.0.1:{aport}"),
            "--peer",
            &format!("127.0.0.1:{bport}"),
            "--download-limit",
            "2M",
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("f.bin.part")
    )));
    a.proc.signal("KILL");
    let (ok, _, _) = fetch.finish(Duration::from_secs(60));
    assert!(ok);
    assert_same_file(&out.join("f.bin"), &content);
}

#[test]
fn a_lying_peer_is_banned_and_no_corrupt_byte_lands() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 3 << 20, "t@127.0.0.1:9", "64K");
    let hash = info_hash(&torrent);
    let (_liar, liar_port) = bad_seed("corrupt", &hash, 48);
    let (_seed, sport) = start_seed("honest", &torrent, dir.path(), &["--upload-limit", "1M"]);
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &format!("127.0.0.1:{liar_port}"),
            "--peer",
            &format!("127.0.0.1:{sport}"),
        ],
    )
    .finish(Duration::from_secs(60));
    assert!(ok);
    // The liar's bytes are reported apart from the payload.
    assert_eq!(downloaded_bytes(&stdout), 3 << 20, "payload: {stdout}");
    let wasted: u64 = stdout
        .split(" and ")
        .nth(1)
        .and_then(|w| w.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("wasted bytes");
    assert!(
        wasted >= 64 << 10,
        "at least one failed piece wasted: {stdout}"
    );
    assert!(
        stderr.contains("failed its hash check")
            && stderr.contains(&format!("banning 127.0.0.1:{liar_port}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&format!("banning 127.0.0.1:{sport}")),
        "the honest seed must not be banned"
    );
    assert_eq!(
        stderr
            .matches(&format!("banning 127.0.0.1:{liar_port}"))
            .count(),
        1,
        "one ban, one line: {stderr}"
    );
    assert_same_file(&out.join("f.bin"), &content);
}

#[test]
fn fetch_gives_up_clearly_when_no_peer_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(
        dir.path(),
        "f.bin",
        100_000,
        &format!("t@127.0.0.1:{}", free_port()),
        "16K",
    );
    let dead = format!("127.0.0.1:{}", free_port());
    let started = std::time::Instant::now();
    let (ok, _, stderr) = start_fetch(
        "fetch",
        &torrent,
        &dir.path().join("out"),
        &["--peer", &dead, "--timeout", "3s"],
    )
    .finish(Duration::from_secs(60));
    assert!(!ok);
    assert!(
        stderr.contains("p2p: error: no peer could be reached within 3s"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn without_a_timeout_a_fetch_waits_for_a_seed_that_comes_late() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let port = free_port();
    let peer = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let fetch = spawn_logged(
        "fetch",
        &fetch_args(&torrent, &out, &["--peer", &peer, "--no-dht"]),
    );
    // Past the old 30 s limit it is still there, saying what it waits for.
    let line = fetch.wait_line("still asking trackers", Duration::from_secs(60));
    let waited: u64 = line
        .split("no peer connected for ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .expect("the seconds waited");
    assert!(waited >= 30 && line.contains("--peer"), "{line}");
    let seed_args = [
        "seed",
        torrent.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    let mut seed_args = seed_args.to_vec();
    seed_args.extend(["--listen", &peer, "--no-dht"]);
    let _seed = spawn_logged("seed", &seed_args);
    let mut fetch = fetch;
    assert!(fetch.proc.wait_for(Duration::from_secs(60)).success());
    assert_same_file(&out.join("f.bin"), &content);
}

#[test]
fn bad_fetch_and_seed_input() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let file_as_dir = content.join("sub");
    let t = torrent.to_str().unwrap();
    assert_error(
        &p2p(&[
            "fetch",
            t,
            "--out",
            file_as_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]),
        "f.bin/sub",
    );
    assert_usage_error(
        &p2p(&["fetch", t, "--out", "x", "--peer", "nohostport"]),
        "--peer `nohostport`",
    );
    assert_usage_error(
        &p2p(&["fetch", t, "--out", "x", "--download-limit", "fast"]),
        "--download-limit `fast`",
    );
    assert_error(
        &p2p(&[
            "seed",
            t,
            "--dir",
            dir.path().join("nowhere").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]),
        "nowhere` is not a directory (--dir",
    );
    // Content none of whose pieces pass is refused, naming the file.
    fs::write(&content, vec![0u8; 100_000]).unwrap();
    assert_error(
        &p2p(&[
            "seed",
            t,
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]),
        "f.bin` does not match",
    );
}

#[test]
fn a_seed_with_a_bad_piece_serves_the_pieces_that_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let mut bytes = fs::read(&content).unwrap();
    bytes[50_000] ^= 0xFF;
    fs::write(&content, bytes).unwrap();
    let d = dir.path().to_str().unwrap();
    let seed = spawn_logged(
        "seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            d,
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
        ],
    );
    seed.wait_line(
        "f.bin: 1 of 7 pieces fail their hash check; serving the 6 that pass",
        Duration::from_secs(10),
    );
    let port = seed.listening_port();
    // A fetch from it gets every piece but the bad one (and waits for it; it is stopped).
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    let fetch = spawn_logged(
        "fetch",
        &fetch_args(&torrent, &out, &["--peer", &peer, "--no-dht"]),
    );
    // 100,000 bytes less the bad 16 KiB piece.
    let progress = fetch.wait_line(": 83.6% ", Duration::from_secs(20));
    assert!(progress.contains("1 peer"), "{progress}");
    let fetch = fetch;
    fetch.proc.signal("INT");
}

#[test]
fn p2p_fetches_from_a_libtorrent_seed() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let content = multi_file_content(dir.path());
    let torrent = torrent_for(dir.path(), &content, "t@127.0.0.1:9", "32K");
    let (_lt, lt_port) = libtorrent_seed(py, &torrent, dir.path(), 90, &[]);
    let out = dir.path().join("out");
    let (ok, _, _) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &["--peer", &format!("127.0.0.1:{lt_port}")],
    )
    .finish(Duration::from_secs(60));
    assert!(ok);
    assert_same_tree(&content, &out.join("album"));
}

#[test]
fn aria2c_fetches_from_a_p2p_seed_and_libtorrent_from_p2p_fetch() {
    let aria2c = require("aria2c", "aria2");
    let py = require_libtorrent();
    let (_t, tport) = start_tracker(5);
    let dir = tempfile::tempdir().unwrap();
    let content = multi_file_content(dir.path());
    let torrent = torrent_for(dir.path(), &content, &format!("t@127.0.0.1:{tport}"), "64K");
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    let aria_out = dir.path().join("aria");
    let mut cmd = aria2c_fetch(&aria2c, &torrent, &aria_out);
    let status = Proc::spawn("aria2c", &mut cmd).wait_for(Duration::from_secs(90));
    assert!(status.success(), "aria2c failed: {status:?}");
    assert_same_tree(&content, &aria_out.join("album"));

    // And the other way: libtorrent downloads from a seeding `p2p fetch`.
    let out = dir.path().join("p2p");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--seed"]);
    assert!(wait_until(Duration::from_secs(60), || fs::read_to_string(
        &fetch.out
    )
    .unwrap()
    .contains("complete:")));
    let port: u16 = fs::read_to_string(&fetch.err)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.split("listening on 127.0.0.1:")
                .nth(1)
                .map(|p| p.trim().parse().unwrap())
        })
        .expect("the fetch's port");
    let lt_dir = dir.path().join("lt");
    fs::create_dir(&lt_dir).unwrap();
    let mut cmd = libtorrent_fetch(py, &torrent, &lt_dir, port, 60, &[]);
    let status = Proc::spawn("libtorrent fetch", &mut cmd).wait_for(Duration::from_secs(70));
    assert!(status.success(), "libtorrent could not fetch from p2p");
    assert_same_tree(&content, &lt_dir.join("album"));
    fetch.proc.signal("INT");
    let (ok, _, _) = fetch.finish(Duration::from_secs(15));
    assert!(ok);
}

#[test]
fn a_full_disk_stops_the_fetch_with_a_clear_error() {
    let unshare = require("unshare", "util-linux");
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 3 << 20, "t@127.0.0.1:9", "64K");
    let (_seed, sport) = start_seed("seed", &torrent, dir.path(), &[]);
    let small = dir.path().join("small-disk");
    fs::create_dir(&small).unwrap();
    // A private 1 MiB tmpfs in a user and mount namespace: the fetch sees a disk that fills.
    let script = r#"mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" fetch "$3" --out "$1" --peer "$4" --listen 127.0.0.1:0"#;
    let o = Command::new(unshare)
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&small)
        .arg(BIN)
        .arg(&torrent)
        .arg(format!("127.0.0.1:{sport}"))
        .env("RUST_LOG", "warn")
        .env("XDG_STATE_HOME", fresh_state_dir())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        !err.contains("mount:"),
        "could not make a small tmpfs (user namespaces needed): {err}"
    );
    assert_error(&o, "No space left on device");
    assert!(err.contains("f.bin"), "the error names the file: {err}");
}

#[test]
fn seed_and_fetch_meet_through_a_udp_tracker() {
    let (_t, tport) = start_tracker(5);
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(
        dir.path(),
        "u.bin",
        1 << 20,
        &format!("udp://127.0.0.1:{tport}"),
        "64K",
    );
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    let (ok, _, _) = start_fetch("fetch", &torrent, &out, &[]).finish(Duration::from_secs(60));
    assert!(ok, "the fetch found the seed through the UDP tracker");
    assert_same_file(&out.join("u.bin"), &content);
}

#[test]
fn one_seed_process_serves_several_torrents_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ta) = make_content(dir.path(), "a.bin", 700_000, "t@127.0.0.1:9", "32K");
    let (b, tb) = make_content(dir.path(), "b.bin", 900_000, "t@127.0.0.1:9", "64K");
    let s = spawn_logged(
        "seed",
        &[
            "seed",
            ta.to_str().unwrap(),
            tb.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let port = s.listening_port();
    let peer = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    for (content, torrent, name) in [(&a, &ta, "a.bin"), (&b, &tb, "b.bin")] {
        let (ok, _, _) = start_fetch(name, torrent, &out.join(name), &["--peer", &peer])
            .finish(Duration::from_secs(30));
        assert!(ok);
        assert_same_file(&out.join(name).join(name), content);
    }
}

#[test]
fn the_tracker_hears_started_completed_and_stopped() {
    let (_t, tport) = start_tracker(60);
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(
        dir.path(),
        "e.bin",
        500_000,
        &format!("t@127.0.0.1:{tport}"),
        "32K",
    );
    let hash = info_hash(&torrent);
    let (mut seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    assert!(
        wait_until(Duration::from_secs(10), || scrape(tport, &hash)
            == (1, 0, 0)),
        "the seed announced `started` as complete"
    );
    let (ok, _, _) = start_fetch("fetch", &torrent, &dir.path().join("out"), &[])
        .finish(Duration::from_secs(30));
    assert!(ok);
    // The fetch said `completed` (downloaded 1) and then `stopped` (it is gone).
    assert_eq!(scrape(tport, &hash), (1, 1, 0));
    seed.proc.signal("INT");
    assert!(seed.proc.wait_for(Duration::from_secs(10)).success());
    assert_eq!(scrape(tport, &hash), (0, 0, 0), "the seed said `stopped`");
}

#[test]
fn a_silent_peer_does_not_stall_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "s.bin", 2 << 20, "t@127.0.0.1:9", "64K");
    let hash = info_hash(&torrent);
    let (_silent, silent_port) = bad_seed("silent", &hash, 32);
    let (_seed, sport) = start_seed("honest", &torrent, dir.path(), &["--upload-limit", "1M"]);
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    let (ok, _, _) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &format!("127.0.0.1:{silent_port}"),
            "--peer",
            &format!("127.0.0.1:{sport}"),
        ],
    )
    .finish(Duration::from_secs(60));
    assert!(ok);
    // Endgame asks the honest seed for what the silent peer sits on, well before any timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_same_file(&out.join("s.bin"), &content);
}

#[test]
fn a_fetch_reconnects_to_a_seed_that_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "r.bin", 4 << 20, "t@127.0.0.1:9", "64K");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let seed = |name: &str| {
        let s = spawn_logged(
            name,
            &[
                "seed",
                torrent.to_str().unwrap(),
                "--dir",
                dir.path().to_str().unwrap(),
                "--listen",
                &listen,
                "--upload-limit",
                "1M",
            ],
        );
        s.listening_port();
        s
    };
    let mut first = seed("seed-1");
    let out = dir.path().join("out");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--peer", &listen]);
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("r.bin.part")
    )));
    first.proc.signal("KILL");
    first.proc.wait_for(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    let _second = seed("seed-2");
    let (ok, _, _) = fetch.finish(Duration::from_secs(60));
    assert!(ok, "the fetch came back to the restarted seed");
    assert_same_file(&out.join("r.bin"), &content);
}

#[test]
fn a_late_seed_reaches_leechers_that_already_have_peers() {
    // Interval 60 s: the fetchers find each other at once, then would not announce again for a
    // minute; the seed must dial them.
    let (_t, tport) = start_tracker(60);
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(
        dir.path(),
        "late.bin",
        2 << 20,
        &format!("t@127.0.0.1:{tport}"),
        "64K",
    );
    let hash = info_hash(&torrent);
    let mut fetches: Vec<(PathBuf, FetchRun)> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("f{i}"));
            let run = start_fetch(&format!("fetch{i}"), &torrent, &out, &[]);
            (out, run)
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || scrape(tport, &hash).2 == 2),
        "both fetchers announced"
    );
    // Past the quick re-announce of a fetcher that started alone (10 s): both now have a peer
    // and will not ask the tracker again for a minute.
    std::thread::sleep(Duration::from_secs(11));
    let started = std::time::Instant::now();
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    for (out, run) in &mut fetches {
        let (ok, _, _) = run.finish(Duration::from_secs(50));
        assert!(ok);
        assert_same_file(&out.join("late.bin"), &content);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_seed_tells_of_each_peer_that_comes_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "told.bin", 300_000, "t@127.0.0.1:9", "16K");
    let (seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let peer = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let (ok, _, _) = start_fetch("fetch", &torrent, &out, &["--peer", &peer, "--no-dht"])
        .finish(Duration::from_secs(60));
    assert!(ok);
    let came = seed.wait_line(" connected (p2p ", Duration::from_secs(10));
    assert!(came.contains("told.bin: 127.0.0.1:"), "{came}");
    // (Its "has it all now" may not come: a complete fetch drops its seeds at once.)
    let left = seed.wait_line(" left (", Duration::from_secs(10));
    assert!(left.contains("% of it"), "{left}");
}

/// `p2p seed --json --upload-limit LIMIT` of `torrent` from `dir`, its JSON lines going to
/// `dir/seed.json`.
fn json_seed(dir: &Path, torrent: &Path, limit: &str) -> (Logged, PathBuf) {
    let json = dir.join("seed.json");
    let seed = spawn_logged_command(
        "seed",
        p2p_command()
            .args([
                "seed",
                torrent.to_str().unwrap(),
                "--dir",
                dir.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--no-dht",
                "--json",
                "--upload-limit",
                limit,
            ])
            .stdout(fs::File::create(&json).unwrap()),
    );
    (seed, json)
}

/// A number field of a `--json` line.
fn json_field(line: &str, field: &str) -> u64 {
    let after = line
        .split(&format!("\"{field}\":"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {field} in {line}"));
    after
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn last_json_line(path: &Path, event: &str) -> String {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .rev()
        .find(|l| l.contains(&format!("\"event\":\"{event}\"")))
        .unwrap_or_else(|| panic!("no {event} line in {text}"))
        .to_string()
}

#[test]
fn the_seed_counts_every_block_an_interrupted_then_resumed_fetch_received() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 4 << 20, "t@127.0.0.1:9", "64K");
    let (seed, seed_json) = json_seed(dir.path(), &torrent, "2M");
    let peer = format!("127.0.0.1:{}", seed.listening_port());
    let out = dir.path().join("out");
    // The seed's upload limit paces each batch of blocks it sends (128 KiB at a time), and
    // the fetcher reads each block as it comes: the interruption cuts a batch in the middle,
    // after the fetcher has received some of it.
    let mut first = start_fetch(
        "first",
        &torrent,
        &out,
        &["--peer", &peer, "--json", "--no-dht"],
    );
    assert!(wait_until(Duration::from_secs(20), || has_verified_data(
        &out.join("f.bin.part")
    )));
    first.proc.signal("INT");
    first.proc.wait_for(Duration::from_secs(10));
    let received_first = json_field(&last_json_line(&first.out, "stopped"), "downloaded");
    let mut second = start_fetch(
        "second",
        &torrent,
        &out,
        &["--peer", &peer, "--json", "--no-dht"],
    );
    let (ok, _, _) = second.finish(Duration::from_secs(60));
    assert!(ok);
    assert_same_file(&out.join("f.bin"), &content);
    let complete = last_json_line(&second.out, "complete");
    let received_second = json_field(&complete, "downloaded") + json_field(&complete, "wasted");
    let mut seed = seed;
    seed.proc.signal("TERM");
    seed.proc.wait_for(Duration::from_secs(20));
    let uploaded = json_field(&last_json_line(&seed_json, "stopped"), "uploaded");
    let received = received_first + received_second;
    assert!(
        received_first > 0 && uploaded >= received,
        "the seed counted {uploaded} bytes uploaded; the fetches received {received} \
         ({received_first} before the interruption, {received_second} after)"
    );
}

#[test]
fn a_seed_counts_the_blocks_a_leecher_read_before_it_reset_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 4 << 20, "t@127.0.0.1:9", "256K");
    let (mut seed, seed_json) = json_seed(dir.path(), &torrent, "64K");
    let port = seed.listening_port();
    // 32 blocks asked at once: the seed sends them as one batch, 128 KiB at a time under its
    // upload limit. The leecher reads six, then resets the connection while the seed waits to
    // send the rest of the batch.
    let o = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/slow_leecher.py"
        ))
        .args([&port.to_string(), &info_hash(&torrent), "262144", "32", "6"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let received: u64 = stdout(&o)
        .trim()
        .strip_prefix("received ")
        .and_then(|n| n.parse().ok())
        .expect("`received N`");
    assert_eq!(received, 6 * 16384);
    seed.wait_line(" left (", Duration::from_secs(10));
    seed.proc.signal("TERM");
    seed.proc.wait_for(Duration::from_secs(20));
    let uploaded = json_field(&last_json_line(&seed_json, "stopped"), "uploaded");
    assert!(
        uploaded >= received,
        "the seed counted {uploaded} bytes uploaded; the leecher read {received}"
    );
}

/// Runs `p2p ARGS` for `secs` seconds with its standard error on a pseudo-terminal (Python's
/// pty module), then SIGTERM; returns what it wrote there.
fn on_a_terminal(args: &[&str], secs: f64) -> String {
    let script = r#"
import os, pty, select, signal, subprocess, sys, time
secs = float(sys.argv[1])
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
out = b""
def drain(until):
    global out
    while time.time() < until:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
drain(time.time() + secs)
p.send_signal(signal.SIGTERM)
drain(time.time() + 10)
p.wait(10)
sys.stdout.buffer.write(out)
"#;
    let o = Command::new("python3")
        .args(["-c", script, &secs.to_string(), BIN])
        .args(args)
        .env("XDG_STATE_HOME", fresh_state_dir())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_seed_on_a_terminal_redraws_a_status_line_under_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 1 << 20, "t@127.0.0.1:9", "64K");
    let shown = on_a_terminal(
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
        ],
        3.5,
    );
    let draws = shown
        .matches("\rseeding f.bin: up 0 B/s, 0 B uploaded, 0 peers\x1b[K")
        .count();
    assert!(draws >= 2, "a status line redrawn every second: {shown:?}");
    // The status line a log line replaced is not ended again: no empty line.
    assert!(!shown.contains("\r\n\r\n"), "{shown:?}");
    // A log line clears the line it lands on (a status line) before it is written.
    let log = shown
        .find("stopping: telling the trackers")
        .expect("the log line");
    let line_start = shown[..log].rfind('\n').map_or(0, |i| i + 1);
    assert!(
        shown[line_start..log].starts_with("\r\x1b[K"),
        "{:?}",
        &shown[line_start..log]
    );
}
