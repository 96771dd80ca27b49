//! A daemon's idle seeds park. A complete torrent that keeps seeding, with no peer, no dial
//! and no announce under way, and nothing asked of it for [`Options::park_after`], ends the
//! part of it that runs: its ticks, its peer queue (64 slots allocated) and the large future
//! of its loop. What stays is the [`Task`] itself (the picker, the dialer, the bans, the
//! announce schedule) and its event queue, so that it wakes where it was: on any event (a peer
//! connecting to it, a peer found, a stop, a reannounce) or when its next announce, DHT
//! lookup or dial is due. Asked for its peers while parked, it answers at once: none.
//!
//! [`Options::park_after`]: super::Options::park_after

use super::{Event, Flow, PeerTraffic, Task};
use crate::Result;
use crate::runtime;
use async_std::channel::{Receiver, Sender};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a running torrent ticks.
const TICK: Duration = Duration::from_secs(1);

/// How a running stretch of the task ended.
enum Stretch {
    Ended(Result<()>),
    Parked,
}

/// Runs the torrent to its end: in stretches, each a task of its own that runs until the
/// torrent ends or parks, with the parked waits between them.
pub(super) async fn run(
    mut task: Box<Task>,
    ctrl: Receiver<Event>,
    mut peers: Option<Receiver<PeerTraffic>>,
) -> Result<()> {
    let mut first = None;
    loop {
        let peers = match peers.take() {
            Some(running) => running,
            None => {
                log::debug!(
                    "{}: parked",
                    crate::escape::untrusted(&task.meta.info.name, 80)
                );
                task.events = closed_peer_queue();
                task.stats.parked.store(true, Ordering::Relaxed);
                let woken = park(&ctrl, task.wake_at()).await;
                task.stats.parked.store(false, Ordering::Relaxed);
                first = match woken {
                    Woken::Event(e) => Some(e),
                    Woken::Due => None,
                    // Every sender is gone: no one can ask anything of it again.
                    Woken::Orphaned => {
                        task.hand_back_pieces();
                        return Ok(());
                    }
                };
                log::debug!(
                    "{}: woken by {}",
                    crate::escape::untrusted(&task.meta.info.name, 80),
                    first
                        .as_ref()
                        .map_or("its next announce, lookup or dial", why)
                );
                let (tx, rx) = async_std::channel::bounded(super::PEER_QUEUE);
                task.events = tx;
                task.last_peer_at = Instant::now();
                rx
            }
        };
        let (back, how) = runtime::spawn(stretch(task, ctrl.clone(), peers, first.take())).await;
        task = back;
        if let Stretch::Ended(outcome) = how {
            return outcome;
        }
    }
}

/// What woke a parked torrent, for the log.
fn why(event: &Event) -> &'static str {
    match event {
        Event::Inbound(_) => "a peer connecting",
        Event::PeersFound(_) => "peers found",
        Event::Reannounce => "a reannounce",
        Event::Stop => "a stop",
        _ => "an event",
    }
}

/// What a parked task holds in place of its peer queue: one closed queue for all of them.
pub(super) fn closed_peer_queue() -> Sender<PeerTraffic> {
    static CLOSED: OnceLock<Sender<PeerTraffic>> = OnceLock::new();
    CLOSED
        .get_or_init(|| async_std::channel::bounded(1).0)
        .clone()
}

pub(super) enum Woken {
    Event(Event),
    Due,
    Orphaned,
}

/// Waits, parked, for an event that needs the task running, or for `until`.
pub(super) async fn park(ctrl: &Receiver<Event>, until: Instant) -> Woken {
    loop {
        let event = async {
            match ctrl.recv().await {
                Ok(e) => Woken::Event(e),
                Err(_) => Woken::Orphaned,
            }
        };
        let due = async {
            runtime::sleep(until.saturating_duration_since(Instant::now())).await;
            Woken::Due
        };
        match runtime::race(event, due).await {
            // A parked torrent has no peers: no need to wake it to say so.
            Woken::Event(Event::Peers(reply)) => {
                let _ = reply.try_send(Vec::new());
            }
            woken => return woken,
        }
    }
}

/// One running stretch: the task's loop, ticking every second on the shared instants, until
/// it ends or parks. `first` is the event that woke it.
async fn stretch(
    mut task: Box<Task>,
    ctrl: Receiver<Event>,
    peers: Receiver<PeerTraffic>,
    first: Option<Event>,
) -> (Box<Task>, Stretch) {
    // Woken to stop: straight to the farewell, with no announce or dial first.
    if !matches!(first, Some(Event::Stop)) {
        task.connect_more();
        task.maybe_announce();
    }
    let mut next = first;
    let mut tick = Box::pin(runtime::sleep_to_next(TICK));
    let outcome = loop {
        let event = match next.take() {
            Some(e) => e,
            None => {
                // `race` polls the first future first: ticks, then the task's own events, then
                // peer traffic.
                let ticked = async {
                    (&mut tick).await;
                    Ok(Event::Tick)
                };
                let peer = async { peers.recv().await.map(Event::from) };
                match runtime::race(ticked, runtime::race(ctrl.recv(), peer)).await {
                    Ok(Event::Tick) => {
                        tick = Box::pin(runtime::sleep_to_next(TICK));
                        Event::Tick
                    }
                    Ok(e) => e,
                    Err(_) => break Ok(()),
                }
            }
        };
        match task.handle(event) {
            Ok(Flow::Continue) => continue,
            Ok(Flow::Park) => return (task, Stretch::Parked),
            Ok(Flow::End) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    task.shutdown(&ctrl).await;
    task.hand_back_pieces();
    (task, Stretch::Ended(outcome))
}

impl Task {
    /// Leaves the verified pieces where its owner reads them once the task has ended.
    fn hand_back_pieces(&self) {
        *self
            .stats
            .final_have
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(self.picker.have().clone());
    }

    /// A seed that stays, complete, in a node that parks them: one that starts parked.
    pub(super) fn a_parking_seed(&self) -> bool {
        self.config.options.park_after.is_some()
            && self.config.options.keep_seeding
            && self.picker.is_complete()
    }

    /// Whether the task may park now (see the module's text).
    pub(super) fn may_park(&self, now: Instant) -> bool {
        let Some(after) = self.config.options.park_after else {
            return false;
        };
        self.a_parking_seed()
            && self.peers.is_empty()
            && self.dialer.connecting() == 0
            && !self.schedule.in_flight()
            && now.duration_since(self.last_peer_at) >= after
    }

    /// When a parked task has something to do: its next announce, DHT lookup or dial.
    pub(super) fn wake_at(&self) -> Instant {
        let announce = self.announcer.as_ref().map(|_| self.schedule.next_at());
        let dht = self.config.dht.as_ref().map(|_| self.dht_due);
        [announce, dht, self.dialer.next_due()]
            .into_iter()
            .flatten()
            .min()
            // Nothing due, ever: a day is as good as forever, and bounds the sleep.
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }
}
