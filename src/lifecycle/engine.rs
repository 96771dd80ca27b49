//! The engine's owner task: every torrent's [`Machine`], and the work its actions start
//! (metadata fetches, checks on blocking threads, torrent tasks on the session). Requests,
//! work reports, torrent ends and a 1 s tick are its only inputs; it alone changes torrents.

use super::disk::{self, Opened};
use super::entry::{Counters, Entry};
use super::hooks::{on_done, save_torrent, seed_goal};
use super::machine::{Action, Input, Machine, State};
use super::{AddOptions, Command, EngineConfig, Id, Mode, Notice, Snapshot, Source};
use crate::bitfield::Bitfield;
use crate::magnet::Magnet;
use crate::runtime::{self, Cancel, JoinHandle};
use crate::session::{Session, metadata};
use crate::torrent::{self, End, Event, Parked};
use crate::{Error, Result, escape, progress};
use async_std::channel::{Receiver, Sender, unbounded};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

mod checks;
mod parked;
mod requests;
mod ticks;

const TICK: Duration = Duration::from_secs(1);

pub async fn start(
    config: EngineConfig,
    notices: Sender<Notice>,
) -> Result<(Sender<Command>, SocketAddr)> {
    let mut session = Session::bind(config.listen, config.encryption, config.utp).await?;
    if let Some(dht) = config.dht {
        session.start_dht(dht).await;
    }
    if config.port_mapping {
        session.start_port_mapping();
    }
    if config.lsd {
        session.start_lsd();
    }
    let local = session.local_addr();
    let (commands, requests) = unbounded();
    let (done, reports) = unbounded();
    let owner = Owner {
        session,
        entries: BTreeMap::new(),
        next_id: 1,
        shared_options: std::collections::VecDeque::new(),
        notices,
        done,
        tasks: HashMap::new(),
        checks: checks::Checks::default(),
        running: Vec::new(),
        parked: BTreeSet::new(),
        parked_since_trim: 0,
        hooks: Vec::new(),
        closing: None,
    };
    runtime::spawn(owner.run(requests, reports));
    Ok((commands, local))
}

/// What the engine's work reports.
enum Done {
    /// `None`: cancelled.
    Metadata(Id, Option<Result<metadata::Found>>),
    Opened(Id, Result<Opened>),
    /// A task has every wanted piece verified.
    Completed(Id),
    /// A parked torrent could not start again.
    Failed(Id, Error),
}

struct Owner {
    session: Session,
    /// Boxed: a map node holds eleven, and an entry is over a kilobyte.
    entries: BTreeMap<Id, Box<Entry>>,
    next_id: Id,
    /// Options torrents were added with lately, for the next ones given the same to share
    /// (a daemon adds thousands with the same).
    shared_options: std::collections::VecDeque<Arc<AddOptions>>,
    notices: Sender<Notice>,
    done: Sender<Done>,
    /// The session's torrent ids of running tasks, and whose they are.
    tasks: HashMap<usize, Id>,
    /// Where checks and moves of data run (see `checks.rs`).
    checks: checks::Checks,
    /// The torrents with a task, in the order started, for the tick (see `ticks.rs`).
    running: Vec<Id>,
    /// The parked torrents (see `torrent/parking.rs`), by when each has something to do.
    parked: BTreeSet<(Instant, Id)>,
    /// Tasks that parked since the allocator last gave its free memory back (see `ticks.rs`).
    parked_since_trim: usize,
    /// Running `on_done` commands: waited for before the engine ends.
    hooks: Vec<JoinHandle<()>>,
    /// Shutting down: who to answer once every torrent is idle.
    closing: Option<Sender<Vec<Snapshot>>>,
}

enum Wake {
    Command(Command),
    Done(Box<Done>),
    Ended(usize, End),
    /// Something came for a parked torrent.
    Call(Id, Event),
    Tick,
    /// Every handle is dropped.
    Orphaned,
}

