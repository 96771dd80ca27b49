//! The Transmission RPC's methods (rpc-spec.md; the form Transmission 3.00 and its tools
//! speak): a request `{"method", "arguments", "tag"}` in, `{"result", "arguments", "tag"}` out,
//! `result` being `"success"` or what went wrong. A method or argument p2p does not carry out
//! is an error result naming it, never a success that did nothing.

use super::Node;
use super::fields::{self, View};
use super::request::{self, Act, Decoded, IdRef, Ids, RatioChange, Request, SessionChanges};
use crate::json::Json;
use crate::lifecycle::{Id, Snapshot};
use std::path::{Path, PathBuf};

/// The RPC version p2p answers as: Transmission 3.00's (16), whose tools and web client it is
/// tested with.
pub const RPC_VERSION: i64 = 16;

type Answer = Result<Json, String>;

/// Answers one request body. `Err`: the body is not a request at all (HTTP 400, with the JSON
/// that says why).
pub async fn handle(node: &Node, body: &[u8]) -> Result<Json, Json> {
    let call = match request::decode(body) {
        Decoded::Call(c) => c,
        Decoded::Refused(answer) => return Ok(answer),
        Decoded::Malformed(answer) => return Err(answer),
    };
    let answer = match call.request {
        Request::SessionGet => Ok(session_get(node)),
        Request::SessionSet(changes) => {
            let ratio = changes.ratio.is_some() || changes.ratio_limited.is_some();
            let set = session_set(node, changes);
            if set.is_ok() {
                node.save_settings();
                if ratio {
                    node.session_ratio_changed().await;
                }
            }
            set
        }
        Request::SessionStats => Ok(session_stats(node).await),
        Request::TorrentGet { fields, ids } => torrent_get(node, &fields, &ids).await,
        Request::TorrentAdd {
            what,
            dir,
            paused,
            wanted,
            unwanted,
        } => torrent_add(node, what, dir, paused, wanted, unwanted).await,
        Request::Act(act, ids) => each(node, &ids, act).await,
        Request::TorrentSet {
            ids,
            wanted,
            unwanted,
            ratio,
            up,
            down,
        } => {
            for id in select(node, &ids) {
                node.set_torrent_limits(id, up, down).await;
            }
            torrent_set(node, &ids, wanted, unwanted, ratio).await
        }
        Request::FreeSpace(path) => free_space(&path),
        Request::SetLocation {
            ids,
            location,
            move_data,
        } => {
            let mut moved = Ok(Json::Obj(Vec::new()));
            for id in select(node, &ids) {
                if let Err(e) = node.relocate(id, location.clone(), move_data).await {
                    moved = Err(e.to_string());
                    break;
                }
            }
            moved
        }
    };
    Ok(request::reply(answer, call.tag))
}

/// The engine ids of the torrents `ids` names (unknown ones are left out, as Transmission
/// does).
fn select(node: &Node, ids: &Ids) -> Vec<Id> {
    let all = node.ids();
    match ids {
        Ids::All | Ids::RecentlyActive => all.iter().map(|(id, _)| *id).collect(),
        Ids::Some(refs) => refs
            .iter()
            .flat_map(|r| {
                all.iter()
                    .filter(move |(id, hash)| match r {
                        IdRef::Number(n) => id == n,
                        IdRef::Hash(h) => hash.hex() == *h,
                    })
                    .map(|(id, _)| *id)
            })
            .collect(),
    }
}

async fn each(node: &Node, ids: &Ids, act: Act) -> Answer {
    for id in select(node, ids) {
        let done = match act {
            Act::Start => node.resume(id).await,
            Act::Stop => node.pause(id).await,
            Act::Verify => node.engine.verify(id).await,
            Act::Reannounce => node.engine.reannounce(id).await,
            Act::Remove { delete_data } => node.remove(id, delete_data).await,
        };
        done.map_err(|e| e.to_string())?;
    }
    Ok(Json::Obj(Vec::new()))
}

