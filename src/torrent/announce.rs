//! When to announce and which event to send (BEP 3): `started` first, `completed` as soon as the
//! download is verified, then plain announces on the tracker's interval, `stopped` on the way
//! out. Failures back off 15·2ⁿ s up to 5 minutes. Pure: the torrent task runs the announces
//! and reports their outcome here.

use crate::tracker::AnnounceEvent;
use std::time::{Duration, Instant};

/// While downloading with no peer, ask the tracker again at least this often.
pub const SHORT_OF_PEERS_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest wait between announces whatever the tracker says (an `interval` of 0 would
/// have us announce every second). Kept low: test trackers say 2 s and forget a peer after
/// 2 × interval + 5 s.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// The longest wait after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Schedule {
    next_at: Instant,
    failures: u32,
    started_sent: bool,
    completed_pending: bool,
    in_flight: bool,
}

impl Schedule {
    pub fn new(now: Instant) -> Schedule {
        Schedule {
            next_at: now,
            failures: 0,
            started_sent: false,
            completed_pending: false,
            in_flight: false,
        }
    }

    /// The event to announce now, if one is due and none is under way. The caller must send
    /// it and report with [`Schedule::on_result`].
    pub fn due(&mut self, now: Instant) -> Option<AnnounceEvent> {
        if self.in_flight {
            return None;
        }
        let event = if !self.started_sent {
            AnnounceEvent::Started
        } else if self.completed_pending {
            AnnounceEvent::Completed
        } else {
            AnnounceEvent::None
        };
        if now < self.next_at {
            return None;
        }
        self.in_flight = true;
        Some(event)
    }

    /// A user asked for an announce now (`torrent-reannounce`): due at once, backoff forgotten.
    pub fn ask_now(&mut self, now: Instant) {
        self.next_at = now;
        self.failures = 0;
    }

    /// The download is verified: `completed` is owed to the tracker, and goes out at once
    /// (after `started`, if that has not got through yet).
    pub fn completed(&mut self, now: Instant) {
        self.completed_pending = true;
        if self.failures == 0 {
            self.next_at = self.next_at.min(now);
        }
    }

    /// An announce of `event` came back; `Ok` carries the tracker's interval. `short_of_peers`
    /// (downloading, no peer connected) shortens the wait.
    pub fn on_result(
        &mut self,
        event: AnnounceEvent,
        result: Result<Duration, ()>,
        short_of_peers: bool,
        now: Instant,
    ) {
        self.in_flight = false;
        match result {
            Ok(interval) => {
                let interval = interval.max(MIN_INTERVAL);
                self.failures = 0;
                match event {
                    AnnounceEvent::Started => self.started_sent = true,
                    AnnounceEvent::Completed => self.completed_pending = false,
                    _ => {}
                }
                let wait = if self.completed_pending {
                    // Completed while `started` was under way: owed at once.
                    Duration::ZERO
                } else if short_of_peers {
                    interval.min(SHORT_OF_PEERS_INTERVAL)
                } else {
                    interval
                };
                self.next_at = now + wait;
            }
            Err(()) => {
                self.failures += 1;
                self.next_at = now + self.backoff();
            }
        }
    }

    /// The wait after the failures so far.
    fn backoff(&self) -> Duration {
        Duration::from_secs(15u64 << self.failures.min(5)).min(MAX_BACKOFF)
    }

    /// The first failure of a run (worth a warning; the ones after it are not).
    pub fn first_failure(&self) -> bool {
        self.failures == 1
    }

