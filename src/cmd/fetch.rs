//! `p2p fetch`: download a torrent into `DIR/<name>` from every peer at once while uploading to
//! them, resuming from whatever verified data is already there.

use crate::cli::Fetch;
use crate::metainfo::Torrent;
use crate::piece_store::{HashProgress, PieceStore};
use crate::progress::{self, ProgressLine};
use crate::session::{Session, Wake};
use crate::torrent::{Options, Stats};
use crate::{Error, Result, rate, runtime, signal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A fetch with no peer connected for this long gives up.
pub const NO_PEER_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: Fetch) -> Result<()> {
    let listen = super::parse_addr("--listen", args.listen.as_deref().unwrap_or("0.0.0.0:0"))?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let download_limit = rate::from_arg("--download-limit", args.download_limit.as_deref())?;
    let encryption = crate::cli::parse_encryption(args.encryption.as_deref())?;
    let peers = args
        .peer
        .iter()
        .map(|p| super::parse_addr("--peer", p))
        .collect::<Result<Vec<_>>>()?;
    let meta = Arc::new(Torrent::load(&args.torrent)?);
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io {
        path: args.out.clone(),
        source,
    })?;
    let store = Arc::new(PieceStore::create(&args.out, &meta.info)?);
    let have = store.check_all(&HashProgress::default())?;
    let total = meta.info.total_length();
    let target = args.out.join(&meta.info.name);
    if have.count() > 0 {
        log::info!(
            "resuming: {} of {} pieces already verified",
            have.count(),
            have.len()
        );
    }
    if have.is_full() && !args.seed {
        println!(
            "complete: {} ({total} bytes) was already verified; downloaded 0 bytes",
            target.display()
        );
        return Ok(());
    }
    signal::install();
    runtime::block_on(async {
        let mut session = Session::bind(listen, encryption).await?;
        let torrent = session.add(
            meta.clone(),
            store,
            have,
            Options {
                upload_limit,
                download_limit,
                keep_seeding: args.seed,
                peers,
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
            let text = status(
                &meta.info.name,
                &stats,
                total,
                (down - last.1) as f64 / secs,
                (up - last.2) as f64 / secs,
            );
            last = (Instant::now(), down, up);
            if line.is_tty() {
                line.draw(&text);
            } else if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                log::info!("{text}");
            }
            if args.seed && !reported_complete && stats.complete.load(Ordering::Relaxed) {
                reported_complete = true;
                line.finish();
                summary(&target, total, &stats, started);
                log::info!("seeding until interrupted");
            }
        };
        line.finish();
        outcome?;
        if stats.complete.load(Ordering::Relaxed) {
            if !reported_complete {
                summary(&target, total, &stats, started);
            }
            return Ok(());
        }
        Err(Error::Interrupted {
            have: stats.have_pieces.load(Ordering::Relaxed),
            total: meta.info.piece_count(),
        })
    })
}

fn status(name: &str, s: &Stats, total: u64, down: f64, up: f64) -> String {
    let have = s.have_bytes.load(Ordering::Relaxed);
    let eta = if down > 0.0 {
        progress::duration(((total - have.min(total)) as f64 / down) as u64)
    } else {
        "-".into()
    };
    format!(
        "{name}: {:.1}% {}/{}, down {} up {}, {} peers, ETA {eta}",
        have as f64 * 100.0 / total.max(1) as f64,
        progress::bytes(have),
        progress::bytes(total),
        progress::rate(down),
        progress::rate(up),
        s.peers.load(Ordering::Relaxed)
    )
}

fn summary(target: &std::path::Path, total: u64, s: &Stats, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let down = s.downloaded.load(Ordering::Relaxed);
    println!(
        "complete: {} ({total} bytes) verified in {secs:.1}s; downloaded {down} bytes ({}), uploaded {} bytes; {} of {} connections encrypted",
        target.display(),
        progress::rate(down as f64 / secs.max(1e-3)),
        s.uploaded.load(Ordering::Relaxed),
        s.encrypted_connections.load(Ordering::Relaxed),
        s.connections.load(Ordering::Relaxed)
    );
}
