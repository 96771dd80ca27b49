//! `p2p fetch`: download a torrent into `DIR/<name>` from every peer at once while uploading to
//! them, resuming from whatever verified data is already there. The download's life (checking,
//! `.part` naming, resume data, seeding goals, the done hook) is the engine's
//! ([`crate::lifecycle`]); this command reads its arguments and shows progress.

use super::{Wake, report};
use crate::cli::Fetch;
use crate::lifecycle::{AddOptions, Engine, EngineConfig, Files, Notice, Source};
use crate::magnet::Magnet;
use crate::metainfo::Torrent;
use crate::progress::ProgressLine;
use crate::session::metadata;
use crate::{Error, Result, rate, runtime, signal};
use std::time::{Duration, Instant};

pub fn run(args: Fetch) -> Result<()> {
    let listen = super::parse_addr("--listen", args.listen.as_deref().unwrap_or("[::]:0"))?;
    super::set_source(listen, args.interface.as_deref())?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let download_limit = rate::from_arg("--download-limit", args.download_limit.as_deref())?;
    let encryption = crate::cli::parse_encryption(args.encryption.as_deref())?;
    let utp = crate::cli::parse_utp(args.utp.as_deref())?;
    let seed_ratio = super::parse_ratio("--seed-ratio", args.seed_ratio.as_deref())?;
    let seed_time = super::parse_duration("--seed-time", args.seed_time.as_deref())?;
    let timeout = super::parse_duration("--timeout", args.timeout.as_deref())?;
    let peers = args
        .peer
        .iter()
        .map(|p| super::parse_addr("--peer", p))
        .collect::<Result<Vec<_>>>()?;
    let source = match args.torrent.to_str().filter(|t| Magnet::is_magnet(t)) {
        Some(text) => {
            let magnet = Magnet::parse(text)?;
            // A magnet link fetched into this directory before left its .torrent here.
            match metadata::saved_torrent(&args.out, magnet.info_hash) {
                Some(t) => Source::Torrent(Box::new(t)),
                None => Source::Magnet(magnet),
            }
        }
        None => Source::Torrent(Box::new(Torrent::load(&args.torrent)?)),
    };
    let (private, nodes) = match &source {
        Source::Torrent(t) => (t.info.private, t.nodes.clone()),
        Source::Magnet(_) => (false, Vec::new()),
    };
    let dht = super::dht_config(
        args.no_dht || private,
        &args.dht_bootstrap,
        args.state_dir.as_deref(),
        nodes,
    );
    let files = if args.only.is_empty() && args.skip.is_empty() {
        Files::AsBefore
    } else {
        Files::Patterns {
            only: args.only.clone(),
            skip: args.skip.clone(),
        }
    };
    let options = AddOptions {
        dir: args.out.clone(),
        files,
        peers,
        upload_limit,
        download_limit,
        keep_seeding: args.seed,
        seed_ratio,
        seed_time,
        sequential: args.sequential,
        direct_io: args.direct_io,
        no_peer_timeout: timeout,
        on_done: args.on_done.clone(),
        ..AddOptions::default()
    };
    let keep_seeding = args.seed || seed_ratio.is_some() || seed_time.is_some();
    signal::install();
    runtime::block_on(async {
        let config = EngineConfig {
            listen,
            encryption,
            utp,
            dht,
            port_mapping: !args.no_port_mapping,
            lsd: !args.no_lsd,
        };
        let (engine, notices) = Engine::start_alone(config).await?;
        let id = engine.add(source, options).await?;
        let started = Instant::now();
        let mut line = ProgressLine::new();
        let mut last_log = Instant::now();
        let mut mapped = None;
        let outcome = loop {
            match super::next(&notices, Duration::from_secs(1)).await {
                Wake::Notice(Notice::Completed { path, already, .. }) => {
                    line.finish();
                    let Some(s) = engine.snapshot(id).await else {
                        continue;
                    };
                    if already && !keep_seeding && !args.json {
                        crate::outln!(
                            "complete: {} ({} bytes) was already verified; downloaded 0 bytes",
                            path.display(),
                            s.wanted_bytes
                        );
                    } else {
                        report::summary(&path, &s, started, args.json);
                    }
                }
                Wake::Notice(Notice::Stopped { outcome, .. }) => break outcome,
                Wake::Notice(Notice::Removed { .. }) => break Ok(()),
                Wake::Stop => break Ok(()),
                Wake::Tick => {
                    report::port_mapping(&engine, &mut mapped, args.json).await;
                    let Some(s) = engine.snapshot(id).await else {
                        continue;
                    };
                    if !s.has_metadata || s.state == crate::lifecycle::State::Checking {
                        continue;
                    }
                    if args.json {
                        crate::outln!("{}", report::progress_json(&s).to_line());
                    } else if line.is_tty() {
                        line.draw(&report::status(&s));
                    } else if last_log.elapsed() >= Duration::from_secs(5) {
                        last_log = Instant::now();
                        log::info!("{}", report::status(&s));
                    }
                }
            }
        };
        line.finish();
        let last = engine.shutdown().await.into_iter().find(|s| s.id == id);
        // A run that ends incomplete (interrupted, or failed) ends its JSON with what it had.
        if args.json
            && let Some(s) = last.as_ref().filter(|s| !s.complete)
        {
            let reason = match &outcome {
                Err(e) => e.to_string(),
                Ok(()) => "interrupted".to_string(),
            };
            crate::outln!("{}", report::stopped_json(s, &reason).to_line());
        }
        outcome?;
        match last {
            Some(s) if !s.complete && !s.has_metadata => Err(Error::Stopped(
                "interrupted before the metadata came; nothing was downloaded".into(),
            )),
            Some(s) if !s.complete => Err(Error::Interrupted {
                have: s.have_pieces,
                total: s.pieces,
            }),
            _ => Ok(()),
        }
    })
}
