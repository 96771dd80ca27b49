//! Real clients the tests check p2p against: each one's absence fails the test naming the
//! Debian package to install.

use super::process::{Proc, free_port};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Fails, naming the Debian package, when a real client the test needs is missing.
pub fn require(program: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{program}` not found: install the Debian package `{package}` (apt-get install -y {package})")
    })
}

/// Debian's python3 with the libtorrent bindings, or a failure naming python3-libtorrent.
pub fn require_libtorrent() -> &'static str {
    let py = "/usr/bin/python3";
    let ok = Command::new(py)
        .args(["-c", "import libtorrent"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "libtorrent bindings missing: install the Debian package `python3-libtorrent` (apt-get install -y python3-libtorrent)"
    );
    py
}

/// aria2c downloading `torrent` into `out` and exiting once done: no DHT, LPD or PEX (peers come
/// from the tracker only), a free listening port, integrity checked.
pub fn aria2c_fetch(aria2c: &Path, torrent: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(aria2c);
    cmd.args([
        "--enable-dht=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--seed-time=0",
        "--check-integrity=true",
        "--console-log-level=warn",
        "--summary-interval=0",
        &format!("--listen-port={}", free_port()),
        &format!("--dir={}", out.display()),
        torrent.to_str().unwrap(),
    ])
    .stdout(Stdio::null());
    cmd
}

/// libtorrent (the helper script under Debian's python3) downloading `torrent` into `out` from
/// the peer at 127.0.0.1:`port`, exiting 0 once complete or 1 after `timeout_secs`; `extra`
/// adds helper flags such as `--require-encryption`.
pub fn libtorrent_fetch(
    py: &str,
    torrent: &Path,
    out: &Path,
    port: u16,
    timeout_secs: u32,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(py);
    cmd.args([
        libtorrent_peer_script(),
        torrent.to_str().unwrap(),
        out.to_str().unwrap(),
        &free_port().to_string(),
        "--fetch",
        "--timeout",
        &timeout_secs.to_string(),
        "--peer",
        &format!("127.0.0.1:{port}"),
    ])
    .args(extra)
    .stdout(Stdio::null());
    cmd
}

/// libtorrent seeding `torrent` from `dir` for `timeout_secs`; returns it and its port.
pub fn libtorrent_seed(
    py: &str,
    torrent: &Path,
    dir: &Path,
    timeout_secs: u32,
    extra: &[&str],
) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new(py);
    cmd.args([
        libtorrent_peer_script(),
        torrent.to_str().unwrap(),
        dir.to_str().unwrap(),
        &port.to_string(),
        "--timeout",
        &timeout_secs.to_string(),
    ])
    .args(extra)
    .stdout(Stdio::piped());
    let mut seed = Proc::spawn("libtorrent seed", &mut cmd);
    helper_port(&mut seed);
    (seed, port)
}

/// Path of the libtorrent helper script.
pub fn libtorrent_peer_script() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/libtorrent_peer.py"
    )
}

/// Reads a helper script's `listening PORT` line from its piped stdout, then keeps draining the
/// pipe so later prints never hit a closed pipe.
pub fn helper_port(proc: &mut Proc) -> u16 {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(proc.child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("a line from the helper");
    std::thread::spawn(move || for _ in reader.lines() {});
    line.trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{}: expected `listening PORT`, got {line:?}", proc.name))
        .parse()
        .expect("a port")
}

/// tests/support/range_http.py serving `dir`: Range and keep-alive, as nginx or Apache.
pub fn range_http_server(dir: &Path) -> (Proc, u16) {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/range_http.py"
    ))
    .arg(dir)
    .stdout(Stdio::piped());
    let mut server = Proc::spawn("range server", &mut cmd);
    let port = helper_port(&mut server);
    (server, port)
}

/// `tests/support/metadata_liar.py MODE TORRENT`: a peer lying about the torrent's metadata (or
/// a v2 torrent's piece layers); returns it and its port.
pub fn metadata_liar(mode: &str, torrent: &Path) -> (Proc, u16) {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args([
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/metadata_liar.py"
        ),
        mode,
        torrent.to_str().unwrap(),
    ])
    .stdout(Stdio::piped());
    let mut p = Proc::spawn(mode, &mut cmd);
    let port = helper_port(&mut p);
    (p, port)
}

/// `tests/support/bad_seed.py MODE HASH PIECES`: a peer that claims every piece and misbehaves
/// as MODE says (corrupt, silent, protocol); returns it and its port.
pub fn bad_seed(mode: &str, hash: &str, pieces: usize) -> (Proc, u16) {
    bad_seed_at("127.0.0.1", mode, hash, pieces)
}

/// [`bad_seed`] listening on `host`, a loopback address of its own: a client that tells peers
/// apart by address alone (libtorrent's smart ban) must not take it for another peer.
pub fn bad_seed_at(host: &str, mode: &str, hash: &str, pieces: usize) -> (Proc, u16) {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/bad_seed.py"),
        mode,
        hash,
        &pieces.to_string(),
        host,
    ])
    .stdout(Stdio::piped());
    let mut p = Proc::spawn(mode, &mut cmd);
    let port = helper_port(&mut p);
    (p, port)
}

/// rtorrent 0.9.8 (a v1-only client: it knows nothing of BEP 52) serving `torrent` from `dir`
/// with its own session in `home`, on 127.0.0.1 with no DHT, PEX or UDP trackers; returns it
/// and its port once its log says the torrent started (after its hash check). It wants a
/// tracker in the torrent (none need answer) and every padding file on disk, as any v1 client.
pub fn rtorrent_peer(torrent: &Path, dir: &Path, home: &Path) -> (Proc, u16) {
    let rtorrent = require("rtorrent", "rtorrent");
    let port = free_port();
    let session = home.join("session");
    std::fs::create_dir_all(&session).unwrap();
    let log = home.join("rtorrent.log");
    let rc = home.join("rtorrent.rc");
    let settings = [
        "system.daemon.set = true".to_string(),
        format!("directory.default.set = {}", dir.display()),
        format!("session.path.set = {}", session.display()),
        "network.bind_address.set = 127.0.0.1".into(),
        format!("network.port_range.set = {port}-{port}"),
        "network.port_random.set = no".into(),
        "dht.mode.set = disable".into(),
        "protocol.pex.set = no".into(),
        "trackers.use_udp.set = no".into(),
        "protocol.encryption.set = allow_incoming,try_outgoing,enable_retry".into(),
        format!("log.open_file = \"log\", {}", log.display()),
        "log.add_output = \"info\", \"log\"".into(),
        "log.add_output = \"torrent_info\", \"log\"".into(),
        format!("load.start_verbose = {}", torrent.display()),
    ];
    std::fs::write(&rc, settings.join("\n") + "\n").unwrap();
    let import = format!("import={}", rc.display());
    let mut cmd = Command::new(rtorrent);
    cmd.args(["-n", "-o", &import])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let proc = Proc::spawn("rtorrent", &mut cmd);
    let started = super::process::wait_until(std::time::Duration::from_secs(30), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Starting torrent"))
    });
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(started, "rtorrent did not start the torrent: {said}");
    (proc, port)
}
