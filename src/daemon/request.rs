//! An RPC request body read into a typed [`Request`], sans-IO: every argument checked for its
//! kind and bounds before anything is carried out, so that [`super::rpc`] acts only on what is
//! well formed, and so that this part, the one facing the network, can be fuzzed alone. A body
//! that is not JSON is [`Decoded::Malformed`] (HTTP 400); a request p2p will not carry out is
//! [`Decoded::Refused`] with Transmission's error result (HTTP 200, `result` saying why).

use super::Adding;
use crate::json::{Json, Value};
use std::path::PathBuf;

/// At most this many ids, fields or file numbers in one list.
pub const MAX_LIST: usize = 100_000;

/// Which torrents a request names.
#[derive(Debug, Clone, PartialEq)]
pub enum Ids {
    /// No `ids`.
    All,
    /// `"recently-active"`: p2p answers with all (which a client takes as changed) and the
    /// torrents removed in the last minute, under `removed`.
    RecentlyActive,
    Some(Vec<IdRef>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum IdRef {
    Number(u64),
    /// An info-hash in lower-case hex.
    Hash(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Start,
    Stop,
    Verify,
    Reannounce,
    Remove { delete_data: bool },
}

/// `session-set`'s changes, each `None` when not given.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SessionChanges {
    pub download_dir: Option<PathBuf>,
    pub start_added: Option<bool>,
    /// KiB a second, and whether the limit is on (`speed-limit-down`, `-enabled`).
    pub down: (Option<u64>, Option<bool>),
    pub up: (Option<u64>, Option<bool>),
    pub ratio: Option<f64>,
    pub ratio_limited: Option<bool>,
}

/// `torrent-set`'s seeding goal: its own ratio, or the session's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RatioChange {
    Own(f64),
    Session,
}

#[derive(Debug)]
pub enum Request {
    SessionGet,
    SessionSet(SessionChanges),
    SessionStats,
    TorrentGet {
        fields: Vec<String>,
        ids: Ids,
    },
    TorrentAdd {
        what: Adding,
        dir: Option<PathBuf>,
        paused: Option<bool>,
        wanted: Vec<usize>,
        unwanted: Vec<usize>,
    },
    Act(Act, Ids),
    TorrentSet {
        ids: Ids,
        wanted: Vec<usize>,
        unwanted: Vec<usize>,
        ratio: Option<RatioChange>,
        /// Its own limits: KiB a second, and on or off (`uploadLimit`, `uploadLimited`).
        up: (Option<u64>, Option<bool>),
        down: (Option<u64>, Option<bool>),
    },
    FreeSpace(PathBuf),
    SetLocation {
        ids: Ids,
        location: PathBuf,
        move_data: bool,
    },
}

pub struct Call {
    pub request: Request,
    pub tag: Option<u64>,
}

pub enum Decoded {
    Call(Call),
    /// Answer this (HTTP 200): the request is JSON but not one p2p carries out.
    Refused(Json),
    /// Answer this with HTTP 400: the body is not a request.
    Malformed(Json),
}

/// Transmission's answer: `result` (`"success"` or why not), `arguments`, and `tag` when the
/// request had one.
pub fn reply(answer: Result<Json, String>, tag: Option<u64>) -> Json {
    let (result, arguments) = match answer {
        Ok(args) => ("success".to_string(), args),
        Err(e) => (e, Json::Obj(Vec::new())),
    };
    let mut fields = vec![("result", Json::Str(result)), ("arguments", arguments)];
    if let Some(tag) = tag {
        fields.push(("tag", Json::uint(tag)));
    }
    Json::Obj(fields)
}

pub fn decode(body: &[u8]) -> Decoded {
    let request = match crate::json::parse(body) {
        Ok(r) => r,
        Err(e) => return Decoded::Malformed(reply(Err(e.to_string()), None)),
    };
    let tag = request.get("tag").and_then(Value::as_u64);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return Decoded::Malformed(reply(Err("no method given".into()), tag));
    };
    let empty = Value::Obj(Vec::new());
    let args = match request.get("arguments") {
        None => &empty,
        Some(a @ Value::Obj(_)) => a,
        Some(_) => {
            return Decoded::Malformed(reply(Err("arguments is not an object".into()), tag));
        }
    };
    match request_of(method, args) {
        Ok(request) => Decoded::Call(Call { request, tag }),
        Err(why) => Decoded::Refused(reply(Err(why), tag)),
    }
}

