//! A connection's state for fuzzing, tests and trace logs.

use super::{Conn, RECV_WINDOW, SEND_BUFFER, Sent};

impl Conn {
    /// Panics if the counts kept as packets change state disagree with the packets, or the
    /// receive side holds more than its window (for fuzzing and tests).
    pub fn check_invariants(&self) {
        let flight: usize = self
            .flight
            .iter()
            .filter(|p| !p.lost && !p.sacked)
            .map(Sent::size)
            .sum();
        assert_eq!(flight, self.flight_bytes, "bytes in flight");
        let lost = self.flight.iter().filter(|p| p.lost).count();
        assert_eq!(lost, self.lost_count, "packets to send again");
        assert!(self.readable.len() + self.out_of_order_bytes <= RECV_WINDOW);
        assert!(self.unsent.len() <= SEND_BUFFER);
        assert!(self.out_of_order.len() <= 64);
    }

    /// The state in one line, for trace logs.
    pub fn describe(&self) -> String {
        let lost = self.lost_count;
        let sacked = self.flight.iter().filter(|p| p.sacked).count();
        let front = self
            .flight
            .front()
            .map(|p| {
                format!(
                    "front {} (sent {}x, lost {}, sacked {}) ",
                    p.seq, p.transmissions, p.lost, p.sacked
                )
            })
            .unwrap_or_default();
        format!(
            "{front}last ack {} seq_nr {} {:?} cwnd {} queue {}us peer window {} flight {} ({} bytes, {lost} lost, {sacked} sacked) unsent {} rto {:?} timeouts {} resent {} readable {} ooo {}",
            self.last_ack,
            self.seq_nr,
            self.state,
            self.cc.window(),
            self.cc.queueing_delay(),
            self.peer_window,
            self.flight.len(),
            self.flight_bytes,
            self.unsent.len(),
            self.rto,
            self.timeouts,
            self.resent,
            self.readable.len(),
            self.out_of_order.len()
        )
    }
}
