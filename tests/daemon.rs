//! `p2p daemon` as people use it: driven by transmission-remote (Debian's transmission-cli,
//! 3.00) and by p2p's own verbs, downloading from a real p2p seed, surviving kill -9, refusing
//! bad requests. Content is compared byte for byte.

mod common;
use common::*;
use p2p::json::{Json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits until the torrent with `hash` satisfies `check`; fails the test naming `what`.
fn wait_torrent(d: &Daemon, hash: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let fields = [
        "id",
        "hashString",
        "status",
        "percentDone",
        "leftUntilDone",
        "error",
        "errorString",
    ];
    let mut last = None;
    let found = wait_until(LIMIT, || {
        let t = d
            .torrents(&fields)
            .into_iter()
            .find(|t| t.get("hashString").and_then(Value::as_str) == Some(hash));
        let ok = t.as_ref().is_some_and(&check);
        last = t;
        ok
    });
    assert!(found, "{what} within {LIMIT:?}; last seen: {last:?}");
    last.unwrap()
}

fn done(t: &Value) -> bool {
    num(t, "percentDone") == 1.0 && num(t, "leftUntilDone") == 0.0
}

#[test]
fn transmission_remote_adds_lists_stops_starts_verifies_and_removes_a_real_download() {
    let dir = tempfile::tempdir().unwrap();
    let other = one_seed(dir.path(), "film.bin", 3 << 20, "65536", 1);
    let (content, torrent, hash) = (&other.content, &other.torrent, other.hash.as_str());
    let d = start_daemon("daemon", dir.path(), &[]);

    let out = d.remote(&["-a", torrent.to_str().unwrap()]);
    assert!(out.contains("success"), "{out}");
    wait_torrent(&d, hash, "the download completes", done);
    let got = d.downloads.join("film.bin");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(content).unwrap()
    );

    let list = d.remote(&["-l"]);
    let row = list
        .lines()
        .find(|l| l.contains("film.bin"))
        .unwrap_or_else(|| panic!("no row for the torrent: {list}"));
    assert!(
        row.contains("100%") && row.contains("3.15 MB") && row.contains("Done"),
        "{row}"
    );
    let info = d.remote(&["-t", "1", "-i"]);
    for needle in [
        format!("Hash: {hash}"),
        "Percent Done: 100%".to_string(),
        format!("Location: {}", d.downloads.display()),
        "Piece Size: 64.00 KiB".to_string(),
    ] {
        assert!(info.contains(&needle), "-i lacks {needle:?}:\n{info}");
    }
    let session = d.remote(&["-si"]);
    assert!(
        session.contains(&format!("Download directory: {}", d.downloads.display())),
        "{session}"
    );

    d.remote(&["-t", "1", "-S"]);
    wait_torrent(&d, hash, "stopped", |t| num(t, "status") == 0.0);
    assert!(d.remote(&["-l"]).contains("Stopped"));
    d.remote(&["-t", "1", "-s"]);
    wait_torrent(&d, hash, "seeding again", |t| num(t, "status") == 6.0);
    d.remote(&["-t", "1", "-v"]);
    wait_torrent(&d, hash, "seeding after the verify", |t| {
        num(t, "status") == 6.0 && done(t)
    });

    // A seeding ratio of its own, met at once (nothing uploaded is 0 times its size): it stops
    // as finished.
    d.remote(&["-t", "1", "-sr", "0"]);
    wait_torrent(&d, hash, "finished by its ratio", |t| {
        num(t, "status") == 0.0
    });
    let finished = d.torrents(&["isFinished"]);
    assert_eq!(finished[0].get("isFinished"), Some(&Value::Bool(true)));

    // Removed: forgotten, its data kept. Added again, it is found whole and removed with it.
    d.remote(&["-t", "1", "-r"]);
    assert!(d.torrents(&["id"]).is_empty());
    assert!(got.exists());
    d.remote(&["-a", torrent.to_str().unwrap()]);
    wait_torrent(&d, hash, "found whole", |t| {
        num(t, "status") == 6.0 && done(t)
    });
    let id = d.torrents(&["id"])[0].get("id").unwrap().as_u64().unwrap();
    d.remote(&["-t", &id.to_string(), "--remove-and-delete"]);
    assert!(wait_until(Duration::from_secs(10), || !got.exists()));
    assert!(content.exists(), "only the daemon's copy goes");
}

