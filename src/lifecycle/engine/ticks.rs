//! The engine's tick, once a second: each running torrent's rates, a completion its task
//! reported, a seeding goal met; and the parked torrents due to run again (see
//! `torrent/parking.rs`), which have none of these to do while parked.

use super::Owner;
use crate::lifecycle::Id;
use crate::lifecycle::machine::{Input, State};
use crate::{escape, progress, runtime};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Tasks parked since the last time the allocator gave its free memory back, past which it
/// does so again at the next tick: a wave of them (a daemon's restart, its adds) frees their
/// tasks, checks and queues, which glibc would otherwise keep.
const TRIM_AFTER_PARKED: usize = 64;

impl Owner {
    pub(super) async fn tick(&mut self) {
        // One clock read for all.
        let now = Instant::now();
        while self.parked.first().is_some_and(|&(at, _)| at <= now) {
            if let Some((_, id)) = self.parked.pop_first() {
                self.wake(id, None);
            }
        }
        if self.parked_since_trim >= TRIM_AFTER_PARKED {
            self.parked_since_trim = 0;
            runtime::release_free_memory();
        }
        let due: Vec<Id> = self.running.clone();
        let mut inputs = Vec::new();
        for id in due {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let Some(task) = &entry.task else {
                continue;
            };
            let downloaded = task.stats.downloaded.load(Ordering::Relaxed);
            let uploaded = task.stats.uploaded.load(Ordering::Relaxed);
            let secs = now.duration_since(entry.last.0).as_secs_f64().max(1e-3);
            entry.rates = (
                downloaded.saturating_sub(entry.last.1) as f64 / secs,
                uploaded.saturating_sub(entry.last.2) as f64 / secs,
            );
            entry.last = (now, downloaded, uploaded);
            if task.stats.complete.load(Ordering::Relaxed) && !entry.machine.is_complete() {
                inputs.push((id, Input::Completed));
            } else if (entry.options.seed_ratio.is_some() || entry.options.seed_time.is_some())
                && entry.machine.state() == &State::Seeding
                && let Some((_, at)) = entry.completed
            {
                let uploaded = entry.counters().uploaded;
                let total = entry.wanted_bytes();
                let ratio_met = entry
                    .options
                    .seed_ratio
                    .is_some_and(|r| uploaded as f64 >= r * total as f64);
                let time_met = entry
                    .options
                    .seed_time
                    .is_some_and(|t| now.duration_since(at) >= t);
                if ratio_met || time_met {
                    log::info!(
                        "{}: seeded {} ({:.2} times the size) for {}: done",
                        escape::untrusted(&entry.name, 80),
                        progress::bytes(uploaded),
                        uploaded as f64 / total.max(1) as f64,
                        progress::duration(now.duration_since(at).as_secs())
                    );
                    inputs.push((id, Input::GoalMet));
                }
            }
        }
        for (id, input) in inputs {
            self.input(id, input).await;
        }
    }
}
