//! The Transmission RPC's methods (rpc-spec.md; the form Transmission 3.00 and its tools
//! speak): a request `{"method", "arguments", "tag"}` in, `{"result", "arguments", "tag"}` out,
//! `result` being `"success"` or what went wrong. A method or argument p2p does not carry out
//! is an error result naming it, never a success that did nothing.

use super::fields::{self, View};
use super::{Adding, Node};
use crate::json::{Json, Value};
use crate::lifecycle::{Id, Snapshot};
use std::path::PathBuf;

/// The RPC version p2p answers as: Transmission 3.00's (16), whose tools and web client it is
/// tested with.
pub const RPC_VERSION: i64 = 16;

type Answer = Result<Json, String>;

/// Answers one request body. `Err`: the body is not a request at all (HTTP 400, with the JSON
/// that says why).
pub async fn handle(node: &Node, body: &[u8]) -> Result<Json, Json> {
    let request = crate::json::parse(body).map_err(|e| reply(Err(e.to_string()), None))?;
    let tag = request.get("tag").cloned();
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return Err(reply(Err("no method given".into()), tag.as_ref()));
    };
    let empty = Value::Obj(Vec::new());
    let args = match request.get("arguments") {
        None => &empty,
        Some(a @ Value::Obj(_)) => a,
        Some(_) => {
            return Err(reply(
                Err("arguments is not an object".into()),
                tag.as_ref(),
            ));
        }
    };
    let answer = match method {
        "session-get" => Ok(session_get(node, args)),
        "session-set" => session_set(node, args),
        "session-stats" => Ok(session_stats(node).await),
        "torrent-get" => torrent_get(node, args).await,
        "torrent-add" => torrent_add(node, args).await,
        "torrent-start" | "torrent-start-now" => each(node, args, Act::Start).await,
        "torrent-stop" => each(node, args, Act::Stop).await,
        "torrent-verify" => each(node, args, Act::Verify).await,
        "torrent-remove" => match flag(args, "delete-local-data") {
            Ok(delete) => each(node, args, Act::Remove(delete.unwrap_or(false))).await,
            Err(e) => Err(e),
        },
        "torrent-set" => torrent_set(node, args).await,
        "free-space" => free_space(args),
        "port-test" => Err(
            "p2p cannot test its peer port from outside: it asks no outside \
                            service (try from another host: nc -vz HOST PORT)"
                .into(),
        ),
        other => Err(format!(
            "method {:?} is not supported by p2p",
            crate::escape::untrusted(other, 60)
        )),
    };
    Ok(reply(answer, tag.as_ref()))
}

fn reply(answer: Answer, tag: Option<&Value>) -> Json {
    let (result, arguments) = match answer {
        Ok(args) => ("success".to_string(), args),
        Err(e) => (e, Json::Obj(Vec::new())),
    };
    let mut fields = vec![("result", Json::Str(result)), ("arguments", arguments)];
    if let Some(tag) = tag.and_then(Value::as_u64) {
        fields.push(("tag", Json::uint(tag)));
    }
    Json::Obj(fields)
}

/// An optional boolean argument.
fn flag(args: &Value, name: &str) -> Result<Option<bool>, String> {
    args.get(name)
        .map(|v| v.as_bool().ok_or(format!("{name} is not a boolean")))
        .transpose()
}

/// The torrents `ids` names: all without it; a number, a hash string or a list of them;
/// `"recently-active"` (every torrent: p2p sends all, which a client takes as changed).
fn select(node: &Node, args: &Value) -> Result<Vec<Id>, String> {
    let all = node.ids();
    let one = |v: &Value| -> Result<Vec<Id>, String> {
        if let Some(n) = v.as_u64() {
            return Ok(all
                .iter()
                .filter(|(id, _)| *id == n)
                .map(|(id, _)| *id)
                .collect());
        }
        if let Some(s) = v.as_str() {
            let s = s.to_ascii_lowercase();
            return Ok(all
                .iter()
                .filter(|(_, h)| h.hex() == s)
                .map(|(id, _)| *id)
                .collect());
        }
        Err("ids holds something that is neither a number nor a hash".into())
    };
    match args.get("ids") {
        None => Ok(all.iter().map(|(id, _)| *id).collect()),
        Some(Value::Str(s)) if s == "recently-active" => {
            Ok(all.iter().map(|(id, _)| *id).collect())
        }
        Some(Value::List(items)) => {
            let mut ids = Vec::new();
            for item in items.iter().take(100_000) {
                ids.extend(one(item)?);
            }
            Ok(ids)
        }
        Some(v) => one(v),
    }
}

enum Act {
    Start,
    Stop,
    Verify,
    Remove(bool),
}

