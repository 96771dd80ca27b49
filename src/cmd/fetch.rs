//! `p2p fetch`: download a torrent into `DIR/<name>` from every peer at once while uploading to
//! them, resuming from whatever verified data is already there.

use crate::cli::Fetch;
use crate::json::Json;
use crate::magnet::Magnet;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::progress::{self, ProgressLine};
use crate::selection::Selection;
use crate::session::{Session, Wake, metadata};
use crate::torrent::{Options, Stats};
use crate::{Error, Result, escape, rate, resume, runtime, signal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A fetch with no peer connected for this long gives up.
pub const NO_PEER_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: Fetch) -> Result<()> {
    let listen = super::parse_addr("--listen", args.listen.as_deref().unwrap_or("[::]:0"))?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let download_limit = rate::from_arg("--download-limit", args.download_limit.as_deref())?;
    let encryption = crate::cli::parse_encryption(args.encryption.as_deref())?;
    let seed_ratio = args
        .seed_ratio
        .as_deref()
        .map(|r| {
            r.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| Error::BadArgument {
                    what: "--seed-ratio",
                    value: r.into(),
                    reason: "expected a number of 0 or more, such as 1.5".into(),
                })
        })
        .transpose()?;
    let seed_time = args
        .seed_time
        .as_deref()
        .map(|t| {
            progress::parse_duration(t).ok_or_else(|| Error::BadArgument {
                what: "--seed-time",
                value: t.into(),
                reason: "expected a duration such as 90s, 30m or 2h".into(),
            })
        })
        .transpose()?;
    // Bounded seeding after completion: until the ratio or the time, whichever first.
    let bounded = seed_ratio.is_some() || seed_time.is_some();
    let peers = args
        .peer
        .iter()
        .map(|p| super::parse_addr("--peer", p))
        .collect::<Result<Vec<_>>>()?;
    let magnet = match args.torrent.to_str().filter(|t| Magnet::is_magnet(t)) {
        Some(text) => Some(Magnet::parse(text)?),
        None => None,
    };
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io {
        path: args.out.clone(),
        source,
    })?;
    let known = match &magnet {
        None => Some(Torrent::load(&args.torrent)?),
        // A magnet link fetched into this directory before left its .torrent here.
        Some(m) => metadata::saved_torrent(&args.out, m.info_hash),
    };
    signal::install();
    runtime::block_on(async {
        let mut session = Session::bind(listen, encryption).await?;
        let private = known.as_ref().is_some_and(|t| t.info.private);
        let nodes = known.as_ref().map(|t| t.nodes.clone()).unwrap_or_default();
        if let Some(config) = super::dht_config(
            args.no_dht || private,
            &args.dht_bootstrap,
            args.state_dir.as_deref(),
            nodes,
        ) {
            session.start_dht(config).await;
        }
        let (meta, known_peers) = match (known, &magnet) {
            (Some(t), _) => (t, Vec::new()),
            (None, Some(m)) => {
                let found = fetch_metadata(&session, m, &peers, &args.out).await?;
                (found.torrent, found.peers)
            }
            (None, None) => unreachable!("a torrent file is loaded above"),
        };
        let meta = Arc::new(meta);
        let resume_file = resume::path_for(&args.out, &meta.info.name);
        let selection = choose_files(&args, &meta, &resume_file)?;
        let target = args.out.join(&meta.info.name);
        // A new download lives in NAME.part until every piece is verified, then is renamed;
        // content already at NAME is used where it is.
        let part = args.out.join(format!("{}.part", meta.info.name));
        let in_place = std::fs::symlink_metadata(&target).is_ok();
        let mut store_info = meta.info.clone();
        if !in_place {
            store_info.name = format!("{}.part", meta.info.name);
        }
        let parts = args.out.join(format!(".{}.p2p-parts", meta.info.name));
        let (out, rf, hash) = (args.out.clone(), resume_file.clone(), meta.info_hash);
        let direct_io = args.direct_io;
        let (store, have, resumed) = runtime::spawn_blocking(move || -> Result<_> {
            let mut store = PieceStore::create_until(
                &out,
                &store_info,
                selection,
                Some(parts),
                signal::flag(),
            )?;
            if direct_io {
                store = store.write_direct();
            }
            let pieces = store.layout().piece_count();
            if let Some(have) = resume::load(&rf, hash, pieces, &store.resume_paths()) {
                return Ok((Arc::new(store), have, true));
            }
            // Ctrl-C ends a long check too (a 1 TB torrent takes minutes to hash).
            let progress = HashProgress {
                stop_on_signal: true,
                ..HashProgress::default()
            };
            let have = store.check_all(&progress)?;
            Ok((Arc::new(store), have, false))
        })
        .await?;
        if have.count() > 0 {
            log::info!(
                "resuming: {} of {} pieces already verified{}",
                have.count(),
                have.len(),
                if resumed {
                    " (from the resume file, not hashed again)"
                } else {
                    ""
                }
            );
        }
        // What this fetch takes: the pieces of its files (every piece without --only/--skip).
        let wanted = store.wanted();
        let total: u64 = wanted.ones().map(|p| store.layout().piece_size(p)).sum();
        // The download is whole: drop the resume file and give it its name.
        let finish = |store: &PieceStore| -> std::path::PathBuf {
            resume::remove(&resume_file);
            match store.parts_path() {
                // Every file taken: a part file from an earlier selective run is of no more use.
                Some(parts) if store.selection().is_all() => {
                    let _ = std::fs::remove_file(parts);
                }
                Some(parts) => log::info!(
                    "{} keeps the pieces the chosen files share with the others",
                    parts.display()
                ),
                None => {}
            }
            if in_place {
                return target.clone();
            }
            match store.move_root(&part, &target) {
                Ok(()) => target.clone(),
                Err(e) => {
                    log::warn!("{e}");
                    part.clone()
                }
            }
        };
        if wanted.ones().all(|p| have.get(p)) && !(args.seed || bounded) {
            let target = finish(&store);
            if args.json {
                summary(&target, total, &Stats::default(), Instant::now(), true);
            } else {
                crate::outln!(
                    "complete: {} ({total} bytes) was already verified; downloaded 0 bytes",
                    target.display()
                );
            }
            session.close().await;
            return Ok(());
        }
        let torrent = session.add(
            meta.clone(),
            store.clone(),
            have,
            Options {
                upload_limit,
                download_limit,
                keep_seeding: args.seed || bounded,
                sequential: args.sequential,
                peers,
                known_peers,
                no_peer_timeout: Some(NO_PEER_TIMEOUT),
                ..Options::default()
            },
        );
        // Logged once the torrent is routed: a peer told of this port is served at once.
        log::info!(
            "fetching {} ({}) listening on {}",
            meta.info.name,
            meta.info_hash,
            session.local_addr()
        );
        let started = Instant::now();
        let stats = torrent.stats.clone();
        let mut line = ProgressLine::new();
        let mut reported_complete = false;
        let mut hook = None;
        let mut completed_at = Instant::now();
        let mut last_log = Instant::now();
        let mut last = (Instant::now(), 0u64, 0u64);
        let outcome = loop {
            match session.wait(Duration::from_secs(1)).await {
                Wake::Ended(_, outcome) => break outcome,
                Wake::Stop => break session.stop_all().await,
                Wake::Tick => {}
            }
            let (down, up) = (
                stats.downloaded.load(Ordering::Relaxed),
                stats.uploaded.load(Ordering::Relaxed),
            );
            let secs = last.0.elapsed().as_secs_f64();
            let (down_rate, up_rate) = ((down - last.1) as f64 / secs, (up - last.2) as f64 / secs);
            last = (Instant::now(), down, up);
            if args.json {
                crate::outln!(
                    "{}",
                    progress_json(&stats, total, down_rate, up_rate).to_line()
                );
            } else if line.is_tty() {
                line.draw(&status(&meta.info.name, &stats, total, down_rate, up_rate));
            } else if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                log::info!(
                    "{}",
                    status(&meta.info.name, &stats, total, down_rate, up_rate)
                );
            }
            if (args.seed || bounded)
                && !reported_complete
                && stats.complete.load(Ordering::Relaxed)
            {
                reported_complete = true;
                completed_at = Instant::now();
                line.finish();
                let target = finish(&store);
                summary(&target, total, &stats, started, args.json);
                hook = on_done(args.on_done.as_deref(), &target, &meta);
                if bounded {
                    log::info!("seeding until {}", seed_goal(seed_ratio, seed_time));
                } else {
                    log::info!("seeding until interrupted");
                }
            }
            if reported_complete && bounded {
                let ratio_met = seed_ratio.is_some_and(|r| up as f64 >= r * total as f64);
                let time_met = seed_time.is_some_and(|t| completed_at.elapsed() >= t);
                if ratio_met || time_met {
                    log::info!(
                        "seeded {} ({:.2} times the size) for {}: done",
                        progress::bytes(up),
                        up as f64 / total.max(1) as f64,
                        progress::duration(completed_at.elapsed().as_secs())
                    );
                    break session.stop_all().await;
                }
            }
        };
        line.finish();
        session.close().await;
        let complete = stats.complete.load(Ordering::Relaxed);
        if !complete {
            let have = stats
                .final_have
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            // Even with no piece yet: the next start then trusts "nothing yet" instead of
            // hashing every (sparse) byte of the part file to find it.
            if let Some(have) = have
                && let Err(e) = resume::save(
                    &resume_file,
                    meta.info_hash,
                    &have,
                    &store.resume_paths(),
                    store.selection().flags(),
                )
            {
                log::warn!("could not write {}: {e}", resume_file.display());
            }
        }
        if !reported_complete && complete && outcome.is_ok() {
            let target = finish(&store);
            summary(&target, total, &stats, started, args.json);
            hook = on_done(args.on_done.as_deref(), &target, &meta);
        }
        if let Some(hook) = hook {
            hook.await;
        }
        outcome?;
        if complete {
            return Ok(());
        }
        Err(Error::Interrupted {
            have: stats.have_pieces.load(Ordering::Relaxed),
            total: meta.info.piece_count(),
        })
    })
}