async fn torrent_get(node: &Node, names: &[String], ids: &Ids) -> Answer {
    let wants_files = names
        .iter()
        .any(|n| fields::FILE_FIELDS.contains(&n.as_str()));
    let wants_peers = names.iter().any(|n| n == "peers");
    let snapshots: Vec<Snapshot> = match ids {
        Ids::All | Ids::RecentlyActive => node.engine.list().await,
        ids => {
            let mut out = Vec::new();
            for id in select(node, ids) {
                out.extend(node.engine.snapshot(id).await);
            }
            out
        }
    };
    let session_ratio = node.settings().seed_ratio;
    // What must be asked of the engine first; then every record is read under one lock.
    let mut extras = Vec::with_capacity(snapshots.len());
    for s in &snapshots {
        let files = if wants_files {
            node.engine.files(s.id).await
        } else {
            Vec::new()
        };
        let peers = if wants_peers {
            node.engine.peers(s.id).await
        } else {
            Vec::new()
        };
        extras.push((files, peers));
    }
    // Written straight into the answer's text, each torrent's fields in the order asked.
    let mut torrents = String::with_capacity(2 + snapshots.len() * (names.len() * 24 + 2));
    torrents.push('[');
    node.with_records(|records| {
        for (s, (files, peers)) in snapshots.iter().zip(&extras) {
            let Some(r) = records.get(&s.id) else {
                continue;
            };
            let view = View {
                s,
                r,
                files,
                peers,
                session_ratio,
            };
            if torrents.len() > 1 {
                torrents.push(',');
            }
            torrents.push('{');
            let mut first = true;
            for (key, value) in names.iter().filter_map(|n| fields::get(n, &view)) {
                if !first {
                    torrents.push(',');
                }
                first = false;
                crate::json::write_key(&mut torrents, key);
                value.write_to(&mut torrents);
            }
            torrents.push('}');
        }
    });
    torrents.push(']');
    let mut answer = vec![("torrents", Json::Raw(torrents))];
    if *ids == Ids::RecentlyActive {
        let removed = node
            .recently_removed()
            .into_iter()
            .map(Json::uint)
            .collect();
        answer.push(("removed", Json::List(removed)));
    }
    Ok(Json::Obj(answer))
}

async fn torrent_add(
    node: &Node,
    what: super::Adding,
    dir: Option<PathBuf>,
    paused: Option<bool>,
    wanted: Vec<usize>,
    unwanted: Vec<usize>,
) -> Answer {
    let added = node
        .add(what, dir, paused)
        .await
        .map_err(|e| e.to_string())?;
    // The file count is known once the torrent is parsed: the choice is applied after the add.
    if !added.duplicate && (!wanted.is_empty() || !unwanted.is_empty()) {
        choose_files(node, added.id, &wanted, &unwanted).await?;
    }
    let key = if added.duplicate {
        "torrent-duplicate"
    } else {
        "torrent-added"
    };
    Ok(Json::Obj(vec![(
        key,
        Json::Obj(vec![
            ("id", Json::uint(added.id)),
            ("name", Json::str(added.name)),
            ("hashString", Json::str(added.info_hash.hex())),
        ]),
    )]))
}

/// `files-wanted` / `files-unwanted` by file number, applied to the current choice.
async fn choose_files(
    node: &Node,
    id: Id,
    wanted: &[usize],
    unwanted: &[usize],
) -> Result<(), String> {
    let files = node.engine.files(id).await;
    if files.is_empty() {
        return Err(
            "the torrent's files are not known yet (its metadata is still being fetched)".into(),
        );
    }
    let mut flags: Vec<bool> = files.iter().map(|f| f.wanted).collect();
    for (list, want) in [(wanted, true), (unwanted, false)] {
        for &i in list {
            *flags.get_mut(i).ok_or(format!(
                "file {i} is not in the torrent ({} files)",
                files.len()
            ))? = want;
        }
    }
    if !flags.contains(&true) {
        return Err("that choice leaves no file to fetch".into());
    }
    node.set_wanted(id, flags).await.map_err(|e| e.to_string())
}

