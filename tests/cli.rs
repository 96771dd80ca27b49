//! The command line's conventions: version, help, usage errors that name what is wrong.

mod common;

use common::*;

#[test]
fn version_names_the_commit_and_what_p2p_speaks() {
    for flag in ["--version", "-V", "version"] {
        let o = p2p(&[flag]);
        assert!(o.status.success(), "{flag}");
        let text = stdout(&o);
        assert!(text.starts_with("p2p 0.1.0 (git "), "{text}");
        assert!(text.contains("BEPs: 3 5 6 7 9 10 11 12"), "{text}");
    }
}

#[test]
fn bare_p2p_and_dash_h_show_the_commands() {
    let bare = p2p(&[]);
    assert_eq!(bare.status.code(), Some(2));
    let help = stderr(&bare);
    for command in [
        "tracker",
        "dht",
        "make-torrent",
        "seed",
        "fetch",
        "info",
        "demo",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    assert!(help.contains("Share files the BitTorrent way"), "{help}");
    let h = p2p(&["fetch", "-h"]);
    assert!(h.status.success());
    assert!(stdout(&h).contains("--out"), "{}", stdout(&h));
}

/// `p2p info x | head -1`: the reader is gone before p2p writes (the read end of its stdout
/// pipe is closed before it starts), so every write fails with EPIPE.
#[test]
fn a_closed_standard_output_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"hello").unwrap();
    let torrent = dir.path().join("f.torrent");
    let made = p2p(&[
        "make-torrent",
        dir.path().join("f").to_str().unwrap(),
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    for args in [
        vec!["--help"],
        vec!["fetch", "--help"],
        vec!["--version"],
        vec!["info", torrent.to_str().unwrap()],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = p2p_command()
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn argument_errors_are_one_error_line_with_where_to_look_and_exit_2() {
    assert_usage_error(
        &p2p(&["fetch", "x.torrent", "--foo"]),
        "unrecognized argument: --foo (`p2p fetch --help` lists its options)",
    );
    assert_usage_error(
        &p2p(&["fetch"]),
        "required positional arguments not provided: torrent",
    );
    assert_usage_error(
        &p2p(&["seed", "x.torrent", "--listen"]),
        "no value provided for option '--listen'",
    );
    assert_usage_error(
        &p2p(&["frobnicate"]),
        "unrecognized argument: frobnicate (`p2p --help` lists the commands)",
    );
}

#[test]
fn seed_without_a_torrent_is_a_usage_error_and_a_duplicate_is_seeded_once() {
    let o = p2p(&["seed"]);
    assert_usage_error(&o, "TORRENT: give at least one .torrent to seed");
    assert!(!stderr(&o).contains("``"), "no empty name in backticks");
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 50_000, "t@127.0.0.1:9", "16K");
    let t = torrent.to_str().unwrap();
    let seed = spawn_logged(
        "seed",
        &[
            "seed",
            t,
            t,
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
        ],
    );
    seed.wait_line(
        "is given twice; seeded once",
        std::time::Duration::from_secs(20),
    );
    // A port in use names --listen as the way out, for seed, fetch and tracker alike.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let d = dir.path().to_str().unwrap();
    for args in [
        vec!["seed", t, "--dir", d, "--listen", &busy, "--no-dht"],
        vec!["fetch", t, "--out", d, "--listen", &busy, "--no-dht"],
        vec!["tracker", "--listen", &busy],
    ] {
        let o = p2p(&args);
        assert_error(&o, &format!("cannot listen on {busy}"));
        assert!(stderr(&o).contains("with --listen"), "{}", stderr(&o));
    }
    // A missing --dir is named, not the first file inside it.
    let o = p2p(&[
        "seed",
        t,
        "--dir",
        "/nonexistent/dir",
        "--no-dht",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_error(&o, "`/nonexistent/dir` is not a directory (--dir");
    let o = p2p(&[
        "seed",
        t,
        "--dir",
        "/tmp",
        "--no-dht",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_error(&o, "`/tmp/f.bin` does not exist");
}

#[test]
fn a_bad_v2_torrent_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("v2.torrent");
    for (info, field) in [
        (
            &b"d9:file treede12:meta versioni2e4:name1:x12:piece lengthi16384ee"[..],
            "field `info.file tree` is invalid: holds no file",
        ),
        (
            b"d9:file treed1:ad0:d6:lengthi5eeee12:meta versioni2e4:name1:x12:piece lengthi16384ee",
            "missing field `info.file tree.pieces root`",
        ),
        (
            b"d9:file treed1:ad0:d6:lengthi5eeee12:meta versioni2e4:name1:x12:piece lengthi1000ee",
            "`info.piece length`",
        ),
    ] {
        let mut file = b"d4:info".to_vec();
        file.extend_from_slice(info);
        file.push(b'e');
        std::fs::write(&v2, file).unwrap();
        assert_error(&p2p(&["info", v2.to_str().unwrap()]), field);
    }
}

#[test]
fn verify_names_each_file_complete_missing_or_with_bad_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("album");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("a.bin"), data(300_000, 1)).unwrap();
    std::fs::write(content.join("sub/b.bin"), data(100_000, 2)).unwrap();
    std::fs::write(content.join("c.bin"), data(50_000, 3)).unwrap();
    let torrent = dir.path().join("album.torrent");
    make_torrent_file(&content, &torrent, "t@127.0.0.1:9", "16K");
    let (t, d) = (torrent.to_str().unwrap(), dir.path().to_str().unwrap());
    let good = p2p(&["verify", t, "--dir", d]);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(
        stdout(&good).contains("3 of 3 files complete"),
        "{}",
        stdout(&good)
    );
    // One byte flipped in a.bin, sub/b.bin gone, c.bin cut short.
    let mut a = std::fs::read(content.join("a.bin")).unwrap();
    a[40_000] ^= 1;
    std::fs::write(content.join("a.bin"), a).unwrap();
    std::fs::remove_file(content.join("sub/b.bin")).unwrap();
    std::fs::write(content.join("c.bin"), data(10, 3)).unwrap();
    let bad = p2p(&["verify", t, "--dir", d]);
    assert_error(&bad, "3 files are not complete");
    let out = stdout(&bad);
    let line = |name: &str| out.lines().find(|l| l.ends_with(name)).unwrap().to_string();
    // The flipped byte's piece, and the last piece, which it shares with the cut c.bin.
    assert!(
        line("album/a.bin").starts_with("2 bad of 19 pieces"),
        "{out}"
    );
    assert!(line("album/sub/b.bin").starts_with("missing"), "{out}");
    assert!(
        line("album/c.bin").starts_with("wrong size: 10 bytes, the torrent says 50000"),
        "{out}"
    );
    // The paths stand in one column.
    let columns: Vec<usize> = out.lines().filter_map(|l| l.find("album/")).collect();
    assert!(
        columns.len() == 3 && columns.iter().all(|&c| c == columns[0]),
        "{out}"
    );
    // A directory that is not there is named as such, not as three missing files.
    let nowhere = dir.path().join("nowhere");
    let missing = p2p(&["verify", t, "--dir", nowhere.to_str().unwrap()]);
    assert_error(&missing, "nowhere` is not a directory");
    assert!(stdout(&missing).is_empty(), "{}", stdout(&missing));
}

/// Parses each line of `text` as JSON with Python's json module and prints, for each, the
/// sorted keys and the given fields: checks the output is real JSON, not just JSON-looking.
fn json_lines(text: &str, fields: &[&str]) -> Vec<String> {
    let script = format!(
        "import json,sys\nfor line in sys.stdin:\n    v=json.loads(line)\n    print(','.join(sorted(v)), *[json.dumps(v.get(k)) for k in {fields:?}])"
    );
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "not JSON: {text}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn json_output_of_info_make_torrent_verify_and_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("we\"ird\nname.bin");
    std::fs::write(&content, data(200_000, 9)).unwrap();
    let torrent = dir.path().join("t.torrent");
    let (c, t, d) = (
        content.to_str().unwrap(),
        torrent.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    );
    let made = p2p(&[
        "make-torrent",
        c,
        "--tracker",
        "t@127.0.0.1:9",
        "--out",
        t,
        "--json",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let hash = info_hash(&torrent);
    let lines = json_lines(&stdout(&made), &["info_hash", "files"]);
    assert_eq!(
        lines,
        [format!(
            "files,info_hash,info_hash_v2,magnet,piece_length,pieces,seconds,torrent,total_size,version \"{hash}\" 1"
        )]
    );
    let info = json_lines(
        &stdout(&p2p(&["info", t, "--json"])),
        &["name", "total_size"],
    );
    assert_eq!(
        info,
        [
            "comment,created_by,creation_date,dht_nodes,files,info_hash,info_hash_v2,magnet,name,piece_length,pieces,private,source,total_size,trackers,version,web_seeds \"we\\\"ird\\nname.bin\" 200000"
        ]
    );
    let verified = json_lines(
        &stdout(&p2p(&["verify", t, "--dir", d, "--json"])),
        &["complete"],
    );
    assert_eq!(
        verified,
        ["complete,files,pieces,pieces_verified,seconds true"]
    );
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    let (ok, text, stderr) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &peer,
            "--json",
            "--no-dht",
            "--download-limit",
            "100K",
        ],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    let events = json_lines(&text, &["event", "total_bytes"]);
    assert!(events.len() >= 2, "{text}");
    assert!(
        events[..events.len() - 1].iter().all(|e| e
            == "download_rate,event,have_bytes,peers,pieces_verified,prefix_bytes,total_bytes,upload_rate \"progress\" 200000"),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap(),
        "connections,downloaded,encrypted_connections,event,path,seconds,tcp_connections,total_bytes,uploaded,utp_connections,wasted,web_seed_bytes \"complete\" 200000"
    );
    // A run that ends incomplete ends its JSON with a `stopped` record saying why.
    let dead = format!("127.0.0.1:{}", free_port());
    let (ok, text, _) = start_fetch(
        "dead",
        &torrent,
        &dir.path().join("dead"),
        &["--peer", &dead, "--json", "--no-dht", "--timeout", "2s"],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(!ok);
    let last = json_lines(&text, &["event", "reason"]).pop().unwrap();
    assert!(
        last.starts_with("downloaded,event,have_bytes,pieces_verified,reason,total_bytes,uploaded \"stopped\" \"no peer could be reached within 2s"),
        "{last}"
    );
}

#[test]
fn seed_time_seed_ratio_and_on_done_end_a_fetch_when_reached() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 400_000, "t@127.0.0.1:9", "16K");
    let hash = info_hash(&torrent);
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let peer = format!("127.0.0.1:{port}");
    // --seed-time: seeds 2 s after completing, runs --on-done once, exits 0.
    let out = dir.path().join("b");
    let done = dir.path().join("done.txt");
    let hook = format!(
        "printf '%s|%s|%s' \"$P2P_PATH\" \"$P2P_NAME\" \"$P2P_INFO_HASH\" > '{}'",
        done.display()
    );
    let started = std::time::Instant::now();
    let (ok, _, stderr) = start_fetch(
        "b",
        &torrent,
        &out,
        &[
            "--peer",
            &peer,
            "--no-dht",
            "--seed-time",
            "2s",
            "--on-done",
            &hook,
        ],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("seeding until 2s"), "{stderr}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert_eq!(
        std::fs::read_to_string(&done).unwrap(),
        format!("{}|f.bin|{hash}", out.join("f.bin").display())
    );
    // --seed-ratio 1: C fetches everything from D alone, then D has uploaded its size and exits.
    let d_out = dir.path().join("d");
    let d = spawn_logged(
        "d",
        &fetch_args(
            &torrent,
            &d_out,
            &["--peer", &peer, "--no-dht", "--seed-ratio", "1"],
        ),
    );
    let dport = d.listening_port();
    d.wait_line("seeding until ratio 1", std::time::Duration::from_secs(30));
    let (ok, _, stderr) = start_fetch(
        "c",
        &torrent,
        &dir.path().join("c"),
        &["--peer", &format!("127.0.0.1:{dport}"), "--no-dht"],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    d.wait_line("times the size) for", std::time::Duration::from_secs(20));
    let mut d = d;
    assert!(
        d.proc
            .wait_for(std::time::Duration::from_secs(20))
            .success()
    );
    // A hook that runs on (until the test lets it end) stalls neither the fetch's own course
    // nor its seeding: F serves G meanwhile, and waits for the hook before it exits.
    let release = dir.path().join("release");
    let hook = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    let f = spawn_logged(
        "f",
        &fetch_args(
            &torrent,
            &dir.path().join("f"),
            &["--peer", &peer, "--no-dht", "--seed", "--on-done", &hook],
        ),
    );
    let fport = f.listening_port();
    f.wait_line(
        "seeding until interrupted",
        std::time::Duration::from_secs(30),
    );
    let (ok, _, stderr) = start_fetch(
        "g",
        &torrent,
        &dir.path().join("g"),
        &["--peer", &format!("127.0.0.1:{fport}"), "--no-dht"],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    f.proc.signal("INT");
    std::fs::write(&release, b"").unwrap();
    f.wait_line(
        "--on-done command finished",
        std::time::Duration::from_secs(20),
    );
    // The hook inherits no descriptor of ours: the signal pipe, sockets and files are all
    // close-on-exec. It lists the descriptors its shell holds: those the same shell holds when
    // this test starts it directly (what the test itself passes on), and no more.
    let fds = dir.path().join("fds");
    let list = |into: &std::path::Path| {
        format!(
            "exec > '{}'; for f in /proc/$$/fd/*; do echo \"${{f##*/}}\"; done",
            into.display()
        )
    };
    let baseline = dir.path().join("baseline");
    let status = std::process::Command::new("sh")
        .args(["-c", &list(&baseline)])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let hook = list(&fds);
    let (ok, _, stderr) = start_fetch(
        "h",
        &torrent,
        &dir.path().join("h"),
        &["--peer", &peer, "--no-dht", "--on-done", &hook],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    let listed = std::fs::read_to_string(&fds).unwrap();
    let expected = std::fs::read_to_string(&baseline).unwrap();
    assert_eq!(
        listed, expected,
        "the hook's descriptors, and a shell's the test starts"
    );
    // A hook that fails is reported, not fatal; bad values are usage errors.
    let e = dir.path().join("e");
    let (ok, _, stderr) = start_fetch(
        "e",
        &torrent,
        &e,
        &["--peer", &peer, "--no-dht", "--on-done", "exit 3"],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("--on-done command failed"), "{stderr}");
    let t = torrent.to_str().unwrap();
    assert_usage_error(
        &p2p(&["fetch", t, "--seed-ratio", "-1"]),
        "--seed-ratio `-1`",
    );
    assert_usage_error(
        &p2p(&["fetch", t, "--seed-time", "soon"]),
        "--seed-time `soon`",
    );
}

#[test]
fn make_torrent_source_and_no_date_and_info_shows_web_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("f.bin");
    std::fs::write(&content, data(70_000, 4)).unwrap();
    let c = content.to_str().unwrap();
    let make = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args = vec![
            "make-torrent",
            c,
            "--tracker",
            "t@h",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        assert!(p2p(&args).status.success());
        out
    };
    let (a, b) = (
        make("a.torrent", &["--no-date"]),
        make("b.torrent", &["--no-date"]),
    );
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "reproducible"
    );
    // What makes them so: no creation date, where a torrent made without the flag has one
    // (two made a second apart would differ by it).
    let has_date = |t: &std::path::Path| {
        let bytes = std::fs::read(t).unwrap();
        bytes.windows(16).any(|w| w == b"13:creation date")
    };
    assert!(!has_date(&a));
    assert!(has_date(&make("dated.torrent", &[])));
    let tagged = make("s.torrent", &["--no-date", "--source", "TRK"]);
    assert_ne!(
        info_hash(&tagged),
        info_hash(&a),
        "source is part of the info-hash"
    );
    let shown = stdout(&p2p(&["info", tagged.to_str().unwrap()]));
    assert!(shown.contains("source:       TRK"), "{shown}");
    assert!(!shown.contains("created:"), "{shown}");
    // A torrent with web seeds (BEP 19) shows them.
    let mut t = b"d8:url-listl19:http://w.example/a/e4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
    t.extend_from_slice(&[7; 20]);
    t.extend_from_slice(b"ee");
    let ws = dir.path().join("ws.torrent");
    std::fs::write(&ws, t).unwrap();
    let shown = stdout(&p2p(&["info", ws.to_str().unwrap()]));
    assert!(
        shown.contains("web seeds:    http://w.example/a/"),
        "{shown}"
    );
}

#[test]
fn a_sequential_fetch_has_what_it_has_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 2 << 20, "t@127.0.0.1:9", "16K");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    let (ok, text, stderr) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &peer,
            "--no-dht",
            "--json",
            "--sequential",
            "--download-limit",
            "512K",
        ],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    let gaps = json_lines(&text, &["event", "have_bytes", "prefix_bytes"]);
    let progress: Vec<(u64, u64)> = gaps
        .iter()
        .filter(|l| l.contains("\"progress\""))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    assert!(progress.len() >= 2, "{text}");
    for (have, prefix) in &progress {
        // At most the window (16 pieces) and the pieces being verified lie past the prefix.
        assert!(
            have - prefix <= 24 * 16384,
            "have {have}, prefix {prefix}: {text}"
        );
    }
    assert!(progress.iter().any(|(_, prefix)| *prefix > 0));
}

