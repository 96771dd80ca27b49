//! Which peer addresses p2p dials (issue 24): a tracker on a remote host that lists 0.0.0.0,
//! 127.0.0.1 and 224.0.0.1 beside a real seed must not make the fetch connect to this machine's
//! own loopback services. Run on test hosts in a network namespace, so that the tracker is a
//! remote (non-loopback) source.

mod common;
use common::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn a_remote_tracker_cannot_steer_the_fetch_at_loopback_or_unreachable_addresses() {
    let py = require("python3", "python3");
    const TRACKER: &str = "198.18.1.1";
    const SEED: &str = "198.18.2.1";
    const FETCH: &str = "198.18.3.1";
    let ns = Namespace::new("hyg", &[TRACKER, SEED, FETCH]);
    let dir = tempfile::tempdir().unwrap();

    // A service on the namespace's loopback that counts who connects to it.
    let counter = dir.path().join("connections");
    let script = "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)\n\
         print(s.getsockname()[1], flush=True)\nn=0\nwhile True:\n    c,_=s.accept(); n+=1\n    \
         open(sys.argv[1],'w').write(str(n)); c.close()\n";
    let mut cmd = ns.command(
        py.to_str().unwrap(),
        &["-c", script, counter.to_str().unwrap()],
    );
    cmd.stdout(Stdio::piped());
    let mut service = Proc::spawn("loopback service", &mut cmd);
    let service_port: u16 = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(service.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim().parse().unwrap()
    };

    let local = format!("127.0.0.1:{service_port}");
    let seed_addr = format!("{SEED}:7000");
    let tracker_script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/fixed_tracker.py"
    );
    let mut cmd = ns.command(
        py.to_str().unwrap(),
        &[
            tracker_script,
            TRACKER,
            "6969",
            "0.0.0.0:6881",
            &local,
            "224.0.0.1:6881",
            "255.255.255.255:6881",
            &seed_addr,
        ],
    );
    cmd.stdout(Stdio::piped());
    let mut tracker = Proc::spawn("fixed tracker", &mut cmd);
    helper_port(&mut tracker);

    let (content, torrent) = make_content(
        dir.path(),
        "f.bin",
        500_000,
        &format!("t@{TRACKER}:6969"),
        "32K",
    );
    let mut cmd = ns.p2p(&[
        "seed",
        torrent.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
        "--listen",
        &seed_addr,
        "--no-dht",
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let _seed = Proc::spawn("seed", &mut cmd);

    let out = dir.path().join("out");
    let listen = format!("{FETCH}:7001");
    let mut cmd = ns.p2p(&fetch_args_on(&torrent, &out, &listen, &["--no-dht"]));
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut fetch = Proc::spawn("fetch", &mut cmd);
    let status = fetch.wait_for(Duration::from_secs(60));
    assert!(status.success(), "the fetch failed: {status:?}");
    assert!(std::fs::read(out.join("f.bin")).unwrap() == std::fs::read(&content).unwrap());
    let connections = std::fs::read_to_string(&counter).unwrap_or_default();
    assert_eq!(
        connections, "",
        "the fetch connected to a loopback service a remote tracker named"
    );
}