#[test]
fn transmission_remote_file_choice_and_a_magnet_link() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tport) = start_tracker(1);
    let tracker = format!("t@127.0.0.1:{tport}");
    let src = dir.path().join("src");
    let album = src.join("album");
    std::fs::create_dir_all(&album).unwrap();
    for (i, name) in ["1.flac", "2.flac", "3.flac"].iter().enumerate() {
        std::fs::write(album.join(name), data(1 << 20, i as u64 + 7)).unwrap();
    }
    let torrent = src.join("album.torrent");
    make_torrent_file(&album, &torrent, &tracker, "65536");
    let hash = info_hash(&torrent);
    let (single, single_torrent) = make_content(&src, "single.bin", 1 << 20, &tracker, "32768");
    let single_hash = info_hash(&single_torrent);
    let (_seed, _) = start_seed("seed", &torrent, &src, &["--no-dht"]);
    let (_seed2, _) = start_seed("seed2", &single_torrent, &src, &["--no-dht"]);
    let d = start_daemon("daemon", dir.path(), &[]);

    // Added paused, the second file unwanted (-G), then started.
    d.remote(&["--start-paused", "-a", torrent.to_str().unwrap()]);
    d.remote(&["-t", "1", "-G", "1"]);
    let files = d.remote(&["-t", "1", "-f"]);
    let row = |n: &str| {
        files
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{n}:")))
            .unwrap_or_else(|| panic!("no row {n}: {files}"))
            .to_string()
    };
    assert!(
        row("1").contains("No") && row("0").contains("Yes"),
        "{files}"
    );
    d.remote(&["-t", "1", "-s"]);
    wait_torrent(&d, &hash, "the chosen files", done);
    for name in ["1.flac", "3.flac"] {
        assert_eq!(
            std::fs::read(d.downloads.join("album").join(name)).unwrap(),
            std::fs::read(album.join(name)).unwrap()
        );
    }
    let two = std::fs::read(d.downloads.join("album/2.flac")).unwrap_or_default();
    assert_ne!(
        two,
        std::fs::read(album.join("2.flac")).unwrap(),
        "not fetched"
    );
    // -g takes it back: the torrent downloads the rest.
    d.remote(&["-t", "1", "-g", "1"]);
    wait_torrent(&d, &hash, "all three files", |t| {
        done(t) && num(t, "status") == 6.0
    });
    assert_eq!(
        std::fs::read(d.downloads.join("album/2.flac")).unwrap(),
        std::fs::read(album.join("2.flac")).unwrap()
    );

    // A magnet link: its metadata comes from the swarm the tracker names.
    d.remote(&[
        "--no-start-paused",
        "-a",
        &format!(
            "magnet:?xt=urn:btih:{single_hash}&tr=http%3A%2F%2F127.0.0.1%3A{tport}%2Fannounce"
        ),
    ]);
    wait_torrent(&d, &single_hash, "the magnet's download", done);
    assert_eq!(
        std::fs::read(d.downloads.join("single.bin")).unwrap(),
        std::fs::read(&single).unwrap()
    );
    let list = d.remote(&["-l"]);
    assert!(
        list.contains("single.bin") && list.contains("album"),
        "{list}"
    );
}

