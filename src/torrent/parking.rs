//! A daemon's idle seeds park. A complete torrent that keeps seeding, with no peer, no dial
//! and no announce under way, and nothing asked of it for [`Options::park_after`], ends its
//! task and hands its owner a [`Parked`]: what it knows of its swarm (the announce schedule
//! and trackers, the peers to dial, the bans) and when it has something to do next. Nothing
//! else of it stays: no task, no queue, no loop. Its owner keeps the [`Parked`] and starts
//! the torrent again, with it, when a peer connects, peers are found, a request needs it, or
//! its next announce, DHT lookup or dial is due: the new task goes on where the last one
//! stopped (a woken seed does not announce `started` again).
//!
//! [`Options::park_after`]: super::Options::park_after

use super::announce::Schedule;
use super::ban::Bans;
use super::peers::Dialer;
use super::{Event, Flow, PeerTraffic, Task};
use crate::Result;
use crate::runtime;
use crate::tracker::client::Announcer;
use async_std::channel::{Receiver, Sender};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often a running torrent ticks.
const TICK: Duration = Duration::from_secs(1);

/// How a torrent's task ended.
pub enum End {
    /// Asked to, complete without seeding, or failing.
    Done(Result<()>),
    /// Idle: its owner keeps this, and starts it again with it (see the module's text).
    Parked(Box<Parked>),
}

/// What a parked torrent keeps of its task.
pub struct Parked {
    announcer: Option<Announcer>,
    schedule: Schedule,
    /// These three held on the heap only when not empty (a new task starts with them
    /// empty): a daemon keeps thousands of these.
    dialer: Option<Box<Dialer>>,
    bans: Option<Box<Bans>>,
    plaintext_peers: Box<[SocketAddr]>,
    dht_due: Instant,
    /// When it has something to do: its next announce, DHT lookup or dial.
    pub wake_at: Instant,
    /// Its task's own queue, until its owner has stopped routing to it and [settled] it.
    ///
    /// [settled]: Parked::settle
    queue: Option<Receiver<Event>>,
    /// Events for the task that starts again, first to last.
    pending: Vec<Event>,
}

impl Parked {
    /// Takes what reached the task as it parked, to be handled when it starts again; whether
    /// there is any (then it should start at once). Asked for its peers, a parked torrent
    /// answers at once: none.
    pub fn settle(&mut self) -> bool {
        if let Some(queue) = self.queue.take() {
            while let Ok(e) = queue.try_recv() {
                match e {
                    Event::Peers(reply) => {
                        let _ = reply.try_send(Vec::new());
                    }
                    e => self.pending.push(e),
                }
            }
        }
        !self.pending.is_empty()
    }

    /// An event for the task that starts again.
    pub fn push(&mut self, event: Event) {
        self.pending.push(event);
    }

    /// The events for the task that starts again, taken.
    pub(super) fn take_pending(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }
}

/// Runs the torrent until it ends or parks. A seed that may park at its start (`peers` not
/// made yet) parks at once, without running, when nothing is queued for it and nothing due.
pub(super) async fn run(
    mut task: Box<Task>,
    ctrl: Receiver<Event>,
    peers: Option<Receiver<PeerTraffic>>,
    woken: bool,
) -> End {
    let first = ctrl.try_recv().ok();
    let peers = match peers {
        Some(peers) => peers,
        None if first.is_none() && task.wake_at() > Instant::now() => return park(task, ctrl),
        None => {
            let (tx, peers) = async_std::channel::bounded(super::PEER_QUEUE);
            task.events = tx;
            peers
        }
    };
    if woken {
        log::debug!(
            "{}: woken by {}",
            crate::escape::untrusted(&task.meta.info.name, 80),
            first
                .as_ref()
                .map_or("its next announce, lookup or dial", why)
        );
    }
    match running(&mut task, &ctrl, peers, first).await {
        Some(outcome) => {
            task.hand_back_pieces();
            End::Done(outcome)
        }
        None => park(task, ctrl),
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

/// What a task that parks holds in place of its peer queue: one closed queue for all of them.
pub(super) fn closed_peer_queue() -> Sender<PeerTraffic> {
    static CLOSED: OnceLock<Sender<PeerTraffic>> = OnceLock::new();
    CLOSED
        .get_or_init(|| async_std::channel::bounded(1).0)
        .clone()
}

/// Ends the task, parked: what its owner keeps of it.
pub(super) fn park(task: Box<Task>, ctrl: Receiver<Event>) -> End {
    log::debug!(
        "{}: parked",
        crate::escape::untrusted(&task.meta.info.name, 80)
    );
    task.hand_back_pieces();
    let wake_at = task.wake_at();
    let Task {
        announcer,
        schedule,
        dialer,
        bans,
        plaintext_peers,
        dht_due,
        ..
    } = *task;
    End::Parked(Box::new(Parked {
        announcer,
        schedule,
        dialer: (!dialer.knows_none()).then(|| Box::new(dialer)),
        bans: (!bans.is_clear()).then(|| Box::new(bans)),
        plaintext_peers: plaintext_peers.into_iter().collect(),
        dht_due,
        wake_at,
        queue: Some(ctrl),
        pending: Vec::new(),
    }))
}

/// The task's loop, ticking every second on the shared instants, until it ends (`Some`) or
/// parks (`None`). `first` is the event that woke it.
async fn running(
    task: &mut Task,
    ctrl: &Receiver<Event>,
    peers: Receiver<PeerTraffic>,
    first: Option<Event>,
) -> Option<Result<()>> {
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
            Ok(Flow::Park) => return None,
            Ok(Flow::End) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    task.shutdown(ctrl).await;
    Some(outcome)
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

    /// Goes on where a parked task stopped.
    pub(super) fn resume_from(&mut self, parked: Parked) {
        let Parked {
            announcer,
            schedule,
            dialer,
            bans,
            plaintext_peers,
            dht_due,
            ..
        } = parked;
        (self.announcer, self.schedule) = (announcer, schedule);
        if let Some(dialer) = dialer {
            self.dialer = *dialer;
        }
        self.bans = bans.map(|b| *b).unwrap_or_default();
        self.plaintext_peers = plaintext_peers.into_vec().into_iter().collect();
        self.dht_due = dht_due;
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