/// The files to fetch: as `--only`/`--skip` say, else as the last run of this download
/// chose (its resume file), else all. Selecting none is a usage error.
fn choose_files(
    args: &Fetch,
    meta: &crate::metainfo::Torrent,
    resume_file: &std::path::Path,
) -> Result<Selection> {
    let count = meta.info.files.len();
    let selection = if args.only.is_empty() && args.skip.is_empty() {
        match resume::saved_selection(resume_file, meta.info_hash, count) {
            Some(flags) => {
                let s = Selection::from_flags(flags);
                log::info!(
                    "going on with the {} of {count} files the last run chose (--only '**' takes all)",
                    s.count()
                );
                s
            }
            None => Selection::all(count),
        }
    } else {
        Selection::new(&meta.info, &args.only, &args.skip)
    };
    if selection.count() == 0 {
        return Err(Error::BadArgument {
            what: "--only/--skip",
            value: String::new(),
            reason: format!(
                "they leave none of the torrent's {count} files (`p2p info` lists them)"
            ),
        });
    }
    if !selection.is_all() {
        log::info!("fetching {} of {count} files", selection.count());
    }
    Ok(selection)
}

/// Fetches a magnet link's metadata and saves it as `DIR/NAME.torrent`, so that a later run
/// starts from it.
async fn fetch_metadata(
    session: &Session,
    magnet: &Magnet,
    peers: &[std::net::SocketAddr],
    dir: &std::path::Path,
) -> Result<metadata::Found> {
    log::info!(
        "fetching the metadata of {} ({}) listening on {}",
        escape::untrusted(magnet.name.as_deref().unwrap_or("a magnet link"), 200),
        magnet.info_hash,
        session.local_addr()
    );
    let fetch =
        async { Some(metadata::fetch(magnet, peers, session.asker(), NO_PEER_TIMEOUT).await) };
    let stop = async {
        signal::stopped().await;
        None
    };
    let found = runtime::race(fetch, stop).await.ok_or_else(|| {
        Error::Stopped("interrupted before the metadata came; nothing was downloaded".into())
    })??;
    let path = dir.join(format!("{}.torrent", found.torrent.info.name));
    let bytes = found.torrent.to_file_bytes();
    let write = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes));
    match write {
        Ok(()) => log::info!("saved the torrent as {}", path.display()),
        Err(e) => log::warn!("could not save the torrent as {}: {e}", path.display()),
    }
    Ok(found)
}

