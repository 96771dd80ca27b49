//! The DHT under attack (issue 24), with real processes on test hosts of their own: honest
//! `p2p dht` nodes, a seed and a fetch each on an address in a /24 of its own, and one host
//! that tries to capture every lookup, all in a network namespace (127.0.0.0/8 is one host to
//! the DHT's address rules, so loopback cannot show them).

mod common;
use common::*;
use std::process::Stdio;
use std::time::Duration;

/// Seconds of CPU (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Reads `proc`'s piped stderr up to a line containing `needle` (20 s at most), then drains
/// the rest in the background.
fn wait_for_line(proc: &mut Proc, needle: &str) {
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(proc.child.stderr.take().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut line = String::new();
    while !line.contains(needle) {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0 && std::time::Instant::now() < deadline,
            "{}: no line containing {needle:?}",
            proc.name
        );
    }
    std::thread::spawn(move || for _ in err.lines() {});
}

/// A process (made by [`Namespace::p2p`]) whose output is dropped.
fn quiet(name: &str, mut cmd: std::process::Command) -> Proc {
    cmd.env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn(name, &mut cmd)
}

#[test]
fn one_host_answering_with_ever_closer_nodes_neither_holds_lookups_nor_hides_the_swarm() {
    let py = require("python3", "python3");
    const HONEST: [&str; 4] = ["198.18.1.1", "198.18.2.1", "198.18.3.1", "198.18.4.1"];
    const SEED: &str = "198.18.5.1";
    const FETCH: &str = "198.18.6.1";
    const ATTACKER: &str = "198.19.9.1";
    let mut addrs = HONEST.to_vec();
    addrs.extend([SEED, FETCH, ATTACKER]);
    let ns = Namespace::new("ecl", &addrs);
    let dir = tempfile::tempdir().unwrap();

    let mut honest = Vec::new();
    for (i, ip) in HONEST.iter().enumerate() {
        let listen = format!("{ip}:6881");
        let state = dir.path().join(format!("dht{i}"));
        let mut args = vec!["dht", "--listen", &listen, "--state-dir"];
        let state = state.to_str().unwrap().to_string();
        args.push(&state);
        let boot = format!("{}:6881", HONEST[0]);
        if i > 0 {
            args.extend(["--bootstrap", &boot]);
        }
        let mut cmd = ns.p2p(&args);
        cmd.env("RUST_LOG", "info").stderr(Stdio::piped());
        let mut node = Proc::spawn(&format!("dht {i}"), &mut cmd);
        // Each listening before the next joins through the first.
        wait_for_line(&mut node, "listening on");
        honest.push(node);
    }
    // The attacker: 1,000 ports on one IP, known to every honest node.
    let count_file = dir.path().join("attacker-queries");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/dht_eclipse.py");
    let mut args = vec![script, ATTACKER, "1000", count_file.to_str().unwrap()];
    let known: Vec<String> = HONEST.iter().map(|ip| format!("{ip}:6881")).collect();
    args.extend(known.iter().map(String::as_str));
    let mut cmd = ns.command(py.to_str().unwrap(), &args);
    cmd.stdout(Stdio::piped());
    let mut attacker = Proc::spawn("attacker", &mut cmd);
    {
        use std::io::BufRead;
        let mut line = String::new();
        let mut out = std::io::BufReader::new(attacker.child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening");
    }

    // A trackerless torrent, seeded and announced through the DHT; fetched from its bare
    // magnet link by a node that joins through another honest node.
    let content = dir.path().join("f.bin");
    std::fs::write(&content, data(1 << 20, 24)).unwrap();
    let torrent = dir.path().join("f.torrent");
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let link = format!("magnet:?xt=urn:btih:{}", info_hash(&torrent));
    let seed_listen = format!("{SEED}:7000");
    let boot1 = format!("{}:6881", HONEST[1]);
    let _seed = quiet(
        "seed",
        ns.p2p(&[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            &seed_listen,
            "--dht-bootstrap",
            &boot1,
        ]),
    );
    let out = dir.path().join("out");
    let fetch_listen = format!("{FETCH}:7001");
    let boot2 = format!("{}:6881", HONEST[2]);
    let mut fetch = quiet(
        "fetch",
        ns.p2p(&[
            "fetch",
            &link,
            "--out",
            out.to_str().unwrap(),
            "--listen",
            &fetch_listen,
            "--dht-bootstrap",
            &boot2,
        ]),
    );
    let status = fetch.wait_for(Duration::from_secs(90));
    assert!(
        status.success(),
        "the magnet was not found through the honest nodes: {status:?}"
    );
    assert!(std::fs::read(out.join("f.bin")).unwrap() == std::fs::read(&content).unwrap());

    // What the attacker got: a few queries a lookup, not a lookup's every query for good.
    let queries: u64 = std::fs::read_to_string(&count_file)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    eprintln!("attacker queries: {queries}");
    assert!(
        queries >= 1,
        "the attacker was never asked: the test shows nothing"
    );
    assert!(
        queries < 100,
        "{queries} queries went to one /24 while a magnet was fetched"
    );
    for (i, node) in honest.iter().enumerate() {
        let cpu = cpu_seconds(node.pid());
        assert!(cpu < 5.0, "honest node {i} used {cpu:.1} s of CPU");
    }
}