#[test]
fn seed_and_tracker_print_json_when_they_stop() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 50_000, "t@127.0.0.1:9", "16K");
    let (t, d) = (torrent.to_str().unwrap(), dir.path().to_str().unwrap());
    let commands: [&[&str]; 2] = [
        &[
            "seed",
            t,
            "--dir",
            d,
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
            "--json",
        ],
        &["tracker", "--listen", "127.0.0.1:0", "--json"],
    ];
    let logs: Vec<_> = (0..commands.len())
        .map(|i| dir.path().join(format!("stderr-{i}")))
        .collect();
    let mut procs: Vec<Proc> = commands
        .iter()
        .zip(&logs)
        .map(|(args, log)| {
            let mut cmd = p2p_command();
            cmd.args(*args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::fs::File::create(log).unwrap());
            Proc::spawn(args[0], &mut cmd)
        })
        .collect();
    // Both up (their signal handlers installed before they listen).
    for log in &logs {
        assert!(wait_until(std::time::Duration::from_secs(20), || {
            std::fs::read_to_string(log).is_ok_and(|t| t.contains("listening on"))
        }));
    }
    let mut outs = Vec::new();
    for p in &mut procs {
        p.signal("TERM");
        assert!(p.wait_for(std::time::Duration::from_secs(10)).success());
        let mut out = String::new();
        p.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        outs.push(out);
    }
    assert_eq!(
        json_lines(&outs[0], &["event", "torrents"]),
        ["event,torrents,uploaded \"stopped\" 1"]
    );
    assert_eq!(
        json_lines(&outs[1], &["event", "torrents"]),
        ["event,peers,torrents \"stopped\" 0"]
    );
}