async fn each(node: &Node, args: &Value, act: Act) -> Answer {
    for id in select(node, args)? {
        let done = match act {
            Act::Start => node.resume(id).await,
            Act::Stop => node.pause(id).await,
            Act::Verify => node.engine.verify(id).await,
            Act::Remove(delete) => node.remove(id, delete).await,
        };
        done.map_err(|e| e.to_string())?;
    }
    Ok(Json::Obj(Vec::new()))
}

async fn torrent_get(node: &Node, args: &Value) -> Answer {
    let Some(fields) = args.get("fields").and_then(Value::as_list) else {
        return Err("torrent-get needs fields".into());
    };
    let names: Vec<&str> = fields.iter().filter_map(Value::as_str).take(200).collect();
    let wants_files = names.iter().any(|n| fields::FILE_FIELDS.contains(n));
    let ids = select(node, args)?;
    let snapshots: Vec<Snapshot> = if args.get("ids").is_none() {
        node.engine.list().await
    } else {
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.extend(node.engine.snapshot(*id).await);
        }
        out
    };
    let session_ratio = node.settings().seed_ratio;
    let mut torrents = Vec::with_capacity(snapshots.len());
    for s in &snapshots {
        let Some(r) = node.record(s.id) else { continue };
        let files = if wants_files {
            node.engine.files(s.id).await
        } else {
            Vec::new()
        };
        let view = View {
            s,
            r: &r,
            files: &files,
            session_ratio,
        };
        torrents.push(Json::Obj(
            names.iter().filter_map(|n| fields::get(n, &view)).collect(),
        ));
    }
    Ok(Json::Obj(vec![("torrents", Json::List(torrents))]))
}

