//! The torrent lifecycle that the commands and the daemon share: an [`Engine`] runs many
//! torrents on one [`Session`](crate::session::Session) (one port, one peer id, one DHT) and
//! takes requests while it runs: add a torrent file or a magnet link, pause, resume, remove
//! (optionally with its data), verify, change the file choice, read a snapshot. Each torrent
//! goes through the states of [`machine`]: metadata (a magnet link) → checking (resume data,
//! else hashing) → downloading → seeding → paused / finished / error. Resume data, `.part`
//! naming and part files are [`disk`]'s.
//!
//! The engine is an owner task; an [`Engine`] is a cheap handle to it (clone one per client).
//! What happens to torrents on their own (completed, stopped, failed) comes as [`Notice`]s
//! on the channel given at start.

pub mod disk;
mod engine;
mod entry;
mod hooks;
pub mod machine;

pub use disk::{Files, Placement};
pub use machine::State;

use crate::dht::DhtConfig;
use crate::magnet::Magnet;
use crate::metainfo::{InfoHash, Torrent};
use crate::peer::encryption::Encryption;
use crate::rate::RateLimit;
pub use crate::torrent::PeerInfo;
use crate::{Error, Result};
use async_std::channel::{Receiver, Sender, bounded};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A torrent's number in its engine, from 1, never reused while the engine runs.
pub type Id = u64;

/// The node an engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub listen: SocketAddr,
    pub encryption: Encryption,
    /// uTP beside TCP, instead of it, or not at all (`--utp`).
    pub utp: crate::utp::Mode,
    /// `None`: no DHT (trackers and PEX only).
    pub dht: Option<DhtConfig>,
    /// Ask the router to forward the peer port (UPnP IGD, NAT-PMP).
    pub port_mapping: bool,
    /// Find peers on the LAN (BEP 14).
    pub lsd: bool,
}

/// What is added.
pub enum Source {
    Torrent(Box<Torrent>),
    /// Its metadata is fetched from peers, unless an earlier run saved it in the directory.
    Magnet(Magnet),
}

/// How a torrent uses its directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Download into `DIR/NAME.part`, renamed `DIR/NAME` when whole (content already at
    /// `DIR/NAME` is used where it is), with resume data beside it.
    #[default]
    Fetch,
    /// Serve the content at `DIR/NAME` as it is: every piece hashed at start, nothing written.
    Seed,
}

/// What the adder chose for one torrent.
#[derive(Clone, Default)]
pub struct AddOptions {
    pub dir: PathBuf,
    pub mode: Mode,
    pub files: Files,
    /// Peers to dial besides the trackers', DHT's and PEX's (`--peer`).
    pub peers: Vec<SocketAddr>,
    pub upload_limit: Option<Arc<RateLimit>>,
    pub download_limit: Option<Arc<RateLimit>>,
    /// Limits of its own (up, down), bytes a second, 0 for none: while its task runs it has
    /// a limiter of each under the ones above, which [`Engine::set_own_limits`] changes at
    /// once. `None`: it shares the ones above alone. Limiters live only while it runs: a
    /// daemon holds thousands of idle torrents.
    pub own_limits: Option<(u64, u64)>,
    /// Stay and serve once complete; until the ratio or the time, whichever first, if given.
    pub keep_seeding: bool,
    pub seed_ratio: Option<f64>,
    pub seed_time: Option<Duration>,
    pub sequential: bool,
    /// BEP 16, for a seed: pieces offered to each peer one or two at a time.
    pub super_seed: bool,
    pub direct_io: bool,
    /// Fail when no peer is connected for this long while incomplete.
    pub no_peer_timeout: Option<Duration>,
    /// Added without starting.
    pub paused: bool,
    /// Where the resume data lives. `None`: beside the content (`DIR/.NAME.p2p-resume`),
    /// dropped once the download is whole. Given (a daemon's state directory), in that folder
    /// as `HASH.resume` ([`crate::resume::path_in`]): kept and rewritten then, so that a
    /// restart serves the content without hashing it again. One folder shared by every
    /// torrent, not a path each: a daemon holds thousands of these.
    pub resume_dir: Option<Arc<Path>>,
    /// Complete and seeding with nothing to do for this long, it parks until a peer or its
    /// next announce comes (see [`crate::torrent::Options`]); `None`: it never parks.
    pub park_after: Option<Duration>,
    /// How long its first tracker announce waits (see [`crate::torrent::Options`]).
    pub announce_after: Duration,
    /// Run through `sh -c` when the download completes, with `P2P_PATH`, `P2P_NAME` and
    /// `P2P_INFO_HASH` in its environment.
    pub on_done: Option<String>,
}

