//! `https://` trackers and web seeds: p2p's TLS client against Python's `ssl` (OpenSSL) in
//! front of `p2p tracker` and a Range-honouring file server, with a certificate authority the
//! test makes (tests/support/tls_certs.py) and points `SSL_CERT_FILE` at. A good certificate
//! lets the announce and the web-seeded fetch through; an expired one, one for another host
//! name and one from an unknown authority are each refused with their reason.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");

/// The test's CA and certificates in a fresh directory, or a failure naming the package.
fn certificates() -> tempfile::TempDir {
    let py = "/usr/bin/python3";
    let ok = Command::new(py)
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Python's cryptography missing: install the Debian package `python3-cryptography` \
         (apt-get install -y python3-cryptography)"
    );
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(py)
        .arg(format!("{SUPPORT}/tls_certs.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(made.success(), "tls_certs.py failed");
    dir
}

/// tests/support/tls_proxy.py with `certs/STEM.pem` in front of 127.0.0.1:`backend`; its
/// `handshake` and `refused …` lines come on `lines`.
struct TlsFront {
    _proc: Proc,
    port: u16,
    lines: Receiver<String>,
}

fn tls_front(certs: &Path, stem: &str, backend: u16) -> TlsFront {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(format!("{SUPPORT}/tls_proxy.py"))
        .arg(certs.join(format!("{stem}.pem")))
        .arg(certs.join(format!("{stem}.key")))
        .arg(backend.to_string())
        .stdout(Stdio::piped());
    let mut proc = Proc::spawn("tls proxy", &mut cmd);
    let stdout = proc.child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let stem = stem.to_string();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[tls proxy {stem}] {line}");
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    let port = first
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("tls_proxy.py: expected `listening PORT`, got {first:?}"));
    TlsFront {
        _proc: proc,
        port,
        lines,
    }
}

impl TlsFront {
    /// Handshakes completed so far (waiting a moment for the lines already printed).
    fn handshakes(&self) -> usize {
        self.lines
            .try_iter()
            .filter(|l| l.as_str() == "handshake")
            .count()
    }

    /// The first `refused` line within `limit`.
    fn refusal(&self, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("refused") => return line,
                Ok(_) => {}
                Err(_) => panic!("the TLS server saw no refused handshake within {limit:?}"),
            }
        }
    }
}

fn content(dir: &Path) -> PathBuf {
    let file = dir.join("data.bin");
    fs::write(&file, data(300_000, 7)).unwrap();
    file
}

