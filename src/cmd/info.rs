//! `p2p info`: what a torrent holds, for people and for tests.

use crate::Result;
use crate::cli::Info;
use crate::json::Json;
use crate::metainfo::Torrent;
use crate::{escape, progress};

/// Characters of one field shown at most.
const MAX_SHOWN: usize = 4096;

pub fn run(args: Info) -> Result<()> {
    let t = Torrent::load(&args.torrent)?;
    if args.json {
        crate::outln!("{}", as_json(&t).to_line());
        return Ok(());
    }
    let info = &t.info;
    let total = info.total_length();
    let mut out = String::new();
    // Every string in a torrent is the torrent author's: escaped before it reaches a terminal.
    let shown = |text: &str| escape::untrusted(text, MAX_SHOWN);
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<14}{value}\n"));
    line("name:", shown(&info.name));
    line("version:", version_text(info));
    line("info-hash:", t.info_hash.hex());
    if let Some(v2) = &info.v2 {
        line("info-hash v2:", crate::hash::hex(&v2.info_hash));
    }
    line("magnet:", crate::magnet::Magnet::of(&t).to_uri());
    line(
        "total size:",
        format!("{total} bytes ({})", progress::bytes(total)),
    );
    line(
        "piece length:",
        format!(
            "{} bytes ({})",
            info.piece_length,
            progress::bytes(info.piece_length)
        ),
    );
    line("pieces:", info.piece_count().to_string());
    line("private:", if info.private { "yes" } else { "no" }.into());
    for (i, tier) in t.tracker_tiers().iter().enumerate() {
        line(
            if i == 0 { "trackers:" } else { "" },
            shown(&tier.join(" ")),
        );
    }
    if t.tracker_tiers().is_empty() {
        line(
            "trackers:",
            "none (trackerless: peers come from the DHT)".into(),
        );
    }
    if !t.nodes.is_empty() {
        line("dht nodes:", shown(&t.nodes.join(" ")));
    }
    for (i, url) in t.url_list.iter().enumerate() {
        line(if i == 0 { "web seeds:" } else { "" }, shown(url));
    }
    if let Some(s) = &info.source {
        line("source:", shown(s));
    }
    if let Some(c) = &t.comment {
        line("comment:", shown(c));
    }
    if let Some(c) = &t.created_by {
        line("created by:", shown(c));
    }
    if let Some(date) = t.creation_date {
        line("created:", utc(date));
    }
    line("files:", info.files.len().to_string());
    // Numbered from 1, as `fetch --only/--skip` take them; written as they come (a torrent
    // may list millions), and a closed pipe (`| head`) just ends the listing.
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = w.write_all(out.as_bytes());
    for (i, file) in info.files.iter().enumerate() {
        let row = writeln!(
            w,
            "  {:>4} {:>14}  {}",
            i + 1,
            file.length,
            shown(&info.file_path(file).to_string_lossy())
        );
        if row.is_err() {
            break;
        }
    }
    let _ = w.flush();
    Ok(())
}

/// The version line: what verifies the pieces and what the info-hash is.
fn version_text(info: &crate::metainfo::Info) -> String {
    use crate::metainfo::Version;
    match info.version() {
        Version::V1 => "1 (SHA-1 pieces)".into(),
        Version::Hybrid => {
            "hybrid v1 + v2 (BEP 52; one swarm under both info-hashes, SHA-1 pieces checked)".into()
        }
        Version::V2 => {
            "2 (BEP 52: SHA-256 merkle trees; the info-hash is the v2 hash's first 20 bytes)".into()
        }
    }
}

/// What `info --json` prints (field names kept stable; see the man page).
pub fn as_json(t: &Torrent) -> Json {
    let info = &t.info;
    let opt = |s: &Option<String>| s.clone().map(Json::Str).unwrap_or(Json::Null);
    Json::Obj(vec![
        ("name", Json::str(&info.name)),
        ("version", Json::str(info.version().name())),
        ("info_hash", Json::str(t.info_hash.hex())),
        (
            "info_hash_v2",
            info.v2
                .as_ref()
                .map_or(Json::Null, |v2| Json::str(crate::hash::hex(&v2.info_hash))),
        ),
        ("magnet", Json::str(crate::magnet::Magnet::of(t).to_uri())),
        ("total_size", Json::uint(info.total_length())),
        ("piece_length", Json::uint(info.piece_length)),
        ("pieces", Json::uint(info.piece_count())),
        ("private", Json::Bool(info.private)),
        (
            "trackers",
            Json::List(
                t.tracker_tiers()
                    .into_iter()
                    .map(|tier| Json::List(tier.into_iter().map(Json::Str).collect()))
                    .collect(),
            ),
        ),
        (
            "dht_nodes",
            Json::List(t.nodes.iter().map(Json::str).collect()),
        ),
        (
            "web_seeds",
            Json::List(t.url_list.iter().map(Json::str).collect()),
        ),
        ("source", opt(&info.source)),
        ("comment", opt(&t.comment)),
        ("created_by", opt(&t.created_by)),
        (
            "creation_date",
            t.creation_date.map(Json::Int).unwrap_or(Json::Null),
        ),
        (
            "files",
            Json::List(
                info.files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        Json::Obj(vec![
                            ("index", Json::uint(i + 1)),
                            ("path", Json::str(info.file_path(f).to_string_lossy())),
                            ("length", Json::uint(f.length)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date, after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_795_498_609), "2026-11-24 05:36:49 UTC");
        assert_eq!(super::utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