impl Owner {
    async fn run(mut self, requests: Receiver<Command>, reports: Receiver<Done>) {
        // At the instants the torrents tick: one wake-up of the runtime for all.
        let mut next_tick = runtime::next_boundary(TICK);
        loop {
            let wake = {
                let command = async {
                    match requests.recv().await {
                        Ok(c) => Wake::Command(c),
                        Err(_) => Wake::Orphaned,
                    }
                };
                let done = async {
                    match reports.recv().await {
                        Ok(d) => Wake::Done(Box::new(d)),
                        Err(_) => std::future::pending().await,
                    }
                };
                let ended = async {
                    let (task, end) = self.session.next_end().await;
                    Wake::Ended(task, end)
                };
                let call = async {
                    let (id, event) = self.session.next_call().await;
                    Wake::Call(id, event)
                };
                let tick = async {
                    runtime::sleep(next_tick.saturating_duration_since(Instant::now())).await;
                    Wake::Tick
                };
                let work = runtime::race(done, runtime::race(ended, call));
                runtime::race(work, runtime::race(command, tick)).await
            };
            match wake {
                Wake::Command(c) => self.command(c).await,
                Wake::Done(d) => self.done(*d).await,
                Wake::Ended(task, end) => self.ended(task, end).await,
                Wake::Call(id, event) => self.call(id, event),
                Wake::Tick => {
                    next_tick = runtime::next_boundary(TICK);
                    self.tick().await;
                }
                Wake::Orphaned if self.closing.is_none() => {
                    let (tx, _) = async_std::channel::bounded(1);
                    self.begin_shutdown(tx).await;
                }
                Wake::Orphaned => {}
            }
            if self.closing.is_some() && self.entries.values().all(|e| e.machine.is_idle()) {
                break;
            }
        }
        for hook in std::mem::take(&mut self.hooks) {
            hook.await;
        }
        self.session.close().await;
        let all = self.snapshots(None);
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(all).await;
        }
    }

    fn snapshots(&self, id: Option<Id>) -> Vec<Snapshot> {
        match id {
            Some(id) => self
                .entries
                .get(&id)
                .map(|e| e.snapshot(id))
                .into_iter()
                .collect(),
            // Sized at once: a daemon's thousands of snapshots are not copied as the list grows.
            None => self.entries.iter().map(|(i, e)| e.snapshot(*i)).collect(),
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::AddAll(torrents, reply) => {
                let mut added = Vec::with_capacity(torrents.len());
                for (source, options) in torrents {
                    added.push(self.add(source, options).await);
                }
                let _ = reply.send(added).await;
            }
            Command::Act(id, request, reply) => {
                let outcome = self.act(id, request).await;
                let _ = reply.send(outcome).await;
            }
            Command::Snapshot(id, reply) => {
                let _ = reply.send(self.snapshots(id)).await;
            }
            Command::Files(id, reply) => {
                let files = self.entries.get(&id).map(|e| e.files()).unwrap_or_default();
                let _ = reply.send(files).await;
            }
            Command::Peers(id, reply) => {
                let asked = self
                    .entries
                    .get(&id)
                    .and_then(|e| e.task.as_ref())
                    .map(|t| t.ask_peers());
                let _ = reply.send(asked).await;
            }
            Command::Mapped(reply) => {
                let _ = reply.send(self.session.mapped()).await;
            }
            Command::Shutdown(reply) => self.begin_shutdown(reply).await,
        }
    }

    async fn begin_shutdown(&mut self, reply: Sender<Vec<Snapshot>>) {
        self.closing = Some(reply);
        let ids: Vec<Id> = self.entries.keys().copied().collect();
        for id in ids {
            self.input(id, Input::Pause).await;
        }
    }

    async fn add(&mut self, source: Source, mut options: AddOptions) -> Result<Id> {
        if self.closing.is_some() {
            return Err(Error::Failed("the engine is shutting down".into()));
        }
        let (meta, magnet) = match source {
            Source::Torrent(t) => (Some(*t), None),
            // A magnet link fetched into this directory before left its .torrent there.
            Source::Magnet(m) => (metadata::saved_torrent(&options.dir, m.info_hash), Some(m)),
        };
        let magnet = match (&meta, magnet) {
            (Some(t), m) => Magnet {
                peers: m.map(|m| m.peers).unwrap_or_default(),
                ..Magnet::of(t)
            },
            (None, Some(m)) => m,
            (None, None) => unreachable!("a source is a torrent or a magnet link"),
        };
        if let Some((id, e)) = self
            .entries
            .iter()
            .find(|(_, e)| e.info_hash == magnet.info_hash)
        {
            return Err(Error::Failed(format!(
                "torrent {} is already added (as number {id}, {})",
                magnet.info_hash,
                escape::untrusted(&e.name, 80)
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        let name = match &meta {
            Some(t) => t.info.name.clone(),
            None => magnet
                .name
                .clone()
                .unwrap_or_else(|| magnet.info_hash.hex()),
        };
        let keep_seeding =
            options.mode == Mode::Seed || options.keep_seeding || self.has_goal(&options);
        let (machine, actions) = Machine::new(meta.is_some(), keep_seeding, options.paused);
        let announce_after = std::mem::take(&mut options.announce_after);
        let options = share(&mut self.shared_options, options);
        let entry = Entry::new(
            machine,
            name.into(),
            magnet,
            meta.map(Arc::new),
            options,
            announce_after,
        );
        self.entries.insert(id, Box::new(entry));
        self.apply(id, actions).await;
        Ok(id)
    }

    fn has_goal(&self, options: &AddOptions) -> bool {
        options.seed_ratio.is_some() || options.seed_time.is_some()
    }

    async fn input(&mut self, id: Id, input: Input) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let actions = entry.machine.on(input);
        self.apply(id, actions).await;
    }

    async fn apply(&mut self, id: Id, actions: Vec<Action>) {
        for action in actions {
            let Some(entry) = self.entries.get_mut(&id) else {
                return;
            };
            match action {
                Action::FetchMetadata => self.fetch_metadata(id),
                Action::Check { rehash } => self.check(id, rehash),
                Action::Cancel => entry.cancel.cancel(),
                Action::StartTask => self.start_task(id),
                Action::StopTask if entry.parked.is_some() => self.wake(id, Some(Event::Stop)),
                Action::StopTask => {
                    if let Some(t) = &entry.task {
                        t.stop().await;
                    }
                }
                Action::Finish => self.finish(id).await,
                Action::SaveResume => {
                    if let (Mode::Fetch, Some(store), Some(place), Some(meta), Some(have)) = (
                        entry.options.mode,
                        &entry.store,
                        &entry.place(),
                        &entry.meta,
                        &entry.have,
                    ) {
                        disk::save_resume(store, place, meta, have);
                    }
                }
                Action::DeleteData => {
                    if let Some(place) = entry.place() {
                        entry.set_store(None);
                        let _ = runtime::spawn_blocking(move || disk::delete_data(&place)).await;
                    }
                }
                Action::Forget => {
                    if let Some(e) = self.entries.remove(&id) {
                        self.session.remove(&e.info_hash);
                        log::info!("{}: removed", escape::untrusted(&e.name, 80));
                    }
                    let _ = self.notices.send(Notice::Removed { id }).await;
                    return;
                }
            }
        }
        self.tell_if_stopped(id).await;
    }

    /// Sends [`Notice::Stopped`] once each time a torrent comes to rest.
    async fn tell_if_stopped(&mut self, id: Id) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let at_rest = entry.machine.is_idle()
            && matches!(
                entry.machine.state(),
                State::Paused | State::Finished | State::Error(_)
            );
        if !at_rest {
            entry.told_stopped = false;
            return;
        }
        if entry.told_stopped {
            return;
        }
        entry.told_stopped = true;
        let state = entry.machine.state().clone();
        let outcome = match (&state, entry.failure.take()) {
            (State::Error(_), Some(e)) => Err(*e),
            (State::Error(reason), None) => Err(Error::Failed(reason.clone())),
            _ => Ok(()),
        };
        let _ = self
            .notices
            .send(Notice::Stopped { id, state, outcome })
            .await;
    }

    fn fetch_metadata(&mut self, id: Id) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.cancel = Cancel::new();
        // An entry without metadata keeps its magnet link; one of just its info-hash and
        // trackers stands in otherwise.
        let magnet = match &entry.magnet {
            Some(m) => Magnet::clone(m),
            None => Magnet {
                info_hash: entry.info_hash,
                v2: None,
                name: None,
                trackers: entry.links.0.to_vec(),
                peers: Vec::new(),
            },
        };
        log::info!(
            "fetching the metadata of {} ({}) listening on {}",
            escape::untrusted(magnet.name.as_deref().unwrap_or("a magnet link"), 200),
            entry.info_hash,
            self.session.local_addr()
        );
        let (magnet, peers, asker) = (magnet, entry.options.peers.clone(), self.session.asker());
        // Without a timeout, it waits (and asks again) until it is stopped.
        let give_up = entry.options.no_peer_timeout.unwrap_or(Duration::MAX);
        let (cancel, done) = (entry.cancel.clone(), self.done.clone());
        runtime::spawn(async move {
            let fetch = async { Some(metadata::fetch(&magnet, &peers, asker, give_up).await) };
            let cancelled = async {
                cancel.cancelled().await;
                None
            };
            let found = runtime::race(fetch, cancelled).await;
            let _ = done.send(Done::Metadata(id, found)).await;
        });
    }

    fn check(&mut self, id: Id, rehash: bool) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if let Err(e) = entry.thaw() {
            let _ = self.done.try_send(Done::Failed(id, e));
            return;
        }
        let (Some(meta), Some(place)) = (entry.meta.clone(), entry.place()) else {
            return;
        };
        entry.cancel = Cancel::new();
        // The check's store replaces the last one; any file it had open is closed first.
        entry.set_store(None);
        let (cancel, done) = (entry.cancel.clone(), self.done.clone());
        let (mode, files, direct_io) = (
            entry.options.mode,
            entry.options.files.clone(),
            entry.options.direct_io,
        );
        let moving = entry.pending_move.take();
        self.checks.run(move || {
            let opened = (|| {
                if let Some(moving) = &moving {
                    let (from, to) = &**moving;
                    disk::move_data(from, to)?;
                }
                match mode {
                    Mode::Fetch => {
                        disk::open_for_fetch(&meta, &place, &files, direct_io, rehash, &cancel)
                    }
                    Mode::Seed => disk::open_for_seed(&meta, &place.dir, &cancel),
                }
            })();
            // `done` is unbounded: the report cannot wait.
            let _ = done.try_send(Done::Opened(id, opened));
        });
    }

    async fn done(&mut self, done: Done) {
        match done {
            Done::Completed(id) => {
                let complete = self.entries.get(&id).is_some_and(|e| {
                    !e.machine.is_complete()
                        && e.task
                            .as_ref()
                            .is_some_and(|t| t.stats.complete.load(Ordering::Relaxed))
                });
                if complete {
                    self.input(id, Input::Completed).await;
                }
            }
            Done::Failed(id, e) => self.fail(id, e).await,
            Done::Metadata(id, None) => self.input(id, Input::Cancelled).await,
            Done::Metadata(id, Some(Err(e))) => self.fail(id, e).await,
            Done::Metadata(id, Some(Ok(found))) => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return;
                };
                save_torrent(&entry.options.dir, &found.torrent);
                entry.metadata_found(found.torrent);
                entry.known_peers = found.peers;
                self.input(id, Input::MetadataFound).await;
            }
            Done::Opened(id, Err(e)) => {
                let cancelled = self
                    .entries
                    .get(&id)
                    .is_some_and(|e| e.cancel.is_cancelled());
                match e {
                    Error::Stopped(_) if cancelled => self.input(id, Input::Cancelled).await,
                    e => self.fail(id, e).await,
                }
            }
            Done::Opened(id, Ok(opened)) => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return;
                };
                let (have, store) = (opened.have, opened.store);
                if have.count() > 0 && entry.options.mode == Mode::Fetch {
                    log::info!(
                        "{}: resuming: {} of {} pieces already verified{}",
                        escape::untrusted(&entry.name, 80),
                        have.count(),
                        have.len(),
                        if opened.resumed {
                            " (from the resume file, not hashed again)"
                        } else {
                            ""
                        }
                    );
                }
                // A seed serves what passes and never downloads: it is as complete as it gets.
                let complete =
                    entry.options.mode == Mode::Seed || store.wanted().ones().all(|p| have.get(p));
                entry.in_place = opened.in_place;
                // Whole as the resume file says: finishing it writes nothing.
                entry.resume_current = opened.resume_current && complete;
                entry.set_store(Some(Arc::new(store)));
                entry.have = Some(have);
                self.input(id, Input::Checked { complete }).await;
            }
        }
    }

    async fn fail(&mut self, id: Id, e: Error) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        log::warn!("{}: {e}", escape::untrusted(&entry.name, 80));
        let reason = e.to_string();
        entry.failure = Some(Box::new(e));
        self.input(id, Input::Failed(reason)).await;
    }

    fn start_task(&mut self, id: Id) {
        self.spawn_task(id, None);
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        let (Some(meta), Some(_)) = (&entry.meta, &entry.task) else {
            return;
        };
        // Logged once the torrent is routed: a peer told of this port is served at once.
        if entry.options.mode == Mode::Seed {
            log::info!(
                "seeding {} ({}, {}) listening on {}",
                meta.info.name,
                meta.info_hash,
                progress::bytes(meta.info.total_length()),
                self.session.local_addr()
            );
            log::info!("magnet link: {}", Magnet::of(meta).to_uri());
        } else {
            // Complete at its check (a daemon's restored seed): it serves, it does not fetch.
            log::info!(
                "{} {} ({}) listening on {}",
                if entry.machine.is_complete() {
                    "seeding"
                } else {
                    "fetching"
                },
                meta.info.name,
                meta.info_hash,
                self.session.local_addr()
            );
        }
    }

    /// Starts the torrent's task: anew, or where it parked.
    fn spawn_task(&mut self, id: Id, parked: Option<Box<Parked>>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let (Some(meta), Some(store)) = (entry.meta.clone(), entry.store.clone()) else {
            return;
        };
        let have = entry
            .have
            .take()
            .unwrap_or_else(|| Bitfield::new(meta.info.piece_count()));
        let done = self.done.clone();
        // `done` is unbounded: the report cannot wait.
        let completed = move || {
            let _ = done.try_send(Done::Completed(id));
        };
        let (upload_limit, download_limit) = entry.task_limiters();
        let options = torrent::Options {
            completed: Some(Box::new(completed)),
            upload_limit,
            download_limit,
            keep_seeding: entry.machine.keep_seeding(),
            peers: entry.options.peers.clone(),
            known_peers: std::mem::take(&mut entry.known_peers),
            no_peer_timeout: entry.options.no_peer_timeout,
            sequential: entry.options.sequential,
            super_seed: entry.options.super_seed,
            park_after: entry.options.park_after,
            parked,
            // The first start only: a torrent resumed later announces at once.
            announce_after: std::mem::take(&mut entry.announce_after),
            // The content is the user's: a seed serves it and never writes to it.
            upload_only: entry.options.mode == Mode::Seed,
            ..torrent::Options::default()
        };
        let task = self.session.add(meta, store, have, options);
        self.tasks.insert(task.id, id);
        self.running.push(id);
        let counters = Counters::of(&task.stats);
        entry.last = (Instant::now(), counters.downloaded, counters.uploaded);
        entry.task = Some(task);
    }

    async fn finish(&mut self, id: Id) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let (Some(store), Some(place), Some(meta)) = (&entry.store, entry.place(), &entry.meta)
        else {
            return;
        };
        let path = match entry.options.mode {
            Mode::Fetch => {
                disk::finish(store, &place, meta, (entry.in_place, entry.resume_current))
            }
            Mode::Seed => place.target.clone(),
        };
        entry.completed = Some((SystemTime::now(), Instant::now()));
        let already = entry.task.is_none();
        if entry.options.mode == Mode::Fetch {
            // For a download that completes, not for content found whole at the start.
            if let Some(cmd) = entry.options.on_done.as_deref().filter(|_| !already) {
                self.hooks.push(on_done(cmd, &path, meta));
            }
        }
        let goal = entry.options.seed_ratio.is_some() || entry.options.seed_time.is_some();
        if entry.machine.keep_seeding() && (goal || entry.options.mode == Mode::Fetch) {
            log::info!(
                "{}: seeding until {}",
                escape::untrusted(&entry.name, 80),
                seed_goal(&entry.options)
            );
        }
        let _ = self
            .notices
            .send(Notice::Completed { id, path, already })
            .await;
    }

    /// A torrent's task ended (asked to, on completion without seeding, or failing) or parked.
    async fn ended(&mut self, task: usize, end: End) {
        let Some(id) = self.tasks.remove(&task) else {
            return;
        };
        self.running.retain(|&r| r != id);
        let outcome = match end {
            End::Done(outcome) => outcome,
            End::Parked(parked) => return self.park(id, parked),
        };
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let complete = entry
            .task
            .as_ref()
            .is_some_and(|t| t.stats.complete.load(Ordering::Relaxed));
        if complete && !entry.machine.is_complete() {
            // A fetch without seeding ends as it completes: finish before the end is handled.
            self.input(id, Input::Completed).await;
        }
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.task_ended();
        self.session.remove(&entry.info_hash);
        match outcome {
            Ok(()) => self.input(id, Input::TaskEnded).await,
            Err(e) => self.fail(id, e).await,
        }
    }
}

/// `options` as a torrent keeps them: the same `Arc` as one of the `lately` added with the
/// same, if any (and then the newest of them).
pub(super) fn share(
    lately: &mut std::collections::VecDeque<Arc<AddOptions>>,
    options: AddOptions,
) -> Arc<AddOptions> {
    /// How many different ones are looked through.
    const KEPT: usize = 8;
    if let Some(same) = lately.iter().find(|o| o.same_as(&options)) {
        return same.clone();
    }
    let options = Arc::new(options);
    if lately.len() == KEPT {
        lately.pop_front();
    }
    lately.push_back(options.clone());
    options
}