fn request_of(method: &str, args: &Value) -> Result<Request, String> {
    let ids = || ids(args);
    Ok(match method {
        "session-get" => Request::SessionGet,
        "session-set" => Request::SessionSet(session_changes(args)?),
        "session-stats" => Request::SessionStats,
        "torrent-get" => {
            let fields = args
                .get("fields")
                .and_then(Value::as_list)
                .ok_or("torrent-get needs fields")?;
            Request::TorrentGet {
                fields: fields
                    .iter()
                    .filter_map(Value::as_str)
                    .take(1000)
                    .map(str::to_owned)
                    .collect(),
                ids: ids()?,
            }
        }
        "torrent-add" => {
            let what = match (args.get("metainfo"), args.get("filename")) {
                (Some(m), _) => {
                    let text = m.as_str().ok_or("metainfo is not a string")?;
                    let bytes =
                        crate::base64::decode(text.as_bytes()).ok_or("metainfo is not base64")?;
                    Adding::Metainfo(bytes)
                }
                (None, Some(f)) => {
                    Adding::Name(f.as_str().ok_or("filename is not a string")?.into())
                }
                (None, None) => return Err("torrent-add needs filename or metainfo".into()),
            };
            Request::TorrentAdd {
                what,
                dir: path(args, "download-dir")?,
                paused: flag(args, "paused")?,
                wanted: files(args, "files-wanted")?,
                unwanted: files(args, "files-unwanted")?,
            }
        }
        "torrent-start" | "torrent-start-now" => Request::Act(Act::Start, ids()?),
        "torrent-stop" => Request::Act(Act::Stop, ids()?),
        "torrent-verify" => Request::Act(Act::Verify, ids()?),
        "torrent-reannounce" => Request::Act(Act::Reannounce, ids()?),
        "torrent-remove" => Request::Act(
            Act::Remove {
                delete_data: flag(args, "delete-local-data")?.unwrap_or(false),
            },
            ids()?,
        ),
        "torrent-set" => torrent_set(args)?,
        "torrent-set-location" => Request::SetLocation {
            ids: ids()?,
            location: path(args, "location")?.ok_or("torrent-set-location needs a location")?,
            move_data: flag(args, "move")?.unwrap_or(false),
        },
        "free-space" => Request::FreeSpace(path(args, "path")?.ok_or("free-space needs a path")?),
        "port-test" => {
            return Err(
                "p2p cannot test its peer port from outside: it asks no outside \
                        service (try from another host: nc -vz HOST PORT)"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "method {:?} is not supported by p2p",
                crate::escape::untrusted(other, 60)
            ));
        }
    })
}

/// An optional boolean argument (Transmission's old clients send 0 and 1).
fn flag(args: &Value, name: &str) -> Result<Option<bool>, String> {
    args.get(name)
        .map(|v| v.as_bool().ok_or(format!("{name} is not a boolean")))
        .transpose()
}

fn path(args: &Value, name: &str) -> Result<Option<PathBuf>, String> {
    args.get(name)
        .map(|v| {
            v.as_str()
                .filter(|s| !s.is_empty() && !s.contains('\0'))
                .map(PathBuf::from)
                .ok_or(format!("{name} is not a path"))
        })
        .transpose()
}

/// A list of file numbers (empty when not given).
fn files(args: &Value, name: &str) -> Result<Vec<usize>, String> {
    let Some(v) = args.get(name) else {
        return Ok(Vec::new());
    };
    let list = v.as_list().ok_or(format!("{name} is not a list"))?;
    if list.len() > MAX_LIST {
        return Err(format!("{name} names more than {MAX_LIST} files"));
    }
    list.iter()
        .map(|i| {
            i.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(format!("{name} holds something that is not a file number"))
        })
        .collect()
}

