//! `p2p verify`: hashes what is on disk for a torrent (on every core) and says, file by file,
//! what is complete, missing, the wrong size, or holds bad pieces. Exits 0 only when all is good.

use crate::cli::Verify;
use crate::json::Json;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::{Error, Result, escape, progress};
use std::time::Instant;

pub fn run(args: Verify) -> Result<()> {
    // `p2p verify 3|HASH|all`: the daemon's torrents, unless a file has that name.
    let which = args.torrent.to_string_lossy();
    let names_daemon_torrents = which == "all"
        || which.parse::<u64>().is_ok()
        || (which.len() == 40 && which.bytes().all(|b| b.is_ascii_hexdigit()));
    if args.rpc.is_some() || (names_daemon_torrents && !args.torrent.exists()) {
        let (rpc, auth) = (args.rpc.as_deref(), args.rpc_auth.as_deref());
        return super::remote::act("torrent-verify", &which, false, rpc, auth);
    }
    let t = Torrent::load(&args.torrent)?;
    let info = &t.info;
    // A directory that is not there is the user's mistake, not a list of missing files.
    if !args.dir.is_dir() {
        return Err(Error::Input {
            path: args.dir.clone(),
            reason: "is not a directory (--dir names the directory holding the content)".into(),
        });
    }
    let store = PieceStore::inspect(&args.dir, info);
    let layout = store.layout().clone();
    // A file that is missing or of the wrong size: its pieces cannot be good.
    let sizes: Vec<Option<u64>> = store
        .paths()
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .collect();
    let usable = |file: usize| sizes[file] == Some(info.files[file].length);
    let readable: Vec<usize> = (0..layout.piece_count())
        .filter(|&p| {
            layout
                .spans(layout.piece_offset(p), layout.piece_size(p))
                .iter()
                .all(|s| usable(s.file))
        })
        .collect();
    let started = Instant::now();
    let have = store.check(&readable, &HashProgress::default())?;
    let secs = started.elapsed().as_secs_f64();
    let mut bad_files = 0;
    let mut listed = Vec::new();
    let mut lines = Vec::new();
    for (i, file) in info.files.iter().enumerate() {
        let pieces = layout.pieces_of_file(i);
        let count = pieces.len();
        let bad = pieces.filter(|&p| !have.get(p)).count();
        let (kind, status) = match sizes[i] {
            None => ("missing", "missing".to_string()),
            Some(len) if len != file.length => (
                "wrong size",
                format!("wrong size: {len} bytes, the torrent says {}", file.length),
            ),
            Some(_) if bad == 0 => ("complete", "complete".to_string()),
            Some(_) => ("bad pieces", format!("{bad} bad of {count} pieces")),
        };
        if kind != "complete" {
            bad_files += 1;
        }
        listed.push(Json::Obj(vec![
            ("path", Json::str(info.file_path(file).to_string_lossy())),
            ("status", Json::str(kind)),
            ("bad_pieces", Json::uint(bad)),
            ("pieces", Json::uint(count)),
        ]));
        lines.push((
            status,
            escape::untrusted(&info.file_path(file).to_string_lossy(), 4096),
        ));
    }
    if !args.json {
        // The paths in one column, however long the longest status.
        let width = lines
            .iter()
            .map(|(s, _)| s.chars().count())
            .max()
            .unwrap_or(0);
        for (status, path) in &lines {
            crate::outln!("{status:<width$}  {path}");
        }
    }
    let total = info.total_length();
    if args.json {
        let summary = Json::Obj(vec![
            ("complete", Json::Bool(bad_files == 0)),
            ("pieces_verified", Json::uint(have.count())),
            ("pieces", Json::uint(have.len())),
            ("seconds", Json::Num(secs)),
            ("files", Json::List(listed)),
        ]);
        crate::outln!("{}", summary.to_line());
    } else {
        crate::outln!(
            "{} of {} pieces verified in {secs:.1}s ({}); {} of {} files complete",
            have.count(),
            have.len(),
            progress::rate(total as f64 / secs.max(1e-3)),
            info.files.len() - bad_files,
            info.files.len()
        );
    }
    if bad_files > 0 {
        return Err(Error::Input {
            path: args.dir.join(&info.name),
            reason: format!(
                "does not match torrent `{}`: {} of {} files are not complete",
                args.torrent.display(),
                bad_files,
                info.files.len()
            ),
        });
    }
    Ok(())
}
