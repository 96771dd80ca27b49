//! One torrent as the engine keeps it: its state machine, what it was added with, its store
//! and task when it has them, and its counters across task restarts; and the snapshot a
//! client reads of it.

use super::disk::Placement;
use super::machine::Machine;
use super::{AddOptions, FileInfo, Id, Snapshot};
use crate::Error;
use crate::bitfield::Bitfield;
use crate::magnet::Magnet;
use crate::metainfo::{InfoHash, Torrent};
use crate::piece_store::PieceStore;
use crate::rate::RateLimit;
use crate::runtime::Cancel;
use crate::session::TorrentRef;
use crate::torrent::{Parked, Stats};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

/// Counters of tasks that have ended, added to the running one's.
#[derive(Clone, Copy, Default)]
pub(super) struct Counters {
    pub(super) downloaded: u64,
    pub(super) uploaded: u64,
    pub(super) wasted: u64,
    pub(super) web_seed_bytes: u64,
    pub(super) connections: usize,
    pub(super) encrypted_connections: usize,
    pub(super) utp_connections: usize,
}

impl Counters {
    pub(super) fn of(s: &Stats) -> Counters {
        Counters {
            downloaded: s.downloaded.load(Ordering::Relaxed),
            uploaded: s.uploaded.load(Ordering::Relaxed),
            wasted: s.wasted.load(Ordering::Relaxed),
            web_seed_bytes: s.web_seed_bytes.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
            encrypted_connections: s.encrypted_connections.load(Ordering::Relaxed),
            utp_connections: s.utp_connections.load(Ordering::Relaxed),
        }
    }

    pub(super) fn plus(self, o: Counters) -> Counters {
        Counters {
            downloaded: self.downloaded + o.downloaded,
            uploaded: self.uploaded + o.uploaded,
            wasted: self.wasted + o.wasted,
            web_seed_bytes: self.web_seed_bytes + o.web_seed_bytes,
            connections: self.connections + o.connections,
            encrypted_connections: self.encrypted_connections + o.encrypted_connections,
            utp_connections: self.utp_connections + o.utp_connections,
        }
    }
}

/// What a snapshot shows of a torrent's metainfo.
#[derive(Clone, Copy, Default)]
struct Shape {
    size: u64,
    pieces: usize,
    piece_length: u64,
    private: bool,
}

impl Shape {
    fn of(meta: &Torrent) -> Shape {
        Shape {
            size: meta.info.total_length(),
            pieces: meta.info.piece_count(),
            piece_length: meta.info.piece_length,
            private: meta.info.private,
        }
    }
}

/// A parked seed's metainfo and store, put away: the .torrent's bytes, and what a snapshot
/// shows of them.
pub(super) struct Frozen {
    torrent: Box<[u8]>,
    shape: Shape,
    /// Have bytes, pieces and prefix, as they were (nothing changes while parked).
    have: (u64, usize, u64),
}