fn ids(args: &Value) -> Result<Ids, String> {
    let one = |v: &Value| -> Result<IdRef, String> {
        if let Some(n) = v.as_u64() {
            return Ok(IdRef::Number(n));
        }
        match v.as_str() {
            Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(IdRef::Hash(s.to_ascii_lowercase()))
            }
            _ => Err("ids holds something that is neither a number nor an info-hash".into()),
        }
    };
    match args.get("ids") {
        None => Ok(Ids::All),
        Some(Value::Str(s)) if s == "recently-active" => Ok(Ids::RecentlyActive),
        Some(Value::List(items)) if items.len() > MAX_LIST => {
            Err(format!("ids names more than {MAX_LIST} torrents"))
        }
        Some(Value::List(items)) => Ok(Ids::Some(items.iter().map(one).collect::<Result<_, _>>()?)),
        Some(v) => Ok(Ids::Some(vec![one(v)?])),
    }
}

fn unsupported(method: &str, name: &str) -> String {
    format!(
        "{method}: {:?} is not supported by p2p",
        crate::escape::untrusted(name, 60)
    )
}

fn torrent_set(args: &Value) -> Result<Request, String> {
    let Value::Obj(members) = args else {
        return Err("arguments is not an object".into());
    };
    for (name, _) in members {
        if !matches!(
            name.as_str(),
            "ids"
                | "files-wanted"
                | "files-unwanted"
                | "seedRatioLimit"
                | "seedRatioMode"
                | "uploadLimit"
                | "uploadLimited"
                | "downloadLimit"
                | "downloadLimited"
                | "honorsSessionLimits"
        ) {
            return Err(unsupported("torrent-set", name));
        }
    }
    let limit = match args.get("seedRatioLimit") {
        Some(l) => Some(
            l.as_f64()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or("seedRatioLimit is not a ratio")?,
        ),
        None => None,
    };
    // 1: its own limit; 0: the session's; 2 (none: seed forever) is not carried out.
    let ratio = match (args.get("seedRatioMode").map(Value::as_u64), limit) {
        (None, None) => None,
        (Some(Some(1)) | None, Some(r)) => Some(RatioChange::Own(r)),
        (Some(Some(0)), _) => Some(RatioChange::Session),
        _ => return Err("torrent-set: seedRatioMode 2 (no limit) is not supported by p2p".into()),
    };
    // p2p's torrents always honour the daemon's limits as well as their own.
    if flag(args, "honorsSessionLimits")? == Some(false) {
        return Err("torrent-set: honorsSessionLimits false is not supported by p2p".into());
    }
    let kib = |name: &str| -> Result<Option<u64>, String> {
        args.get(name)
            .map(|v| v.as_u64().ok_or(format!("{name} is not a number of KiB/s")))
            .transpose()
    };
    Ok(Request::TorrentSet {
        ids: ids(args)?,
        wanted: files(args, "files-wanted")?,
        unwanted: files(args, "files-unwanted")?,
        ratio,
        up: (kib("uploadLimit")?, flag(args, "uploadLimited")?),
        down: (kib("downloadLimit")?, flag(args, "downloadLimited")?),
    })
}