impl AddOptions {
    /// Whether `self` and `other` choose the same, their limiters being the same ones.
    /// Every field is named, so that a new one is not left out.
    fn same_as(&self, other: &AddOptions) -> bool {
        let AddOptions {
            dir,
            mode,
            files,
            peers,
            upload_limit,
            download_limit,
            own_limits,
            keep_seeding,
            seed_ratio,
            seed_time,
            sequential,
            super_seed,
            direct_io,
            no_peer_timeout,
            paused,
            resume_dir,
            park_after,
            announce_after,
            on_done,
        } = self;
        let same_limiter = |a: &Option<Arc<RateLimit>>, b: &Option<Arc<RateLimit>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        *dir == other.dir
            && *mode == other.mode
            && *files == other.files
            && *peers == other.peers
            && same_limiter(upload_limit, &other.upload_limit)
            && same_limiter(download_limit, &other.download_limit)
            && *own_limits == other.own_limits
            && *keep_seeding == other.keep_seeding
            && *seed_ratio == other.seed_ratio
            && *seed_time == other.seed_time
            && *sequential == other.sequential
            && *super_seed == other.super_seed
            && *direct_io == other.direct_io
            && *no_peer_timeout == other.no_peer_timeout
            && *paused == other.paused
            && *resume_dir == other.resume_dir
            && *park_after == other.park_after
            && *announce_after == other.announce_after
            && *on_done == other.on_done
    }
}

/// What happens to a torrent on its own.
#[derive(Debug)]
pub enum Notice {
    /// Every wanted piece is verified and the content has its final name. `already`: it was
    /// complete when checked, nothing was downloaded.
    Completed {
        id: Id,
        path: PathBuf,
        already: bool,
    },
    /// The torrent stopped: paused, finished, or failed (`Err`, with the error).
    Stopped {
        id: Id,
        state: State,
        outcome: Result<()>,
    },
    Removed {
        id: Id,
    },
}

/// A torrent as it is now.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub id: Id,
    pub name: Arc<str>,
    pub info_hash: InfoHash,
    pub state: State,
    /// Asked to pause or be removed, its work still ending.
    pub stopping: bool,
    pub has_metadata: bool,
    /// The torrent's size, and what of it the chosen files take.
    pub size: u64,
    pub wanted_bytes: u64,
    pub have_bytes: u64,
    pub pieces: usize,
    pub piece_length: u64,
    pub have_pieces: usize,
    /// Verified bytes from the start without a gap.
    pub prefix_bytes: u64,
    pub complete: bool,
    /// Bytes received, all of them: `wasted` and `web_seed_bytes` are parts of it.
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub web_seed_bytes: u64,
    pub connections: usize,
    pub encrypted_connections: usize,
    /// Of `connections`: those over uTP (the rest over TCP).
    pub utp_connections: usize,
    pub peers: usize,
    /// Of `peers`: those sending to us (unchoking us, we interested), those getting from us.
    pub peers_sending_to_us: usize,
    pub peers_getting_from_us: usize,
    /// Bytes a second over the engine's last second.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub added: SystemTime,
    pub completed: Option<SystemTime>,
    pub private: bool,
    pub trackers: Arc<[String]>,
    pub magnet: Arc<str>,
}

#[derive(Clone, Debug)]
pub struct FileInfo {
    pub path: String,
    pub length: u64,
    pub wanted: bool,
}

enum Command {
    AddAll(Vec<(Source, AddOptions)>, Sender<Vec<Result<Id>>>),
    Act(Id, Request, Sender<Result<()>>),
    Snapshot(Option<Id>, Sender<Vec<Snapshot>>),
    Files(Id, Sender<Vec<FileInfo>>),
    Peers(Id, Sender<Option<Receiver<Vec<PeerInfo>>>>),
    Mapped(Sender<Option<crate::portmap::Mapped>>),
    Shutdown(Sender<Vec<Snapshot>>),
}

enum Request {
    Pause,
    Resume,
    Remove { delete_data: bool },
    Verify,
    SetFiles(Files),
    SetSeedRatio(Option<f64>),
    SetOwnLimits(u64, u64),
    Reannounce,
    Relocate { dir: PathBuf, move_data: bool },
}

/// A handle to a running engine.
#[derive(Clone)]
pub struct Engine {
    commands: Sender<Command>,
    local: SocketAddr,
}

impl Engine {
    /// Binds the node (and its DHT, when configured) and starts the owner task.
    pub async fn start(config: EngineConfig, notices: Sender<Notice>) -> Result<Engine> {
        let (commands, local) = engine::start(config, notices).await?;
        Ok(Engine { commands, local })
    }

    /// [`Engine::start`] with a channel of its own for the notices, returned beside it.
    pub async fn start_alone(config: EngineConfig) -> Result<(Engine, Receiver<Notice>)> {
        let (tx, notices) = async_std::channel::unbounded();
        Ok((Engine::start(config, tx).await?, notices))
    }