pub(super) struct Entry {
    pub(super) machine: Machine,
    /// Shared by the torrents added with the same (see `engine::share`); changed through
    /// `Arc::make_mut`, which makes the entry a copy of its own first.
    pub(super) options: Arc<AddOptions>,
    /// How long its first announce waits (taken by its first task; options are shared).
    pub(super) announce_after: std::time::Duration,
    pub(super) info_hash: InfoHash,
    pub(super) name: Arc<str>,
    /// The magnet link it was added by, until its metadata is known (its links keep what
    /// a client is shown of it): a daemon holds thousands of entries.
    pub(super) magnet: Option<Box<Magnet>>,
    pub(super) meta: Option<Arc<Torrent>>,
    /// What a client is shown: trackers, magnet link (see [`Entry::metadata_found`]).
    pub(super) links: (Arc<[String]>, Arc<str>),
    /// Data to move (from, to) before the next check opens the store.
    pub(super) pending_move: Option<Box<(Placement, Placement)>>,
    /// Peers heard of while fetching the metadata.
    pub(super) known_peers: Vec<SocketAddr>,
    /// Set through [`Entry::set_store`], which keeps `wanted_bytes` with it.
    pub(super) store: Option<Arc<PieceStore>>,
    /// What of the torrent the store's file choice takes (0 without a store).
    pub(super) wanted_bytes: u64,
    pub(super) in_place: bool,
    /// The resume file already records the content whole (see [`super::disk::Opened`]).
    pub(super) resume_current: bool,
    /// What is verified while no task runs (the task owns it while it does).
    pub(super) have: Option<Bitfield>,
    pub(super) task: Option<TorrentRef>,
    /// Its own speed limiters (up, down) while its task runs (see [`AddOptions::own_limits`]).
    pub(super) limiters: Option<(Arc<RateLimit>, Arc<RateLimit>)>,
    /// What its task handed back as it parked (see `torrent/parking.rs`): it has none then.
    pub(super) parked: Option<Box<Parked>>,
    /// Its metainfo and store put away while it is parked (see [`Entry::freeze`]).
    pub(super) frozen: Option<Box<Frozen>>,
    pub(super) cancel: Cancel,
    /// The failure that put it in the error state, for the [`Notice::Stopped`] that tells it.
    pub(super) failure: Option<Box<Error>>,
    pub(super) ended: Counters,
    /// Counters at the last tick, and the rates over it.
    pub(super) last: (Instant, u64, u64),
    pub(super) rates: (f64, f64),
    pub(super) added: SystemTime,
    pub(super) completed: Option<(SystemTime, Instant)>,
    /// A [`Notice::Stopped`] went out since the last work started.
    pub(super) told_stopped: bool,
}

impl Entry {
    /// A torrent just added, its trackers and magnet link worked out: of its metainfo when it
    /// has one (with the peers of `magnet`), else of `magnet`.
    pub(super) fn new(
        machine: Machine,
        name: Arc<str>,
        magnet: Magnet,
        meta: Option<Arc<Torrent>>,
        options: Arc<AddOptions>,
        announce_after: std::time::Duration,
    ) -> Entry {
        Entry {
            machine,
            info_hash: magnet.info_hash,
            name,
            links: links(meta.as_deref(), &magnet),
            magnet: meta.is_none().then(|| Box::new(magnet)),
            meta,
            pending_move: None,
            known_peers: Vec::new(),
            store: None,
            wanted_bytes: 0,
            in_place: false,
            resume_current: false,
            have: None,
            task: None,
            limiters: None,
            parked: None,
            frozen: None,
            cancel: Cancel::new(),
            failure: None,
            ended: Counters::default(),
            last: (Instant::now(), 0, 0),
            rates: (0.0, 0.0),
            added: SystemTime::now(),
            completed: None,
            // Added paused is what was asked, not news.
            told_stopped: options.paused,
            options,
            announce_after,
        }
    }

    pub(super) fn counters(&self) -> Counters {
        match &self.task {
            Some(t) => self.ended.plus(Counters::of(&t.stats)),
            None => self.ended,
        }
    }

    /// Where its data lives (none before its metadata): worked out when needed, not kept
    /// (five paths a torrent).
    pub(super) fn place(&self) -> Option<Placement> {
        self.has_metadata().then(|| {
            // The name is the metainfo's once it is known.
            Placement::with_resume(&self.options.dir, &self.name, self.resume_file().as_deref())
        })
    }

    /// Where its resume data is kept, when not beside the content.
    pub(super) fn resume_file(&self) -> Option<std::path::PathBuf> {
        (self.options.resume_dir.as_deref()).map(|d| crate::resume::path_in(d, self.info_hash))
    }

    pub(super) fn has_metadata(&self) -> bool {
        self.meta.is_some() || self.frozen.is_some()
    }