fn session_changes(args: &Value) -> Result<SessionChanges, String> {
    let Value::Obj(members) = args else {
        return Err("arguments is not an object".into());
    };
    let wrong = |name: &str| format!("session-set: {name} has a value of the wrong kind");
    let mut c = SessionChanges::default();
    for (name, value) in members {
        let ok = match name.as_str() {
            "download-dir" => {
                c.download_dir = path(args, name)?;
                true
            }
            "start-added-torrents" => {
                c.start_added = value.as_bool();
                c.start_added.is_some()
            }
            "speed-limit-down" => {
                c.down.0 = value.as_u64();
                c.down.0.is_some()
            }
            "speed-limit-down-enabled" => {
                c.down.1 = value.as_bool();
                c.down.1.is_some()
            }
            "speed-limit-up" => {
                c.up.0 = value.as_u64();
                c.up.0.is_some()
            }
            "speed-limit-up-enabled" => {
                c.up.1 = value.as_bool();
                c.up.1.is_some()
            }
            "seedRatioLimit" => {
                c.ratio = value.as_f64().filter(|r| r.is_finite() && *r >= 0.0);
                c.ratio.is_some()
            }
            "seedRatioLimited" => {
                c.ratio_limited = value.as_bool();
                c.ratio_limited.is_some()
            }
            other => return Err(unsupported("session-set", other)),
        };
        if !ok {
            return Err(wrong(name));
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Request {
        match decode(body.as_bytes()) {
            Decoded::Call(c) => c.request,
            Decoded::Refused(j) | Decoded::Malformed(j) => panic!("{body}: {}", j.to_line()),
        }
    }

    fn refused(body: &str) -> String {
        match decode(body.as_bytes()) {
            Decoded::Refused(j) => j.to_line(),
            Decoded::Call(c) => panic!("{body}: taken as {:?}", c.request),
            Decoded::Malformed(j) => panic!("{body}: malformed: {}", j.to_line()),
        }
    }

    #[test]
    fn what_transmission_remote_sends_is_read_as_it_means() {
        match call(
            r#"{"arguments":{"fields":["id","name"],"ids":[1,"ABCDEF0123456789ABCDEF0123456789ABCDEF01"]},"method":"torrent-get","tag":4}"#,
        ) {
            Request::TorrentGet { fields, ids } => {
                assert_eq!(fields, ["id", "name"]);
                assert_eq!(
                    ids,
                    Ids::Some(vec![
                        IdRef::Number(1),
                        IdRef::Hash("abcdef0123456789abcdef0123456789abcdef01".into())
                    ])
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            call(r#"{"arguments":{"delete-local-data":true,"ids":1},"method":"torrent-remove"}"#),
            Request::Act(Act::Remove { delete_data: true }, Ids::Some(_))
        ));
        assert!(matches!(
            call(
                r#"{"arguments":{"ids":"recently-active","fields":["id"]},"method":"torrent-get"}"#
            ),
            Request::TorrentGet {
                ids: Ids::RecentlyActive,
                ..
            }
        ));
        match call(
            r#"{"arguments":{"metainfo":"aGkK","paused":1,"files-unwanted":[2]},"method":"torrent-add"}"#,
        ) {
            Request::TorrentAdd {
                what: Adding::Metainfo(bytes),
                paused,
                unwanted,
                ..
            } => {
                assert_eq!(bytes, b"hi\n");
                assert_eq!(paused, Some(true));
                assert_eq!(unwanted, [2]);
            }
            other => panic!("{other:?}"),
        }
        match call(
            r#"{"arguments":{"start-added-torrents":false,"speed-limit-down":100,"speed-limit-down-enabled":true},"method":"session-set"}"#,
        ) {
            Request::SessionSet(c) => {
                assert_eq!(c.start_added, Some(false));
                assert_eq!(c.down, (Some(100), Some(true)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_p2p_does_not_do_is_refused_by_name_with_the_tag() {
        let r = refused(r#"{"method":"queue-move-top","tag":9}"#);
        assert!(
            r.contains("queue-move-top") && r.contains("\"tag\":9"),
            "{r}"
        );
        assert!(
            refused(r#"{"method":"torrent-set-location","arguments":{"ids":1}}"#)
                .contains("needs a location")
        );
        assert!(refused(r#"{"method":"port-test"}"#).contains("cannot test"));
        assert!(
            refused(r#"{"method":"session-set","arguments":{"alt-speed-enabled":true}}"#)
                .contains("alt-speed-enabled")
        );
        assert!(
            refused(r#"{"method":"torrent-set","arguments":{"bandwidthPriority":1}}"#)
                .contains("bandwidthPriority")
        );
        assert!(
            refused(r#"{"method":"torrent-add","arguments":{"metainfo":"!!"}}"#).contains("base64")
        );
        assert!(
            refused(r#"{"method":"torrent-get","arguments":{"fields":["id"],"ids":["nope"]}}"#)
                .contains("info-hash")
        );
        assert!(
            refused(r#"{"method":"session-set","arguments":{"speed-limit-up":-1}}"#)
                .contains("wrong kind")
        );
        assert!(refused(r#"{"method":"free-space","arguments":{"path":""}}"#).contains("path"));
    }

    #[test]
    fn a_body_that_is_no_request_is_malformed() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"arguments":{}}"#,
            r#"{"method":"x","arguments":[]}"#,
        ] {
            assert!(
                matches!(decode(bad.as_bytes()), Decoded::Malformed(_)),
                "{bad}"
            );
        }
    }
}
