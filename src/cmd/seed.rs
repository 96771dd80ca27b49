//! `p2p seed`: verify the content of every given torrent, then serve them all on one port,
//! announcing to their trackers, until SIGINT or SIGTERM.

use crate::cli::Seed;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::session::{self, Routes};
use crate::torrent::{self, Config};
use crate::{Error, Result, progress, rate, signal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub fn run(args: Seed) -> Result<()> {
    let listen = super::parse_addr("--listen", &args.listen)?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let mut loaded = Vec::new();
    for path in &args.torrents {
        let meta = Torrent::load(path)?;
        let store = PieceStore::open_existing(&args.dir, &meta.info)?;
        let have = store.check_all(&HashProgress::default())?;
        if !have.is_full() {
            let file = store
                .first_bad_file(&have)
                .map(|p| p.to_owned())
                .unwrap_or_default();
            return Err(Error::Input {
                path: file,
                reason: format!(
                    "does not match torrent `{}`: {} of {} pieces fail their hash check",
                    path.display(),
                    have.len() - have.count(),
                    have.len()
                ),
            });
        }
        loaded.push((Arc::new(meta), Arc::new(store), have));
    }
    signal::install();
    async_std::task::block_on(async {
        let routes = Routes::default();
        let (bound, accept) = session::listen(listen, routes.clone()).await?;
        async_std::task::spawn(accept);
        let peer_id = session::new_peer_id();
        let mut handles = Vec::new();
        for (meta, store, have) in loaded {
            log::info!(
                "seeding {} ({}, {}) listening on {bound}",
                meta.info.name,
                meta.info_hash,
                progress::bytes(meta.info.total_length())
            );
            let handle = torrent::spawn(
                meta.clone(),
                store,
                have,
                Config {
                    peer_id,
                    listen_port: bound.port(),
                    upload_limit: upload_limit.clone(),
                    download_limit: None,
                    keep_seeding: true,
                    peers: Vec::new(),
                    no_peer_timeout: None,
                },
            );
            routes.add(meta.info_hash, handle.events.clone());
            handles.push(handle);
        }
        let mut last_report = std::time::Instant::now();
        while !signal::stop_requested() {
            async_std::task::sleep(Duration::from_millis(100)).await;
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = std::time::Instant::now();
                for h in &handles {
                    log::info!(
                        "uploaded {} so far, {} peers",
                        progress::bytes(h.stats.uploaded.load(Ordering::Relaxed)),
                        h.stats.peers.load(Ordering::Relaxed)
                    );
                }
            }
            // A torrent ends early only on an error: stop the others and report it.
            if handles
                .iter()
                .any(|h| h.stats.finished.load(Ordering::Relaxed))
            {
                break;
            }
        }
        log::info!("stopping: telling the trackers");
        for h in &handles {
            let _ = h.events.send(torrent::Event::Stop).await;
        }
        let uploaded: u64 = handles
            .iter()
            .map(|h| h.stats.uploaded.load(Ordering::Relaxed))
            .sum();
        log::info!(
            "uploaded {uploaded} bytes ({}) in all",
            progress::bytes(uploaded)
        );
        let mut outcome = Ok(());
        for h in handles {
            if let Err(e) = h.task.await {
                outcome = Err(e);
            }
        }
        outcome
    })
}
