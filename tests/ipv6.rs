//! IPv6 (BEP 7): a whole swarm on ::1 (tracker answering `peers6`, a seed, two fetchers that
//! learn of each other only from it), and the dual-stack default listener taking IPv4 peers.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn a_swarm_on_ipv6_loopback_completes_through_peers6() {
    let t = spawn_logged(
        "tracker",
        &["tracker", "--listen", "[::1]:0", "--interval", "2"],
    );
    let tport = t.listening_port();
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(
        dir.path(),
        "f.bin",
        4 << 20,
        &format!("t@[::1]:{tport}"),
        "64K",
    );
    let mut seed_args = vec![
        "seed",
        torrent.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "[::1]:0",
    ];
    let seed = spawn_logged("seed", &seed_args);
    assert!(
        seed.wait_line("listening on ", Duration::from_secs(20))
            .contains("[::1]:")
    );
    seed_args.clear();
    let fetchers: Vec<(FetchRun, std::path::PathBuf)> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("out{i}"));
            // `fetch_args` listens on 127.0.0.1: these listen on ::1 alone.
            let mut args = fetch_args(&torrent, &out, &[]);
            args.truncate(args.len() - 2);
            args.extend(["--listen", "[::1]:0"]);
            let run = start_fetch_args(&format!("fetch {i}"), &args, &out);
            (run, out)
        })
        .collect();
    for (mut run, out) in fetchers {
        let (ok, _, stderr) = run.finish(Duration::from_secs(60));
        assert!(ok, "{stderr}");
        assert_eq!(
            std::fs::read(out.join("f.bin")).unwrap(),
            std::fs::read(&content).unwrap()
        );
    }
    drop(seed);
}

#[test]
fn the_default_listener_takes_ipv4_and_ipv6_peers() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 1 << 20, "t@127.0.0.1:9", "64K");
    let (_a, aport) = start_seed("A", &torrent, dir.path(), &[]);
    // B fetches from A and stays as a seed, listening where it listens by default.
    let b_out = dir.path().join("b");
    let b_args = [
        "fetch",
        torrent.to_str().unwrap(),
        "--out",
        b_out.to_str().unwrap(),
        "--seed",
        "--peer",
        &format!("127.0.0.1:{aport}"),
        // Nothing may leave this machine: no router or LAN is asked.
        "--no-port-mapping",
        "--no-lsd",
    ];
    let b = spawn_logged("B", &b_args);
    let line = b.wait_line("listening on ", Duration::from_secs(20));
    assert!(
        line.contains("listening on [::]:"),
        "both stacks by default: {line}"
    );
    let bport: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    b.wait_line("seeding until interrupted", Duration::from_secs(30));
    // Each fetcher listens (and so dials from) the loopback of its peer's family.
    for (i, (peer, listen)) in [
        (format!("127.0.0.1:{bport}"), "127.0.0.1:0"),
        (format!("[::1]:{bport}"), "[::1]:0"),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let args = [
            "fetch",
            torrent.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--listen",
            listen,
            "--peer",
            peer,
        ];
        let (ok, _, stderr) =
            start_fetch_args(&format!("fetch {i}"), &args, &out).finish(Duration::from_secs(60));
        assert!(ok, "from {peer}: {stderr}");
        assert_eq!(
            std::fs::read(out.join("f.bin")).unwrap(),
            std::fs::read(&content).unwrap()
        );
    }
}
