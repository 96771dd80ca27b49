//! Local service discovery (BEP 14, issue 23): on a LAN of two network namespaces, with no
//! tracker and no DHT, p2p and libtorrent (`enable_lsd`) find each other through the
//! multicast announces alone, each way: libtorrent fetches from a p2p seed and p2p from a
//! libtorrent seed. Needs root.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const A: &str = "10.88.0.1";
const B: &str = "10.88.0.2";

/// Two hosts on one link, multicast routed onto it.
fn lan(tag: &str) -> (Namespace, Namespace) {
    let a = Namespace::new(&format!("{tag}a"), &[]);
    let b = Namespace::new(&format!("{tag}b"), &[]);
    link(&a, "eth0", A, &b, "eth0", B);
    for ns in [&a, &b] {
        let o = Command::new("ip")
            .args(["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "eth0"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    (a, b)
}

fn libtorrent(ns: &Namespace, torrent: &str, dir: &str, extra: &[&str]) -> Command {
    libtorrent_on(ns, B, torrent, dir, extra)
}

fn libtorrent_on(ns: &Namespace, bind: &str, torrent: &str, dir: &str, extra: &[&str]) -> Command {
    let py = require_libtorrent();
    let mut args = vec![
        libtorrent_peer_script(),
        torrent,
        dir,
        "7000",
        "--bind",
        bind,
        "--lsd",
    ];
    args.extend_from_slice(extra);
    let mut cmd = ns.command(py, &args);
    cmd.stdout(Stdio::null());
    cmd
}

/// libtorrent on host B (bound to `lt_bind`) fetching a 1 MiB torrent it can hear of only
/// through local discovery (a tracker nobody runs, no DHT), and `p2p seed` of it on host A
/// listening on `seed_listen`, logging as `log` says.
struct FromP2pSeed {
    seed: Logged,
    fetch: Proc,
    /// What libtorrent printed: its `lsd peer: ` lines.
    heard: std::path::PathBuf,
    content: std::path::PathBuf,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn libtorrent_fetching_from_p2p_seed(
    a: &Namespace,
    b: &Namespace,
    lt_bind: &str,
    seed_listen: &str,
    log: &str,
) -> FromP2pSeed {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent) = make_content(dir.path(), "f.bin", 1 << 20, "t@127.0.0.1:9", "64K");
    let t = torrent.to_str().unwrap();
    // libtorrent first, so that it is there to hear the seed's first announce.
    let out = dir.path().join("libtorrent");
    let heard = dir.path().join("heard");
    let mut cmd = libtorrent_on(
        b,
        lt_bind,
        t,
        out.to_str().unwrap(),
        &["--fetch", "--timeout", "15"],
    );
    cmd.stdout(std::fs::File::create(&heard).unwrap());
    let fetch = Proc::spawn("libtorrent fetch", &mut cmd);
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&heard).is_ok_and(|h| h.contains("listening"))
    }));
    let seed = spawn_logged_command(
        "p2p seed",
        a.p2p(&[
            "seed",
            t,
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            seed_listen,
            "--no-dht",
        ])
        .env("RUST_LOG", log)
        .stdout(Stdio::null()),
    );
    FromP2pSeed {
        seed,
        fetch,
        heard,
        content,
        out,
        _dir: dir,
    }
}

impl FromP2pSeed {
    /// libtorrent completed, heard of the seed at an address containing `seed`, and wrote the
    /// file whole.
    fn completed_hearing(mut self, seed: &str) {
        assert!(
            self.fetch.wait_for(Duration::from_secs(30)).success(),
            "libtorrent did not complete from the p2p seed"
        );
        let heard = std::fs::read_to_string(&self.heard).unwrap();
        assert!(
            heard
                .lines()
                .any(|l| l.starts_with("lsd peer: ") && l.contains(seed)),
            "{heard}"
        );
        assert_eq!(
            std::fs::read(self.out.join("f.bin")).unwrap(),
            std::fs::read(&self.content).unwrap()
        );
    }
}

#[test]
fn libtorrent_fetches_from_a_p2p_seed_it_heard_of_on_the_lan() {
    let (a, b) = lan("ls");
    let lan = libtorrent_fetching_from_p2p_seed(&a, &b, B, &format!("{A}:6881"), "info");
    lan.seed.listening_port();
    // libtorrent learned of the seed from p2p's announce.
    lan.completed_hearing(&format!("{A}:6881"));
}

