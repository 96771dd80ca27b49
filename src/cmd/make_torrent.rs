//! `p2p make-torrent`: walk the input, hash it on every core, write the .torrent.

use crate::cli::MakeTorrent;
use crate::create_torrent::{self as build, HashProgress, Options};
use crate::glob::Glob;
use crate::json::Json;
use crate::metainfo::Torrent;
use crate::progress::{self, ProgressLine};
use crate::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn run(args: MakeTorrent) -> Result<()> {
    let nodes = args
        .dht_node
        .iter()
        .map(|n| super::split_host_port("--dht-node", n))
        .collect::<Result<Vec<_>>>()?;
    let trackers = args
        .tracker
        .iter()
        .map(|t| build::tracker_url(t))
        .collect::<Result<Vec<_>>>()?;
    let piece_length = args
        .piece_length
        .as_deref()
        .map(|text| {
            let n = crate::progress::parse_bytes(text).map_err(|reason| Error::BadArgument {
                what: "--piece-length",
                value: text.to_owned(),
                reason: reason.to_string(),
            })?;
            build::check_piece_length(n)
        })
        .transpose()?;

    let web_seeds = args
        .web_seed
        .iter()
        .map(|u| {
            let ok = ["http://", "https://", "ftp://"]
                .iter()
                .any(|s| u.starts_with(s) && u.len() > s.len());
            if ok {
                Ok(u.clone())
            } else {
                Err(Error::BadArgument {
                    what: "--web-seed",
                    value: u.clone(),
                    reason: "expected an http://, https:// or ftp:// URL".into(),
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let version = match (args.v2, args.hybrid) {
        (false, false) => build::Version::V1,
        (true, false) if args.pad => {
            return Err(Error::BadArgument {
                what: "--pad",
                value: "--v2".into(),
                reason: "a v2 torrent has no padding files (its files start on pieces anyway)"
                    .into(),
            });
        }
        (true, false) => build::Version::V2,
        (false, true) => build::Version::Hybrid,
        (true, true) => {
            return Err(Error::BadArgument {
                what: "--v2",
                value: "--hybrid".into(),
                reason: "choose one: --hybrid is v1 and v2 at once".into(),
            });
        }
    };
    let aligned = args.pad || version != build::Version::V1;
    let name = build::torrent_name(&args.path)?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{name}.torrent")));
    let skip = build::Skip {
        exclude: args.exclude.iter().map(|g| Glob::new(g)).collect(),
        output: Some(out.clone()),
    };
    let (name, mut files, multi_file) = build::collect_files(&args.path, &skip)?;
    if aligned {
        build::sort_canonical(&mut files);
    }
    if !args.force && out.exists() {
        return Err(Error::OutputExists(out));
    }
    let total: u64 = files.iter().map(|f| f.length).sum();
    if total == 0 {
        return Err(Error::Input {
            path: args.path,
            reason: "holds no data (every file is empty)".into(),
        });
    }
    let piece_length = piece_length.unwrap_or_else(|| build::choose_piece_length(total));
    let layout = build::lay_out(&files, piece_length, aligned);

    let started = Instant::now();
    let state = HashProgress::default();
    let pieces = std::thread::scope(|scope| {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let hashing = scope.spawn(|| {
            let result = build::hash_pieces(&files, layout.clone(), version, &state);
            drop(done_tx);
            result
        });
        let mut line = ProgressLine::new();
        let count = layout.piece_count();
        // Wakes at once when hashing ends (the sender drops), else redraws every 100 ms.
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(Duration::from_millis(100))
        {
            if started.elapsed() > Duration::from_millis(500) {
                let done = state.bytes_done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                line.draw(&format!(
                    "hashing {}: {}/{} pieces, {} of {}, {}",
                    name,
                    state.pieces_done.load(Ordering::Relaxed),
                    count,
                    progress::bytes(done),
                    progress::bytes(total),
                    progress::rate(done as f64 / secs)
                ));
            }
        }
        line.finish();
        hashing.join().expect("hashing thread panicked")
    })?;
    let elapsed = started.elapsed();

    let options = Options {
        trackers,
        nodes,
        piece_length: Some(piece_length),
        private: args.private,
        source: args.source,
        comment: args.comment,
        web_seeds,
        pad: aligned,
        version,
        creation_date: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64)
            .filter(|_| !args.no_date),
    };
    let bytes = build::encode_torrent(&name, &files, multi_file, &layout, &pieces, &options);
    let torrent = Torrent::from_bytes(&bytes).map_err(|source| Error::Torrent {
        path: out.clone(),
        source,
    })?;
    write_output(&out, &bytes, args.force)?;
    log::info!(
        "hashed {} in {:.2}s ({})",
        progress::bytes(total),
        elapsed.as_secs_f64(),
        progress::rate(total as f64 / elapsed.as_secs_f64().max(1e-9))
    );
    if args.json {
        let fields = vec![
            ("torrent", Json::str(out.to_string_lossy())),
            ("version", Json::str(version.name())),
            ("info_hash", Json::str(torrent.info_hash.hex())),
            (
                "info_hash_v2",
                torrent
                    .info
                    .v2
                    .as_ref()
                    .map_or(Json::Null, |v2| Json::str(crate::hash::hex(&v2.info_hash))),
            ),
            (
                "magnet",
                Json::str(crate::magnet::Magnet::of(&torrent).to_uri()),
            ),
            ("files", Json::uint(files.len())),
            ("total_size", Json::uint(total)),
            ("pieces", Json::uint(layout.piece_count())),
            ("piece_length", Json::uint(piece_length)),
            ("seconds", Json::Num(elapsed.as_secs_f64())),
        ];
        crate::outln!("{}", Json::Obj(fields).to_line());
        return Ok(());
    }
    crate::outln!(
        "wrote {}: {} file{}, {} in {} pieces of {}, info-hash {}",
        out.display(),
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        progress::bytes(total),
        layout.piece_count(),
        progress::bytes(piece_length),
        torrent.info_hash
    );
    if let Some(v2) = &torrent.info.v2 {
        crate::outln!(
            "{} torrent, v2 info-hash {}",
            version.name(),
            crate::hash::hex(&v2.info_hash)
        );
    }
    crate::outln!("{}", crate::magnet::Magnet::of(&torrent).to_uri());
    Ok(())
}

/// Writes the torrent; without `force`, refuses to replace a file that appeared meanwhile.
fn write_output(out: &PathBuf, bytes: &[u8], force: bool) -> Result<()> {
    let io = |source| Error::Io {
        path: out.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::OutputExists(out.clone()),
        _ => io(e),
    })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}