fn status(name: &str, s: &Stats, total: u64, down: f64, up: f64) -> String {
    let have = s.have_bytes.load(Ordering::Relaxed);
    let eta = if down > 0.0 {
        progress::duration(((total - have.min(total)) as f64 / down) as u64)
    } else {
        "-".into()
    };
    format!(
        "{name}: {:.1}% {}/{}, down {} up {}, {}, ETA {eta}",
        have as f64 * 100.0 / total.max(1) as f64,
        progress::bytes(have),
        progress::bytes(total),
        progress::rate(down),
        progress::rate(up),
        progress::count(s.peers.load(Ordering::Relaxed), "peer")
    )
}

fn seed_goal(ratio: Option<f64>, time: Option<Duration>) -> String {
    match (ratio, time) {
        (Some(r), Some(t)) => format!("ratio {r} or {}", progress::duration(t.as_secs())),
        (Some(r), None) => format!("ratio {r}"),
        (None, Some(t)) => progress::duration(t.as_secs()),
        (None, None) => "interrupted".into(),
    }
}

/// Runs `--on-done` once, through `sh -c`, with the download's path, name and info-hash in its
/// environment; a failure is logged, never fatal.
/// Starts the `--on-done` command on a blocking thread, so that a slow one stalls neither
/// progress nor seeding; its exit status is logged when it ends. The fetch waits for it before
/// it exits.
fn on_done(
    cmd: Option<&str>,
    target: &std::path::Path,
    meta: &crate::metainfo::Torrent,
) -> Option<runtime::JoinHandle<()>> {
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", cmd?])
        .env("P2P_PATH", target)
        .env("P2P_NAME", &meta.info.name)
        .env("P2P_INFO_HASH", meta.info_hash.hex())
        .stdin(std::process::Stdio::null());
    Some(runtime::spawn_blocking(move || match command.status() {
        Ok(s) if s.success() => log::info!("--on-done command finished"),
        Ok(s) => log::warn!("--on-done command failed: {s}"),
        Err(e) => log::warn!("--on-done command could not run: {e}"),
    }))
}