    /// When the next announce is due (once none is under way).
    pub fn next_at(&self) -> Instant {
        self.next_at
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// What to tell the tracker on the way out: nothing if it never heard of us, else
    /// `completed` if still owed, then `stopped`.
    pub fn farewell(&self) -> Vec<AnnounceEvent> {
        match (self.started_sent, self.completed_pending) {
            (false, _) => vec![],
            (true, true) => vec![AnnounceEvent::Completed, AnnounceEvent::Stopped],
            (true, false) => vec![AnnounceEvent::Stopped],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnnounceEvent::{Completed, Started, Stopped};

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn started_then_plain_announces_on_the_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0);
        assert_eq!(s.due(t0), Some(Started));
        assert_eq!(s.due(t0), None, "one announce at a time");
        s.on_result(Started, Ok(60 * S), false, t0);
        assert_eq!(s.due(t0 + 59 * S), None);
        assert_eq!(s.due(t0 + 60 * S), Some(AnnounceEvent::None));
        s.on_result(AnnounceEvent::None, Ok(60 * S), true, t0 + 60 * S);
        assert_eq!(s.due(t0 + 69 * S), None);
        assert_eq!(
            s.due(t0 + 70 * S),
            Some(AnnounceEvent::None),
            "short of peers: 10 s"
        );
        // A tracker saying 0 is not announced to every second.
        s.on_result(AnnounceEvent::None, Ok(Duration::ZERO), false, t0 + 70 * S);
        assert_eq!(s.due(t0 + 74 * S), None);
        assert_eq!(s.due(t0 + 75 * S), Some(AnnounceEvent::None));
    }

    #[test]
    fn failures_back_off_up_to_five_minutes_and_success_resets() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let event = s.due(now).expect("due");
            assert_eq!(event, Started, "started until it gets through");
            s.on_result(event, Err(()), false, now);
            let next = (1..=400)
                .map(|i| now + i * S)
                .find(|&t| s.clone().due(t).is_some())
                .unwrap();
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, vec![30, 60, 120, 240, 300, 300, 300]);
        assert!(!s.first_failure());
        s.due(now);
        s.on_result(Started, Ok(100 * S), false, now);
        assert_eq!(s.due(now + 99 * S), None);
        assert_eq!(s.due(now + 100 * S), Some(AnnounceEvent::None));
        s.on_result(AnnounceEvent::None, Err(()), false, now + 100 * S);
        assert!(s.first_failure(), "the count starts again after a success");
    }

    #[test]
    fn completed_goes_out_at_once_and_farewell_says_what_is_owed() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0);
        assert!(s.farewell().is_empty(), "the tracker never heard of us");
        s.due(t0);
        s.on_result(Started, Ok(1800 * S), false, t0);
        s.completed(t0 + S);
        assert_eq!(s.farewell(), vec![Completed, Stopped]);
        assert_eq!(
            s.due(t0 + S),
            Some(Completed),
            "not at the next interval: at once"
        );
        s.on_result(Completed, Err(()), false, t0 + S);
        assert_eq!(s.due(t0 + 2 * S), None, "a failing tracker is not hammered");
        assert_eq!(
            s.due(t0 + 31 * S),
            Some(Completed),
            "still owed after the backoff"
        );
        s.on_result(Completed, Ok(1800 * S), false, t0 + 31 * S);
        assert_eq!(s.farewell(), vec![Stopped]);
        assert_eq!(s.due(t0 + 32 * S), None);
    }

    #[test]
    fn completed_while_started_is_under_way_follows_it_at_once() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0);
        assert_eq!(s.due(t0), Some(Started));
        s.completed(t0);
        assert_eq!(s.due(t0), None, "one at a time");
        s.on_result(Started, Ok(1800 * S), false, t0 + S);
        assert_eq!(s.due(t0 + S), Some(Completed));
    }

    #[test]
    fn asked_to_announce_now_it_is_due_at_once_even_after_failures() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0);
        assert_eq!(s.due(t0), Some(AnnounceEvent::Started));
        s.on_result(
            AnnounceEvent::Started,
            Ok(Duration::from_secs(1800)),
            false,
            t0,
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!(s.due(later), None);
        s.ask_now(later);
        assert_eq!(s.due(later), Some(AnnounceEvent::None));
        s.on_result(AnnounceEvent::None, Err(()), false, later);
        assert_eq!(s.due(later + Duration::from_secs(1)), None, "backing off");
        s.ask_now(later + Duration::from_secs(1));
        assert!(s.due(later + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn a_first_announce_put_off_waits_its_turn() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0 + Duration::from_millis(30));
        assert_eq!(s.due(t0), None);
        assert_eq!(
            s.due(t0 + Duration::from_millis(30)),
            Some(AnnounceEvent::Started)
        );
    }
}
