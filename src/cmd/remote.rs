//! The verbs that drive a running daemon over its RPC: `add`, `list`, `pause`, `resume`,
//! `verify ID|HASH|all`, `remove`, `status`.

use crate::daemon::client::Client;
use crate::json::{Json, Value};
use crate::metainfo::Torrent;
use crate::{Error, Result, escape, outln, progress};

const DEFAULT_RPC: &str = "127.0.0.1:9091";

/// The daemon named by `--rpc`, else `$P2P_RPC`, else the default; the password likewise.
pub fn client(rpc: Option<&str>, auth: Option<&str>) -> Client {
    let addr = rpc
        .map(str::to_owned)
        .or_else(|| std::env::var("P2P_RPC").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_RPC.into());
    let auth = auth
        .map(str::to_owned)
        .or_else(|| std::env::var("P2P_RPC_AUTH").ok().filter(|s| !s.is_empty()));
    Client::new(&addr, auth)
}

/// `ID`, `HASH` or `all` as the RPC's `ids` (`None`: all).
pub fn ids(which: &str) -> Result<Option<Json>> {
    if which == "all" {
        return Ok(None);
    }
    if let Ok(n) = which.parse::<u64>() {
        return Ok(Some(Json::List(vec![Json::uint(n)])));
    }
    if which.len() == 40 && which.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Some(Json::List(vec![Json::str(
            which.to_ascii_lowercase(),
        )])));
    }
    Err(Error::BadArgument {
        what: "torrent",
        value: escape::untrusted(which, 80),
        reason: "expected a number from `p2p list`, a 40-digit info-hash, or all".into(),
    })
}

fn no_such(which: &str) -> Error {
    Error::Failed(format!(
        "torrent `{}`: the daemon has no such torrent (`p2p list` shows them)",
        escape::untrusted(which, 80)
    ))
}

