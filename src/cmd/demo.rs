//! `p2p demo`: the whole system in one process over real TCP on 127.0.0.1 — a tracker, a seed of
//! a generated file and N fetchers — with progress, verification and a summary.

use crate::cli::Demo;
use crate::metainfo::Torrent;
use crate::metainfo::build::{self, HashProgress, Options};
use crate::piece_store::PieceStore;
use crate::progress::{self, ProgressLine};
use crate::session::{Session, Wake};
use crate::torrent;
use crate::{Error, Result, runtime, signal};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MAX_PEERS: u32 = 32;

pub fn run(args: Demo) -> Result<()> {
    let size = crate::cli::parse_bytes(&args.size).map_err(|reason| Error::BadArgument {
        what: "--size",
        value: args.size.clone(),
        reason,
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

        let (name, files, multi) = build::collect_files(&content, &build::Skip::default())?;
        let piece_length = build::choose_piece_length(size).max(64 << 10);
        let layout = build::lay_out(&files, piece_length, false);
        let pieces = build::hash_pieces(&files, layout.clone(), &HashProgress::default())?;
        let options = Options {
            trackers: vec![build::tracker_url(&format!("demo@{tracker_addr}"))?],
            ..Options::default()
        };
        let bytes = build::encode_torrent(&name, &files, multi, &layout, &pieces, &options);
        let meta = Arc::new(
            Torrent::from_bytes(&bytes).map_err(|source| Error::Torrent {
                path: content.clone(),
                source,
            })?,
        );
        crate::outln!(
            "torrent   {} ({} pieces of {}), info-hash {}",
            meta.info.name,
            meta.info.piece_count(),
            progress::bytes(piece_length),
            meta.info_hash
        );

        let seed_store = Arc::new(PieceStore::open_existing(&seed_dir, &meta.info)?);
        let have = seed_store.check_all(&HashProgress::default())?;
        let local: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        let mut seed = Session::bind(local, Default::default()).await?;
        let seed_torrent = seed.add(meta.clone(), seed_store, have, peer_options(true));
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
            let store = Arc::new(PieceStore::create(&dir, &meta.info)?);
            let have = crate::bitfield::Bitfield::new(meta.info.piece_count());
            // A sibling: its torrent's end comes through the seed session's `wait`.
            let mut node = seed.sibling(local).await?;
            let torrent = node.add(meta.clone(), store, have, peer_options(false));
            crate::outln!("fetcher {} {}", i + 1, node.local_addr());
            fetchers.push((node, torrent));
        }

        let mut line = ProgressLine::new();
        let mut last_log = Instant::now();
        let mut first_error = None;
        let mut interrupted = false;
        loop {
            match seed.wait(Duration::from_millis(250)).await {
                // Every peer keeps seeding, so an end is a failure.
                Wake::Ended(_, outcome) => {
                    first_error = Some(outcome.err().unwrap_or_else(|| {
                        Error::Failed("a fetcher stopped before completing".into())
                    }));
                    break;
                }
                Wake::Stop => {
                    interrupted = true;
                    break;
                }
                Wake::Tick => {}
            }
            if fetchers
                .iter()
                .all(|(_, t)| t.stats.complete.load(Ordering::Relaxed))
            {
                break;
            }
            let text = fetchers
                .iter()
                .enumerate()
                .map(|(i, (_, t))| {
                    format!(
                        "#{} {:>3.0}%",
                        i + 1,
                        t.stats.have_bytes.load(Ordering::Relaxed) as f64 * 100.0 / size as f64
                    )
                })
                .collect::<Vec<_>>()
                .join("  ");
            if line.is_tty() {
                line.draw(&format!("fetching: {text}"));
            } else if last_log.elapsed() >= Duration::from_secs(2) {
                last_log = Instant::now();
                crate::outln!("fetching: {text}");
            }
        }
        line.finish();
        let elapsed = started.elapsed();
        let all_done = fetchers
            .iter()
            .all(|(_, t)| t.stats.complete.load(Ordering::Relaxed));
        let seed_up = seed_torrent.stats.uploaded.load(Ordering::Relaxed);
        let fetch_up: u64 = fetchers
            .iter()
            .map(|(_, t)| t.stats.uploaded.load(Ordering::Relaxed))
            .sum();
        // Every torrent's end comes through the seed session; one may have been collected.
        let running = 1 + fetchers.len() - first_error.is_some() as usize;
        seed_torrent.stop().await;
        for (_, t) in &fetchers {
            t.stop().await;
        }
        for _ in 0..running {
            if let (_, Err(e)) = seed.next_end().await {
                first_error.get_or_insert(e);
            }
        }
        if interrupted && !all_done {
            return Err(Error::Failed("interrupted".into()));
        }
        if !all_done {
            return Err(first_error
                .unwrap_or_else(|| Error::Failed("a fetcher stopped before completing".into())));
        }
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

/// The seed, or a fetcher that stays to serve the others until every one is done.
fn peer_options(seed: bool) -> torrent::Options {
    torrent::Options {
        keep_seeding: true,
        no_peer_timeout: (!seed).then_some(crate::cmd::fetch::NO_PEER_TIMEOUT),
        ..torrent::Options::default()
    }
}
