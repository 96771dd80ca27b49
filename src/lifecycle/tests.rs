//! The engine driven as a library user (or the daemon) drives it: real stores in temporary
//! directories, a seed and a fetcher as two engines on 127.0.0.1.

use super::*;
use crate::create_torrent as build;
use crate::runtime::{self, block_on, within};
use async_std::channel::Receiver;
use std::path::Path;

const WAIT: Duration = Duration::from_secs(30);

/// `dir/NAME` of `size` bytes and its torrent (16 KiB pieces).
fn content(dir: &Path, name: &str, size: usize) -> Torrent {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    let options = build::Options {
        piece_length: Some(16384),
        ..build::Options::default()
    };
    build::torrent_of(&path, &options).unwrap()
}

async fn engine() -> (Engine, Receiver<Notice>) {
    let config = EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        encryption: Encryption::Prefer,
        utp: Default::default(),
        dht: None,
        port_mapping: false,
        lsd: false,
    };
    Engine::start_alone(config).await.unwrap()
}

/// The next notice `pick` takes, within [`WAIT`].
async fn notice<T>(rx: &Receiver<Notice>, pick: impl Fn(Notice) -> Option<T>) -> T {
    within(WAIT, async {
        loop {
            if let Some(t) = pick(rx.recv().await.unwrap()) {
                return t;
            }
        }
    })
    .await
    .expect("the notice within 30 s")
}

