//! LEDBAT congestion control (RFC 6817, as BEP 29 applies it to uTP): the sender keeps the
//! queue it builds on the path near a target delay. Every packet from the peer carries the
//! one-way delay of our last packet as the peer saw it (its clock less ours, so offset by the
//! difference of the clocks); the lowest such value over the last minutes is the path's base
//! delay, and what lies above it is queueing. Below the target the window grows, above it
//! shrinks, in proportion to the distance (and to the window, as LEDBAT++ has it) — so a TCP
//! flow sharing the bottleneck, which fills queues, makes uTP yield to it. Sans-IO: the clock
//! is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Queueing delay LEDBAT aims at (BEP 29 and RFC 6817: 100 ms).
pub const TARGET_US: u32 = 100_000;
/// Window growth per round trip at zero queueing delay, in bytes (BEP 29's
/// `MAX_CWND_INCREASE_BYTES_PER_RTT`).
const GAIN_BYTES: f64 = 3000.0;
/// Minutes of base-delay history (RFC 6817's `BASE_HISTORY`).
const BASE_HISTORY: usize = 10;
/// Recent samples whose lowest is the current delay (RFC 6817's `CURRENT_FILTER`): one late
/// packet is not taken for a queue.
const CURRENT_FILTER: usize = 4;
/// Queueing delay below which no queue is taken to have built (a quarter of the target): a
/// loss then is the link's, and a window below [`Ledbat`]'s last good one regrows fast.
const NO_QUEUE_US: u32 = TARGET_US / 4;
/// What a loss leaves of the window when there was no queue to overflow (below
/// [`NO_QUEUE_US`]): a random loss costs an eighth, not half, so that a lossy link is not left
/// mostly idle (at 1 % loss, halving holds the window near 20 packets whatever the link).
pub const NOISE_BACKOFF: f64 = 0.875;
/// The window never grows past this (a connection's memory is bounded anyway).
pub const MAX_WINDOW: usize = 4 << 20;

#[derive(Debug)]
pub struct Ledbat {
    mss: usize,
    cwnd: f64,
    slow_start: bool,
    /// Where slow start after a timeout stops.
    ssthresh: f64,
    /// The largest window that kept the queue within target since the last loss: after a
    /// flow that filled the queue leaves (the queue is gone), the window goes back to it in
    /// slow start's steps rather than BEP 29's few thousand bytes a round trip.
    good: f64,
    /// The lowest delay of each of the last minutes, newest last, and when the newest began.
    base: VecDeque<u32>,
    minute_began: Option<Instant>,
    recent: VecDeque<u32>,
}

