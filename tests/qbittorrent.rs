//! BitTorrent v2 and hybrid torrents against qBittorrent (Debian's qbittorrent-nox, libtorrent
//! 2.0 inside), driven through its WebUI API with curl as its users' scripts drive it: p2p
//! fetches from it, and it fetches from p2p; and 64 MiB each way with qBittorrent in µTP-only
//! mode.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A qbittorrent-nox of its own profile, listening on 127.0.0.1 only, with DHT, LSD, PEX and
/// UPnP off; killed on drop.
struct Qbit {
    _proc: Proc,
    api: String,
    port: u16,
    curl: PathBuf,
}

impl Qbit {
    fn start(dir: &Path) -> Qbit {
        let program = require("qbittorrent-nox", "qbittorrent-nox");
        let curl = require("curl", "curl");
        let (webui, port) = (free_port(), free_port());
        let config = dir.join("profile/qBittorrent/config");
        fs::create_dir_all(&config).unwrap();
        fs::write(
            config.join("qBittorrent.conf"),
            format!(
                "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\DHTEnabled=false\n\
                 Session\\LSDEnabled=false\nSession\\PeXEnabled=false\nSession\\Port={port}\n\
                 Session\\InterfaceAddress=127.0.0.1\nSession\\QueueingSystemEnabled=false\n\n\
                 [Preferences]\nConnection\\UPnP=false\nWebUI\\Port={webui}\n\
                 WebUI\\Address=127.0.0.1\nWebUI\\LocalHostAuth=false\nGeneral\\Locale=en\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(program);
        cmd.arg(format!("--profile={}", dir.join("profile").display()))
            .stdout(std::process::Stdio::null());
        let proc = Proc::spawn("qbittorrent-nox", &mut cmd);
        let q = Qbit {
            _proc: proc,
            api: format!("http://127.0.0.1:{webui}/api/v2"),
            port,
            curl,
        };
        assert!(
            wait_until(Duration::from_secs(20), || q
                .curl(&["/app/version"])
                .status
                .success()),
            "qbittorrent-nox's WebUI never answered"
        );
        q
    }

    fn curl(&self, args: &[&str]) -> Output {
        let (path, rest) = args.split_first().unwrap();
        Command::new(&self.curl)
            .args(["-sf", "--max-time", "10"])
            .args(rest)
            .arg(format!("{}{path}", self.api))
            .output()
            .unwrap()
    }

    /// Adds a .torrent, its content in (or to go to) `save`; returns qBittorrent's id for it.
    fn add(&self, torrent: &Path, save: &Path) -> String {
        let o = self.curl(&[
            "/torrents/add",
            "-F",
            &format!("torrents=@{}", torrent.display()),
            "-F",
            &format!("savepath={}", save.display()),
        ]);
        assert!(o.status.success(), "torrents/add: {}", stderr(&o));
        let (v1, v2) = hashes(torrent);
        let mut id = None;
        assert!(
            wait_until(Duration::from_secs(10), || {
                id = self.torrents().into_iter().find_map(|(hash, h1, h2, _)| {
                    ((!v1.is_empty() && h1 == v1) || (!v2.is_empty() && h2 == v2)).then_some(hash)
                });
                id.is_some()
            }),
            "qBittorrent did not list {}",
            torrent.display()
        );
        id.unwrap()
    }

    /// (id, v1 hash, v2 hash, progress) of every torrent.
    fn torrents(&self) -> Vec<(String, String, String, f64)> {
        let o = self.curl(&["/torrents/info"]);
        let text = stdout(&o);
        // A list of flat objects: split on them and read the four fields.
        text.split("},{")
            .filter_map(|t| {
                let field = |name: &str| {
                    let key = format!("\"{name}\":");
                    let rest = &t[t.find(&key)? + key.len()..];
                    Some(
                        rest.trim_start_matches('"')
                            .split(['"', ',', '}'])
                            .next()?
                            .to_string(),
                    )
                };
                Some((
                    field("hash")?,
                    field("infohash_v1").unwrap_or_default(),
                    field("infohash_v2").unwrap_or_default(),
                    field("progress")?.parse().ok()?,
                ))
            })
            .collect()
    }

    fn progress(&self, id: &str) -> f64 {
        self.torrents()
            .into_iter()
            .find(|t| t.0 == id)
            .map_or(0.0, |t| t.3)
    }
}

/// A torrent's two info-hashes as `p2p info --json` gives them ("" for a missing one).
fn hashes(torrent: &Path) -> (String, String) {
    let json = stdout(&p2p(&["info", torrent.to_str().unwrap(), "--json"]));
    let field = |name: &str| {
        let key = format!("\"{name}\":\"");
        json.find(&key)
            .map(|at| {
                json[at + key.len()..]
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let version = field("version");
    let v1 = if version == "v2" {
        String::new()
    } else {
        field("info_hash")
    };
    (v1, field("info_hash_v2"))
}

#[test]
fn p2p_and_qbittorrent_exchange_v2_and_hybrid_torrents_both_ways() {
    let py = require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let content = uneven_content(dir.path());
    let qbit = Qbit::start(&dir.path().join("qbit"));
    for kind in ["v2", "hybrid"] {
        // qBittorrent seeds a torrent libtorrent made; p2p fetches it.
        let theirs = dir.path().join(format!("lt-{kind}.torrent"));
        libtorrent_torrent(py, &content, &theirs, kind);
        let id = qbit.add(&theirs, dir.path());
        assert!(
            wait_until(Duration::from_secs(20), || qbit.progress(&id) >= 1.0),
            "qBittorrent did not check its {kind} copy"
        );
        let out = dir.path().join(format!("from-qbit-{kind}"));
        let (ok, _, _) = start_fetch(
            "fetch",
            &theirs,
            &out,
            &["--peer", &format!("127.0.0.1:{}", qbit.port), "--no-dht"],
        )
        .finish(Duration::from_secs(60));
        assert!(
            ok,
            "p2p could not fetch the {kind} torrent from qBittorrent"
        );
        assert_same_files(&content, &out.join("pack"));

        // p2p seeds a torrent it made; qBittorrent fetches it.
        let ours = dir.path().join(format!("p2p-{kind}.torrent"));
        make_torrent_with(&content, &format!("--{kind}"), "32K", &ours);
        let (_seed, port) = start_seed("seed", &ours, dir.path(), &["--no-dht"]);
        let into = dir.path().join(format!("qbit-{kind}"));
        fs::create_dir(&into).unwrap();
        let id = qbit.add(&ours, &into);
        let o = qbit.curl(&[
            "/torrents/addPeers",
            "-d",
            &format!("hashes={id}&peers=127.0.0.1:{port}"),
        ]);
        assert!(o.status.success(), "addPeers: {}", stderr(&o));
        assert!(
            wait_until(Duration::from_secs(60), || qbit.progress(&id) >= 1.0),
            "qBittorrent did not fetch the {kind} torrent from p2p"
        );
        assert_same_files(&content, &into.join("pack"));
    }
}

#[test]
fn p2p_and_qbittorrent_in_utp_only_mode_exchange_64_mib_both_ways() {
    // qBittorrent's "µTP only" (`bittorrent_protocol` 2, set through the WebUI API as its
    // users set it): every connection it makes or takes is uTP, so a transfer is one.
    let dir = tempfile::tempdir().unwrap();
    let qbit = Qbit::start(&dir.path().join("qbit"));
    let o = qbit.curl(&[
        "/app/setPreferences",
        "--data-urlencode",
        "json={\"bittorrent_protocol\":2}",
    ]);
    assert!(o.status.success(), "setPreferences: {}", stderr(&o));
    let prefs = stdout(&qbit.curl(&["/app/preferences"]));
    assert!(prefs.contains("\"bittorrent_protocol\":2"), "{prefs}");
    let content = dir.path().join("big.bin");
    fs::write(&content, data(64 << 20, 23)).unwrap();
    let torrent = dir.path().join("big.torrent");
    make_torrent_with(&content, "--pad", "1M", &torrent);

    // qBittorrent seeds; p2p fetches, over uTP and nothing else.
    let id = qbit.add(&torrent, dir.path());
    assert!(
        wait_until(Duration::from_secs(30), || qbit.progress(&id) >= 1.0),
        "qBittorrent did not check its copy"
    );
    let out = dir.path().join("from-qbit");
    let (ok, json, err) = start_fetch(
        "fetch",
        &torrent,
        &out,
        &[
            "--peer",
            &format!("127.0.0.1:{}", qbit.port),
            "--no-dht",
            "--json",
        ],
    )
    .finish(Duration::from_secs(90));
    assert!(ok, "p2p could not fetch from qBittorrent over uTP: {err}");
    assert!(
        json.contains("\"utp_connections\":1") && json.contains("\"tcp_connections\":0"),
        "{json}"
    );
    assert!(fs::read(out.join("big.bin")).unwrap() == fs::read(&content).unwrap());
    let o = qbit.curl(&[
        "/torrents/delete",
        "-d",
        &format!("hashes={id}&deleteFiles=false"),
    ]);
    assert!(o.status.success());

    // p2p seeds (capped, so that the transfer lasts long enough to be seen in qBittorrent's
    // peer list); qBittorrent fetches, and its peer list says µTP.
    let (_seed, port) = start_seed(
        "seed",
        &torrent,
        dir.path(),
        &["--no-dht", "--upload-limit", "16M"],
    );
    let into = dir.path().join("qbit-copy");
    fs::create_dir(&into).unwrap();
    let id = qbit.add(&torrent, &into);
    let o = qbit.curl(&[
        "/torrents/addPeers",
        "-d",
        &format!("hashes={id}&peers=127.0.0.1:{port}"),
    ]);
    assert!(o.status.success(), "addPeers: {}", stderr(&o));
    let mut utp_seen = false;
    assert!(
        wait_until(Duration::from_secs(90), || {
            let peers =
                stdout(&qbit.curl(&["/sync/torrentPeers", "-G", "-d", &format!("hash={id}")]));
            utp_seen |= peers.contains("\"connection\":\"\\u00b5TP\"")
                || peers.contains("\"connection\":\"µTP\"")
                || peers.contains("\"connection\":\"μTP\"")
                || peers.contains("\"connection\":\"\\u03bcTP\"");
            qbit.progress(&id) >= 1.0
        }),
        "qBittorrent did not fetch from p2p over uTP"
    );
    assert!(utp_seen, "qBittorrent never listed p2p as a µTP peer");
    assert!(fs::read(into.join("big.bin")).unwrap() == fs::read(&content).unwrap());
}