async fn torrent_add(node: &Node, args: &Value) -> Answer {
    let what = match (args.get("metainfo"), args.get("filename")) {
        (Some(m), _) => {
            let text = m.as_str().ok_or("metainfo is not a string")?;
            let bytes = crate::base64::decode(text.as_bytes()).ok_or("metainfo is not base64")?;
            Adding::Metainfo(bytes)
        }
        (None, Some(f)) => Adding::Name(f.as_str().ok_or("filename is not a string")?.into()),
        (None, None) => return Err("torrent-add needs filename or metainfo".into()),
    };
    let dir = match args.get("download-dir") {
        Some(d) => Some(PathBuf::from(
            d.as_str().ok_or("download-dir is not a string")?,
        )),
        None => None,
    };
    let paused = flag(args, "paused")?;
    let indices = |name: &str| -> Result<Option<Vec<usize>>, String> {
        args.get(name)
            .map(|v| {
                v.as_list()
                    .ok_or(format!("{name} is not a list"))?
                    .iter()
                    .map(|i| {
                        i.as_u64()
                            .map(|n| n as usize)
                            .ok_or(format!("{name} holds something that is not a file number"))
                    })
                    .collect()
            })
            .transpose()
    };
    let (wanted, unwanted) = (indices("files-wanted")?, indices("files-unwanted")?);
    // The file count is known once the torrent is parsed: the choice is applied after the add.
    let added = node
        .add(what, dir, paused, None)
        .await
        .map_err(|e| e.to_string())?;
    if !added.duplicate && (wanted.is_some() || unwanted.is_some()) {
        choose_files(node, added.id, wanted, unwanted).await?;
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
    wanted: Option<Vec<usize>>,
    unwanted: Option<Vec<usize>>,
) -> Result<(), String> {
    let files = node.engine.files(id).await;
    if files.is_empty() {
        return Err(
            "the torrent's files are not known yet (its metadata is still being fetched)".into(),
        );
    }
    let mut flags: Vec<bool> = files.iter().map(|f| f.wanted).collect();
    for (list, want) in [(wanted, true), (unwanted, false)] {
        for i in list.unwrap_or_default() {
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

async fn torrent_set(node: &Node, args: &Value) -> Answer {
    let ids = select(node, args)?;
    let Value::Obj(members) = args else {
        return Err("arguments is not an object".into());
    };
    for (name, _) in members {
        match name.as_str() {
            "ids" | "files-wanted" | "files-unwanted" | "seedRatioLimit" | "seedRatioMode" => {}
            other => {
                return Err(format!(
                    "torrent-set: {:?} is not supported by p2p",
                    crate::escape::untrusted(other, 60)
                ));
            }
        }
    }
    let list = |name: &str| -> Result<Option<Vec<usize>>, String> {
        args.get(name)
            .map(|v| {
                v.as_list()
                    .ok_or(format!("{name} is not a list"))?
                    .iter()
                    .map(|i| {
                        i.as_u64()
                            .map(|n| n as usize)
                            .ok_or(format!("{name}: not a file number"))
                    })
                    .collect()
            })
            .transpose()
    };
    let (wanted, unwanted) = (list("files-wanted")?, list("files-unwanted")?);
    let mode = args.get("seedRatioMode").map(|m| m.as_u64());
    let limit = args.get("seedRatioLimit").map(|l| l.as_f64());
    for id in ids {
        if wanted.is_some() || unwanted.is_some() {
            choose_files(node, id, wanted.clone(), unwanted.clone()).await?;
        }
        match (mode, limit) {
            (None, None) => {}
            // 1: its own limit; 0: the session's; 2: none (seed forever).
            (Some(Some(1)) | None, Some(Some(r))) if r >= 0.0 => node.set_seed_ratio(id, Some(r)),
            (Some(Some(0)), _) => node.set_seed_ratio(id, None),
            _ => {
                return Err(
                    "seedRatioMode 2 (no limit) and malformed ratios are not supported by p2p"
                        .into(),
                );
            }
        }
    }
    Ok(Json::Obj(Vec::new()))
}

fn session_get(node: &Node, _args: &Value) -> Json {
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
        ("port-forwarding-enabled", Json::Bool(false)),
        ("dht-enabled", Json::Bool(node.dht)),
        ("pex-enabled", Json::Bool(true)),
        ("lpd-enabled", Json::Bool(false)),
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

fn session_set(node: &Node, args: &Value) -> Answer {
    let Value::Obj(members) = args else {
        return Err("arguments is not an object".into());
    };
    // Checked whole before anything changes.
    for (name, value) in members {
        let ok = match name.as_str() {
            "download-dir" => value.as_str().is_some(),
            "start-added-torrents"
            | "speed-limit-down-enabled"
            | "speed-limit-up-enabled"
            | "seedRatioLimited" => value.as_bool().is_some(),
            "speed-limit-down" | "speed-limit-up" => value.as_u64().is_some(),
            "seedRatioLimit" => value.as_f64().is_some_and(|r| r >= 0.0),
            other => {
                return Err(format!(
                    "session-set: {:?} is not supported by p2p",
                    crate::escape::untrusted(other, 60)
                ));
            }
        };
        if !ok {
            return Err(format!("session-set: {name} has a value of the wrong kind"));
        }
    }
    if let Some(dir) = args.get("download-dir").and_then(Value::as_str) {
        super::check_dir(std::path::Path::new(dir)).map_err(|e| e.to_string())?;
    }
    let mut settings = node.settings.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = args.get("download-dir").and_then(Value::as_str) {
        settings.download_dir = PathBuf::from(dir);
    }
    if let Some(start) = args.get("start-added-torrents").and_then(Value::as_bool) {
        settings.start_added = start;
    }
    for (limit, rate, enabled) in [
        (
            &node.download_limit,
            "speed-limit-down",
            "speed-limit-down-enabled",
        ),
        (
            &node.upload_limit,
            "speed-limit-up",
            "speed-limit-up-enabled",
        ),
    ] {
        let current = limit.rate() / 1024;
        let kib = args.get(rate).and_then(Value::as_u64).unwrap_or(current);
        match args.get(enabled).and_then(Value::as_bool) {
            Some(false) => limit.set(0),
            Some(true) => limit.set(kib.max(1) * 1024),
            None if args.get(rate).is_some() && current > 0 => limit.set(kib.max(1) * 1024),
            None => {}
        }
    }
    match args.get("seedRatioLimited").and_then(Value::as_bool) {
        Some(false) => settings.seed_ratio = None,
        Some(true) => {
            settings.seed_ratio = args
                .get("seedRatioLimit")
                .and_then(Value::as_f64)
                .or(settings.seed_ratio)
                .or(Some(2.0))
        }
        None => {
            if let Some(r) = args.get("seedRatioLimit").and_then(Value::as_f64)
                && settings.seed_ratio.is_some()
            {
                settings.seed_ratio = Some(r);
            }
        }
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
    for s in &all {
        if let Some(r) = node.record(s.id) {
            down += r.downloaded + s.downloaded;
            up += r.uploaded + s.uploaded;
        }
        down_now += s.download_rate;
        up_now += s.upload_rate;
    }
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

fn free_space(args: &Value) -> Answer {
    let path = args
        .get("path")
        .and_then(Value::as_str)
        .ok_or("free-space needs a path")?;
    let size = free_bytes(std::path::Path::new(path));
    if size == Json::Null {
        return Err(format!("free-space: cannot read {path:?}"));
    }
    Ok(Json::Obj(vec![
        ("path", Json::str(path)),
        ("size-bytes", size),
    ]))
}

/// Bytes free to an unprivileged user under `path`, `Null` when it cannot be read.
fn free_bytes(path: &std::path::Path) -> Json {
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
    else {
        return Json::Null;
    };
    // SAFETY: statvfs(2) fills the zeroed struct it is given from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Json::Null;
    }
    Json::uint(st.f_bavail as u64 * st.f_frsize as u64)
}