#[test]
fn after_kill_9_the_daemon_restores_every_torrent_and_state_and_downloads_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tport) = start_tracker(1);
    let tracker = format!("t@127.0.0.1:{tport}");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let (_, seeding) = make_content(&src, "seeding.bin", 1 << 20, &tracker, "32768");
    let (_, paused) = make_content(&src, "paused.bin", 1 << 20, &tracker, "32768");
    let (half, halfway) = make_content(&src, "half.bin", 4 << 20, &tracker, "32768");
    let hashes = [&seeding, &paused, &halfway].map(|t| info_hash(t));
    let (_fast, _) = start_seed("fast", &seeding, &src, &["--no-dht"]);
    // Slow enough to stop it part way: 4 MiB at 384 KiB/s.
    let (_slow, _) = start_seed(
        "slow",
        &halfway,
        &src,
        &["--no-dht", "--upload-limit", "384K"],
    );
    let d = start_daemon("daemon", dir.path(), &[]);
    let add = |t: &Path, paused: bool| {
        let bytes = std::fs::read(t).unwrap();
        d.call(
            "torrent-add",
            Json::Obj(vec![
                ("metainfo", Json::str(p2p::base64::encode(&bytes))),
                ("paused", Json::Bool(paused)),
            ]),
        );
    };
    add(&seeding, false);
    add(&paused, true);
    add(&halfway, false);
    wait_torrent(&d, &hashes[0], "the first one seeding", |t| {
        done(t) && num(t, "status") == 6.0
    });
    let before = wait_torrent(&d, &hashes[2], "the third one a quarter done", |t| {
        num(t, "percentDone") >= 0.25
    });
    // Mid-way, its peer is listed as transmission-remote shows peers: the slow seed, sending.
    let peers = d.remote(&["-t", "3", "-pi"]);
    let seed_row = peers
        .lines()
        .find(|l| l.starts_with("127.0.0.1"))
        .unwrap_or_else(|| panic!("no peer row: {peers}"));
    assert!(
        seed_row.contains("p2p") && seed_row.contains('D'),
        "{seed_row}"
    );
    let status = p2p(&["status", "3", "--rpc", &d.rpc]);
    assert!(
        stdout(&status).contains("peer:        127.0.0.1:"),
        "{}",
        stdout(&status)
    );
    let have_before = (4u64 << 20) - num(&before, "leftUntilDone") as u64;
    assert!(have_before < 4 << 20, "{before:?}");
    d.logged.proc.signal("KILL");
    drop(d);

    let d = start_daemon("daemon again", dir.path(), &[]);
    let list = d.torrents(&["id", "hashString", "status"]);
    let listed: Vec<&str> = list
        .iter()
        .map(|t| t.get("hashString").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        hashes.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // The paused one stays paused; the complete one serves at once, from its resume data.
    assert_eq!(num(&list[1], "status"), 0.0);
    wait_torrent(&d, &hashes[0], "seeding again", |t| num(t, "status") == 6.0);
    d.wait_line(
        "seeding.bin: resuming: 32 of 32 pieces already verified (from the resume file",
        LIMIT,
    );
    // It serves: its start says so, not that it is fetching.
    d.wait_line("seeding seeding.bin (", LIMIT);
    wait_torrent(&d, &hashes[2], "the half-done one completes", done);
    assert_eq!(
        std::fs::read(d.downloads.join("half.bin")).unwrap(),
        std::fs::read(&half).unwrap()
    );
    let stats = d.call("session-stats", Json::Obj(vec![]));
    let this_run = num(stats.get("current-stats").unwrap(), "downloadedBytes") as u64;
    assert!(
        this_run <= (4 << 20) - have_before + (256 << 10),
        "downloaded {this_run} bytes after the restart, though {have_before} were verified before"
    );
    assert_eq!(
        num(&d.torrents(&["status"])[1], "status"),
        0.0,
        "still paused"
    );
}

