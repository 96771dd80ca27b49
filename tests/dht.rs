//! The DHT (BEP 5) with real processes: a local network of `p2p dht` nodes carrying a
//! trackerless swarm, libtorrent finding p2p and p2p finding libtorrent through it, a node
//! rejoining from its state file, and hostile datagrams.

mod common;

use common::*;
use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

/// `p2p dht` on 127.0.0.1 with a free port and its own state directory.
fn dht_node(name: &str, state: &Path, bootstrap: Option<u16>) -> (Logged, u16) {
    let state = state.to_str().unwrap().to_string();
    let mut args = vec!["dht", "--listen", "127.0.0.1:0", "--state-dir", &state];
    let b;
    if let Some(port) = bootstrap {
        b = format!("127.0.0.1:{port}");
        args.extend(["--bootstrap", &b]);
    }
    let node = spawn_logged(name, &args);
    let line = node.wait_line("listening on ", Duration::from_secs(20));
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (node, port)
}

/// A network of `n` nodes, all joined through the first.
fn network(dir: &Path, n: usize) -> Vec<(Logged, u16)> {
    let first = dht_node("dht 0", &dir.join("dht0"), None);
    let port0 = first.1;
    let mut nodes = vec![first];
    for i in 1..n {
        nodes.push(dht_node(
            &format!("dht {i}"),
            &dir.join(format!("dht{i}")),
            Some(port0),
        ));
    }
    nodes
}

/// A trackerless torrent of `len` bytes and its bare magnet link (no `tr`, no peer).
fn trackerless(dir: &Path, len: usize) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let content = dir.join("f.bin");
    std::fs::write(&content, data(len, 42)).unwrap();
    let torrent = dir.join("f.torrent");
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--piece-length",
        "32K",
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "make-torrent without a tracker: {}",
        stderr(&o)
    );
    let link = format!("magnet:?xt=urn:btih:{}", info_hash(&torrent));
    (content, torrent, link)
}

#[test]
fn a_trackerless_swarm_is_found_through_a_local_dht_of_20_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = network(dir.path(), 20);
    let (content, torrent, link) = trackerless(dir.path(), 2 << 20);
    let b5 = format!("127.0.0.1:{}", nodes[5].1);
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &["--dht-bootstrap", &b5]);
    let out = dir.path().join("out");
    let b12 = format!("127.0.0.1:{}", nodes[12].1);
    let (ok, _, stderr) = start_fetch("fetch", Path::new(&link), &out, &["--dht-bootstrap", &b12])
        .finish(Duration::from_secs(90));
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
}

#[test]
fn p2p_finds_a_libtorrent_seed_through_the_dht_and_libtorrent_finds_p2p() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let nodes = network(dir.path(), 6);
    let boot = format!("127.0.0.1:{}", nodes[0].1);
    let (content, torrent, link) = trackerless(dir.path(), 1 << 20);
    // libtorrent seeds; p2p, given only the bare magnet and a DHT node, finds it.
    let (_lt_seed, _) = libtorrent_seed(py, &torrent, dir.path(), 150, &["--dht-bootstrap", &boot]);
    let out = dir.path().join("p2p");
    let b3 = format!("127.0.0.1:{}", nodes[3].1);
    let (ok, _, stderr) = start_fetch("fetch", Path::new(&link), &out, &["--dht-bootstrap", &b3])
        .finish(Duration::from_secs(120));
    assert!(
        ok,
        "p2p did not find the libtorrent seed through the DHT: {stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
    // A p2p seed of another torrent; libtorrent, given only its bare magnet, finds it.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (content2, torrent2, link2) = trackerless(&other, 1 << 20);
    let b4 = format!("127.0.0.1:{}", nodes[4].1);
    let (_seed, _) = start_seed("seed", &torrent2, &other, &["--dht-bootstrap", &b4]);
    let lt_out = dir.path().join("lt");
    let mut cmd = std::process::Command::new(py);
    cmd.args([
        libtorrent_peer_script(),
        &link2,
        lt_out.to_str().unwrap(),
        &free_port().to_string(),
        "--fetch",
        "--timeout",
        "110",
        "--dht-bootstrap",
        &boot,
    ])
    .stdout(std::process::Stdio::null());
    let mut lt = Proc::spawn("libtorrent fetch", &mut cmd);
    assert!(
        lt.wait_for(Duration::from_secs(120)).success(),
        "libtorrent did not find the p2p seed through the DHT"
    );
    assert_eq!(
        std::fs::read(lt_out.join("f.bin")).unwrap(),
        std::fs::read(&content2).unwrap()
    );
}

