//! `p2p daemon`, the node that stays up and takes requests: one [`Engine`] (one peer port,
//! many torrents), the torrents it was given kept in a state directory across restarts
//! ([`saved`]), the Transmission RPC and a web page over HTTP ([`http`], [`rpc`],
//! [`fields`]), and a watch folder. The `p2p add|list|…` verbs are clients of it
//! ([`client`]).

pub mod client;
pub mod fields;
pub mod http;
pub mod request;
pub mod rpc;
pub mod saved;
mod watch;

use crate::lifecycle::{
    AddOptions, Engine, EngineConfig, Files, Id, Mode, Notice, Source, State, Wake,
};
use crate::magnet::Magnet;
use crate::metainfo::{InfoHash, Torrent};
use crate::rate::RateLimit;
use crate::{Error, Result, escape, runtime};
use saved::{Record, StateDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the torrents' counters are written to the state directory (a kill -9 loses at
/// most this much of them).
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// Between the first announces of the torrents a start restores: 10,000 torrents reach their
/// trackers over 100 s, not in one burst.
const ANNOUNCE_SPREAD: Duration = Duration::from_millis(10);
/// How long a complete torrent with nothing to do (no peer, no announce under way) runs before
/// it parks until a peer or its next announce comes.
const PARK_AFTER: Duration = Duration::from_secs(10);
/// How long a removed torrent is told of as removed (Transmission's "recently active").
const RECENT: Duration = Duration::from_secs(60);

/// The daemon's start. The settings a client may change (`session-set`) are kept in the state
/// directory; here `None` means "as saved, else the default", a value overrides what was saved.
pub struct Config {
    pub state_dir: PathBuf,
    pub download_dir: Option<PathBuf>,
    pub default_download_dir: PathBuf,
    pub engine: EngineConfig,
    pub http: http::Config,
    pub watch: Option<PathBuf>,
    /// Bytes a second, 0 for none.
    pub upload_limit: Option<u64>,
    pub download_limit: Option<u64>,
    pub seed_ratio: Option<f64>,
}

/// What `session-set` changes.
#[derive(Clone, Debug)]
pub struct Settings {
    pub download_dir: PathBuf,
    /// `start-added-torrents`: added torrents start unless the request says paused.
    pub start_added: bool,
    pub seed_ratio: Option<f64>,
}

/// The daemon's shared state: what the RPC, the watch folder and the notice loop act on.
pub struct Node {
    pub engine: Engine,
    pub state: StateDir,
    /// Boxed: a B-tree's nodes hold room for eleven values and are about half full, and a
    /// daemon holds thousands of records.
    records: Mutex<BTreeMap<Id, Box<Record>>>,
    /// This run's counters of each torrent as its record was last written with them.
    counted: Mutex<std::collections::HashMap<Id, (u64, u64)>>,
    /// Held through an add, so that two adds of one torrent (the RPC and the watch folder)
    /// cannot both pass the duplicate check and then undo each other's state files.
    adding: async_std::sync::Mutex<()>,
    /// Torrents removed, and when: `torrent-get` of the recently active tells them.
    removed: Mutex<Vec<(Id, Instant)>>,
    /// The next record's [`Record::order`].
    next_order: std::sync::atomic::AtomicU64,
    pub settings: Mutex<Settings>,
    pub upload_limit: Arc<RateLimit>,
    pub download_limit: Arc<RateLimit>,
    pub started: Instant,
    pub dht: bool,
    /// Port mapping and local peer discovery asked for (session-get shows them).
    pub port_mapping: bool,
    pub lsd: bool,
    pub encryption: crate::peer::encryption::Encryption,
}

/// What a client adds.
#[derive(Debug)]
pub enum Adding {
    /// A .torrent's bytes (RPC `metainfo`).
    Metainfo(Vec<u8>),
    /// A magnet link, or a path to a .torrent on the daemon's host (RPC `filename`).
    Name(String),
}

/// How an add went: a new torrent, or one already there (Transmission's `torrent-duplicate`).
pub struct Added {
    pub id: Id,
    pub name: String,
    pub info_hash: InfoHash,
    pub duplicate: bool,
}

/// Runs the daemon until SIGINT or SIGTERM: then every torrent announces `stopped` and the
/// state is saved.
/// How long fetching a .torrent named by URL may take (inside the RPC request's 30 s).
const URL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

pub async fn run(config: Config) -> Result<()> {
    let state = StateDir::open(&config.state_dir).map_err(|source| Error::Io {
        path: config.state_dir.clone(),
        source,
    })?;
    let _lock = lock(state.root())?;
    let saved = state.load_settings();
    let download_dir = config
        .download_dir
        .or(saved.download_dir)
        .unwrap_or(config.default_download_dir);
    check_dir(&download_dir)?;
    let (notices_tx, notices) = async_std::channel::unbounded();
    let dht = config.engine.dht.is_some();
    let (port_mapping, lsd) = (config.engine.port_mapping, config.engine.lsd);
    let encryption = config.engine.encryption;
    let engine = Engine::start(config.engine, notices_tx).await?;
    let limit = |rate: u64| {
        let l = RateLimit::unlimited();
        l.set(rate);
        Arc::new(l)
    };
    let node = Arc::new(Node {
        engine,
        state,
        records: Mutex::new(BTreeMap::new()),
        counted: Mutex::new(std::collections::HashMap::new()),
        adding: async_std::sync::Mutex::new(()),
        removed: Mutex::new(Vec::new()),
        next_order: std::sync::atomic::AtomicU64::new(1),
        settings: Mutex::new(Settings {
            download_dir,
            start_added: saved.start_added.unwrap_or(true),
            seed_ratio: config.seed_ratio.or(saved.seed_ratio),
        }),
        upload_limit: limit(config.upload_limit.or(saved.upload_limit).unwrap_or(0)),
        download_limit: limit(config.download_limit.or(saved.download_limit).unwrap_or(0)),
        started: Instant::now(),
        dht,
        port_mapping,
        lsd,
        encryption,
    });
    node.restore().await;
    let server = http::bind(config.http, node.clone()).await?;
    log::info!(
        "daemon: peers on {}, RPC and web page on http://{}/ (state in {})",
        node.engine.local_addr(),
        server,
        node.state.root().display()
    );
    if let Some(dir) = config.watch {
        runtime::spawn(watch::run(dir, node.clone()));
    }
    loop {
        match crate::lifecycle::next(&notices, SAVE_EVERY).await {
            Wake::Notice(n) => node.on_notice(n),
            Wake::Tick => node.save_all(&node.engine.list().await),
            Wake::Stop => break,
        }
    }
    log::info!("daemon: stopping every torrent and saving the state");
    let last = node.engine.shutdown().await;
    node.save_all(&last);
    Ok(())
}

/// Holds the state directory's lock: a second daemon on it would overwrite the first's records.
struct Lock {
    _file: std::fs::File,
}

fn lock(dir: &Path) -> Result<Lock> {
    use std::os::fd::AsRawFd;
    let path = dir.join("daemon.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    // SAFETY: flock(2) on a descriptor this function owns; released when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::Input {
            path: dir.to_owned(),
            reason: "is in use by another p2p daemon (choose another with --state-dir)".into(),
        });
    }
    Ok(Lock { _file: file })
}

