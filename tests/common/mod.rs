//! Helpers shared by the integration tests: run the real binary, require real clients.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p");

pub fn p2p(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run p2p")
}

pub fn p2p_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run p2p")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure with exit code 1 and a single `p2p: error:` line containing `needle`.
pub fn assert_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit 1, stderr: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("p2p: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, stderr: {err}");
    assert!(
        lines[0].contains(needle),
        "error {:?} should name {needle:?}",
        lines[0]
    );
}

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

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The info-hash `p2p info` prints for a torrent.
pub fn info_hash(torrent: &Path) -> String {
    let o = p2p(&["info", torrent.to_str().unwrap()]);
    assert!(o.status.success(), "p2p info failed: {}", stderr(&o));
    stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("info-hash:").map(|h| h.trim().to_string()))
        .expect("info-hash line")
}

/// A child process killed when dropped, so a failing test never leaves it running.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for exit up to `limit`; kills and fails the test past it.
    pub fn wait_for(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `INT`, `TERM` or `KILL` to this process (and only to it, by PID).
    pub fn signal(&self, signal: &str) {
        unsafe extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        let number = match signal {
            "INT" => 2,
            "KILL" => 9,
            "TERM" => 15,
            other => panic!("unknown signal {other}"),
        };
        // SAFETY: kill(2) with the PID of a child this test started and has not reaped.
        unsafe { kill(self.pid() as i32, number) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; tests that can should bind :0 instead).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A p2p process whose stderr lines arrive on a channel (and are echoed, for failing tests).
pub struct Logged {
    pub proc: Proc,
    pub lines: std::sync::mpsc::Receiver<String>,
}

pub fn spawn_logged(name: &str, args: &[&str]) -> Logged {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(name, &mut cmd);
    let stderr = proc.child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let label = name.to_string();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[{label}] {line}");
            let _ = tx.send(line);
        }
    });
    Logged { proc, lines: rx }
}

impl Logged {
    /// The first line containing `needle` within `limit`; fails the test otherwise.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!(
                    "{}: no line containing {needle:?} within {limit:?}",
                    self.proc.name
                ),
            }
        }
    }

    /// The port from a `listening on HOST:PORT` line.
    pub fn listening_port(&self) -> u16 {
        let line = self.wait_line("listening on ", Duration::from_secs(20));
        let after = line.split("listening on ").nth(1).unwrap();
        let addr = after.split_whitespace().next().unwrap();
        addr.rsplit(':').next().unwrap().parse().expect("a port")
    }
}

/// `p2p tracker` on 127.0.0.1 with a free port; returns it with its port.
pub fn start_tracker(interval: u32) -> (Logged, u16) {
    let t = spawn_logged(
        "tracker",
        &[
            "tracker",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            &interval.to_string(),
            "--name",
            "testnode",
        ],
    );
    let port = t.listening_port();
    (t, port)
}

/// `p2p make-torrent CONTENT --tracker TRACKER --piece-length PIECE --out OUT`, which must work.
pub fn make_torrent_file(content: &Path, out: &Path, tracker: &str, piece_length: &str) {
    let o = p2p(&[
        "make-torrent",
        content.to_str().unwrap(),
        "--tracker",
        tracker,
        "--piece-length",
        piece_length,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "make-torrent: {}", stderr(&o));
}

/// A file of `len` pseudo-random bytes and a torrent for it announcing to `tracker`.
pub fn make_content(
    dir: &Path,
    name: &str,
    len: usize,
    tracker: &str,
    piece_length: &str,
) -> (PathBuf, PathBuf) {
    let content = dir.join(name);
    std::fs::write(&content, data(len, len as u64)).unwrap();
    let torrent = dir.join(format!("{name}.torrent"));
    make_torrent_file(&content, &torrent, tracker, piece_length);
    (content, torrent)
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

/// (complete, downloaded, incomplete) for one info-hash (hex) from `p2p tracker`'s HTTP scrape.
pub fn scrape(tracker_port: u16, info_hash_hex: &str) -> (i64, i64, i64) {
    use std::io::{Read, Write};
    let encoded: String = (0..20)
        .map(|i| format!("%{}", &info_hash_hex[2 * i..2 * i + 2]))
        .collect();
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", tracker_port)).expect("connect to the tracker");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /scrape?info_hash={encoded} HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).expect("scrape response");
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head")
        + 4;
    let v = p2p::bencode::decode(&response[body_at..]).expect("bencoded scrape");
    let p2p::bencode::Kind::Dict(files) = &v.get("files").expect("files").kind else {
        panic!("files is not a dictionary")
    };
    let entry = &files[0].1;
    let n = |k: &str| entry.get(k).and_then(|x| x.as_int()).expect(k);
    (n("complete"), n("downloaded"), n("incomplete"))
}