/// One raw HTTP request to the daemon: (status, head, body).
fn raw(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn post(port: u16, headers: &str, body: &str) -> (u16, String, String) {
    raw(
        port,
        format!(
            "POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn session_id(port: u16) -> String {
    let (status, head, _) = post(port, "", "{}");
    assert_eq!(status, 409, "{head}");
    head.lines()
        .find_map(|l| l.strip_prefix("X-Transmission-Session-Id: "))
        .expect("the session id header")
        .to_string()
}

#[test]
fn bad_requests_get_transmissions_answers_and_leave_the_daemon_serving() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon("daemon", dir.path(), &[]);
    let port = d.port();
    let id = format!("X-Transmission-Session-Id: {}\r\n", session_id(port));
    let (status, _, body) = post(port, "X-Transmission-Session-Id: wrong\r\n", "{}");
    assert_eq!(status, 409, "{body}");
    let (status, _, body) = post(port, &id, "{\"method\": ");
    assert_eq!(status, 400);
    assert!(body.contains("\"result\":\"malformed JSON"), "{body}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _, body) = post(port, &id, &deep);
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = raw(
        port,
        format!(
            "POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\n{id}Content-Length: 999999999\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status, 413);
    let (status, _, body) = post(port, &id, r#"{"method":"torrent-frobnicate","tag":7}"#);
    assert_eq!(status, 200);
    assert!(
        body.contains("not supported by p2p") && body.contains("\"tag\":7"),
        "{body}"
    );
    // DNS rebinding: a page of another site reaching a loopback daemon names that site.
    let (status, _, _) = raw(
        port,
        format!("POST /transmission/rpc HTTP/1.1\r\nHost: evil.example\r\n{id}Content-Length: 2\r\n\r\n{{}}").as_bytes(),
    );
    assert_eq!(status, 421);

    let mut client = p2p::daemon::client::Client::new(&d.rpc, None);
    let add = |client: &mut p2p::daemon::client::Client, args: Vec<(&'static str, Json)>| {
        client
            .call("torrent-add", Json::Obj(args))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = add(
        &mut client,
        vec![("metainfo", Json::str(p2p::base64::encode(b"d4:infoi3ee")))],
    );
    assert!(e.contains("metainfo"), "{e}");
    let e = add(
        &mut client,
        vec![("filename", Json::str("/nowhere/x.torrent"))],
    );
    assert!(e.contains("/nowhere/x.torrent"), "{e}");
    let e = add(
        &mut client,
        vec![("filename", Json::str("magnet:?xt=urn:btih:zz"))],
    );
    assert!(e.contains("xt"), "{e}");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let src = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(src.path(), "c.bin", 40_000, "t@127.0.0.1:1", "16384");
    let e = add(
        &mut client,
        vec![
            (
                "metainfo",
                Json::str(p2p::base64::encode(&std::fs::read(&torrent).unwrap())),
            ),
            ("download-dir", Json::str(file.to_str().unwrap())),
        ],
    );
    assert!(e.contains("a-file") && e.contains("not a directory"), "{e}");
    // Nothing of all that was added; the daemon still answers.
    assert!(d.torrents(&["id"]).is_empty());
    assert!(d.remote(&["-l"]).contains("Sum:"));

    // A second daemon on the same state directory is refused.
    let o = p2p(&[
        "daemon",
        "--state-dir",
        d.state.to_str().unwrap(),
        "--rpc",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--no-dht",
    ]);
    assert_error(&o, "in use by another p2p daemon");
}

#[test]
fn the_rpc_beyond_loopback_needs_a_password_and_a_wrong_one_waits() {
    let o = p2p(&["daemon", "--rpc", "0.0.0.0:0", "--listen", "127.0.0.1:0"]);
    assert_usage_error(&o, "--rpc-auth");
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon("daemon", dir.path(), &["--rpc-auth", "alice:s3cret"]);
    let port = d.port();
    let (status, head, _) = post(port, "", "{}");
    assert_eq!(status, 401);
    assert!(head.contains("WWW-Authenticate: Basic"), "{head}");
    let started = Instant::now();
    let wrong = format!(
        "Authorization: Basic {}\r\n",
        p2p::base64::encode(b"alice:guess")
    );
    assert_eq!(post(port, &wrong, "{}").0, 401);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let right = format!(
        "Authorization: Basic {}\r\n",
        p2p::base64::encode(b"alice:s3cret")
    );
    assert_eq!(post(port, &right, "{}").0, 409, "past auth: the session id");
    // The real client with the password gets through; without it, a clear error.
    let remote = require("transmission-remote", "transmission-cli");
    let o = std::process::Command::new(&remote)
        .args([&d.rpc, "--auth", "alice:s3cret", "-l"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = p2p(&["list", "--rpc", &d.rpc]);
    assert_error(&o, "wants a user and password");
    let o = p2p(&["list", "--rpc", &d.rpc, "--rpc-auth", "alice:s3cret"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_p2p_verbs_drive_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tport) = start_tracker(1);
    let tracker = format!("t@127.0.0.1:{tport}");
    let src = dir.path().join("src");
    let show = src.join("show");
    std::fs::create_dir_all(&show).unwrap();
    std::fs::write(show.join("e1.mkv"), data(600_000, 1)).unwrap();
    std::fs::write(show.join("e2.mkv"), data(600_000, 2)).unwrap();
    std::fs::write(show.join("notes.txt"), data(10_000, 3)).unwrap();
    let torrent = src.join("show.torrent");
    make_torrent_file(&show, &torrent, &tracker, "16384");
    let hash = info_hash(&torrent);
    let (_seed, _) = start_seed("seed", &torrent, &src, &["--no-dht"]);
    let d = start_daemon("daemon", dir.path(), &[]);
    let rpc = d.rpc.as_str();
    let verb = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--rpc", rpc]);
        let o = p2p(&all);
        assert!(o.status.success(), "p2p {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let out_dir = dir.path().join("elsewhere");
    let added = verb(&[
        "add",
        torrent.to_str().unwrap(),
        "--paused",
        "--skip",
        "*.txt",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(added.starts_with("added: 1 show"), "{added}");
    // Added paused, it is checked first (the data it may already have), then stopped.
    wait_torrent(&d, &hash, "the paused torrent checked", |t| {
        num(t, "status") == 0.0
    });
    let list = verb(&["list"]);
    assert!(list.contains("paused") && list.contains("show"), "{list}");
    verb(&["resume", "1"]);
    wait_torrent(&d, &hash, "the download", done);
    assert_eq!(
        std::fs::read(out_dir.join("show/e2.mkv")).unwrap(),
        data(600_000, 2)
    );
    assert!(!out_dir.join("show/notes.txt").exists(), "skipped");
    let status = verb(&["status", &hash]);
    assert!(
        status.contains("state:       seeding")
            && status.contains("skip")
            && status.contains("notes.txt"),
        "{status}"
    );
    let json = verb(&["list", "--json"]);
    let row = p2p::json::parse(json.lines().next().unwrap().as_bytes()).unwrap();
    assert_eq!(
        row.get("info_hash").and_then(Value::as_str),
        Some(hash.as_str())
    );
    assert_eq!(row.get("percent_done").and_then(Value::as_f64), Some(100.0));
    verb(&["pause", "all"]);
    wait_torrent(&d, &hash, "paused", |t| num(t, "status") == 0.0);
    verb(&["verify", "1"]);
    let o = p2p(&["pause", "9", "--rpc", rpc]);
    assert_error(&o, "no such torrent");
    verb(&["remove", "1", "--delete"]);
    assert!(wait_until(Duration::from_secs(10), || !out_dir
        .join("show")
        .exists()));
    assert!(
        verb(&["list"]).lines().count() == 1,
        "only the header is left"
    );
    let o = p2p(&["list", "--rpc", "127.0.0.1:1"]);
    assert_error(&o, "no p2p daemon answers at 127.0.0.1:1");
}

#[test]
fn a_torrent_dropped_in_the_watch_folder_is_added_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let watch = dir.path().join("watch");
    std::fs::create_dir_all(&watch).unwrap();
    let src = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(src.path(), "w.bin", 50_000, "t@127.0.0.1:1", "16384");
    let hash = info_hash(&torrent);
    let d = start_daemon("daemon", dir.path(), &["--watch", watch.to_str().unwrap()]);
    std::fs::copy(&torrent, watch.join("w.bin.torrent")).unwrap();
    std::fs::write(watch.join("junk.torrent"), b"not a torrent").unwrap();
    std::fs::write(
        watch.join("m.magnet"),
        format!("magnet:?xt=urn:btih:{}\n", "ab".repeat(20)),
    )
    .unwrap();
    assert!(wait_until(LIMIT, || watch
        .join("w.bin.torrent.added")
        .exists()
        && watch.join("junk.torrent.invalid").exists()
        && watch.join("m.magnet.added").exists()));
    let hashes: Vec<String> = d
        .torrents(&["hashString"])
        .iter()
        .map(|t| t.get("hashString").unwrap().as_str().unwrap().to_string())
        .collect();
    assert!(
        hashes.contains(&hash) && hashes.contains(&"ab".repeat(20)),
        "{hashes:?}"
    );
    assert_eq!(hashes.len(), 2);
}

/// `tests/support/transmission_rpc_client.py ARGS` with Debian's python3 and the PyPI package.
fn transmission_rpc(args: &[&str]) -> String {
    let ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import transmission_rpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Python's transmission-rpc missing: /usr/bin/python3 -m pip install --break-system-packages transmission-rpc==7.0.12"
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/transmission_rpc_client.py");
    let o = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{args:?}: {out}{}", stderr(&o));
    out
}

#[test]
fn pythons_transmission_rpc_adds_gets_stops_starts_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let other = one_seed(dir.path(), "episode.mkv", 2 << 20, "65536", 1);
    let (content, torrent, hash) = (&other.content, &other.torrent, other.hash.as_str());
    let d = start_daemon("daemon", dir.path(), &[]);
    let port = d.port().to_string();
    let out = transmission_rpc(&[&port, "add", torrent.to_str().unwrap()]);
    assert!(out.contains(&format!("added 1 {hash}")), "{out}");
    assert!(
        out.contains(&format!(
            "complete episode.mkv seeding {}",
            d.downloads.display()
        )),
        "{out}"
    );
    assert!(out.contains(&format!("listed {hash}")), "{out}");
    let got = d.downloads.join("episode.mkv");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(content).unwrap()
    );
    let out = transmission_rpc(&[&port, "cycle", hash]);
    assert!(out.contains("stopped stopped"), "{out}");
    assert!(out.contains("left 0"), "{out}");
    assert!(wait_until(Duration::from_secs(10), || !got.exists()));
}

#[test]
fn settings_changed_over_the_rpc_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon("daemon", dir.path(), &[]);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    d.remote(&[
        "-w",
        elsewhere.to_str().unwrap(),
        "-u",
        "100",
        "--global-seedratio",
        "1.5",
    ]);
    let check = |d: &Daemon| {
        let s = d.call("session-get", Json::Obj(vec![]));
        assert_eq!(
            s.get("download-dir").and_then(Value::as_str),
            elsewhere.to_str()
        );
        assert_eq!(num(&s, "speed-limit-up"), 100.0);
        assert_eq!(s.get("speed-limit-up-enabled"), Some(&Value::Bool(true)));
        assert_eq!(num(&s, "seedRatioLimit"), 1.5);
    };
    check(&d);
    d.logged.proc.signal("TERM");
    drop(d);
    // Started again without --download-dir: the one set over the RPC is kept.
    let again = start_daemon_without_download_dir("daemon again", dir.path());
    check(&again);
}

/// The tracker's count of announces, from its `/stats`.
fn announces(tracker_port: u16) -> u64 {
    tracker_count(tracker_port, "announces")
}

#[test]
fn transmission_remote_reannounce_reaches_the_tracker_before_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    // A tracker that asks for an announce every 30 minutes.
    let other = one_seed(dir.path(), "r.bin", 100_000, "16384", 1800);
    let (torrent, hash) = (&other.torrent, other.hash.as_str());
    let d = start_daemon("daemon", dir.path(), &[]);
    d.remote(&["-a", torrent.to_str().unwrap()]);
    wait_torrent(&d, hash, "seeding", |t| done(t) && num(t, "status") == 6.0);
    // Its started and completed announces are in: then nothing until asked.
    assert!(wait_until(LIMIT, || announces(other.tracker_port) >= 3));
    let before = announces(other.tracker_port);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        announces(other.tracker_port),
        before,
        "no announce of its own this soon"
    );
    d.remote(&["-t", "1", "--reannounce"]);
    assert!(
        wait_until(Duration::from_secs(10), || announces(other.tracker_port)
            > before),
        "the reannounce reached the tracker"
    );
}

#[test]
fn transmission_remote_moves_a_torrents_data_and_finds_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let other = one_seed(dir.path(), "m.bin", 500_000, "16384", 1);
    let (content, torrent, hash) = (&other.content, &other.torrent, other.hash.as_str());
    let d = start_daemon("daemon", dir.path(), &[]);
    d.remote(&["-a", torrent.to_str().unwrap()]);
    wait_torrent(&d, hash, "seeding", |t| done(t) && num(t, "status") == 6.0);
    let elsewhere = dir.path().join("elsewhere");
    d.remote(&["-t", "1", "--move", elsewhere.to_str().unwrap()]);
    wait_torrent(&d, hash, "seeding from its new place", |t| {
        done(t) && num(t, "status") == 6.0
    });
    assert_eq!(
        std::fs::read(elsewhere.join("m.bin")).unwrap(),
        std::fs::read(content).unwrap()
    );
    assert!(!d.downloads.join("m.bin").exists(), "moved, not copied");
    let listed = d.torrents(&["downloadDir"]);
    assert_eq!(
        listed[0].get("downloadDir").and_then(Value::as_str),
        elsewhere.to_str()
    );
    // Moved by hand, then found where it went: checked there, and seeding again.
    let by_hand = dir.path().join("by hand");
    std::fs::create_dir_all(&by_hand).unwrap();
    std::fs::rename(elsewhere.join("m.bin"), by_hand.join("m.bin")).unwrap();
    d.remote(&["-t", "1", "--find", by_hand.to_str().unwrap()]);
    wait_torrent(&d, hash, "found and seeding", |t| {
        done(t) && num(t, "status") == 6.0
    });
    // A move onto a name that is taken is refused and moves nothing.
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("m.bin"), b"someone else's").unwrap();
    let remote = require("transmission-remote", "transmission-cli");
    let o = std::process::Command::new(remote)
        .args([&d.rpc, "-t", "1", "--move", elsewhere.to_str().unwrap()])
        .output()
        .unwrap();
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains("already exists"), "{said}");
    let t = d.torrents(&["downloadDir", "status", "error"]);
    assert_eq!(
        t[0].get("downloadDir").and_then(Value::as_str),
        by_hand.to_str()
    );
    assert_eq!((num(&t[0], "status"), num(&t[0], "error")), (6.0, 0.0));
    assert_eq!(
        std::fs::read(elsewhere.join("m.bin")).unwrap(),
        b"someone else's"
    );
    assert!(by_hand.join("m.bin").exists());
}

#[test]
fn a_torrents_own_speed_limit_holds_it_back_until_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let other = one_seed(dir.path(), "l.bin", 2 << 20, "16384", 1);
    let (content, torrent, hash) = (&other.content, &other.torrent, other.hash.as_str());
    let d = start_daemon("daemon", dir.path(), &[]);
    d.remote(&["--start-paused", "-a", torrent.to_str().unwrap()]);
    // 16 KiB/s: 2 MiB would take two minutes.
    d.remote(&["-t", "1", "-d", "16"]);
    let info = d.remote(&["-t", "1", "-i"]);
    assert!(info.contains("Download Limit: 16 kB/s"), "{info}");
    d.remote(&["-t", "1", "-s"]);
    wait_torrent(&d, hash, "some progress", |t| num(t, "percentDone") > 0.0);
    // A second later, still far from done (unlimited, it takes a fraction of that here).
    std::thread::sleep(Duration::from_secs(1));
    let held = d.torrents(&["percentDone"]);
    assert!(num(&held[0], "percentDone") < 0.5, "{held:?}");
    d.remote(&["-t", "1", "-D"]);
    wait_torrent(&d, hash, "the download, the limit lifted", done);
    assert_eq!(
        std::fs::read(d.downloads.join("l.bin")).unwrap(),
        std::fs::read(content).unwrap()
    );
}

/// A web server as an indexer is: `/f.torrent` is the file, `/magnet` redirects to `link`,
/// anything else is 404.
fn indexer(torrent: &Path, link: &str) -> (Proc, u16) {
    let script = "import http.server,sys\n\
        body=open(sys.argv[1],'rb').read()\n\
        class H(http.server.BaseHTTPRequestHandler):\n  \
          def log_message(self,*a): pass\n  \
          def do_GET(self):\n    \
            if self.path=='/f.torrent':\n      \
              self.send_response(200); self.send_header('Content-Length',str(len(body))); self.end_headers(); self.wfile.write(body)\n    \
            elif self.path=='/magnet':\n      \
              self.send_response(302); self.send_header('Location',sys.argv[2]); self.send_header('Content-Length','0'); self.end_headers()\n    \
            else:\n      \
              self.send_error(404)\n\
        s=http.server.HTTPServer(('127.0.0.1',0),H)\n\
        print('listening',s.server_address[1],flush=True)\n\
        s.serve_forever()\n";
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script])
        .arg(torrent)
        .arg(link)
        .stdout(std::process::Stdio::piped());
    let mut server = Proc::spawn("indexer", &mut cmd);
    let port = helper_port(&mut server);
    (server, port)
}

#[test]
fn torrents_added_by_url_download_whether_the_url_gives_the_file_or_a_magnet_link() {
    let dir = tempfile::tempdir().unwrap();
    let s = one_seed(dir.path(), "f.bin", 1 << 20, "32768", 1);
    let link = format!(
        "magnet:?xt=urn:btih:{}&dn=f.bin&tr=http://127.0.0.1:{}/announce",
        s.hash, s.tracker_port
    );
    let (_server, port) = indexer(&s.torrent, &link);
    let d = start_daemon("daemon", dir.path(), &[]);

    // The .torrent by URL.
    d.remote(&["-a", &format!("http://127.0.0.1:{port}/f.torrent")]);
    wait_torrent(&d, &s.hash, "the download added by URL", done);
    assert_eq!(
        std::fs::read(d.downloads.join("f.bin")).unwrap(),
        std::fs::read(&s.content).unwrap()
    );
    d.remote(&["-t", "1", "--remove-and-delete"]);
    assert!(wait_until(LIMIT, || d.torrents(&["id"]).is_empty()));

    // A URL that answers with a magnet link, as indexers do.
    d.remote(&["-a", &format!("http://127.0.0.1:{port}/magnet")]);
    wait_torrent(
        &d,
        &s.hash,
        "the download added by a redirect to a magnet link",
        done,
    );
    assert_eq!(
        std::fs::read(d.downloads.join("f.bin")).unwrap(),
        std::fs::read(&s.content).unwrap()
    );

    // A URL that fails says why, and adds nothing.
    let refused = p2p::daemon::client::Client::new(&d.rpc, None)
        .call(
            "torrent-add",
            Json::Obj(vec![(
                "filename",
                Json::str(format!("http://127.0.0.1:{port}/missing.torrent")),
            )]),
        )
        .unwrap_err()
        .to_string();
    assert!(refused.contains("missing.torrent: HTTP 404"), "{refused}");
    assert_eq!(d.torrents(&["id"]).len(), 1);
}

#[test]
fn a_seed_the_daemon_parked_wakes_for_a_peer_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = start_daemon_logging(
        "daemon",
        dir.path(),
        &[],
        "info,p2p::torrent::parking=debug",
    );
    // Content already whole in the download directory, in a trackerless torrent: nothing
    // brings a peer but the one dialing it, so the seed parks at once and stays parked.
    std::fs::create_dir_all(&d.downloads).unwrap();
    let content = d.downloads.join("parked.bin");
    std::fs::write(&content, data(300_000, 11)).unwrap();
    let torrent = dir.path().join("parked.torrent");
    make_torrent_with(&content, "--no-date", "16384", &torrent);
    let hash = info_hash(&torrent);
    d.remote(&["-a", torrent.to_str().unwrap()]);
    wait_torrent(&d, &hash, "seeding", |t| done(t) && num(t, "status") == 6.0);
    d.wait_line("parked.bin: parked", LIMIT);
    assert!(
        !holds_open(d.logged.proc.pid(), &content),
        "a parked seed keeps no file open"
    );
    let out = dir.path().join("out");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--peer", &d.peers, "--no-dht"]);
    let (ok, stdout, stderr) = fetch.finish(LIMIT);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        std::fs::read(out.join("parked.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    d.wait_line("parked.bin: woken by a peer connecting", LIMIT);
    // The daemon's count of what it served.
    let uploaded = || {
        d.torrents(&["hashString", "uploadedEver"])
            .iter()
            .find(|t| t.get("hashString").and_then(Value::as_str) == Some(hash.as_str()))
            .map_or(0.0, |t| num(t, "uploadedEver"))
    };
    assert!(
        wait_until(LIMIT, || uploaded() >= 300_000.0),
        "uploaded {}",
        uploaded()
    );
}

/// Whether process `pid` has a descriptor open on `path`.
fn holds_open(pid: u32, path: &std::path::Path) -> bool {
    let path = path.canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .any(|target| target == path)
}

/// The tracker's count of `field` (announces, peers, seeds), from its `/stats`.
fn tracker_count(tracker_port: u16, field: &str) -> u64 {
    let (_, _, body) = raw(
        tracker_port,
        b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    let stats = p2p::json::parse(body.trim().as_bytes()).expect("tracker stats");
    num(&stats, field) as u64
}

#[test]
fn a_parked_seed_still_tells_its_tracker_it_stopped_when_the_daemon_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_tracker, tracker_port) = start_tracker(1800);
    let mut d = start_daemon_logging(
        "daemon",
        dir.path(),
        &[],
        "info,p2p::torrent::parking=debug",
    );
    std::fs::create_dir_all(&d.downloads).unwrap();
    let announce = format!("t@127.0.0.1:{tracker_port}");
    let (_, torrent) = make_content(&d.downloads, "told.bin", 100_000, &announce, "16384");
    let hash = info_hash(&torrent);
    d.remote(&["-a", torrent.to_str().unwrap()]);
    wait_torrent(&d, &hash, "seeding", |t| done(t) && num(t, "status") == 6.0);
    // It announces at once, then parks once it has been idle for a while.
    assert!(wait_until(LIMIT, || tracker_count(tracker_port, "seeds") == 1));
    d.wait_line("told.bin: parked", LIMIT);
    d.logged.proc.signal("TERM");
    assert!(d.logged.proc.wait_for(LIMIT).success());
    assert_eq!(
        tracker_count(tracker_port, "peers"),
        0,
        "the tracker heard `stopped`"
    );
}