#[test]
fn a_seed_stops_each_torrent_at_its_goal_and_exits_once_all_are_done() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 200_000, "t@127.0.0.1:9", "16K");
    // --seed-time: nobody comes; after 1 s the seed is done and exits 0.
    let mut timed = spawn_logged(
        "timed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-dht",
            "--seed-time",
            "1s",
        ],
    );
    timed.wait_line("seeding until 1s", std::time::Duration::from_secs(20));
    assert!(
        timed
            .proc
            .wait_for(std::time::Duration::from_secs(20))
            .success()
    );
    // --seed-ratio 1: it stays until a fetcher has taken the whole torrent from it.
    let (ratio, port) = start_seed(
        "ratio",
        &torrent,
        dir.path(),
        &["--no-dht", "--seed-ratio", "1"],
    );
    // (Its "seeding until ratio 1" line came before the port it listens on.)
    let out = dir.path().join("out");
    let (ok, _, stderr) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &["--peer", &format!("127.0.0.1:{port}"), "--no-dht"],
    )
    .finish(std::time::Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    ratio.wait_line(
        "every torrent reached its seeding goal",
        std::time::Duration::from_secs(20),
    );
    let mut ratio = ratio;
    assert!(
        ratio
            .proc
            .wait_for(std::time::Duration::from_secs(20))
            .success()
    );
}
