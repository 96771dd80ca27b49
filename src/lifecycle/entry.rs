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

pub(super) struct Entry {
    pub(super) machine: Machine,
    pub(super) options: AddOptions,
    pub(super) info_hash: InfoHash,
    pub(super) name: Arc<str>,
    pub(super) magnet: Magnet,
    pub(super) meta: Option<Arc<Torrent>>,
    /// What [`Entry::refresh_links`] worked out: trackers, magnet link.
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
    /// What its task handed back as it parked (see `torrent/parking.rs`): it has none then.
    pub(super) parked: Option<Box<Parked>>,
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
    pub(super) fn counters(&self) -> Counters {
        match &self.task {
            Some(t) => self.ended.plus(Counters::of(&t.stats)),
            None => self.ended,
        }
    }

    /// Where its data lives (none before its metadata): worked out when needed, not kept
    /// (five paths a torrent).
    pub(super) fn place(&self) -> Option<Placement> {
        let meta = self.meta.as_deref()?;
        Some(Placement::with_resume(
            &self.options.dir,
            &meta.info.name,
            self.options.resume_file.as_deref(),
        ))
    }

    /// The task has ended or parked: its counters and verified pieces are the entry's now.
    pub(super) fn task_ended(&mut self) {
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
        let Some(m) = self.meta.as_deref() else {
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
        let meta = self.meta.as_deref();
        let c = self.counters();
        let (mut have_bytes, mut have_pieces, mut prefix, mut peers) = (0, 0, 0, 0);
        let (mut sending, mut getting) = (0, 0);
        if let Some(t) = &self.task {
            sending = t.stats.sending_to_us.load(Ordering::Relaxed);
            getting = t.stats.getting_from_us.load(Ordering::Relaxed);
            have_bytes = t.stats.have_bytes.load(Ordering::Relaxed);
            have_pieces = t.stats.have_pieces.load(Ordering::Relaxed);
            prefix = t.stats.prefix_bytes.load(Ordering::Relaxed);
            peers = t.stats.peers.load(Ordering::Relaxed);
        } else if let (Some(have), Some(store)) = (&self.have, &self.store) {
            let layout = store.layout();
            have_pieces = have.count();
            have_bytes = have
                .ones()
                .filter(|&p| store.wanted().get(p))
                .map(|p| layout.piece_data(p))
                .sum();
            prefix = (0..layout.piece_count())
                .find(|&p| !have.get(p))
                .map_or(layout.total(), |p| layout.piece_offset(p));
        }
        Snapshot {
            id,
            name: self.name.clone(),
            info_hash: self.info_hash,
            state: self.machine.state().clone(),
            stopping: self.machine.is_stopping(),
            has_metadata: meta.is_some(),
            size: meta.map_or(0, |m| m.info.total_length()),
            wanted_bytes: self.wanted_bytes(),
            have_bytes,
            pieces: meta.map_or(0, |m| m.info.piece_count()),
            piece_length: meta.map_or(0, |m| m.info.piece_length),
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
            private: meta.is_some_and(|m| m.info.private),
            trackers: self.links.0.clone(),
            magnet: self.links.1.clone(),
        }
    }

    /// Works out the trackers and magnet link a snapshot shows, once (a daemon's `torrent-get`
    /// takes thousands of snapshots): when added, and when a magnet's metadata arrives.
    pub(super) fn refresh_links(&mut self) {
        let trackers: Vec<String> = match self.meta.as_deref() {
            Some(m) => m.tracker_tiers().into_iter().flatten().collect(),
            None => self.magnet.trackers.clone(),
        };
        self.links = (trackers.into(), self.magnet.to_uri().into());
    }
}