/// A libtorrent seed on host B and `p2p fetch EXTRA...` on host A, with no tracker and no
/// DHT; the content, where the fetch wrote, and the fetch's output.
fn p2p_fetch_from_libtorrent(
    dir: &std::path::Path,
    tag: &str,
    extra: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf, std::process::Output) {
    let (a, b) = lan(tag);
    let (content, torrent) = make_content(dir, "f.bin", 1 << 20, "t@127.0.0.1:9", "64K");
    let t = torrent.to_str().unwrap();
    let _seed = Proc::spawn(
        "libtorrent seed",
        &mut libtorrent(&b, t, dir.to_str().unwrap(), &["--timeout", "60"]),
    );
    let out = dir.join("p2p");
    let listen = format!("{A}:0");
    let mut args = vec![
        "fetch",
        t,
        "--out",
        out.to_str().unwrap(),
        "--listen",
        &listen,
        "--no-dht",
    ];
    args.extend_from_slice(extra);
    let o = a
        .p2p(&args)
        .env("RUST_LOG", "info,p2p::lsd=debug")
        .output()
        .unwrap();
    (content, out, o)
}

#[test]
fn p2p_fetches_from_a_libtorrent_seed_it_heard_of_on_the_lan() {
    let dir = tempfile::tempdir().unwrap();
    let (content, out, o) = p2p_fetch_from_libtorrent(dir.path(), "lf", &["--timeout", "10s"]);
    // p2p learned of the seed from libtorrent's announce.
    assert!(
        stderr(&o).contains(&format!("lsd: {B}:7000 has ")),
        "{}",
        stderr(&o)
    );
    assert!(
        o.status.success(),
        "p2p did not find the libtorrent seed: {}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(&content).unwrap()
    );
}

#[test]
fn no_lsd_keeps_a_fetch_from_finding_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, o) = p2p_fetch_from_libtorrent(dir.path(), "ln", &["--no-lsd", "--timeout", "4s"]);
    assert!(
        !o.status.success(),
        "without local discovery there is no peer to find"
    );
}

#[test]
fn a_private_torrent_is_never_announced_on_the_lan() {
    let (a, b) = lan("lp");
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = make_content(dir.path(), "pub.bin", 100_000, "t@127.0.0.1:9", "16K");
    let private_content = dir.path().join("priv.bin");
    std::fs::write(&private_content, data(100_000, 9)).unwrap();
    let private = dir.path().join("priv.torrent");
    let o = p2p(&[
        "make-torrent",
        private_content.to_str().unwrap(),
        "--tracker",
        "t@127.0.0.1:9",
        "--private",
        "--out",
        private.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // What arrives on the group on the other host, for four seconds.
    let listen = "import socket,struct,sys,time\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
        s.bind(('',6771))\n\
        s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,\
        struct.pack('4s4s',socket.inet_aton('239.192.152.143'),socket.inet_aton('0.0.0.0')))\n\
        s.settimeout(0.2)\nprint('joined',flush=True)\nend=time.time()+4\n\
        while time.time()<end:\n  try: print(s.recv(2000).decode('latin-1'),flush=True)\n  \
        except socket.timeout: pass\n";
    let heard = dir.path().join("heard");
    let mut cmd = b.command("python3", &["-c", listen]);
    cmd.stdout(std::fs::File::create(&heard).unwrap());
    let mut listener = Proc::spawn("listener", &mut cmd);
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&heard).is_ok_and(|h| h.contains("joined"))
    }));
    let seed = spawn_logged_command(
        "p2p seed",
        a.p2p(&[
            "seed",
            public.to_str().unwrap(),
            private.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            &format!("{A}:6881"),
            "--no-dht",
        ])
        .stdout(Stdio::null()),
    );
    seed.listening_port();
    listener.wait_for(Duration::from_secs(10));
    let heard = std::fs::read_to_string(&heard).unwrap();
    assert!(
        heard.contains(&format!("Infohash: {}", info_hash(&public))),
        "the public torrent is announced: {heard}"
    );
    assert!(
        !heard.contains(&info_hash(&private)),
        "the private torrent is not: {heard}"
    );
}

#[test]
fn on_an_ipv6_lan_each_hears_the_other() {
    let a = Namespace::new("l6a", &[]);
    let b = Namespace::new("l6b", &[]);
    let run = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {}: {}", args.join(" "), stderr(&o));
    };
    run(&[
        "-n", &a.name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
        &b.name,
    ]);
    for (ns, ip) in [(&a, "fd00:88::1/64"), (&b, "fd00:88::2/64")] {
        run(&["-n", &ns.name, "addr", "add", ip, "dev", "eth0", "nodad"]);
        run(&["-n", &ns.name, "link", "set", "eth0", "up"]);
        // As on a host with IPv6 connectivity: a default route (multicast goes by it).
        run(&[
            "-n", &ns.name, "-6", "route", "add", "default", "dev", "eth0",
        ]);
    }
    let lan = libtorrent_fetching_from_p2p_seed(
        &a,
        &b,
        "fd00:88::2",
        "[fd00:88::1]:6881",
        "info,p2p::lsd=debug",
    );
    // p2p hears libtorrent's announces on ff15::efc0:988f.
    lan.seed
        .wait_line("lsd: [fd00:88::2]:7000 has ", Duration::from_secs(10));
    // And libtorrent heard p2p's.
    lan.completed_hearing("fd00:88::1");
}