/// The node count of the first stats line a `p2p dht` logs.
fn nodes_reported(node: &Logged) -> usize {
    let line = node.wait_line("dht: ", Duration::from_secs(20));
    let line = if line.contains(" nodes in ") {
        line
    } else {
        node.wait_line(" nodes in ", Duration::from_secs(20))
    };
    line.split("dht: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a node count")
}

#[test]
fn make_torrent_writes_dht_nodes_and_the_fetch_joins_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = network(dir.path(), 3);
    let content = dir.path().join("g.bin");
    std::fs::write(&content, data(300_000, 7)).unwrap();
    let torrent = dir.path().join("g.torrent");
    let node = format!("127.0.0.1:{}", nodes[1].1);
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--dht-node",
        &node,
        "--out",
        torrent.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&p2p(&["info", torrent.to_str().unwrap()]));
    assert!(shown.contains(&format!("dht nodes:    {node}")), "{shown}");
    // Seed and fetch are given no bootstrap: the torrent's node is how they meet.
    let (_seed, _) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    let (ok, _, stderr) = start_fetch("fetch", &torrent, &out, &[]).finish(Duration::from_secs(60));
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("g.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
}

#[test]
fn a_restarted_node_rejoins_from_its_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("a");
    let (a, aport) = dht_node("a", &state, None);
    let (_b, _) = dht_node("b", &dir.path().join("b"), Some(aport));
    let (_c, _) = dht_node("c", &dir.path().join("c"), Some(aport));
    assert!(nodes_reported(&a) >= 2);
    a.proc.signal("TERM");
    a.wait_line("state saved", Duration::from_secs(10));
    let mut a = a;
    assert!(
        a.proc.wait_for(Duration::from_secs(10)).success(),
        "exit 0 on SIGTERM"
    );
    // No --bootstrap and a new port: the saved nodes are all it has (b and c know only the
    // old port; the default routers are out of reach).
    let (again, _) = dht_node("a again", &state, None);
    assert!(nodes_reported(&again) >= 2, "rejoined without bootstrap");
}

#[test]
fn hostile_datagrams_neither_crash_nor_grow_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let (node, port) = dht_node("dht", &dir.path().join("s"), None);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let to = format!("127.0.0.1:{port}");
    let garbage: Vec<Vec<u8>> = vec![
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q".to_vec(),
        b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe".to_vec(),
        b"d1:rd2:id20:abcdefghij01234567895:nodes7:1234567e1:t2:aa1:y1:re".to_vec(),
        vec![0xff; 3000],
        b"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll".to_vec(),
        b"i-0e".to_vec(),
    ];
    for _ in 0..200 {
        for g in &garbage {
            let _ = sock.send_to(g, &to);
        }
    }
    // A flood of announces for random info-hashes, each with a real token, from one socket
    // (the rate limit answers only part of it).
    let mut buf = [0u8; 2048];
    for i in 0..3000u32 {
        let mut hash = [0u8; 20];
        hash[..4].copy_from_slice(&i.to_be_bytes());
        let mut get = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:".to_vec();
        get.extend_from_slice(&hash);
        get.extend_from_slice(b"e1:q9:get_peers1:t2:gg1:y1:qe");
        let _ = sock.send_to(&get, &to);
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let reply = &buf[..n];
        let Some(at) = reply.windows(7).position(|w| w == b"5:token") else {
            continue;
        };
        let rest = &reply[at + 7..];
        let colon = rest.iter().position(|&b| b == b':').unwrap();
        let len: usize = std::str::from_utf8(&rest[..colon])
            .unwrap()
            .parse()
            .unwrap();
        let token = &rest[colon + 1..colon + 1 + len];
        let mut ann = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:".to_vec();
        ann.extend_from_slice(&hash);
        ann.extend_from_slice(b"4:porti6881e5:token");
        ann.extend_from_slice(format!("{}:", token.len()).as_bytes());
        ann.extend_from_slice(token);
        ann.extend_from_slice(b"e1:q13:announce_peer1:t2:an1:y1:qe");
        let _ = sock.send_to(&ann, &to);
        let _ = sock.recv_from(&mut buf);
    }
    // Still answering.
    std::thread::sleep(Duration::from_secs(1));
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:pp1:y1:qe";
    sock.send_to(ping, &to).unwrap();
    let mut answered = false;
    for _ in 0..5 {
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && buf[..n].windows(5).any(|w| w == b"2:pp1")
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "the node stopped answering");
    let rss = rss_kib(node.proc.pid());
    assert!(rss < 64 * 1024, "resident memory {rss} KiB");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}
