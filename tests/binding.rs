//! Where a fetch's traffic leaves from (issue 25, item 4): `--listen ADDR` makes ADDR the
//! source of its peer connections and its HTTP and UDP announces, as the seed and the tracker
//! see them; `--interface NAME` keeps every connection on that device, so that a peer
//! reachable only through another interface is not reached at all (network namespaces the
//! test makes, as root).

mod common;
use common::*;
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The peers a tracker gives a newcomer for `hash` (compact, IPv4), as (address, port).
fn tracker_peers(tracker_port: u16, hash_hex: &str) -> Vec<(IpAddr, u16)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", tracker_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /announce?info_hash={}&peer_id={}&port=1&uploaded=0&downloaded=0&left=1&compact=1 \
         HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        enc_hex(hash_hex),
        enc(&[b'w'; 20])
    )
    .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let v = p2p::bencode::decode(&response[at..]).expect("a bencoded body");
    let peers = v.get("peers").and_then(|p| p.as_bytes()).unwrap_or(&[]);
    peers
        .chunks_exact(6)
        .map(|c| {
            (
                IpAddr::from([c[0], c[1], c[2], c[3]]),
                u16::from_be_bytes([c[4], c[5]]),
            )
        })
        .collect()
}

#[test]
fn a_fetch_bound_to_127_0_0_2_connects_and_announces_from_there() {
    let (_tracker, tport) = start_tracker(2);
    for tracker in [
        format!("http://127.0.0.1:{tport}/announce"),
        format!("udp://127.0.0.1:{tport}"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (content, torrent) = make_content(dir.path(), "f.bin", 300_000, &tracker, "16K");
        let (seed, _) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
        let out = dir.path().join("out");
        // The fetcher learns of the seed from the tracker, and stays on to be seen there.
        let mut fetch = start_fetch_args(
            "fetch",
            &[
                "fetch",
                torrent.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--listen",
                "127.0.0.2:0",
                "--no-dht",
                "--seed",
            ],
            &out,
        );
        let seen = seed.wait_line(" connected (", Duration::from_secs(30));
        assert!(
            seen.contains("127.0.0.2:"),
            "{tracker}: the seed saw {seen}"
        );
        assert!(
            wait_until(Duration::from_secs(30), || {
                std::fs::read(out.join("f.bin")).ok() == std::fs::read(&content).ok()
            }),
            "{tracker}: the fetch did not complete"
        );
        let peers = tracker_peers(tport, &info_hash(&torrent));
        let fetcher: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            peers.iter().any(|(ip, _)| *ip == fetcher),
            "{tracker}: the tracker lists {peers:?}, not the fetcher at 127.0.0.2"
        );
        fetch.proc.signal("TERM");
        fetch.proc.wait_for(Duration::from_secs(20));
    }
}

#[test]
fn a_bad_interface_is_refused_by_name() {
    let o = p2p(&["fetch", "x.torrent", "--interface", "nosuch0"]);
    assert_usage_error(&o, "no network interface named `nosuch0`");
}

fn fetch_in(ns: &Namespace, torrent: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let extra = [&["--no-dht", "--peer", "10.77.1.2:7000"], extra].concat();
    ns.p2p(&fetch_args_on(torrent, out, "0.0.0.0:0", &extra))
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

#[test]
fn a_fetch_bound_to_an_interface_reaches_no_peer_through_another() {
    // client ── c1 (10.77.1.1) ── s1 (10.77.1.2) ── seeder: the seed
    //        └─ c2 (10.77.2.1) ── s2 (10.77.2.2) ── other: nothing
    let client = Namespace::new("bc", &[]);
    let seeder = Namespace::new("bs", &[]);
    let other = Namespace::new("bo", &[]);
    link(&client, "c1", "10.77.1.1", &seeder, "s1", "10.77.1.2");
    link(&client, "c2", "10.77.2.1", &other, "s2", "10.77.2.2");
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(
        dir.path(),
        "f.bin",
        300_000,
        "http://10.77.1.2:1/announce",
        "16K",
    );
    let seed = spawn_logged_command(
        "seed",
        seeder
            .p2p(&[
                "seed",
                torrent.to_str().unwrap(),
                "--dir",
                dir.path().to_str().unwrap(),
                "--listen",
                "0.0.0.0:7000",
                "--no-dht",
            ])
            .stdout(std::process::Stdio::null()),
    );
    seed.listening_port();

    // Bound to c2, the seed behind c1 is out of reach: the fetch gives up, and the seed never
    // saw a connection.
    let out = dir.path().join("through-c2");
    let o = fetch_in(
        &client,
        &torrent,
        &out,
        &["--interface", "c2", "--timeout", "3s"],
    );
    assert!(
        !o.status.success(),
        "bound to c2, the fetch reached the seed behind c1"
    );
    assert!(!out.join("f.bin").exists());
    let early: Vec<String> = seed.lines.try_iter().collect();
    assert!(
        !early.iter().any(|l| l.contains(" connected (")),
        "the seed saw a connection: {early:?}"
    );

    // Bound to c1, it is reached, from c1's address.
    let out = dir.path().join("through-c1");
    let o = fetch_in(
        &client,
        &torrent,
        &out,
        &["--interface", "c1", "--timeout", "30s"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    let seen = seed.wait_line(" connected (", Duration::from_secs(10));
    assert!(seen.contains("10.77.1.1:"), "{seen}");
}