    /// The peer port's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub async fn add(&self, source: Source, options: AddOptions) -> Result<Id> {
        let added = self.add_all(vec![(source, options)]).await?;
        added
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(Error::Failed("the engine added nothing".into())))
    }

    /// Adds several torrents in one request (a daemon's restore): each one's outcome, in order.
    pub async fn add_all(&self, torrents: Vec<(Source, AddOptions)>) -> Result<Vec<Result<Id>>> {
        self.ask(|tx| Command::AddAll(torrents, tx)).await
    }

    /// Stops the torrent's work (announcing `stopped`), keeping what is verified.
    pub async fn pause(&self, id: Id) -> Result<()> {
        self.act(id, Request::Pause).await
    }

    pub async fn resume(&self, id: Id) -> Result<()> {
        self.act(id, Request::Resume).await
    }

    /// Stops the torrent and forgets it; `delete_data` also removes what it wrote.
    pub async fn remove(&self, id: Id, delete_data: bool) -> Result<()> {
        self.act(id, Request::Remove { delete_data }).await
    }

    /// Hashes the data again, ignoring the resume data.
    pub async fn verify(&self, id: Id) -> Result<()> {
        self.act(id, Request::Verify).await
    }

    /// Changes which files are fetched; the data is checked again for the new choice.
    pub async fn set_files(&self, id: Id, files: Files) -> Result<()> {
        self.act(id, Request::SetFiles(files)).await
    }

    /// Announces to the torrent's trackers now; a torrent that is not running has nothing to
    /// announce.
    pub async fn reannounce(&self, id: Id) -> Result<()> {
        self.act(id, Request::Reannounce).await
    }

    /// Gives the torrent another directory: its data is moved there first (`move_data`), or
    /// is to be found there already; either way it is checked there, then goes on.
    pub async fn relocate(&self, id: Id, dir: PathBuf, move_data: bool) -> Result<()> {
        self.act(id, Request::Relocate { dir, move_data }).await
    }

    /// Changes the ratio at which a complete torrent stops seeding (`None`: no ratio goal);
    /// a torrent seeding past it stops at the next tick.
    pub async fn set_seed_ratio(&self, id: Id, ratio: Option<f64>) -> Result<()> {
        self.act(id, Request::SetSeedRatio(ratio)).await
    }

    /// Changes the torrent's own speed limits (see [`AddOptions::own_limits`]), up and down,
    /// bytes a second, 0 for none: in force at once for the connections of a task that has
    /// limiters of its own (one added with own limits), else from its next start.
    pub async fn set_own_limits(&self, id: Id, up: u64, down: u64) -> Result<()> {
        self.act(id, Request::SetOwnLimits(up, down)).await
    }

    pub async fn snapshot(&self, id: Id) -> Option<Snapshot> {
        self.ask(|tx| Command::Snapshot(Some(id), tx))
            .await
            .ok()?
            .pop()
    }

    /// The torrent's files and which are chosen (none before its metadata, or for an unknown
    /// id); apart from [`Engine::snapshot`], which a progress line reads every second.
    pub async fn files(&self, id: Id) -> Vec<FileInfo> {
        self.ask(|tx| Command::Files(id, tx))
            .await
            .unwrap_or_default()
    }

    /// The torrent's peers now (none when it is not running, or unknown).
    pub async fn peers(&self, id: Id) -> Vec<PeerInfo> {
        let Ok(Some(answer)) = self.ask(|tx| Command::Peers(id, tx)).await else {
            return Vec::new();
        };
        crate::runtime::within(Duration::from_secs(10), answer.recv())
            .await
            .and_then(|r| r.ok())
            .unwrap_or_default()
    }

    /// Where peers on the Internet reach this node, once the router mapped its port.
    pub async fn mapped(&self) -> Option<crate::portmap::Mapped> {
        self.ask(Command::Mapped).await.ok().flatten()
    }

    pub async fn list(&self) -> Vec<Snapshot> {
        self.ask(|tx| Command::Snapshot(None, tx))
            .await
            .unwrap_or_default()
    }

    /// Pauses every torrent (saving resume data), waits for done hooks, stops the DHT (saving
    /// its state) and ends the engine. Returns every torrent as it was last.
    pub async fn shutdown(&self) -> Vec<Snapshot> {
        self.ask(Command::Shutdown).await.unwrap_or_default()
    }

    async fn act(&self, id: Id, request: Request) -> Result<()> {
        self.ask(|tx| Command::Act(id, request, tx)).await?
    }

    async fn ask<T>(&self, command: impl FnOnce(Sender<T>) -> Command) -> Result<T> {
        let gone = || Error::Failed("the engine has stopped".into());
        let (tx, rx) = bounded(1);
        self.commands.send(command(tx)).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())
    }
}

/// What woke a command (or the daemon) waiting on its engine.
pub enum Wake {
    Notice(Notice),
    /// SIGINT or SIGTERM.
    Stop,
    Tick,
}

/// The next of: a notice from the engine, a stop signal, `tick` passing.
pub async fn next(notices: &Receiver<Notice>, tick: Duration) -> Wake {
    let notice = async {
        match notices.recv().await {
            Ok(n) => Wake::Notice(n),
            // The engine is gone: only a signal or the tick can end the wait.
            Err(_) => std::future::pending().await,
        }
    };
    let stop = async {
        crate::signal::stopped().await;
        Wake::Stop
    };
    let tick = async {
        crate::runtime::sleep(tick).await;
        Wake::Tick
    };
    crate::runtime::race(notice, crate::runtime::race(stop, tick)).await
}

#[cfg(test)]
mod tests;
