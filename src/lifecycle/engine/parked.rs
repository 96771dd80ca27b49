//! The engine's side of parked torrents (see `torrent/parking.rs`): a task that parks
//! leaves what it handed back in its entry, with its metainfo and store put away when they
//! can be (see [`Entry::freeze`]); what comes for it (a peer, peers found, a request) or its
//! next due time starts it again.
//!
//! [`Entry::freeze`]: crate::lifecycle::entry::Entry::freeze

use super::{Done, Owner};
use crate::lifecycle::Id;
use crate::torrent::{Event, Parked};

impl Owner {
    /// A task parked: the entry keeps what it handed back, and what comes for it comes to
    /// the engine, until it is due or called.
    pub(super) fn park(&mut self, id: Id, mut parked: Box<Parked>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.task_ended();
        if let Some(store) = &entry.store {
            store.close_files();
        }
        self.session.park(&entry.info_hash, id);
        // Taken once the session routes to the engine: nothing that came meanwhile is lost.
        if parked.settle() {
            self.spawn_task(id, Some(parked));
            return;
        }
        // A seeding time runs out while parked, too.
        if let (Some(time), Some((_, at))) = (entry.options.seed_time, entry.completed) {
            parked.wake_at = parked.wake_at.min(at + time);
        }
        self.parked.insert((parked.wake_at, id));
        self.parked_since_trim += 1;
        entry.parked = Some(parked);
        entry.freeze();
    }

    /// Starts a parked torrent again, `event` the first thing it handles.
    pub(super) fn wake(&mut self, id: Id, event: Option<Event>) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let Some(mut parked) = entry.parked.take() else {
            return;
        };
        self.parked.remove(&(parked.wake_at, id));
        if let Err(e) = entry.thaw() {
            // As if its task had failed: it stops, in the error state (`done` is unbounded).
            self.session.remove(&entry.info_hash);
            let _ = self.done.try_send(Done::Failed(id, e));
            return;
        }
        if let Some(event) = event {
            parked.push(event);
        }
        self.spawn_task(id, Some(parked));
    }

    /// Something came for a parked torrent: it starts again to handle it (or has already).
    pub(super) fn call(&mut self, id: Id, event: Event) {
        match self.entries.get(&id) {
            Some(e) if e.parked.is_some() => self.wake(id, Some(event)),
            Some(e) => {
                if let Some(task) = &e.task {
                    task.send(event);
                }
            }
            None => {}
        }
    }
}