/// `a` is below `b` where both are wrapping microsecond values close to each other.
fn below(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Ledbat {
    /// Starts with a window of 2 packets of `mss` bytes, in slow start.
    pub fn new(mss: usize) -> Ledbat {
        Ledbat {
            mss,
            cwnd: 2.0 * mss as f64,
            slow_start: true,
            ssthresh: MAX_WINDOW as f64,
            good: 0.0,
            base: VecDeque::new(),
            minute_began: None,
            recent: VecDeque::new(),
        }
    }

    /// The packet size changed: the window is never below one packet, and a connection
    /// still in slow start starts from two of the new size.
    pub fn set_mss(&mut self, mss: usize) {
        self.mss = mss;
        let floor = if self.slow_start { 2 * mss } else { mss };
        self.cwnd = self.cwnd.max(floor as f64).min(MAX_WINDOW as f64);
    }

    /// Bytes that may be in flight.
    pub fn window(&self) -> usize {
        self.cwnd as usize
    }

    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// A delay sample: the peer's `timestamp_difference` of a packet it sent us.
    pub fn delay_sample(&mut self, their_delay: u32, now: Instant) {
        let new_minute = self
            .minute_began
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
        if new_minute {
            self.minute_began = Some(now);
            if self.base.len() == BASE_HISTORY {
                self.base.pop_front();
            }
            self.base.push_back(their_delay);
        } else if let Some(last) = self.base.back_mut()
            && below(their_delay, *last)
        {
            *last = their_delay;
        }
        if self.recent.len() == CURRENT_FILTER {
            self.recent.pop_front();
        }
        self.recent.push_back(their_delay);
    }

    /// The queueing delay now: the current delay above the base, in microseconds.
    pub fn queueing_delay(&self) -> u32 {
        let Some(&base) = self.base.iter().min_by(|a, b| {
            if below(**a, **b) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        }) else {
            return 0;
        };
        let current = self
            .recent
            .iter()
            .copied()
            .reduce(|a, b| if below(a, b) { a } else { b })
            .unwrap_or(base);
        let queued = current.wrapping_sub(base);
        if (queued as i32) < 0 { 0 } else { queued }
    }

    /// `acked` bytes newly acknowledged. `window_full`: the window was in use when they were
    /// sent (a sender with nothing to send does not earn a larger window).
    pub fn on_ack(&mut self, acked: usize, window_full: bool) {
        let queued = self.queueing_delay();
        if queued <= TARGET_US {
            self.good = self.good.max(self.cwnd);
        }
        if self.slow_start {
            if queued > TARGET_US || self.cwnd >= self.ssthresh {
                self.slow_start = false;
            } else if window_full {
                self.cwnd = (self.cwnd + acked as f64).min(MAX_WINDOW as f64);
                return;
            }
        }
        if queued < NO_QUEUE_US && self.cwnd < self.good {
            if window_full {
                self.cwnd = (self.cwnd + acked as f64).min(self.good);
            }
            return;
        }
        let off_target = (TARGET_US as f64 - queued as f64) / TARGET_US as f64;
        let window_factor = acked as f64 / self.cwnd.max(self.mss as f64);
        let change = if off_target >= 0.0 {
            // BEP 29: up to GAIN_BYTES a round trip, in proportion to the room below target.
            GAIN_BYTES * off_target * window_factor
        } else {
            // Above target, LEDBAT++'s multiplicative decrease
            // (draft-irtf-iccrg-ledbat-plus-plus): the window shrinks a round trip by its
            // share of the excess over target, at most half, so that a TCP flow filling the
            // queue gets the link within round trips (BEP 29's linear decrease of at most
            // GAIN_BYTES a round trip takes minutes from a large window).
            -(acked as f64) * (-off_target).min(0.5)
        };
        if change < 0.0 || window_full {
            self.cwnd = (self.cwnd + change).clamp(self.mss as f64, MAX_WINDOW as f64);
        }
    }

    /// A packet was lost (found by duplicate or selective acks): the window halves where a
    /// queue has built (the loss is its overflow), and shrinks by [`NOISE_BACKOFF`] where
    /// none has (the loss is the link's, as on a radio link, not congestion).
    pub fn on_loss(&mut self) {
        self.slow_start = false;
        let factor = if self.queueing_delay() < NO_QUEUE_US {
            NOISE_BACKOFF
        } else {
            0.5
        };
        self.cwnd = (self.cwnd * factor).max(self.mss as f64);
        self.good = self.cwnd;
    }

    /// Nothing was acknowledged for a whole retransmission timeout: one packet, then slow start
    /// up to half the old window.
    pub fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2.0).max(2.0 * self.mss as f64);
        self.good = 0.0;
        self.cwnd = self.mss as f64;
        self.slow_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1400;

    /// Acks a window's worth at `delay` µs above a base of 1000, `rounds` times.
    fn rounds(cc: &mut Ledbat, delay: u32, rounds: usize, now: Instant) {
        for _ in 0..rounds {
            let window = cc.window();
            let mut acked = 0;
            while acked < window {
                cc.delay_sample(1000 + delay, now);
                cc.on_ack(MSS, true);
                acked += MSS;
            }
        }
    }

    #[test]
    fn slow_start_doubles_until_the_first_delay_above_target() {
        let now = Instant::now();
        let mut cc = Ledbat::new(MSS);
        cc.delay_sample(1000, now);
        let start = cc.window();
        rounds(&mut cc, 0, 3, now);
        assert!(cc.in_slow_start());
        assert_eq!(cc.window(), start * 8, "doubled each round trip");
        rounds(&mut cc, TARGET_US + 20_000, 1, now);
        assert!(!cc.in_slow_start(), "ended by a sample above target");
    }

    #[test]
    fn the_window_grows_below_target_and_shrinks_above_it() {
        let now = Instant::now();
        let mut cc = Ledbat::new(MSS);
        cc.delay_sample(1000, now);
        cc.on_loss();
        let w0 = cc.window();
        rounds(&mut cc, 0, 10, now);
        let grown = cc.window();
        // About GAIN_BYTES a round trip at zero queueing.
        assert!(grown > w0 + 25_000 && grown < w0 + 35_000, "{w0} → {grown}");
        rounds(&mut cc, 2 * TARGET_US, 10, now);
        assert!(cc.window() < grown - 20_000, "{grown} → {}", cc.window());
        // At the target, it holds.
        let held = cc.window();
        rounds(&mut cc, TARGET_US, 10, now);
        assert!(cc.window().abs_diff(held) < MSS);
    }

    #[test]
    fn never_below_one_packet_and_loss_halves_where_a_queue_built() {
        let now = Instant::now();
        let mut cc = Ledbat::new(MSS);
        cc.delay_sample(1000, now);
        rounds(&mut cc, 0, 4, now);
        // No queue: a loss costs an eighth.
        let w = cc.window();
        cc.on_loss();
        assert_eq!(cc.window(), (w as f64 * NOISE_BACKOFF) as usize);
        // A queue of half the target: the loss is its overflow, and halves the window.
        for _ in 0..CURRENT_FILTER {
            cc.delay_sample(1000 + TARGET_US / 2, now);
        }
        let w = cc.window();
        cc.on_loss();
        assert_eq!(cc.window(), w / 2);
        for _ in 0..40 {
            cc.on_loss();
        }
        assert_eq!(cc.window(), MSS);
        rounds(&mut cc, 10 * TARGET_US, 50, now);
        assert_eq!(cc.window(), MSS, "a full queue still leaves one packet");
        cc.on_timeout();
        assert_eq!(cc.window(), MSS);
        assert!(cc.in_slow_start());
    }

    #[test]
    fn above_target_the_window_yields_within_round_trips_and_comes_back_when_the_queue_goes() {
        let now = Instant::now();
        let mut cc = Ledbat::new(MSS);
        cc.delay_sample(1000, now);
        rounds(&mut cc, 0, 6, now);
        rounds(&mut cc, TARGET_US / 2, 3, now);
        let held = cc.window();
        assert!(!cc.in_slow_start() || held > 50 * MSS);
        // A TCP flow fills the queue, four times the target: the window halves each round
        // trip down to one packet.
        rounds(&mut cc, 4 * TARGET_US, 1, now);
        assert!(cc.window() <= held * 6 / 10, "{held} → {}", cc.window());
        rounds(&mut cc, 4 * TARGET_US, 10, now);
        assert_eq!(cc.window(), MSS);
        // It leaves; the queue drains: back to the window that held the target, doubling.
        rounds(&mut cc, 0, 5, now);
        assert!(cc.window() < held, "not in one round trip");
        rounds(&mut cc, 0, 5, now);
        assert!(cc.window() >= held, "{held} → {}", cc.window());
    }

    #[test]
    fn the_base_is_the_lowest_delay_of_the_last_ten_minutes() {
        let t0 = Instant::now();
        let mut cc = Ledbat::new(MSS);
        // Clocks offset near the wrap: values are compared as differences.
        let offset = u32::MAX - 500;
        cc.delay_sample(offset.wrapping_add(2000), t0);
        cc.delay_sample(offset.wrapping_add(1000), t0);
        for _ in 0..CURRENT_FILTER {
            cc.delay_sample(offset.wrapping_add(51_000), t0);
        }
        assert_eq!(cc.queueing_delay(), 50_000);
        // Eleven minutes on at a higher floor: the old minimum has aged out.
        for m in 1..=11 {
            cc.delay_sample(
                offset.wrapping_add(21_000),
                t0 + Duration::from_secs(60 * m),
            );
        }
        assert_eq!(cc.queueing_delay(), 0);
    }

    #[test]
    fn an_idle_sender_does_not_grow_its_window() {
        let now = Instant::now();
        let mut cc = Ledbat::new(MSS);
        cc.delay_sample(1000, now);
        cc.on_loss();
        let w = cc.window();
        for _ in 0..100 {
            cc.on_ack(MSS, false);
        }
        assert_eq!(cc.window(), w);
    }
}
