//! `p2p seed`: verify the content of every given torrent, then serve them all on one port,
//! announcing to their trackers, until SIGINT or SIGTERM.

use crate::cli::Seed;
use crate::json::Json;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::session::{Session, Wake};
use crate::torrent::Options;
use crate::{Error, Result, progress, rate, runtime, signal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a seed logs what it uploaded.
const REPORT_EVERY: Duration = Duration::from_secs(30);

pub fn run(args: Seed) -> Result<()> {
    let listen = super::parse_addr("--listen", &args.listen)?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let encryption = crate::cli::parse_encryption(args.encryption.as_deref())?;
    if args.torrents.is_empty() {
        return Err(Error::BadArgument {
            what: "TORRENT",
            value: String::new(),
            reason: "give at least one .torrent to seed".into(),
        });
    }
    let mut loaded: Vec<(Arc<Torrent>, Arc<PieceStore>, crate::bitfield::Bitfield)> = Vec::new();
    for path in &args.torrents {
        let meta = Torrent::load(path)?;
        if loaded.iter().any(|(m, _, _)| m.info_hash == meta.info_hash) {
            log::warn!(
                "{}: torrent {} is given twice; seeded once",
                path.display(),
                meta.info_hash
            );
            continue;
        }
        let store = PieceStore::open_existing(&args.dir, &meta.info)?;
        let have = store.check_all(&HashProgress::default())?;
        if have.count() == 0 {
            let file = store
                .first_bad_file(&have)
                .map(|p| p.to_owned())
                .unwrap_or_default();
            return Err(Error::Input {
                path: file,
                reason: format!(
                    "does not match torrent `{}`: none of its {} pieces pass their hash check",
                    path.display(),
                    have.len()
                ),
            });
        }
        if !have.is_full() {
            let file = store
                .first_bad_file(&have)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            log::warn!(
                "{file}: {} of {} pieces fail their hash check; serving the {} that pass (p2p verify names the files)",
                have.len() - have.count(),
                have.len(),
                have.count()
            );
        }
        loaded.push((Arc::new(meta), Arc::new(store), have));
    }
    signal::install();
    runtime::block_on(async {
        let mut session = Session::bind(listen, encryption).await?;
        // Only public torrents use the DHT; with none, no node is started.
        let public_nodes: Vec<String> = loaded
            .iter()
            .filter(|(m, _, _)| !m.info.private)
            .flat_map(|(m, _, _)| m.nodes.clone())
            .collect();
        let any_public = loaded.iter().any(|(m, _, _)| !m.info.private);
        if let Some(config) = super::dht_config(
            args.no_dht || !any_public,
            &args.dht_bootstrap,
            args.state_dir.as_deref(),
            public_nodes,
        ) {
            session.start_dht(config).await;
        }
        let mut seeded: Vec<String> = Vec::new();
        for (meta, store, have) in loaded {
            let options = Options {
                upload_limit: upload_limit.clone(),
                keep_seeding: true,
                // The content is the user's: a seed serves it and never writes to it.
                upload_only: true,
                ..Options::default()
            };
            let (name, info_hash, size, link) = (
                meta.info.name.clone(),
                meta.info_hash,
                meta.info.total_length(),
                crate::magnet::Magnet::of(&meta).to_uri(),
            );
            session.add(meta, store, have, options);
            seeded.push(name.clone());
            // Logged once the torrent is routed: a peer told of this port is served at once.
            log::info!(
                "seeding {name} ({info_hash}, {}) listening on {}",
                progress::bytes(size),
                session.local_addr()
            );
            log::info!("magnet link: {link}");
        }
        let names: Vec<String> = seeded
            .iter()
            .map(|n| crate::escape::untrusted(n, 80))
            .collect();
        // A torrent ends early only on an error: stop the others and report it.
        let mut failed = Ok(());
        loop {
            match session.wait(REPORT_EVERY).await {
                Wake::Tick => {
                    for (t, name) in session.torrents().iter().zip(&names) {
                        if args.json {
                            let line = Json::Obj(vec![
                                ("event", Json::str("stats")),
                                ("name", Json::str(name)),
                                (
                                    "uploaded",
                                    Json::uint(t.stats.uploaded.load(Ordering::Relaxed)),
                                ),
                                ("peers", Json::uint(t.stats.peers.load(Ordering::Relaxed))),
                            ]);
                            crate::outln!("{}", line.to_line());
                            continue;
                        }
                        log::info!(
                            "{name}: uploaded {} so far, {} connected",
                            progress::bytes(t.stats.uploaded.load(Ordering::Relaxed)),
                            progress::count(t.stats.peers.load(Ordering::Relaxed), "peer")
                        );
                    }
                }
                Wake::Ended(_, outcome) => {
                    failed = outcome;
                    break;
                }
                Wake::Stop => break,
            }
        }
        log::info!("stopping: telling the trackers");
        let stopped = session.stop_all().await;
        let uploaded: u64 = session
            .torrents()
            .iter()
            .map(|t| t.stats.uploaded.load(Ordering::Relaxed))
            .sum();
        log::info!(
            "uploaded {uploaded} bytes ({}) in all",
            progress::bytes(uploaded)
        );
        if args.json {
            let line = Json::Obj(vec![
                ("event", Json::str("stopped")),
                ("uploaded", Json::uint(uploaded)),
                ("torrents", Json::uint(session.torrents().len())),
            ]);
            crate::outln!("{}", line.to_line());
        }
        session.close().await;
        failed.and(stopped)
    })
}