/// Polls `id`'s snapshot until `done` holds, within [`WAIT`].
async fn until(engine: &Engine, id: Id, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    within(WAIT, async {
        loop {
            let s = engine.snapshot(id).await.unwrap();
            if done(&s) {
                return s;
            }
            runtime::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the state within 30 s")
}

/// A seed of `meta` (content in `dir`) sending at `rate` bytes a second.
async fn seed(meta: &Torrent, dir: &Path, rate: u64) -> Engine {
    let (seed, _) = engine().await;
    let options = AddOptions {
        dir: dir.to_owned(),
        mode: Mode::Seed,
        upload_limit: Some(Arc::new(crate::rate::RateLimit::new(rate))),
        ..AddOptions::default()
    };
    let id = seed
        .add(Source::Torrent(Box::new(meta.clone())), options)
        .await
        .unwrap();
    until(&seed, id, |s| s.state == State::Seeding).await;
    seed
}

fn fetch_options(dir: &Path, seed: &Engine) -> AddOptions {
    AddOptions {
        dir: dir.to_owned(),
        peers: vec![seed.local_addr()],
        ..AddOptions::default()
    }
}

#[test]
fn pause_keeps_the_verified_pieces_and_resume_completes_without_hashing_them_again() {
    let (src, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let meta = content(src.path(), "f.bin", 1 << 20);
    block_on(async {
        let seed = seed(&meta, src.path(), 256 << 10).await;
        let (fetcher, notices) = engine().await;
        let id = fetcher
            .add(
                Source::Torrent(Box::new(meta.clone())),
                fetch_options(out.path(), &seed),
            )
            .await
            .unwrap();
        until(&fetcher, id, |s| s.have_pieces >= 4).await;
        fetcher.pause(id).await.unwrap();
        let state = notice(&notices, |n| match n {
            Notice::Stopped { state, outcome, .. } => Some((state, outcome.is_ok())),
            _ => None,
        })
        .await;
        assert_eq!(state, (State::Paused, true));
        let paused = fetcher.snapshot(id).await.unwrap();
        assert!(
            paused.have_pieces >= 4 && paused.have_pieces < 64,
            "{paused:?}"
        );
        assert_eq!(paused.peers, 0);
        assert!(
            out.path().join(".f.bin.p2p-resume").exists(),
            "the resume data is written at the pause"
        );
        // Resumed: the task starts from what was verified, without a check.
        fetcher.resume(id).await.unwrap();
        let resumed = fetcher.snapshot(id).await.unwrap();
        assert_eq!(resumed.state, State::Downloading);
        assert!(resumed.have_pieces >= paused.have_pieces, "{resumed:?}");
        let (path, already) = notice(&notices, |n| match n {
            Notice::Completed { path, already, .. } => Some((path, already)),
            _ => None,
        })
        .await;
        assert!(!already);
        assert_eq!(path, out.path().join("f.bin"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(src.path().join("f.bin")).unwrap()
        );
        let done = until(&fetcher, id, |s| s.state == State::Finished).await;
        assert!(done.complete && !out.path().join(".f.bin.p2p-resume").exists());
        fetcher.shutdown().await;
        seed.shutdown().await;
    });
}

#[test]
fn remove_with_its_data_stops_the_download_and_deletes_what_it_wrote() {
    let (src, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let meta = content(src.path(), "f.bin", 1 << 20);
    std::fs::write(out.path().join("mine.txt"), b"not the torrent's").unwrap();
    block_on(async {
        let seed = seed(&meta, src.path(), 128 << 10).await;
        let (fetcher, notices) = engine().await;
        let id = fetcher
            .add(
                Source::Torrent(Box::new(meta)),
                fetch_options(out.path(), &seed),
            )
            .await
            .unwrap();
        until(&fetcher, id, |s| s.have_pieces >= 1).await;
        assert!(out.path().join("f.bin.part").exists());
        fetcher.remove(id, true).await.unwrap();
        notice(&notices, |n| {
            matches!(n, Notice::Removed { .. }).then_some(())
        })
        .await;
        assert!(fetcher.list().await.is_empty());
        let left: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["mine.txt"]);
        assert!(
            fetcher.pause(id).await.is_err(),
            "a removed torrent is gone"
        );
        fetcher.shutdown().await;
        seed.shutdown().await;
    });
}

#[test]
fn verify_on_demand_finds_a_piece_damaged_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let meta = content(dir.path(), "f.bin", 100_000);
    block_on(async {
        let (e, notices) = engine().await;
        let options = AddOptions {
            dir: dir.path().to_owned(),
            keep_seeding: true,
            ..AddOptions::default()
        };
        let id = e
            .add(Source::Torrent(Box::new(meta.clone())), options)
            .await
            .unwrap();
        let already = notice(&notices, |n| match n {
            Notice::Completed { already, .. } => Some(already),
            _ => None,
        })
        .await;
        assert!(already, "the content was whole from the start");
        until(&e, id, |s| s.state == State::Seeding).await;
        let mut bytes = std::fs::read(dir.path().join("f.bin")).unwrap();
        bytes[40_000] ^= 1;
        std::fs::write(dir.path().join("f.bin"), bytes).unwrap();
        e.verify(id).await.unwrap();
        let s = until(&e, id, |s| s.state == State::Downloading).await;
        assert_eq!((s.have_pieces, s.pieces), (6, 7));
        let files = e.files(id).await;
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].path.as_str(), files[0].length),
            ("f.bin", 100_000)
        );
        assert!(files[0].wanted && s.wanted_bytes == 100_000);
        assert!(e.files(99).await.is_empty());
        assert!(!s.complete);
        assert_eq!(
            e.add(Source::Torrent(Box::new(meta)), AddOptions::default())
                .await
                .unwrap_err()
                .to_string(),
            format!(
                "torrent {} is already added (as number 1, f.bin)",
                s.info_hash
            )
        );
        e.shutdown().await;
    });
}

#[test]
fn a_torrent_added_paused_waits_and_a_file_choice_of_none_is_an_error_that_keeps_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let meta = content(dir.path(), "f.bin", 100_000);
    let out = tempfile::tempdir().unwrap();
    block_on(async {
        let (e, notices) = engine().await;
        let options = AddOptions {
            dir: out.path().to_owned(),
            paused: true,
            ..AddOptions::default()
        };
        let id = e
            .add(Source::Torrent(Box::new(meta)), options)
            .await
            .unwrap();
        let s = e.snapshot(id).await.unwrap();
        assert_eq!(s.state, State::Paused);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
        e.set_files(id, Files::Flags(vec![false])).await.unwrap();
        let outcome = notice(&notices, |n| match n {
            Notice::Stopped { outcome, .. } => Some(outcome),
            _ => None,
        })
        .await;
        let err = outcome.unwrap_err().to_string();
        assert!(err.contains("leave none of the torrent's 1 files"), "{err}");
        match e.snapshot(id).await.unwrap().state {
            State::Error(reason) => assert_eq!(reason, err),
            other => panic!("{other:?}"),
        }
        e.shutdown().await;
    });
}

