//! `p2p demo`: the whole system in one process over real TCP on 127.0.0.1 — a tracker, a seed of
//! a generated file and N fetchers — with progress, verification and a summary.

use super::Wake;
use crate::cli::Demo;
use crate::create_torrent::{self as build, Options};
use crate::lifecycle::{AddOptions, Engine, EngineConfig, Mode, Notice, Source};
use crate::progress::{self, ProgressLine};
use crate::{Error, Result, runtime, signal};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAX_PEERS: u32 = 32;
/// A demo fetcher with no peer connected for this long gives up (the demo then fails).
const NO_PEER_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: Demo) -> Result<()> {
    let size = crate::progress::parse_bytes(&args.size).map_err(|reason| Error::BadArgument {
        what: "--size",
        value: args.size.clone(),
        reason: reason.to_string(),
    })?;
    if size == 0 || size > 64 << 30 {
        return Err(Error::BadArgument {
            what: "--size",
            value: args.size.clone(),
            reason: "must be from 1 byte to 64G".into(),
        });
    }
    if args.peers == 0 || args.peers > MAX_PEERS {
        return Err(Error::BadArgument {
            what: "--peers",
            value: args.peers.to_string(),
            reason: format!("must be from 1 to {MAX_PEERS}"),
        });
    }
    let work = std::env::temp_dir().join(format!("p2p-demo-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(work.clone());
    signal::install();
    demo(&work, size, args.peers as usize)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `size` pseudo-random bytes to `path`.
fn generate(path: &Path, size: u64) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let mut rng = crate::random::Rng::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        for word in chunk[..n].chunks_mut(8) {
            let bytes = rng.next_u64().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        file.write_all(&chunk[..n]).map_err(io)?;
        left -= n as u64;
    }
    file.flush().map_err(io)
}

fn demo(work: &Path, size: u64, peers: usize) -> Result<()> {
    let seed_dir = work.join("seed");
    std::fs::create_dir_all(&seed_dir).map_err(|source| Error::Io {
        path: seed_dir.clone(),
        source,
    })?;
    let content = seed_dir.join("demo.bin");
    crate::outln!(
        "p2p demo: 1 tracker, 1 seed and {peers} fetchers on 127.0.0.1, sharing {}",
        progress::bytes(size)
    );
    generate(&content, size)?;

    crate::runtime::block_on(async {
        let (tracker_addr, tracker) =
            crate::tracker::start("127.0.0.1:0".parse().expect("literal"), 5, "demo".into())
                .await?;
        crate::outln!("tracker   demo@{tracker_addr}");

        let piece_length = build::choose_piece_length(size).max(64 << 10);
        let options = Options {
            trackers: vec![build::tracker_url(&format!("demo@{tracker_addr}"))?],
            piece_length: Some(piece_length),
            ..Options::default()
        };
        let meta = build::torrent_of(&content, &options)?;
        crate::outln!(
            "torrent   {} ({} pieces of {}), info-hash {}",
            meta.info.name,
            meta.info.piece_count(),
            progress::bytes(piece_length),
            meta.info_hash
        );

        // Every node is an engine of its own (its own port and peer id); all report here.
        let (tx, notices) = async_std::channel::unbounded();
        let node = |tx| {
            let config = EngineConfig {
                listen: "127.0.0.1:0".parse().expect("literal"),
                encryption: Default::default(),
                utp: Default::default(),
                dht: None,
                port_mapping: false,
                lsd: false,
            };
            Engine::start(config, tx)
        };
        // The seed reports apart: its content is whole from the start, which is no fetcher's
        // completion.
        let (seed_tx, _seed_notices) = async_std::channel::unbounded();
        let seed = node(seed_tx).await?;
        let seed_id = seed
            .add(
                Source::Torrent(Box::new(meta.clone())),
                peer_options(&seed_dir, None),
            )
            .await?;
        crate::outln!("seed      {}", seed.local_addr());
        // Fetchers that announce before the seed would wait a whole interval to hear of it.
        for _ in 0..50 {
            if tracker.store.peer_count() > 0 {
                break;
            }
            runtime::sleep(Duration::from_millis(100)).await;
        }

        let started = Instant::now();
        let mut fetchers = Vec::new();
        for i in 0..peers {
            let dir = work.join(format!("fetch-{}", i + 1));
            let fetcher = node(tx.clone()).await?;
            let id = fetcher
                .add(
                    Source::Torrent(Box::new(meta.clone())),
                    peer_options(&dir, Some(NO_PEER_TIMEOUT)),
                )
                .await?;
            crate::outln!("fetcher {} {}", i + 1, fetcher.local_addr());
            fetchers.push((fetcher, id));
        }

        let mut line = ProgressLine::new();
        let mut last_log = Instant::now();
        let mut completed = 0;
        let mut outcome = Ok(());
        while completed < peers {
            match super::next(&notices, Duration::from_millis(250)).await {
                Wake::Notice(Notice::Completed { .. }) => completed += 1,
                // Every node keeps seeding, so a stop is a failure.
                Wake::Notice(Notice::Stopped { outcome: o, .. }) => {
                    outcome = o.and(Err(Error::Failed(
                        "a fetcher stopped before completing".into(),
                    )));
                    break;
                }
                Wake::Stop => {
                    outcome = Err(Error::Failed("interrupted".into()));
                    break;
                }
                Wake::Notice(_) | Wake::Tick => {}
            }
            let mut text = Vec::new();
            for (i, (f, id)) in fetchers.iter().enumerate() {
                let have = f.snapshot(*id).await.map_or(0, |s| s.have_bytes);
                text.push(format!(
                    "#{} {:>3.0}%",
                    i + 1,
                    have as f64 * 100.0 / size as f64
                ));
            }
            let text = text.join("  ");
            if line.is_tty() {
                line.draw(&format!("fetching: {text}"));
            } else if last_log.elapsed() >= Duration::from_secs(2) {
                last_log = Instant::now();
                crate::outln!("fetching: {text}");
            }
        }
        line.finish();
        let elapsed = started.elapsed();
        let seed_up = seed.snapshot(seed_id).await.map_or(0, |s| s.uploaded);
        let mut fetch_up = 0;
        for (f, _) in &fetchers {
            fetch_up += f.shutdown().await.iter().map(|s| s.uploaded).sum::<u64>();
        }
        seed.shutdown().await;
        outcome?;
        // Every fetcher's copy must equal the seed's, byte for byte.
        let original = std::fs::read(&content).map_err(|source| Error::Io {
            path: content.clone(),
            source,
        })?;
        for i in 0..peers {
            let copy = work.join(format!("fetch-{}", i + 1)).join(&meta.info.name);
            let bytes = std::fs::read(&copy).map_err(|source| Error::Io {
                path: copy.clone(),
                source,
            })?;
            if bytes != original {
                return Err(Error::Failed(format!(
                    "{} differs from the seed's copy",
                    copy.display()
                )));
            }
        }
        let secs = elapsed.as_secs_f64();
        crate::outln!(
            "done: {peers} fetchers each got {} in {secs:.2}s ({} aggregate), every copy verified identical",
            progress::bytes(size),
            progress::rate((size * peers as u64) as f64 / secs.max(1e-3))
        );
        crate::outln!(
            "uploads: the seed sent {} ({:.2}x the file), the fetchers sent each other {} ({:.2}x)",
            progress::bytes(seed_up),
            seed_up as f64 / size as f64,
            progress::bytes(fetch_up),
            fetch_up as f64 / size as f64
        );
        Ok(())
    })
}

/// The seed (the content in `dir`), or a fetcher into `dir` that stays to serve the others
/// until every one is done.
fn peer_options(dir: &Path, no_peer_timeout: Option<Duration>) -> AddOptions {
    AddOptions {
        dir: dir.to_owned(),
        mode: if no_peer_timeout.is_none() {
            Mode::Seed
        } else {
            Mode::Fetch
        },
        keep_seeding: true,
        no_peer_timeout,
        ..AddOptions::default()
    }
}
