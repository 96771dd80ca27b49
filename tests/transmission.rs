//! Transmission on the wire. It will not talk to 127.0.0.0/8 peers, so these tests make two
//! test hosts of their own — network namespaces joined by a veth pair, addressed in 198.18.0.0/15
//! (the range set aside for benchmarking) — and remove them afterwards. Needs root (`ip netns`),
//! iproute2, transmission-cli and (for uTP) transmission-daemon.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Two namespaces joined by a veth pair, deleted on drop.
struct TestHosts {
    a: String,
    b: String,
}

const HOST_A: &str = "198.18.7.1";
const HOST_B: &str = "198.18.7.2";

impl TestHosts {
    fn new(tag: &str) -> TestHosts {
        let ip = require("ip", "iproute2");
        unsafe extern "C" {
            fn geteuid() -> u32;
        }
        // SAFETY: geteuid(2) has no preconditions.
        assert_eq!(
            unsafe { geteuid() },
            0,
            "these tests make network namespaces and need root (CI runs as root)"
        );
        let id = format!("p2p{}{tag}", std::process::id());
        let hosts = TestHosts {
            a: format!("{id}a"),
            b: format!("{id}b"),
        };
        let run = |args: &[&str]| {
            let o = Command::new(&ip).args(args).output().unwrap();
            assert!(o.status.success(), "ip {}: {}", args.join(" "), stderr(&o));
        };
        run(&["netns", "add", &hosts.a]);
        run(&["netns", "add", &hosts.b]);
        run(&[
            "link", "add", &hosts.a, "type", "veth", "peer", "name", &hosts.b,
        ]);
        for (ns, addr) in [(&hosts.a, HOST_A), (&hosts.b, HOST_B)] {
            run(&["link", "set", ns, "netns", ns]);
            run(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", ns]);
            run(&["-n", ns, "link", "set", ns, "up"]);
            run(&["-n", ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    /// `cmd` run inside namespace `ns`.
    fn exec(ns: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]).args(args);
        cmd
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A transmission-cli in `ns` on `torrent`, data in `dir`, with its default encryption
/// setting (encryption preferred); no DHT, LPD or PEX.
fn transmission(ns: &str, torrent: &Path, dir: &Path, config: &Path) -> Proc {
    let cli = require("transmission-cli", "transmission-cli");
    fs::create_dir_all(config).unwrap();
    fs::write(
        config.join("settings.json"),
        r#"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
            "port-forwarding-enabled": false, "message-level": 2}"#,
    )
    .unwrap();
    let mut cmd = TestHosts::exec(
        ns,
        cli.to_str().unwrap(),
        &[
            "-et",
            "-g",
            config.to_str().unwrap(),
            "-p",
            "51413",
            "-w",
            dir.to_str().unwrap(),
            torrent.to_str().unwrap(),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn("transmission-cli", &mut cmd)
}

/// `p2p ARGS...` in `ns`, logging warnings only, with a state directory of its own.
fn p2p_command_in_ns(ns: &str, args: &[&str]) -> Command {
    let mut cmd = TestHosts::exec(ns, BIN, args);
    cmd.env("RUST_LOG", "warn")
        .env("XDG_STATE_HOME", fresh_state_dir());
    cmd
}

fn p2p_in_ns(name: &str, ns: &str, args: &[&str]) -> Proc {
    let mut cmd = p2p_command_in_ns(ns, args);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn(name, &mut cmd)
}

/// `p2p fetch TORRENT --out OUT` on host B, listening there, with `more` arguments.
fn fetch_on_b(hosts: &TestHosts, torrent: &Path, out: &Path, more: &[&str]) -> Command {
    let listen = format!("{HOST_B}:0");
    p2p_command_in_ns(&hosts.b, &fetch_args_on(torrent, out, &listen, more))
}

#[test]
fn transmission_downloads_from_p2p_and_p2p_from_transmission() {
    let hosts = TestHosts::new("t");
    let dir = tempfile::tempdir().unwrap();
    let tport = 7000;
    let (content, torrent) = make_content(
        dir.path(),
        "t.bin",
        16 << 20,
        &format!("t@{HOST_A}:{tport}"),
        "64K",
    );
    let _tracker = p2p_in_ns(
        "tracker",
        &hosts.a,
        &[
            "tracker",
            "--listen",
            &format!("{HOST_A}:{tport}"),
            "--interval",
            "5",
        ],
    );
    let hash = info_hash(&torrent);

    // Transmission (host B) fetches from `p2p seed` (host A), found through `p2p tracker`.
    let seed = p2p_in_ns(
        "seed",
        &hosts.a,
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            &format!("{HOST_A}:0"),
        ],
    );
    let tr_out = dir.path().join("transmission");
    fs::create_dir(&tr_out).unwrap();
    let started = Instant::now();
    let tr = transmission(&hosts.b, &torrent, &tr_out, &dir.path().join("tr-config-b"));
    let original = fs::read(&content).unwrap();
    let got = wait_until(Duration::from_secs(60), || {
        fs::read(tr_out.join("t.bin")).is_ok_and(|b| b == original)
    });
    assert!(got, "Transmission did not download the file from p2p seed");
    // Timings are reported, not asserted (they are Transmission's pace on this link).
    eprintln!(
        "Transmission fetched 16 MiB from p2p seed in {:?}",
        started.elapsed()
    );
    drop(seed);
    drop(tr);

    // p2p fetch (host B) downloads from Transmission seeding (host A).
    let tr_seed_dir = dir.path().join("tr-seed");
    fs::create_dir(&tr_seed_dir).unwrap();
    fs::copy(&content, tr_seed_dir.join("t.bin")).unwrap();
    let _tr_seed = transmission(
        &hosts.a,
        &torrent,
        &tr_seed_dir,
        &dir.path().join("tr-config-a"),
    );
    // The tracker counts Transmission as a seed once it has verified and announced.
    let seen = wait_until(Duration::from_secs(60), || {
        scrape_in_ns(&hosts.a, tport, &hash).0 >= 1
    });
    assert!(seen, "Transmission never announced itself as a seed");
    let out = dir.path().join("p2p-out");
    let mut fetch = fetch_on_b(&hosts, &torrent, &out, &[]);
    let started = Instant::now();
    let status = Proc::spawn("fetch", &mut fetch).wait_for(Duration::from_secs(60));
    assert!(status.success(), "p2p fetch from Transmission failed");
    eprintln!(
        "p2p fetched 16 MiB from Transmission in {:?}",
        started.elapsed()
    );
    assert_eq!(fs::read(out.join("t.bin")).unwrap(), original);
}

/// (complete, downloaded, incomplete) from the tracker on host A, asked from inside `ns` by a
/// small Python HTTP request (the test process itself is outside both namespaces).
fn scrape_in_ns(ns: &str, port: u16, hash_hex: &str) -> (i64, i64, i64) {
    let encoded = enc_hex(hash_hex);
    let script = format!(
        "import socket,sys\ns=socket.create_connection(('{HOST_A}',{port}),5)\ns.sendall(b'GET /scrape?info_hash={encoded} HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n')\nd=b''\nwhile True:\n  c=s.recv(65536)\n  if not c: break\n  d+=c\nsys.stdout.buffer.write(d.split(b'\\r\\n\\r\\n',1)[1])"
    );
    let o = TestHosts::exec(ns, "/usr/bin/python3", &["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "scrape: {}", stderr(&o));
    decode_scrape(&o.stdout)
}

/// A transmission-daemon in `ns` with uTP on, peer port `port`, its RPC on 127.0.0.1:9091
/// inside the namespace without authentication; no DHT, LPD or PEX.
fn transmission_daemon(ns: &str, config: &Path, port: u16) -> Proc {
    let daemon = require("transmission-daemon", "transmission-daemon");
    fs::create_dir_all(config).unwrap();
    fs::write(
        config.join("settings.json"),
        format!(
            r#"{{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
                "utp-enabled": true, "port-forwarding-enabled": false, "peer-port": {port},
                "rpc-enabled": true, "rpc-bind-address": "127.0.0.1", "rpc-port": 9091,
                "rpc-authentication-required": false, "rpc-whitelist-enabled": false,
                "message-level": 2}}"#
        ),
    )
    .unwrap();
    let mut cmd = TestHosts::exec(
        ns,
        daemon.to_str().unwrap(),
        &["-f", "-g", config.to_str().unwrap()],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn("transmission-daemon", &mut cmd)
}

/// [`transmission_daemon`] on port 51413, once its RPC answers, with `torrent` added (its data
/// in `dir`).
fn daemon_with(ns: &str, config: &Path, torrent: &Path, dir: &Path) -> Proc {
    let daemon = transmission_daemon(ns, config, 51413);
    assert!(
        wait_until(Duration::from_secs(20), || remote(ns, &["-l"]).is_some()),
        "transmission-daemon's RPC never answered"
    );
    let added = remote(
        ns,
        &["-a", torrent.to_str().unwrap(), "-w", dir.to_str().unwrap()],
    );
    assert!(
        added.is_some(),
        "transmission-remote could not add the torrent"
    );
    daemon
}

/// `transmission-remote` against the daemon in `ns`; its standard output.
fn remote(ns: &str, args: &[&str]) -> Option<String> {
    let remote = require("transmission-remote", "transmission-cli");
    let mut all = vec!["127.0.0.1:9091"];
    all.extend_from_slice(args);
    let o = TestHosts::exec(ns, remote.to_str().unwrap(), &all)
        .output()
        .unwrap();
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Whether Transmission in `ns` lists a peer at `addr` whose flags hold `T` (µTP).
fn utp_peer_listed(ns: &str, addr: &str) -> bool {
    remote(ns, &["-t", "all", "--info-peers"]).is_some_and(|peers| {
        peers.lines().any(|line| {
            let mut fields = line.split_whitespace();
            fields.next() == Some(addr) && fields.next().is_some_and(|flags| flags.contains('T'))
        })
    })
}

#[test]
fn transmission_and_p2p_exchange_64_mib_over_utp_both_ways() {
    let hosts = TestHosts::new("u");
    let dir = tempfile::tempdir().unwrap();
    let tport = 7000;
    let (content, torrent) = make_content(
        dir.path(),
        "u.bin",
        64 << 20,
        &format!("u@{HOST_A}:{tport}"),
        "256K",
    );
    let original = fs::read(&content).unwrap();
    let _tracker = p2p_in_ns(
        "tracker",
        &hosts.a,
        &[
            "tracker",
            "--listen",
            &format!("{HOST_A}:{tport}"),
            "--interval",
            "5",
        ],
    );

    // Transmission (host B) fetches from a p2p seed (host A) that speaks uTP alone: no TCP
    // listener, so every byte comes over uTP; Transmission's peer list says µTP as well.
    let seed = p2p_in_ns(
        "seed",
        &hosts.a,
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            &format!("{HOST_A}:6881"),
            "--utp",
            "only",
            "--no-dht",
        ],
    );
    let tr_out = dir.path().join("transmission");
    fs::create_dir(&tr_out).unwrap();
    let tr = daemon_with(&hosts.b, &dir.path().join("tr-config-b"), &torrent, &tr_out);
    let mut utp_seen = false;
    let got = wait_until(Duration::from_secs(120), || {
        utp_seen |= utp_peer_listed(&hosts.b, HOST_A);
        fs::read(tr_out.join("u.bin")).is_ok_and(|b| b == original)
    });
    assert!(
        got,
        "Transmission did not download the file from p2p over uTP"
    );
    assert!(
        utp_seen,
        "Transmission never listed p2p's seed as a µTP peer"
    );
    drop(seed);
    drop(tr);

    // p2p (host B), uTP alone, fetches from Transmission seeding (host A).
    let tr_seed_dir = dir.path().join("tr-seed");
    fs::create_dir(&tr_seed_dir).unwrap();
    fs::copy(&content, tr_seed_dir.join("u.bin")).unwrap();
    let _tr_seed = daemon_with(
        &hosts.a,
        &dir.path().join("tr-config-a"),
        &torrent,
        &tr_seed_dir,
    );
    // Checked and seeding: the list shows it at 100 %.
    let seeding = wait_until(Duration::from_secs(60), || {
        remote(&hosts.a, &["-l"]).is_some_and(|l| l.contains("100%"))
    });
    assert!(seeding, "Transmission never finished checking its copy");
    let out = dir.path().join("p2p-out");
    let tr_peer = format!("{HOST_A}:51413");
    let more = ["--peer", &tr_peer, "--utp", "only", "--no-dht", "--json"];
    let mut fetch = fetch_on_b(&hosts, &torrent, &out, &more);
    let json_path = dir.path().join("fetch.json");
    fetch
        .stdout(fs::File::create(&json_path).unwrap())
        .stderr(Stdio::null());
    let status = Proc::spawn("fetch", &mut fetch).wait_for(Duration::from_secs(120));
    let json = fs::read_to_string(&json_path).unwrap();
    assert!(
        status.success(),
        "p2p fetch from Transmission failed: {json}"
    );
    assert!(
        json.contains("\"utp_connections\":1") && json.contains("\"tcp_connections\":0"),
        "{json}"
    );
    assert!(fs::read(out.join("u.bin")).unwrap() == original);
}
