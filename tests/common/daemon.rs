//! A `p2p daemon` under test: its state and download directories, its RPC port, and RPC calls
//! made the way clients make them (through the library's own client, or transmission-remote).

use super::process::{Logged, spawn_logged_env};
use p2p::daemon::client::Client;
use p2p::json::{Json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Daemon {
    pub logged: Logged,
    pub rpc: String,
    pub state: PathBuf,
    pub downloads: PathBuf,
    /// Where its peers connect (its `--listen`).
    pub peers: String,
    /// The log lines read before the RPC's address was.
    pub early: Vec<String>,
}

/// `p2p daemon --rpc 127.0.0.1:0 --listen 127.0.0.1:0 --no-dht` with `state` and `downloads`
/// under `root` (kept across restarts: start it again on the same root), and `extra` flags.
pub fn start_daemon(name: &str, root: &Path, extra: &[&str]) -> Daemon {
    start_daemon_logging(name, root, extra, "info")
}

/// [`start_daemon`] with `RUST_LOG` set to `log`.
pub fn start_daemon_logging(name: &str, root: &Path, extra: &[&str], log: &str) -> Daemon {
    let downloads = root.join("downloads");
    let mut args = vec!["--download-dir", downloads.to_str().unwrap()];
    args.extend_from_slice(extra);
    start_with(name, root, &args, log)
}

/// [`start_daemon`] without `--download-dir`: the daemon's saved settings (or the default,
/// `$HOME/Downloads`) say where.
pub fn start_daemon_without_download_dir(name: &str, root: &Path) -> Daemon {
    start_with(name, root, &[], "info")
}

fn start_with(name: &str, root: &Path, extra: &[&str], log: &str) -> Daemon {
    let (state, downloads) = (root.join("state"), root.join("downloads"));
    let mut args = vec![
        "daemon",
        "--state-dir",
        state.to_str().unwrap(),
        "--rpc",
        "127.0.0.1:0",
        "--listen",
        "127.0.0.1:0",
        "--no-dht",
    ];
    args.extend_from_slice(extra);
    let logged = spawn_logged_env(name, &args, &[("RUST_LOG", Path::new(log))]);
    let mut early = Vec::new();
    let line = loop {
        let line = logged
            .lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{name}: no RPC address logged within 20 s"));
        if line.contains("RPC and web page on http://") {
            break line;
        }
        early.push(line);
    };
    // "daemon: peers on ADDR, RPC and web page on http://ADDR/ …"
    let between = |from: &str, to: char| {
        line.split(from)
            .nth(1)
            .and_then(|s| s.split(to).next())
            .unwrap_or_else(|| panic!("no address after {from:?} in {line:?}"))
            .to_string()
    };
    let (rpc, peers) = (between("http://", '/'), between("peers on ", ','));
    Daemon {
        logged,
        rpc,
        peers,
        state,
        downloads,
        early,
    }
}

impl Daemon {
    /// A log line containing `needle`, whether logged before the RPC's address or within
    /// `limit` after.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> String {
        match self.early.iter().find(|l| l.contains(needle)) {
            Some(line) => line.clone(),
            None => self.logged.wait_line(needle, limit),
        }
    }

    pub fn port(&self) -> u16 {
        self.rpc.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// An RPC call that must succeed; its `arguments`.
    pub fn call(&self, method: &str, args: Json) -> Value {
        Client::new(&self.rpc, None)
            .call(method, args)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Every torrent with `fields`.
    pub fn torrents(&self, fields: &[&str]) -> Vec<Value> {
        let fields = Json::List(fields.iter().map(|f| Json::str(*f)).collect());
        let answer = self.call("torrent-get", Json::Obj(vec![("fields", fields)]));
        answer.get("torrents").unwrap().as_list().unwrap().to_vec()
    }

    /// `transmission-remote 127.0.0.1:PORT ARGS...`, which must succeed; its stdout.
    pub fn remote(&self, args: &[&str]) -> String {
        let program = super::clients::require("transmission-remote", "transmission-cli");
        let o = std::process::Command::new(program)
            .arg(&self.rpc)
            .args(args)
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            o.status.success(),
            "transmission-remote {args:?}: {out}{err}"
        );
        out
    }
}

/// A field of a torrent as a number (0 when absent).
pub fn num(t: &Value, field: &str) -> f64 {
    t.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The other side of a daemon under test: a tracker, one file of pseudo-random bytes in
/// `root/src`, its torrent, and `p2p seed` serving it. All stop when dropped.
pub struct OneSeed {
    pub tracker_port: u16,
    pub content: PathBuf,
    pub torrent: PathBuf,
    pub hash: String,
    _tracker: Logged,
    _seed: Logged,
}

/// [`OneSeed`] of `name`, `size` bytes in pieces of `piece`, announcing every `interval` s.
pub fn one_seed(root: &Path, name: &str, size: usize, piece: &str, interval: u32) -> OneSeed {
    let (tracker, tracker_port) = super::tracker::start_tracker(interval);
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let announce = format!("t@127.0.0.1:{tracker_port}");
    let (content, torrent) = super::fixtures::make_content(&src, name, size, &announce, piece);
    let hash = super::fixtures::info_hash(&torrent);
    let (seed, _) = super::process::start_seed("seed", &torrent, &src, &["--no-dht"]);
    OneSeed {
        tracker_port,
        content,
        torrent,
        hash,
        _tracker: tracker,
        _seed: seed,
    }
}