fn with_ids(which: &str, mut fields: Vec<(&'static str, Json)>) -> Result<Json> {
    if let Some(ids) = ids(which)? {
        fields.push(("ids", ids));
    }
    Ok(Json::Obj(fields))
}

pub fn add(a: crate::cli::Add) -> Result<()> {
    let mut client = client(a.rpc.as_deref(), a.rpc_auth.as_deref());
    let mut args = Vec::new();
    let url = a.torrent.starts_with("http://") || a.torrent.starts_with("https://");
    if crate::magnet::Magnet::is_magnet(&a.torrent) || url {
        if !a.only.is_empty() || !a.skip.is_empty() {
            return Err(Error::BadArgument {
                what: "--only/--skip",
                value: String::new(),
                reason: "the files of a magnet link or a URL are unknown until the daemon has \
                         its metadata: add it, then choose with the web page or \
                         transmission-remote -G"
                    .into(),
            });
        }
        args.push(("filename", Json::str(&a.torrent)));
    } else {
        let path = std::path::PathBuf::from(&a.torrent);
        let meta = Torrent::load(&path)?;
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        args.push(("metainfo", Json::str(crate::base64::encode(&bytes))));
        if !a.only.is_empty() || !a.skip.is_empty() {
            let chosen = crate::selection::Selection::new(&meta.info, &a.only, &a.skip);
            let (wanted, unwanted): (Vec<usize>, Vec<usize>) =
                (0..meta.info.files.len()).partition(|&i| chosen.is_selected(i));
            if wanted.is_empty() {
                return Err(Error::BadArgument {
                    what: "--only/--skip",
                    value: String::new(),
                    reason: "they leave none of the torrent's files (`p2p info` lists them)".into(),
                });
            }
            let list = |v: Vec<usize>| Json::List(v.into_iter().map(Json::uint).collect());
            args.push(("files-wanted", list(wanted)));
            args.push(("files-unwanted", list(unwanted)));
        }
    }
    if let Some(out) = &a.out {
        // The daemon has a working directory of its own: send where the user means.
        let out = std::path::absolute(out).unwrap_or_else(|_| out.clone());
        args.push(("download-dir", Json::str(out.display().to_string())));
    }
    if a.paused {
        args.push(("paused", Json::Bool(true)));
    }
    let answer = client.call("torrent-add", Json::Obj(args))?;
    let (added, what) = match answer.get("torrent-added") {
        Some(t) => (t, "added"),
        None => (
            answer.get("torrent-duplicate").ok_or_else(|| {
                Error::Failed("torrent-add: the daemon said nothing of it".into())
            })?,
            "already there",
        ),
    };
    outln!(
        "{what}: {} {} ({})",
        added.get("id").and_then(Value::as_u64).unwrap_or(0),
        escape::untrusted(added.get("name").and_then(Value::as_str).unwrap_or(""), 200),
        added
            .get("hashString")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    Ok(())
}

const LIST_FIELDS: &[&str] = &[
    "id",
    "name",
    "hashString",
    "status",
    "error",
    "errorString",
    "isFinished",
    "percentDone",
    "sizeWhenDone",
    "leftUntilDone",
    "rateDownload",
    "rateUpload",
    "eta",
    "uploadRatio",
    "peersConnected",
    "downloadDir",
];

fn get_torrents(client: &mut Client, ids: Option<Json>, fields: &[&str]) -> Result<Vec<Value>> {
    let mut args = vec![(
        "fields",
        Json::List(fields.iter().map(|f| Json::str(*f)).collect()),
    )];
    if let Some(ids) = ids {
        args.push(("ids", ids));
    }
    let answer = client.call("torrent-get", Json::Obj(args))?;
    Ok(answer
        .get("torrents")
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or_default())
}

fn num(t: &Value, field: &str) -> f64 {
    t.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text<'a>(t: &'a Value, field: &str) -> &'a str {
    t.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A torrent's state in words, as `p2p list` shows it.
fn state(t: &Value) -> String {
    if num(t, "error") != 0.0 {
        return format!("error: {}", escape::untrusted(text(t, "errorString"), 120));
    }
    if t.get("isFinished").and_then(Value::as_bool) == Some(true) {
        return "finished".into();
    }
    match num(t, "status") as i64 {
        0 => "paused",
        1 | 2 => "checking",
        3 | 4 => "downloading",
        _ => "seeding",
    }
    .into()
}

pub fn list(a: crate::cli::List) -> Result<()> {
    let mut client = client(a.rpc.as_deref(), a.rpc_auth.as_deref());
    let torrents = get_torrents(&mut client, None, LIST_FIELDS)?;
    if a.json {
        for t in &torrents {
            let ratio = num(t, "uploadRatio");
            outln!(
                "{}",
                Json::Obj(vec![
                    ("id", Json::uint(num(t, "id") as u64)),
                    ("name", Json::str(text(t, "name"))),
                    ("info_hash", Json::str(text(t, "hashString"))),
                    ("state", Json::str(state(t))),
                    ("percent_done", Json::Num(num(t, "percentDone") * 100.0)),
                    ("size", Json::uint(num(t, "sizeWhenDone") as u64)),
                    ("left", Json::uint(num(t, "leftUntilDone") as u64)),
                    ("download_rate", Json::uint(num(t, "rateDownload") as u64)),
                    ("upload_rate", Json::uint(num(t, "rateUpload") as u64)),
                    ("peers", Json::uint(num(t, "peersConnected") as u64)),
                    (
                        "ratio",
                        if ratio < 0.0 {
                            Json::Null
                        } else {
                            Json::Num(ratio)
                        }
                    ),
                    ("dir", Json::str(text(t, "downloadDir"))),
                ])
                .to_line()
            );
        }
        return Ok(());
    }
    outln!(
        "{:>4}  {:>6}  {:>10}  {:>11}  {:>11}  {:>5}  {:<12}  NAME",
        "ID",
        "DONE",
        "SIZE",
        "DOWN",
        "UP",
        "RATIO",
        "STATE"
    );
    for t in &torrents {
        let ratio = num(t, "uploadRatio");
        outln!(
            "{:>4}  {:>5.1}%  {:>10}  {:>11}  {:>11}  {:>5}  {:<12}  {}",
            num(t, "id") as u64,
            num(t, "percentDone") * 100.0,
            progress::bytes(num(t, "sizeWhenDone") as u64),
            progress::rate(num(t, "rateDownload")),
            progress::rate(num(t, "rateUpload")),
            if ratio < 0.0 {
                "-".to_string()
            } else {
                format!("{ratio:.2}")
            },
            state(t),
            escape::untrusted(text(t, "name"), 200)
        );
    }
    Ok(())
}

/// `pause`, `resume`, `verify` and `remove`: one RPC method on the torrents named.
pub fn act(
    method: &str,
    which: &str,
    delete: bool,
    rpc: Option<&str>,
    auth: Option<&str>,
) -> Result<()> {
    let mut client = client(rpc, auth);
    let mut fields = Vec::new();
    if method == "torrent-remove" {
        fields.push(("delete-local-data", Json::Bool(delete)));
    }
    let args = with_ids(which, fields)?;
    // A name that matches no torrent is an error here, not a silent success.
    if let Some(ids) = ids(which)? {
        let found = get_torrents(&mut client, Some(ids), &["id"])?;
        if found.is_empty() {
            return Err(no_such(which));
        }
    }
    client.call(method, args)?;
    let done = match method {
        "torrent-stop" => "paused",
        "torrent-start" => "resumed",
        "torrent-verify" => "verifying",
        _ if delete => "removed with its data",
        _ => "removed",
    };
    outln!("{done}: {which}");
    Ok(())
}

pub fn status(a: crate::cli::Status) -> Result<()> {
    let mut client = client(a.rpc.as_deref(), a.rpc_auth.as_deref());
    if a.which == "all" {
        return Err(Error::BadArgument {
            what: "torrent",
            value: "all".into(),
            reason: "status shows one torrent: give its number or info-hash".into(),
        });
    }
    let mut fields = LIST_FIELDS.to_vec();
    fields.extend([
        "files",
        "wanted",
        "trackers",
        "peers",
        "peersSendingToUs",
        "peersGettingFromUs",
        "downloadedEver",
        "uploadedEver",
        "totalSize",
        "pieceCount",
        "pieceSize",
        "magnetLink",
    ]);
    let torrents = get_torrents(&mut client, ids(&a.which)?, &fields)?;
    let Some(t) = torrents.first() else {
        return Err(no_such(&a.which));
    };
    let bytes = |f| progress::bytes(num(t, f) as u64);
    outln!("name:        {}", escape::untrusted(text(t, "name"), 300));
    outln!("id:          {}", num(t, "id") as u64);
    outln!("info-hash:   {}", text(t, "hashString"));
    outln!("state:       {}", state(t));
    outln!(
        "done:        {:.1}% of {} ({} left)",
        num(t, "percentDone") * 100.0,
        bytes("sizeWhenDone"),
        bytes("leftUntilDone")
    );
    outln!(
        "directory:   {}",
        escape::untrusted(text(t, "downloadDir"), 300)
    );
    outln!(
        "pieces:      {} of {}",
        num(t, "pieceCount") as u64,
        bytes("pieceSize")
    );
    outln!(
        "transfer:   ↓ {} ({} ever), ↑ {} ({} ever)",
        progress::rate(num(t, "rateDownload")),
        bytes("downloadedEver"),
        progress::rate(num(t, "rateUpload")),
        bytes("uploadedEver")
    );
    outln!(
        "peers:       {} connected, {} sending to us, {} getting from us",
        num(t, "peersConnected") as u64,
        num(t, "peersSendingToUs") as u64,
        num(t, "peersGettingFromUs") as u64
    );
    for p in t.get("peers").and_then(Value::as_list).unwrap_or_default() {
        outln!(
            "peer:        {}:{}  {:>5.1}%  ↓ {}  ↑ {}  {:<4}  {}",
            text(p, "address"),
            num(p, "port") as u64,
            num(p, "progress") * 100.0,
            progress::rate(num(p, "rateToClient")),
            progress::rate(num(p, "rateToPeer")),
            text(p, "flagStr"),
            escape::untrusted(text(p, "clientName"), 60)
        );
    }
    let trackers = t
        .get("trackers")
        .and_then(Value::as_list)
        .unwrap_or_default();
    for tr in trackers {
        outln!(
            "tracker:     {}",
            escape::untrusted(text(tr, "announce"), 300)
        );
    }
    let files = t.get("files").and_then(Value::as_list).unwrap_or_default();
    let wanted = t.get("wanted").and_then(Value::as_list).unwrap_or_default();
    outln!("files:       {}", files.len());
    for (i, f) in files.iter().enumerate() {
        let length = num(f, "length");
        let done = if length > 0.0 {
            num(f, "bytesCompleted") / length * 100.0
        } else {
            100.0
        };
        let take = wanted.get(i).and_then(Value::as_bool).unwrap_or(true);
        outln!(
            "  {i:>4}  {}  {done:>5.1}%  {:>10}  {}",
            if take { "fetch" } else { "skip " },
            progress::bytes(length as u64),
            escape::untrusted(text(f, "name"), 300)
        );
    }
    Ok(())
}