/// A download directory must be a directory we can write (created when missing).
pub fn check_dir(dir: &Path) -> Result<()> {
    let bad = |reason: &str| Error::Input {
        path: dir.to_owned(),
        reason: reason.into(),
    };
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(bad("is not a directory")),
        Ok(_) => {}
        Err(_) => std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?,
    }
    let c = c_path(dir).ok_or_else(|| bad("holds a NUL byte"))?;
    // SAFETY: access(2) reads the NUL-terminated path it is given.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(bad("is not writable"));
    }
    Ok(())
}

/// A path as the system calls take it; `None` when it holds a NUL byte.
pub fn c_path(path: &Path) -> Option<std::ffi::CString> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).ok()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Node {
    /// The record of a torrent, as it is now.
    pub fn record(&self, id: Id) -> Option<Record> {
        self.records().get(&id).map(|r| Record::clone(r))
    }

    /// `f` over every record, under one lock (a `torrent-get` of thousands).
    pub fn with_records<T>(&self, f: impl FnOnce(&BTreeMap<Id, Box<Record>>) -> T) -> T {
        f(&self.records())
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<Id, Box<Record>>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps the settings `session-set` may have changed, for the next start.
    pub fn save_settings(&self) {
        let s = self.settings();
        let saved = saved::SessionSettings {
            download_dir: Some(s.download_dir),
            start_added: Some(s.start_added),
            seed_ratio: s.seed_ratio,
            upload_limit: Some(self.upload_limit.rate()),
            download_limit: Some(self.download_limit.rate()),
        };
        if let Err(e) = self.state.save_settings(&saved) {
            log::warn!("state: could not save the settings: {e}");
        }
    }

    /// The engine ids of the torrents, and their hashes.
    pub fn ids(&self) -> Vec<(Id, InfoHash)> {
        self.records()
            .iter()
            .map(|(id, r)| (*id, r.info_hash))
            .collect()
    }

    /// A torrent's own limits (up, down) as its record says, bytes a second, 0 for none.
    fn own_limits(r: &Record) -> (u64, u64) {
        let rate = |(kib, on): (u64, bool)| if on { kib.max(1) * 1024 } else { 0 };
        (rate(r.upload_limit), rate(r.download_limit))
    }

    /// Changes a torrent's own speed limits, KiB a second and on or off, each `None` when
    /// not given: in force at once.
    pub async fn set_torrent_limits(
        &self,
        id: Id,
        up: (Option<u64>, Option<bool>),
        down: (Option<u64>, Option<bool>),
    ) {
        if up == (None, None) && down == (None, None) {
            return;
        }
        let merge = |(kib, on): (u64, bool), (new_kib, new_on): (Option<u64>, Option<bool>)| {
            (new_kib.unwrap_or(kib), new_on.unwrap_or(on))
        };
        self.change(id, |r| {
            r.upload_limit = merge(r.upload_limit, up);
            r.download_limit = merge(r.download_limit, down);
        });
        let rates = self.records().get(&id).map(|r| Node::own_limits(r));
        if let Some((up, down)) = rates {
            // A torrent removed meanwhile has no limits to change.
            let _ = self.engine.set_own_limits(id, up, down).await;
        }
    }

    fn options(&self, r: &Record) -> AddOptions {
        AddOptions {
            dir: r.dir.clone(),
            mode: Mode::Fetch,
            files: if r.wanted.is_empty() {
                Files::AsBefore
            } else {
                Files::Flags(r.wanted.clone())
            },
            upload_limit: Some(self.upload_limit.clone()),
            download_limit: Some(self.download_limit.clone()),
            own_limits: Some(Node::own_limits(r)),
            keep_seeding: true,
            seed_ratio: r.seed_ratio.or(self.settings().seed_ratio),
            paused: r.paused,
            resume_dir: Some(self.state.resume_dir()),
            park_after: Some(PARK_AFTER),
            ..AddOptions::default()
        }
    }

    /// Starts again every torrent the state directory holds, oldest first, in one request to
    /// the engine.
    async fn restore(&self) {
        let found = self.state.load();
        let count = found.len();
        let mut records = Vec::with_capacity(count);
        let mut torrents = Vec::with_capacity(count);
        for f in found {
            let r = f.record;
            self.next_order
                .fetch_max(r.order + 1, std::sync::atomic::Ordering::Relaxed);
            let source = match (&f.torrent, &r.magnet) {
                (Some(bytes), _) => Torrent::from_bytes(bytes)
                    .map(|t| Source::Torrent(Box::new(t)))
                    .map_err(|e| e.to_string()),
                (None, Some(uri)) => Magnet::parse(uri)
                    .map(Source::Magnet)
                    .map_err(|e| e.to_string()),
                (None, None) => Err("its .torrent is missing".into()),
            };
            let source = match source {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("state: torrent {}: {e}; skipped", r.info_hash);
                    continue;
                }
            };
            let options = AddOptions {
                announce_after: ANNOUNCE_SPREAD * u32::try_from(torrents.len()).unwrap_or(u32::MAX),
                ..self.options(&r)
            };
            torrents.push((source, options));
            records.push(r);
        }
        let added = self.engine.add_all(torrents).await.unwrap_or_default();
        let mut kept = self.records();
        for (r, outcome) in records.into_iter().zip(added) {
            match outcome {
                Ok(id) => {
                    kept.insert(id, Box::new(r));
                }
                Err(e) => log::warn!("state: torrent {}: {e}; skipped", r.info_hash),
            }
        }
        if count > 0 {
            log::info!("restored {} of {count} torrents", kept.len());
        }
    }

    /// Adds a torrent: parsed, recorded in the state directory, then given to the engine.
    pub async fn add(
        &self,
        what: Adding,
        dir: Option<PathBuf>,
        paused: Option<bool>,
    ) -> Result<Added> {
        let settings = self.settings();
        let (source, bytes, magnet) = match what {
            Adding::Metainfo(bytes) => {
                let t = Torrent::from_bytes(&bytes).map_err(|source| Error::Torrent {
                    path: PathBuf::from("metainfo"),
                    source,
                })?;
                (Source::Torrent(Box::new(t)), Some(bytes), None)
            }
            Adding::Name(name) if Magnet::is_magnet(&name) => {
                let m = Magnet::parse(&name)?;
                (Source::Magnet(m), None, Some(name))
            }
            Adding::Name(url) if url.starts_with("http://") || url.starts_with("https://") => {
                let bad = |reason| Error::BadArgument {
                    what: "filename",
                    value: url.clone(),
                    reason,
                };
                let max = crate::metainfo::MAX_TORRENT_FILE as usize;
                // Boxed: a large future (its buffers), kept out of every RPC request's.
                let got = Box::pin(crate::net::get(&url, max, URL_TIMEOUT)).await;
                match got.map_err(bad)? {
                    crate::net::Got::Body(bytes) => {
                        let t = Torrent::from_bytes(&bytes).map_err(|source| Error::Torrent {
                            path: PathBuf::from(&url),
                            source,
                        })?;
                        (Source::Torrent(Box::new(t)), Some(bytes), None)
                    }
                    crate::net::Got::Elsewhere(link) if Magnet::is_magnet(&link) => {
                        let m = Magnet::parse(&link)?;
                        (Source::Magnet(m), None, Some(link))
                    }
                    crate::net::Got::Elsewhere(other) => {
                        return Err(bad(format!(
                            "redirected to `{}`, neither a .torrent nor a magnet link",
                            crate::escape::untrusted(&other, 80)
                        )));
                    }
                }
            }
            Adding::Name(name) => {
                let path = PathBuf::from(&name);
                let bytes = crate::state_file::read(
                    &path,
                    crate::metainfo::MAX_TORRENT_FILE,
                    crate::state_file::Links::Follow,
                )
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let t = Torrent::from_bytes(&bytes)
                    .map_err(|source| Error::Torrent { path, source })?;
                (Source::Torrent(Box::new(t)), Some(bytes), None)
            }
        };
        let (hash, name) = match &source {
            Source::Torrent(t) => (t.info_hash, t.info.name.clone()),
            Source::Magnet(m) => (
                m.info_hash,
                m.name.clone().unwrap_or_else(|| m.info_hash.hex()),
            ),
        };
        let _one_at_a_time = self.adding.lock().await;
        if let Some((id, _)) = self.records().iter().find(|(_, r)| r.info_hash == hash) {
            return Ok(Added {
                id: *id,
                name,
                info_hash: hash,
                duplicate: true,
            });
        }
        let dir = dir.unwrap_or(settings.download_dir);
        check_dir(&dir)?;
        let record = Record {
            info_hash: hash,
            magnet,
            dir,
            paused: paused.unwrap_or(!settings.start_added),
            added: unix_now(),
            order: self
                .next_order
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            done: 0,
            downloaded: 0,
            uploaded: 0,
            wanted: Vec::new(),
            seed_ratio: None,
            upload_limit: (0, false),
            download_limit: (0, false),
        };
        let io = |source| Error::Io {
            path: self.state.root().to_owned(),
            source,
        };
        if let Some(bytes) = &bytes {
            self.state.save_torrent(hash, bytes).map_err(io)?;
        }
        self.state.save(&record).map_err(io)?;
        match self.engine.add(source, self.options(&record)).await {
            Ok(id) => {
                log::info!("{}: added as {id} ({hash})", escape::untrusted(&name, 80));
                self.records().insert(id, Box::new(record));
                Ok(Added {
                    id,
                    name,
                    info_hash: hash,
                    duplicate: false,
                })
            }
            Err(e) => {
                self.state.remove(hash);
                Err(e)
            }
        }
    }

    pub async fn pause(&self, id: Id) -> Result<()> {
        self.engine.pause(id).await?;
        self.change(id, |r| r.paused = true);
        Ok(())
    }

    pub async fn resume(&self, id: Id) -> Result<()> {
        self.engine.resume(id).await?;
        self.change(id, |r| r.paused = false);
        Ok(())
    }

    pub async fn remove(&self, id: Id, delete_data: bool) -> Result<()> {
        self.engine.remove(id, delete_data).await?;
        self.counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(r) = self.records().remove(&id) {
            self.state.remove(r.info_hash);
        }
        let mut removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        removed.retain(|(_, at)| at.elapsed() < RECENT);
        removed.push((id, Instant::now()));
        Ok(())
    }

    /// The torrents removed within the last minute.
    pub fn recently_removed(&self) -> Vec<Id> {
        let removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        removed
            .iter()
            .filter(|(_, at)| at.elapsed() < RECENT)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Another directory for a torrent: its data moved there first (`move_data`), or looked
    /// for there.
    pub async fn relocate(&self, id: Id, dir: PathBuf, move_data: bool) -> Result<()> {
        check_dir(&dir)?;
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        self.engine.relocate(id, dir.clone(), move_data).await?;
        self.change(id, |r| r.dir = dir);
        Ok(())
    }

    /// A new file choice: `flags` one a file, as the engine's file list orders them.
    pub async fn set_wanted(&self, id: Id, flags: Vec<bool>) -> Result<()> {
        self.engine
            .set_files(id, Files::Flags(flags.clone()))
            .await?;
        self.change(id, |r| r.wanted = flags);
        Ok(())
    }

    /// A torrent's own seeding ratio goal (`None`: the daemon's), in force at once.
    pub async fn set_seed_ratio(&self, id: Id, ratio: Option<f64>) -> Result<()> {
        let goal = ratio.or(self.settings().seed_ratio);
        self.engine.set_seed_ratio(id, goal).await?;
        self.change(id, |r| r.seed_ratio = ratio);
        Ok(())
    }

    /// The daemon's seeding ratio goal changed: the torrents without one of their own take it.
    pub async fn session_ratio_changed(&self) {
        let goal = self.settings().seed_ratio;
        let following: Vec<Id> = self
            .records()
            .iter()
            .filter(|(_, r)| r.seed_ratio.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in following {
            let _ = self.engine.set_seed_ratio(id, goal).await;
        }
    }

    /// Changes a record and saves it.
    fn change(&self, id: Id, f: impl FnOnce(&mut Record)) {
        let mut records = self.records();
        if let Some(r) = records.get_mut(&id) {
            f(r);
            let counted = self.counted(id);
            self.write(r, counted);
        }
    }

    /// This run's counters (downloaded, uploaded) as last written for a torrent.
    fn counted(&self, id: Id) -> (u64, u64) {
        let counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        counted.get(&id).copied().unwrap_or_default()
    }

    /// Writes a record with this run's counters added to those of earlier runs it holds, so
    /// that a record saved for another reason never takes the counters back.
    fn write(&self, r: &Record, (downloaded, uploaded): (u64, u64)) {
        let mut now = r.clone();
        now.downloaded += downloaded;
        now.uploaded += uploaded;
        if let Err(e) = self.state.save(&now) {
            log::warn!("state: could not save torrent {}: {e}", r.info_hash);
        }
    }

    fn on_notice(&self, notice: Notice) {
        match notice {
            // Its completion date, once: a restart finds it complete again and writes nothing.
            Notice::Completed { id, .. } => {
                if self.records().get(&id).is_some_and(|r| r.done == 0) {
                    self.change(id, |r| r.done = unix_now());
                }
            }
            // Its seeding goal is met: it stays stopped after a restart, as Transmission's.
            Notice::Stopped {
                id,
                state: State::Finished,
                ..
            } => self.change(id, |r| r.paused = true),
            Notice::Stopped { .. } | Notice::Removed { .. } => {}
        }
    }

    /// Writes the record of each torrent whose counters moved since it was last written: an
    /// idle daemon of 10,000 torrents writes nothing.
    fn save_all(&self, snapshots: &[crate::lifecycle::Snapshot]) {
        let records = self.records();
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        for s in snapshots {
            let now = (s.downloaded, s.uploaded);
            if let Some(r) = records.get(&s.id)
                && counted.get(&s.id).copied().unwrap_or_default() != now
            {
                counted.insert(s.id, now);
                self.write(r, now);
            }
        }
    }
}