async fn torrent_set(
    node: &Node,
    ids: &Ids,
    wanted: Vec<usize>,
    unwanted: Vec<usize>,
    ratio: Option<RatioChange>,
) -> Answer {
    for id in select(node, ids) {
        if !wanted.is_empty() || !unwanted.is_empty() {
            choose_files(node, id, &wanted, &unwanted).await?;
        }
        let set = match ratio {
            Some(RatioChange::Own(r)) => node.set_seed_ratio(id, Some(r)).await,
            Some(RatioChange::Session) => node.set_seed_ratio(id, None).await,
            None => Ok(()),
        };
        set.map_err(|e| e.to_string())?;
    }
    Ok(Json::Obj(Vec::new()))
}

fn session_get(node: &Node) -> Json {
    let settings = node.settings();
    let dir = settings.download_dir.display().to_string();
    let (up, down) = (node.upload_limit.rate(), node.download_limit.rate());
    let encryption = match node.encryption {
        crate::peer::encryption::Encryption::Require => "required",
        crate::peer::encryption::Encryption::Prefer => "preferred",
        crate::peer::encryption::Encryption::Off => "tolerated",
    };
    Json::Obj(vec![
        ("rpc-version", Json::Int(RPC_VERSION)),
        ("rpc-version-minimum", Json::Int(14)),
        (
            "version",
            Json::str(format!("p2p {}", env!("CARGO_PKG_VERSION"))),
        ),
        (
            "config-dir",
            Json::str(node.state.root().display().to_string()),
        ),
        ("download-dir", Json::str(&dir)),
        (
            "download-dir-free-space",
            free_bytes(&settings.download_dir),
        ),
        ("peer-port", Json::uint(node.engine.local_addr().port())),
        ("peer-port-random-on-start", Json::Bool(false)),
        ("port-forwarding-enabled", Json::Bool(node.port_mapping)),
        ("dht-enabled", Json::Bool(node.dht)),
        ("pex-enabled", Json::Bool(true)),
        ("lpd-enabled", Json::Bool(node.lsd)),
        ("utp-enabled", Json::Bool(false)),
        ("encryption", Json::str(encryption)),
        ("start-added-torrents", Json::Bool(settings.start_added)),
        ("rename-partial-files", Json::Bool(true)),
        ("incomplete-dir-enabled", Json::Bool(false)),
        ("speed-limit-down", Json::uint(down / 1024)),
        ("speed-limit-down-enabled", Json::Bool(down > 0)),
        ("speed-limit-up", Json::uint(up / 1024)),
        ("speed-limit-up-enabled", Json::Bool(up > 0)),
        ("alt-speed-enabled", Json::Bool(false)),
        (
            "seedRatioLimit",
            Json::Num(settings.seed_ratio.unwrap_or(0.0)),
        ),
        (
            "seedRatioLimited",
            Json::Bool(settings.seed_ratio.is_some()),
        ),
        ("idle-seeding-limit-enabled", Json::Bool(false)),
        ("queue-stalled-enabled", Json::Bool(false)),
        ("download-queue-enabled", Json::Bool(false)),
        ("seed-queue-enabled", Json::Bool(false)),
        ("blocklist-enabled", Json::Bool(false)),
        ("blocklist-size", Json::Int(0)),
        ("blocklist-url", Json::str("")),
        ("alt-speed-down", Json::Int(0)),
        ("alt-speed-up", Json::Int(0)),
        ("alt-speed-time-enabled", Json::Bool(false)),
        (
            "peer-limit-per-torrent",
            Json::uint(crate::torrent::MAX_PEERS),
        ),
        ("units", units()),
    ])
}

/// What `speed-limit-*` are counted in (kB = 1024 bytes, as Transmission's defaults).
fn units() -> Json {
    let list = |items: &[&str]| Json::List(items.iter().map(|s| Json::str(*s)).collect());
    Json::Obj(vec![
        ("speed-units", list(&["kB/s", "MB/s", "GB/s", "TB/s"])),
        ("speed-bytes", Json::Int(1024)),
        ("size-units", list(&["kB", "MB", "GB", "TB"])),
        ("size-bytes", Json::Int(1024)),
        ("memory-units", list(&["KiB", "MiB", "GiB", "TiB"])),
        ("memory-bytes", Json::Int(1024)),
    ])
}