#[test]
fn a_kept_resume_file_outlives_the_download_and_a_new_engine_trusts_it() {
    let (src, out, state) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let meta = content(src.path(), "f.bin", 256 << 10);
    let resume_file = crate::resume::path_in(state.path(), meta.info_hash);
    block_on(async {
        let seed = seed(&meta, src.path(), 64 << 20).await;
        let (fetcher, notices) = engine().await;
        let options = AddOptions {
            resume_dir: Some(state.path().into()),
            keep_seeding: true,
            ..fetch_options(out.path(), &seed)
        };
        fetcher
            .add(Source::Torrent(Box::new(meta.clone())), options.clone())
            .await
            .unwrap();
        let path = notice(&notices, |n| match n {
            Notice::Completed { path, .. } => Some(path),
            _ => None,
        })
        .await;
        assert_eq!(path, out.path().join("f.bin"));
        assert!(!out.path().join(".f.bin.p2p-resume").exists());
        // Rewritten for the content under its final name, every piece in it.
        let paths = [path.clone()];
        let have = crate::resume::read_saved(&resume_file, meta.info_hash)
            .and_then(|saved| saved.pieces(16, &paths))
            .expect("the resume file stamps the final name");
        assert!(have.is_full());
        fetcher.shutdown().await;
        // A new engine (a restart) finds it whole from the resume file: were it hashed, a
        // byte changed without touching size and time would be seen. Change one, restore
        // the time, and the content is still taken as complete.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        use std::os::unix::fs::MetadataExt;
        let written = std::fs::metadata(&resume_file).unwrap().ino();
        let (again, notices) = engine().await;
        let id = again
            .add(
                Source::Torrent(Box::new(meta.clone())),
                AddOptions {
                    peers: vec![],
                    ..options
                },
            )
            .await
            .unwrap();
        let already = notice(&notices, |n| match n {
            Notice::Completed { already, .. } => Some(already),
            _ => None,
        })
        .await;
        assert!(already);
        assert_eq!(again.snapshot(id).await.unwrap().have_pieces, 16);
        // It says so already: a restart of a daemon of thousands rewrites none of them.
        assert_eq!(
            std::fs::metadata(&resume_file).unwrap().ino(),
            written,
            "the resume file is not written again"
        );
        again.shutdown().await;
    });
}

#[test]
fn options_are_the_same_only_with_the_same_limiters_and_choices() {
    let shared = Arc::new(crate::rate::RateLimit::new(1 << 20));
    let daemons = || AddOptions {
        dir: "/d".into(),
        upload_limit: Some(shared.clone()),
        own_limits: Some((0, 0)),
        park_after: Some(Duration::from_secs(10)),
        ..AddOptions::default()
    };
    assert!(daemons().same_as(&daemons()));
    let other_limiter = AddOptions {
        upload_limit: Some(Arc::new(crate::rate::RateLimit::new(1 << 20))),
        ..daemons()
    };
    assert!(
        !daemons().same_as(&other_limiter),
        "limiters compare as themselves"
    );
    for different in [
        AddOptions {
            paused: true,
            ..daemons()
        },
        AddOptions {
            own_limits: Some((1, 0)),
            ..daemons()
        },
        AddOptions {
            files: disk::Files::Flags(vec![true]),
            ..daemons()
        },
        AddOptions {
            seed_ratio: Some(2.0),
            ..daemons()
        },
        AddOptions {
            dir: "/e".into(),
            ..daemons()
        },
    ] {
        assert!(!daemons().same_as(&different));
    }

    // Torrents added with the same share one copy; another choice gets its own.
    let mut lately = std::collections::VecDeque::new();
    let a = engine::share(&mut lately, daemons());
    let paused = engine::share(
        &mut lately,
        AddOptions {
            paused: true,
            ..daemons()
        },
    );
    let b = engine::share(&mut lately, daemons());
    assert!(Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &paused));
    // A change to one torrent's copies it first: the others keep theirs.
    let mut changed = b.clone();
    Arc::make_mut(&mut changed).seed_ratio = Some(1.0);
    assert_eq!(a.seed_ratio, None);
}