    /// Puts a parked seed's metainfo and store away when both can be made again as they are,
    /// without the disk: every piece verified and every file chosen, the files under their
    /// names, and the metainfo whole in the bytes of a .torrent. A daemon's thousands of
    /// parked seeds keep a few hundred bytes each instead of a kilobyte and more (the piece
    /// hashes once, not twice). [`Entry::thaw`] makes them again.
    pub(super) fn freeze(&mut self) {
        let (Some(meta), Some(store), Some(have)) = (&self.meta, &self.store, &self.have) else {
            return;
        };
        let whole = have.is_full() && store.selection().is_all() && store.parts_path().is_none();
        if !whole || self.frozen.is_some() {
            return;
        }
        // Where the store that `thaw` makes would look for them.
        if PieceStore::file_paths(&self.options.dir, &meta.info) != store.paths() {
            return;
        }
        let torrent = meta.to_file_bytes();
        if Torrent::from_bytes(&torrent).ok().as_ref() != Some(&**meta) {
            return;
        }
        self.frozen = Some(Box::new(Frozen {
            torrent: torrent.into(),
            shape: Shape::of(meta),
            have: self.have_figures(),
        }));
        self.meta = None;
        self.store = None;
    }

    /// Makes a frozen seed's metainfo and store again (see [`Entry::freeze`]).
    pub(super) fn thaw(&mut self) -> crate::Result<()> {
        let Some(frozen) = &self.frozen else {
            return Ok(());
        };
        let meta = Torrent::from_bytes(&frozen.torrent).map_err(|e| {
            crate::Error::Failed(format!("its metainfo, put away while parked: {e}"))
        })?;
        let store = PieceStore::serving(&self.options.dir, &meta.info);
        self.meta = Some(Arc::new(meta));
        self.store = Some(Arc::new(store));
        self.frozen = None;
        Ok(())
    }

    /// What a snapshot shows of its metainfo (nothing before its metadata).
    fn shape(&self) -> Shape {
        match (&self.meta, &self.frozen) {
            (Some(meta), _) => Shape::of(meta),
            (None, Some(f)) => f.shape,
            (None, None) => Shape::default(),
        }
    }

    /// Verified bytes of the chosen files, verified pieces, and verified bytes from the start
    /// without a gap, while no task runs.
    fn have_figures(&self) -> (u64, usize, u64) {
        if let Some(f) = &self.frozen {
            return f.have;
        }
        let (Some(have), Some(store)) = (&self.have, &self.store) else {
            return (0, 0, 0);
        };
        let layout = store.layout();
        let have_bytes = have
            .ones()
            .filter(|&p| store.wanted().get(p))
            .map(|p| layout.piece_data(p))
            .sum();
        let prefix = (0..layout.piece_count())
            .find(|&p| !have.get(p))
            .map_or(layout.total(), |p| layout.piece_offset(p));
        (have_bytes, have.count(), prefix)
    }

