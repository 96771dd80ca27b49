//! `p2p seed`: verify the content of every given torrent, then serve them all on one port,
//! announcing to their trackers, until SIGINT or SIGTERM.

use super::Wake;
use crate::cli::Seed;
use crate::json::Json;
use crate::lifecycle::{AddOptions, Engine, EngineConfig, Mode, Notice, Source, State};
use crate::metainfo::Torrent;
use crate::{Error, Result, progress, rate, runtime, signal};
use std::time::Duration;

/// How often a seed logs what it uploaded.
const REPORT_EVERY: Duration = Duration::from_secs(30);

pub fn run(args: Seed) -> Result<()> {
    let listen = super::parse_addr("--listen", &args.listen)?;
    super::set_source(listen, args.interface.as_deref())?;
    let upload_limit = rate::from_arg("--upload-limit", args.upload_limit.as_deref())?;
    let encryption = crate::cli::parse_encryption(args.encryption.as_deref())?;
    let utp = crate::cli::parse_utp(args.utp.as_deref())?;
    let seed_ratio = super::parse_ratio("--seed-ratio", args.seed_ratio.as_deref())?;
    let seed_time = super::parse_duration("--seed-time", args.seed_time.as_deref())?;
    if args.torrents.is_empty() {
        return Err(Error::BadArgument {
            what: "TORRENT",
            value: String::new(),
            reason: "give at least one .torrent to seed".into(),
        });
    }
    let mut loaded: Vec<Torrent> = Vec::new();
    for path in &args.torrents {
        let meta = Torrent::load(path)?;
        if loaded.iter().any(|m| m.info_hash == meta.info_hash) {
            log::warn!(
                "{}: torrent {} is given twice; seeded once",
                path.display(),
                meta.info_hash
            );
            continue;
        }
        loaded.push(meta);
    }
    // Only public torrents use the DHT; with none, no node is started.
    let public_nodes: Vec<String> = loaded
        .iter()
        .filter(|m| !m.info.private)
        .flat_map(|m| m.nodes.clone())
        .collect();
    let any_public = loaded.iter().any(|m| !m.info.private);
    let dht = super::dht_config(
        args.no_dht || !any_public,
        &args.dht_bootstrap,
        args.state_dir.as_deref(),
        public_nodes,
    );
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
        let mut seeding = loaded.len();
        for meta in loaded {
            let options = AddOptions {
                dir: args.dir.clone(),
                mode: Mode::Seed,
                upload_limit: upload_limit.clone(),
                super_seed: args.super_seed,
                seed_ratio,
                seed_time,
                ..AddOptions::default()
            };
            engine.add(Source::Torrent(Box::new(meta)), options).await?;
        }
        // A torrent stops on its own when it reached its seeding goal (the seed exits once all
        // have), or on an error (its content does not match): then the others are stopped and
        // the error reported.
        let mut failed = Ok(());
        // On a terminal, a status line redrawn every second stands for the 30 s log lines.
        let mut line = progress::ProgressLine::new();
        let live = line.is_tty() && !args.json;
        // With --json, a second's tick tells of the port mapping at once.
        let period = if live || args.json {
            Duration::from_secs(1)
        } else {
            REPORT_EVERY
        };
        let mut mapped = None;
        let mut reported = std::time::Instant::now();
        loop {
            match super::next(&notices, period).await {
                Wake::Tick if live => line.draw(&status(&engine.list().await)),
                Wake::Tick => {
                    super::report::port_mapping(&engine, &mut mapped, args.json).await;
                    if period < REPORT_EVERY && reported.elapsed() < REPORT_EVERY {
                        continue;
                    }
                    reported = std::time::Instant::now();
                    for t in engine.list().await {
                        let name = crate::escape::untrusted(&t.name, 80);
                        if args.json {
                            let line = Json::Obj(vec![
                                ("event", Json::str("stats")),
                                ("name", Json::str(name)),
                                ("uploaded", Json::uint(t.uploaded)),
                                ("peers", Json::uint(t.peers)),
                            ]);
                            crate::outln!("{}", line.to_line());
                            continue;
                        }
                        log::info!(
                            "{name}: uploaded {} so far, {} connected",
                            progress::bytes(t.uploaded),
                            progress::count(t.peers, "peer")
                        );
                    }
                }
                Wake::Notice(Notice::Stopped {
                    outcome: Ok(()),
                    state: State::Finished,
                    ..
                }) => {
                    seeding -= 1;
                    if seeding == 0 {
                        log::info!("every torrent reached its seeding goal");
                        break;
                    }
                }
                Wake::Notice(Notice::Stopped { outcome, .. }) => {
                    failed = outcome;
                    break;
                }
                Wake::Notice(_) => {}
                Wake::Stop => break,
            }
        }
        line.finish();
        log::info!("stopping: telling the trackers");
        let last = engine.shutdown().await;
        let uploaded: u64 = last.iter().map(|t| t.uploaded).sum();
        log::info!(
            "uploaded {uploaded} bytes ({}) in all",
            progress::bytes(uploaded)
        );
        if args.json {
            let line = Json::Obj(vec![
                ("event", Json::str("stopped")),
                ("uploaded", Json::uint(uploaded)),
                ("torrents", Json::uint(last.len())),
            ]);
            crate::outln!("{}", line.to_line());
        }
        failed
    })
}

/// The live status line: `seeding 2 torrents: up 1.2 MiB/s, 35.0 MiB uploaded, 3 peers`.
fn status(list: &[crate::lifecycle::Snapshot]) -> String {
    let rate: f64 = list.iter().map(|t| t.upload_rate).sum();
    let uploaded: u64 = list.iter().map(|t| t.uploaded).sum();
    let peers: usize = list.iter().map(|t| t.peers).sum();
    let what = match list {
        [one] => crate::escape::untrusted(&one.name, 60).to_string(),
        _ => progress::count(list.len(), "torrent"),
    };
    format!(
        "seeding {what}: up {}, {} uploaded, {}",
        progress::rate(rate),
        progress::bytes(uploaded),
        progress::count(peers, "peer")
    )
}