/// A `fetch --json` progress line (field names kept stable; see the man page).
fn progress_json(s: &Stats, total: u64, down: f64, up: f64) -> Json {
    let have = s.have_bytes.load(Ordering::Relaxed);
    Json::Obj(vec![
        ("event", Json::str("progress")),
        ("have_bytes", Json::uint(have)),
        ("total_bytes", Json::uint(total)),
        (
            "pieces_verified",
            Json::uint(s.have_pieces.load(Ordering::Relaxed)),
        ),
        (
            "prefix_bytes",
            Json::uint(s.prefix_bytes.load(Ordering::Relaxed)),
        ),
        ("download_rate", Json::Num(down)),
        ("upload_rate", Json::Num(up)),
        ("peers", Json::uint(s.peers.load(Ordering::Relaxed))),
    ])
}

fn summary(target: &std::path::Path, total: u64, s: &Stats, started: Instant, json: bool) {
    let secs = started.elapsed().as_secs_f64();
    let wasted = s.wasted.load(Ordering::Relaxed);
    // Payload: what was received and used; the rest is reported apart.
    let down = s.downloaded.load(Ordering::Relaxed).saturating_sub(wasted);
    if json {
        let line = Json::Obj(vec![
            ("event", Json::str("complete")),
            ("path", Json::str(target.to_string_lossy())),
            ("total_bytes", Json::uint(total)),
            ("seconds", Json::Num(secs)),
            ("downloaded", Json::uint(down)),
            ("wasted", Json::uint(wasted)),
            (
                "web_seed_bytes",
                Json::uint(s.web_seed_bytes.load(Ordering::Relaxed)),
            ),
            ("uploaded", Json::uint(s.uploaded.load(Ordering::Relaxed))),
            (
                "connections",
                Json::uint(s.connections.load(Ordering::Relaxed)),
            ),
            (
                "encrypted_connections",
                Json::uint(s.encrypted_connections.load(Ordering::Relaxed)),
            ),
        ]);
        crate::outln!("{}", line.to_line());
        return;
    }
    let web = s.web_seed_bytes.load(Ordering::Relaxed);
    crate::outln!(
        "complete: {} ({total} bytes) verified in {secs:.1}s; downloaded {down} bytes ({}{}) and {wasted} wasted, uploaded {} bytes; {} of {} connections encrypted",
        target.display(),
        progress::rate(down as f64 / secs.max(1e-3)),
        if web > 0 {
            format!(", {web} from web seeds")
        } else {
            String::new()
        },
        s.uploaded.load(Ordering::Relaxed),
        s.encrypted_connections.load(Ordering::Relaxed),
        s.connections.load(Ordering::Relaxed)
    );
}