    /// The task has ended or parked: its counters and verified pieces are the entry's now.
    pub(super) fn task_ended(&mut self) {
        self.limiters = None;
        if let Some(task) = self.task.take() {
            self.ended = self.ended.plus(Counters::of(&task.stats));
            self.have = task
                .stats
                .final_have
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
        self.rates = (0.0, 0.0);
    }

    /// The speed limiters its task takes (up, down): its own, made now under the shared ones
    /// and kept while the task runs, or the shared ones alone.
    pub(super) fn task_limiters(&mut self) -> (Option<Arc<RateLimit>>, Option<Arc<RateLimit>>) {
        let (up, down) = (&self.options.upload_limit, &self.options.download_limit);
        let Some((own_up, own_down)) = self.options.own_limits else {
            return (up.clone(), down.clone());
        };
        let own = |shared: &Option<Arc<RateLimit>>, rate: u64| {
            let limiter = match shared {
                Some(s) => RateLimit::under(s.clone()),
                None => RateLimit::unlimited(),
            };
            limiter.set(rate);
            Arc::new(limiter)
        };
        let limiters = (own(up, own_up), own(down, own_down));
        self.limiters = Some(limiters.clone());
        (Some(limiters.0), Some(limiters.1))
    }

    /// Sets (or drops) the store, and what of the torrent its file choice takes.
    pub(super) fn set_store(&mut self, store: Option<Arc<PieceStore>>) {
        self.wanted_bytes = store.as_ref().map_or(0, |s| {
            s.wanted().ones().map(|p| s.layout().piece_data(p)).sum()
        });
        self.store = store;
    }

    pub(super) fn wanted_bytes(&self) -> u64 {
        self.wanted_bytes
    }

    /// The torrent's files (none before its metadata), and which are chosen.
    pub(super) fn files(&self) -> Vec<FileInfo> {
        // Frozen, every file is chosen and the store is put away.
        let thawed = self
            .frozen
            .as_ref()
            .and_then(|f| Torrent::from_bytes(&f.torrent).ok());
        let Some(m) = self.meta.as_deref().or(thawed.as_ref()) else {
            return Vec::new();
        };
        let chosen = |i: usize| {
            self.store
                .as_ref()
                .is_none_or(|s| s.selection().is_selected(i))
        };
        m.info
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| FileInfo {
                path: std::iter::once(m.info.name.as_str())
                    .chain(f.path.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join("/"),
                length: f.length,
                wanted: chosen(i),
            })
            .collect()
    }

    pub(super) fn snapshot(&self, id: Id) -> Snapshot {
        let c = self.counters();
        let ((have_bytes, have_pieces, prefix), peers, sending, getting) = match &self.task {
            Some(t) => {
                let s = &t.stats;
                let have = (
                    s.have_bytes.load(Ordering::Relaxed),
                    s.have_pieces.load(Ordering::Relaxed),
                    s.prefix_bytes.load(Ordering::Relaxed),
                );
                let peers = s.peers.load(Ordering::Relaxed);
                let sending = s.sending_to_us.load(Ordering::Relaxed);
                (
                    have,
                    peers,
                    sending,
                    s.getting_from_us.load(Ordering::Relaxed),
                )
            }
            None => (self.have_figures(), 0, 0, 0),
        };
        let shape = self.shape();
        Snapshot {
            id,
            name: self.name.clone(),
            info_hash: self.info_hash,
            state: self.machine.state().clone(),
            stopping: self.machine.is_stopping(),
            has_metadata: self.has_metadata(),
            size: shape.size,
            wanted_bytes: self.wanted_bytes(),
            have_bytes,
            pieces: shape.pieces,
            piece_length: shape.piece_length,
            have_pieces,
            prefix_bytes: prefix,
            complete: self.machine.is_complete(),
            downloaded: c.downloaded,
            uploaded: c.uploaded,
            wasted: c.wasted,
            web_seed_bytes: c.web_seed_bytes,
            connections: c.connections,
            encrypted_connections: c.encrypted_connections,
            utp_connections: c.utp_connections,
            peers,
            peers_sending_to_us: sending,
            peers_getting_from_us: getting,
            download_rate: self.rates.0,
            upload_rate: self.rates.1,
            added: self.added,
            completed: self.completed.map(|(at, _)| at),
            private: shape.private,
            trackers: self.links.0.clone(),
            magnet: self.links.1.clone(),
        }
    }

    /// Takes the metainfo a magnet link's torrent fetched: its trackers are shown from then
    /// on, with the link it was added by.
    pub(super) fn metadata_found(&mut self, meta: Torrent) {
        self.name = meta.info.name.as_str().into();
        if let Some(magnet) = self.magnet.take() {
            self.links = links(Some(&meta), &magnet);
        }
        self.meta = Some(Arc::new(meta));
    }
}

/// A torrent's trackers, of its metainfo when known, and its magnet link: what a snapshot
/// shows, worked out once (a daemon's `torrent-get` takes thousands of snapshots), when the
/// torrent is added and when a magnet's metadata arrives.
fn links(meta: Option<&Torrent>, magnet: &Magnet) -> (Arc<[String]>, Arc<str>) {
    let trackers: Vec<String> = match meta {
        Some(m) => m.tracker_tiers().into_iter().flatten().collect(),
        None => magnet.trackers.clone(),
    };
    (trackers.into(), magnet.to_uri().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create_torrent as build;
    use crate::lifecycle::disk::{self, Files};
    use std::path::Path;

    /// `dir/c.bin` (five pieces and a bit) and its entry as the check left it, complete or not.
    fn checked(dir: &Path, complete: bool) -> Entry {
        let path = dir.join("c.bin");
        let content: Vec<u8> = (0..90_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let options = build::Options {
            piece_length: Some(16384),
            ..build::Options::default()
        };
        let meta = build::torrent_of(&path, &options).unwrap();
        if !complete {
            std::fs::write(&path, vec![0; content.len()]).unwrap();
        }
        let (machine, _) = Machine::new(true, true, false);
        let options = AddOptions {
            dir: dir.to_owned(),
            keep_seeding: true,
            ..AddOptions::default()
        };
        let name = meta.info.name.as_str().into();
        let meta = Arc::new(meta);
        let mut e = Entry::new(
            machine,
            name,
            Magnet::of(&meta),
            Some(meta.clone()),
            Arc::new(options),
            std::time::Duration::ZERO,
        );
        let place = e.place().unwrap();
        let cancel = crate::runtime::Cancel::new();
        let opened =
            disk::open_for_fetch(&meta, &place, &Files::AsBefore, false, false, &cancel).unwrap();
        e.set_store(Some(Arc::new(opened.store)));
        e.have = Some(opened.have);
        e
    }

    /// What a client is shown of a torrent's size and progress.
    fn shown(e: &Entry) -> (u64, u64, u64, usize, u64, usize, u64, bool, bool) {
        let s = e.snapshot(1);
        let files = e.files();
        let f = (files.len(), files[0].length, files[0].wanted);
        assert_eq!(f, (1, 90_000, true));
        (
            s.size,
            s.wanted_bytes,
            s.have_bytes,
            s.pieces,
            s.piece_length,
            s.have_pieces,
            s.prefix_bytes,
            s.has_metadata,
            s.private,
        )
    }

    #[test]
    fn a_whole_seed_puts_its_metainfo_and_store_away_and_makes_them_again_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = checked(dir.path(), true);
        let (before, meta) = (shown(&e), e.meta.clone().unwrap());
        assert_eq!(before.2, 90_000, "complete");
        e.freeze();
        assert!(e.meta.is_none() && e.store.is_none(), "put away");
        assert_eq!(shown(&e), before, "shown as before");
        assert_eq!(e.place().unwrap().target, dir.path().join("c.bin"));
        e.thaw().unwrap();
        assert!(e.frozen.is_none());
        assert_eq!(e.meta.as_deref(), Some(&*meta), "the same metainfo");
        let mut block = vec![0; 1000];
        let store = e.store.as_ref().unwrap();
        store.read_block(5, 0, &mut block).unwrap();
        let at = 5 * 16384;
        let want: Vec<u8> = (at..at + 1000).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(block, want, "its store reads the content");
        assert_eq!(shown(&e), before);
    }

    #[test]
    fn a_torrent_with_pieces_missing_keeps_its_metainfo_and_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = checked(dir.path(), false);
        assert_eq!(e.have.as_ref().unwrap().count(), 0);
        e.freeze();
        assert!(e.meta.is_some() && e.store.is_some() && e.frozen.is_none());
    }

    #[test]
    fn own_limiters_exist_while_a_task_runs_under_the_shared_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = checked(dir.path(), true);
        let shared = Arc::new(RateLimit::new(1 << 20));
        let mut options = AddOptions::clone(&e.options);
        options.upload_limit = Some(shared.clone());
        options.own_limits = Some((4096, 0));
        e.options = Arc::new(options);
        let (up, down) = e.task_limiters();
        let (up, down) = (up.unwrap(), down.unwrap());
        assert!(!Arc::ptr_eq(&up, &shared), "a limiter of its own");
        assert_eq!((up.rate(), down.rate()), (4096, 0));
        // What it takes counts against the shared one too: past its burst, both make it wait.
        shared.set(16384);
        assert_eq!(up.reserve(16384), std::time::Duration::ZERO);
        assert!(up.reserve(16384) > std::time::Duration::ZERO);
        assert!(shared.reserve(1) > std::time::Duration::ZERO);
        let kept = e.limiters.clone().expect("kept while the task runs");
        assert!(Arc::ptr_eq(&kept.0, &up) && Arc::ptr_eq(&kept.1, &down));
        e.task_ended();
        assert!(e.limiters.is_none(), "dropped with the task");

        let mut options = AddOptions::clone(&e.options);
        options.own_limits = None;
        e.options = Arc::new(options);
        let (up, down) = e.task_limiters();
        assert!(Arc::ptr_eq(&up.unwrap(), &shared) && down.is_none());
        assert!(e.limiters.is_none());
    }
}