#[test]
fn an_https_tracker_introduces_seed_and_fetcher() {
    let certs = certificates();
    let ca = certs.path().join("ca.pem");
    let env = [("SSL_CERT_FILE", ca.as_path())];
    let (tracker, tracker_port) = start_tracker(2);
    let front = tls_front(certs.path(), "good", tracker_port);
    let dir = tempfile::tempdir().unwrap();
    let file = content(dir.path());
    let torrent = dir.path().join("data.torrent");
    let announce = format!("https://127.0.0.1:{}/announce", front.port);
    make_16k_torrent(&file, &torrent, &["--tracker", &announce]);

    let seed = spawn_logged_env(
        "seed",
        &[
            "seed",
            torrent.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &env,
    );
    seed.listening_port();
    // The seed is in the swarm once the tracker has counted it (through the TLS front).
    let hash = info_hash(&torrent);
    assert!(
        wait_until(Duration::from_secs(20), || scrape(tracker_port, &hash).0
            == 1),
        "the seed's announce over https:// never reached the tracker"
    );
    // The fetcher learns of the seed only from the tracker: no DHT, no --peer.
    let out = dir.path().join("out");
    let mut fetch = start_fetch_env(
        "fetch",
        &fetch_args(&torrent, &out, &["--no-dht"]),
        &out,
        &env,
    );
    let (ok, _, stderr) = fetch.finish(Duration::from_secs(60));
    assert!(ok, "the fetch failed:\n{stderr}");
    assert_eq!(
        fs::read(out.join("data.bin")).unwrap(),
        fs::read(&file).unwrap()
    );
    assert!(
        front.handshakes() >= 2,
        "seed and fetcher each announced over TLS"
    );
    drop(tracker);
}

#[test]
fn an_https_web_seed_serves_a_fetch_alone() {
    let certs = certificates();
    let ca = certs.path().join("ca.pem");
    let dir = tempfile::tempdir().unwrap();
    let file = content(dir.path());
    let (_server, server_port) = range_http_server(dir.path());
    let front = tls_front(certs.path(), "good", server_port);
    let torrent = dir.path().join("data.torrent");
    let seed = format!("https://127.0.0.1:{}/data.bin", front.port);
    make_16k_torrent(&file, &torrent, &["--web-seed", &seed]);
    let out = dir.path().join("out");
    let mut fetch = start_fetch_env(
        "fetch",
        &fetch_args(&torrent, &out, &["--no-dht"]),
        &out,
        &[("SSL_CERT_FILE", ca.as_path())],
    );
    let (ok, summary, stderr) = fetch.finish(Duration::from_secs(60));
    assert!(ok, "the fetch failed:\n{stderr}");
    assert_eq!(
        fs::read(out.join("data.bin")).unwrap(),
        fs::read(&file).unwrap()
    );
    let from_web_seeds = summary
        .split_once(" from web seeds")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(from_web_seeds, Some(300_000), "{summary}");
    assert!(front.handshakes() >= 1);
}

/// A fetch from a tracker behind `stem`'s certificate gives up after 3 s; the announce's
/// warning names the tracker and `reason`, and the server saw the handshake refused.
fn refused_tracker(certs: &Path, stem: &str, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = content(dir.path());
    let (tracker, tracker_port) = start_tracker(2);
    let front = tls_front(certs, stem, tracker_port);
    let torrent = dir.path().join("data.torrent");
    let announce = format!("https://127.0.0.1:{}/announce", front.port);
    make_16k_torrent(&file, &torrent, &["--tracker", &announce]);
    let out = dir.path().join("out");
    let ca = certs.join("ca.pem");
    let mut fetch = start_fetch_env(
        "fetch",
        &fetch_args(&torrent, &out, &["--no-dht", "--timeout", "3s"]),
        &out,
        &[("SSL_CERT_FILE", ca.as_path())],
    );
    let (ok, _, stderr) = fetch.finish(Duration::from_secs(30));
    assert!(
        !ok,
        "a fetch from a tracker with a bad certificate cannot succeed"
    );
    let warning = stderr
        .lines()
        .find(|l| l.contains("announce failed"))
        .unwrap_or_else(|| panic!("no announce warning:\n{stderr}"));
    assert!(warning.contains(&announce), "{warning}");
    assert!(warning.contains(reason), "{stem}: {warning}");
    front.refusal(Duration::from_secs(5));
    drop(tracker);
}

#[test]
fn bad_certificates_are_refused_with_their_reason() {
    let certs = certificates();
    refused_tracker(certs.path(), "expired", "certificate has expired");
    refused_tracker(
        certs.path(),
        "wrong_name",
        "certificate is not valid for 127.0.0.1",
    );
    refused_tracker(
        certs.path(),
        "unknown_ca",
        "not signed by a known authority",
    );
}

#[test]
fn a_web_seed_with_an_unknown_authority_is_not_trusted() {
    let certs = certificates();
    let dir = tempfile::tempdir().unwrap();
    let file = content(dir.path());
    let (_server, server_port) = range_http_server(dir.path());
    let front = tls_front(certs.path(), "unknown_ca", server_port);
    let torrent = dir.path().join("data.torrent");
    let seed = format!("https://127.0.0.1:{}/data.bin", front.port);
    make_16k_torrent(&file, &torrent, &["--web-seed", &seed]);
    let out = dir.path().join("out");
    let ca = certs.path().join("ca.pem");
    let mut fetch = start_fetch_env(
        "fetch",
        &fetch_args(&torrent, &out, &["--no-dht", "--timeout", "3s"]),
        &out,
        &[("SSL_CERT_FILE", ca.as_path())],
    );
    let (ok, _, stderr) = fetch.finish(Duration::from_secs(30));
    assert!(
        !ok,
        "no byte may come from a server whose certificate is not trusted"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(&seed) && l.contains("not signed by a known authority")),
        "{stderr}"
    );
    assert!(
        !out.join("data.bin").exists(),
        "the file was never completed"
    );
    front.refusal(Duration::from_secs(5));
}