fn session_set(node: &Node, c: SessionChanges) -> Answer {
    if let Some(dir) = &c.download_dir {
        super::check_dir(dir).map_err(|e| e.to_string())?;
    }
    let mut settings = node.settings.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = c.download_dir {
        settings.download_dir = dir;
    }
    if let Some(start) = c.start_added {
        settings.start_added = start;
    }
    // Limits in KiB/s, as Transmission's units say; on, off, or a new figure for one that is on.
    for (limit, (kib, enabled)) in [(&node.download_limit, c.down), (&node.upload_limit, c.up)] {
        let current = limit.rate() / 1024;
        let kib = kib.unwrap_or(current).max(1);
        match enabled {
            Some(false) => limit.set(0),
            Some(true) => limit.set(kib * 1024),
            None if current > 0 => limit.set(kib * 1024),
            None => {}
        }
    }
    match c.ratio_limited {
        Some(false) => settings.seed_ratio = None,
        Some(true) => settings.seed_ratio = c.ratio.or(settings.seed_ratio).or(Some(2.0)),
        None if settings.seed_ratio.is_some() && c.ratio.is_some() => settings.seed_ratio = c.ratio,
        None => {}
    }
    Ok(Json::Obj(Vec::new()))
}

async fn session_stats(node: &Node) -> Json {
    let all = node.engine.list().await;
    let active = all
        .iter()
        .filter(|s| s.download_rate > 0.0 || s.upload_rate > 0.0)
        .count();
    let paused = all
        .iter()
        .filter(|s| matches!(s.state, crate::lifecycle::State::Paused))
        .count();
    let (mut down, mut up, mut down_now, mut up_now) = (0u64, 0u64, 0.0, 0.0);
    node.with_records(|records| {
        for s in &all {
            if let Some(r) = records.get(&s.id) {
                down += r.downloaded + s.downloaded;
                up += r.uploaded + s.uploaded;
            }
            down_now += s.download_rate;
            up_now += s.upload_rate;
        }
    });
    let session_down: u64 = all.iter().map(|s| s.downloaded).sum();
    let session_up: u64 = all.iter().map(|s| s.uploaded).sum();
    let secs = node.started.elapsed().as_secs();
    let stats = |d: u64, u: u64| {
        Json::Obj(vec![
            ("downloadedBytes", Json::uint(d)),
            ("uploadedBytes", Json::uint(u)),
            ("filesAdded", Json::uint(all.len())),
            ("sessionCount", Json::Int(1)),
            ("secondsActive", Json::uint(secs)),
        ])
    };
    Json::Obj(vec![
        ("activeTorrentCount", Json::uint(active)),
        ("pausedTorrentCount", Json::uint(paused)),
        ("torrentCount", Json::uint(all.len())),
        ("downloadSpeed", Json::uint(down_now as u64)),
        ("uploadSpeed", Json::uint(up_now as u64)),
        ("cumulative-stats", stats(down, up)),
        ("current-stats", stats(session_down, session_up)),
    ])
}

fn free_space(path: &Path) -> Answer {
    let size = free_bytes(path);
    if size == Json::Null {
        return Err(format!("free-space: cannot read {}", path.display()));
    }
    Ok(Json::Obj(vec![
        ("path", Json::str(path.display().to_string())),
        ("size-bytes", size),
    ]))
}

/// Bytes free to an unprivileged user under `path`, `Null` when it cannot be read.
fn free_bytes(path: &Path) -> Json {
    let Some(c) = super::c_path(path) else {
        return Json::Null;
    };
    // SAFETY: statvfs(2) fills the zeroed struct it is given from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Json::Null;
    }
    Json::uint(st.f_bavail as u64 * st.f_frsize as u64)
}
