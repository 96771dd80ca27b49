//! One uTP connection (BEP 29) as a state machine without sockets or clocks of its own: packets
//! in ([`Conn::on_packet`]), datagrams out ([`Conn::transmit`]), bytes in and out for the
//! stream above ([`Conn::write`], [`Conn::read`]), and time passed in ([`Conn::on_tick`]).
//!
//! - Sequence and ack numbers are 16 bits and wrap; a packet is in flight until acked, by the
//!   ack number or a selective ack, and is sent again after three duplicate acks, three later
//!   packets selectively acked, or a retransmission timeout (RFC 6298's estimator, at least
//!   500 ms, doubling on each timeout; the connection fails after [`MAX_RETRIES`]).
//! - Sending is bounded by LEDBAT's window and the peer's advertised one; packets carry at
//!   most [`PAYLOAD`] bytes (see its note), or more where the path and the peer allow it
//!   ([`Conn::set_path_mtu`]).
//! - Receiving is bounded by [`RECV_WINDOW`], read and unread, in order and out of order: what
//!   we advertise is what is left of it, and packets past it are dropped.

use super::ledbat::Ledbat;
use super::packet::{HEADER_LEN, Header, ST_DATA, ST_FIN, ST_RESET, ST_STATE, ST_SYN, before};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// Payload bytes a packet carries on a path no wider than Ethernet's, or to a peer that did
/// not say it reads longer datagrams. A fixed size, not probed: 1400 bytes of payload, 20 of
/// header, up to 14 of extensions, 8 of UDP and 40 of IPv6 (or 20 of IPv4) fit a 1500-byte
/// Ethernet MTU with room for a PPPoE or VPN header, so no packet is fragmented on the common
/// paths, at a cost of under 4 % against probing up to 1500. Past Ethernet (loopback, jumbo
/// frames) packets grow to the MTU the kernel knows for the route, for a peer that reads
/// them whole (see [`Conn::set_path_mtu`]).
pub const PAYLOAD: usize = 1400;
/// The longest datagram we read whole, as we tell peers (the driver's buffer).
pub const MAX_DATAGRAM: usize = 65535;

/// Bytes a connection buffers for the reader: unread in-order data and packets that came out
/// of order, together. What is left of it is the window we advertise.
pub const RECV_WINDOW: usize = 1 << 20;
/// Bytes the writer may queue beyond those in flight.
pub const SEND_BUFFER: usize = 1 << 20;
/// Retransmission timeouts in a row before the connection is given up.
pub const MAX_RETRIES: u32 = 6;
/// A SYN is sent this many times (1 s, then 2 s apart) before the connect fails, so that a
/// dialer falls back to TCP within a few seconds.
pub const SYN_TRIES: u32 = 2;
const MIN_RTO: Duration = Duration::from_millis(500);
const INITIAL_RTO: Duration = Duration::from_secs(1);
/// A connection with nothing sent or received for this long sends an ack: NAT mappings stay
/// open, and a peer that lost the connection (a process restarted on the same port) answers
/// it with a RESET, as a restarted host answers TCP — the dead connection ends in seconds,
/// not when something is next sent.
pub const KEEPALIVE: Duration = Duration::from_secs(10);
/// After our FIN is acked, how long we wait for the peer's.
const FIN_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SynSent,
    Connected,
    Closed,
}

#[derive(Debug)]
struct Sent {
    seq: u16,
    kind: u8,
    payload: Vec<u8>,
    sent_at: Instant,
    transmissions: u32,
    /// Selectively acked: arrived, but not yet covered by the ack number.
    sacked: bool,
    /// Deemed lost: to be sent again (and not counted in flight until it is).
    lost: bool,
    /// The window was in use when it went out.
    window_full: bool,
}

impl Sent {
    fn size(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

#[derive(Debug)]
pub struct Conn {
    state: State,
    error: Option<ErrorKind>,
    recv_id: u16,
    send_id: u16,
    /// The sequence number of our next DATA, FIN or SYN.
    seq_nr: u16,
    /// The last packet of the peer's we have in order.
    ack_nr: u16,
    epoch: Instant,
    /// Our clock less the timestamp of the peer's last packet (what our packets report back).
    reply_micro: u32,
    // Sending.
    flight: VecDeque<Sent>,
    /// Bytes of the packets in flight (sent, neither acked nor deemed lost), and how many
    /// packets wait to be sent again: kept as they change, not counted per packet sent.
    flight_bytes: usize,
    lost_count: usize,
    unsent: VecDeque<u8>,
    cc: Ledbat,
    peer_window: usize,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    timeouts: u32,
    dup_acks: u32,
    last_ack: u16,
    /// No second halving until the ack passes this (one per window of losses).
    recovering_until: Option<u16>,
    closing: bool,
    fin_acked_at: Option<Instant>,
    last_sent: Instant,
    last_received: Instant,
    // Receiving.
    readable: VecDeque<u8>,
    out_of_order: HashMap<u16, (u8, Vec<u8>)>,
    out_of_order_bytes: usize,
    fin_seq: Option<u16>,
    eof: bool,
    ack_due: bool,
    /// Packets sent again, for tests and trace logs.
    pub resent: u64,
    // Packet size.
    /// Payload bytes a new packet carries at most.
    payload: usize,
    /// The MTU the kernel knows for the path, and the header bytes of the IP version.
    path_mtu: Option<(usize, usize)>,
    /// The longest datagram the peer reads whole, if it said.
    peer_datagram: Option<usize>,
    /// For the acceptor, the peer's SYN: our packets carry our datagram size until the peer
    /// is heard past it.
    syn_seq: Option<u16>,
}

impl Conn {
    fn new(recv_id: u16, send_id: u16, seq_nr: u16, now: Instant) -> Conn {
        Conn {
            state: State::SynSent,
            error: None,
            recv_id,
            send_id,
            seq_nr,
            ack_nr: 0,
            epoch: now,
            reply_micro: 0,
            flight: VecDeque::new(),
            flight_bytes: 0,
            lost_count: 0,
            unsent: VecDeque::new(),
            cc: Ledbat::new(PAYLOAD + HEADER_LEN),
            peer_window: PAYLOAD,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: INITIAL_RTO,
            timeouts: 0,
            dup_acks: 0,
            last_ack: 0,
            recovering_until: None,
            closing: false,
            fin_acked_at: None,
            last_sent: now,
            last_received: now,
            readable: VecDeque::new(),
            out_of_order: HashMap::new(),
            out_of_order_bytes: 0,
            fin_seq: None,
            eof: false,
            ack_due: false,
            resent: 0,
            payload: PAYLOAD,
            path_mtu: None,
            peer_datagram: None,
            syn_seq: None,
        }
    }

    /// Dials: the SYN goes out with the first [`Conn::transmit`]. `recv_id` and `seq_nr` are
    /// random; the peer answers on `recv_id`, and we send on `recv_id + 1`.
    pub fn connect(recv_id: u16, seq_nr: u16, now: Instant) -> Conn {
        let mut c = Conn::new(recv_id, recv_id.wrapping_add(1), seq_nr, now);
        c.push(ST_SYN, Vec::new(), now);
        c
    }

    /// Answers the SYN `syn`: connected at once (the ack goes out with the first
    /// [`Conn::transmit`]); `seq_nr` is random.
    pub fn accept(syn: &Header, seq_nr: u16, now: Instant) -> Conn {
        let mut c = Conn::new(syn.conn_id.wrapping_add(1), syn.conn_id, seq_nr, now);
        c.state = State::Connected;
        c.ack_nr = syn.seq_nr;
        c.last_ack = seq_nr.wrapping_sub(1);
        c.peer_window = (syn.wnd_size as usize).max(PAYLOAD);
        c.reply_micro = c.micros(now).wrapping_sub(syn.timestamp);
        c.ack_due = true;
        c.syn_seq = Some(syn.seq_nr);
        c.peer_datagram = syn.max_datagram.map(usize::from);
        c.resize();
        c
    }

    fn micros(&self, now: Instant) -> u32 {
        now.duration_since(self.epoch).as_micros() as u32
    }

    /// The id our packets carry (the peer's receive id).
    pub fn send_id(&self) -> u16 {
        self.send_id
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Closed for good: nothing more will be sent or read (unread data aside).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Why it closed, if not cleanly.
    pub fn error(&self) -> Option<ErrorKind> {
        self.error
    }

    /// Data to read, the end of the stream, or an error.
    pub fn readable(&self) -> bool {
        !self.readable.is_empty() || self.eof || self.state == State::Closed
    }

    /// Room to write, or an error to report.
    pub fn writable(&self) -> bool {
        (self.unsent.len() < SEND_BUFFER && self.state == State::Connected)
            || self.state == State::Closed
    }

    /// The peer closed its side and everything before its FIN was read.
    pub fn at_eof(&self) -> bool {
        self.eof && self.readable.is_empty()
    }

    /// Queues what fits of `data` (see [`SEND_BUFFER`]); how much.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.state != State::Connected || self.closing {
            return 0;
        }
        let n = data.len().min(SEND_BUFFER - self.unsent.len());
        self.unsent.extend(&data[..n]);
        n
    }

    /// Takes in-order data into `buf`; how much.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let before = self.window();
        let n = buf.len().min(self.readable.len());
        take_front(&mut self.readable, &mut buf[..n]);
        // A window that was too small to send into has opened: say so.
        if before < self.payload && self.window() >= self.payload {
            self.ack_due = true;
        }
        n
    }

    /// Sends a FIN once everything queued has gone out.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Gives up at once: the peer is sent a RESET.
    pub fn reset(&mut self, now: Instant) -> Vec<u8> {
        self.state = State::Closed;
        self.error.get_or_insert(ErrorKind::ConnectionAborted);
        self.header(ST_RESET, self.seq_nr, now).encode(&[])
    }

    /// What is left of the receive buffer: the window we advertise.
    fn window(&self) -> usize {
        RECV_WINDOW.saturating_sub(self.readable.len() + self.out_of_order_bytes)
    }

    /// Deems the packet at `i` lost: out of the flight, to be sent again.
    fn mark_lost(&mut self, i: usize) {
        let p = &mut self.flight[i];
        if !p.lost && !p.sacked {
            p.lost = true;
            self.flight_bytes -= p.size();
            self.lost_count += 1;
        }
    }

    fn send_window(&self) -> usize {
        self.cc.window().min(self.peer_window)
    }

    fn push(&mut self, kind: u8, payload: Vec<u8>, now: Instant) {
        let seq = self.seq_nr;
        self.seq_nr = self.seq_nr.wrapping_add(1);
        self.flight.push_back(Sent {
            seq,
            kind,
            payload,
            sent_at: now,
            transmissions: 0,
            sacked: false,
            lost: true,
            window_full: false,
        });
        self.lost_count += 1;
    }

    fn header(&self, kind: u8, seq_nr: u16, now: Instant) -> Header {
        Header {
            kind,
            conn_id: if kind == ST_SYN {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp: self.micros(now),
            timestamp_diff: self.reply_micro,
            wnd_size: self.window() as u32,
            seq_nr,
            ack_nr: self.ack_nr,
            sack: self.sack(),
            max_datagram: (kind == ST_SYN || self.syn_seq == Some(self.ack_nr))
                .then_some(MAX_DATAGRAM as u16),
        }
    }

    /// The selective ack of what came out of order past `ack_nr + 1` (up to 64 packets).
    fn sack(&self) -> Option<Vec<u8>> {
        if self.out_of_order.is_empty() {
            return None;
        }
        let mut bits = vec![0u8; 8];
        let mut any = false;
        for i in 0..64u16 {
            let seq = self.ack_nr.wrapping_add(2 + i);
            if self.out_of_order.contains_key(&seq) {
                bits[i as usize / 8] |= 1 << (i % 8);
                any = true;
            }
        }
        any.then_some(bits)
    }

    /// The next datagram to send now, if any: a resend, new data within the window, a FIN, or
    /// an ack that is due.
    pub fn transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.state == State::Closed {
            let ack_again = self.ack_due && self.error.is_none();
            self.ack_due = false;
            return ack_again.then(|| self.header(ST_STATE, self.seq_nr, now).encode(&[]));
        }
        let window = self.send_window();
        let flight = self.flight_bytes;
        // A lost packet goes again first (the oldest always, others as the window allows).
        let lost = (self.lost_count > 0)
            .then(|| self.flight.iter().position(|p| p.lost))
            .flatten();
        if let Some(i) = lost
            && (flight == 0 || flight + self.flight[i].size() <= window)
        {
            return Some(self.send_again(i, now, window, flight));
        }
        if self.state == State::Connected && self.peer_window > 0 {
            let size = self.unsent.len().min(self.payload);
            if size > 0 && (flight == 0 || flight + HEADER_LEN + size <= window) {
                let mut payload = vec![0; size];
                take_front(&mut self.unsent, &mut payload);
                self.push(ST_DATA, payload, now);
                let i = self.flight.len() - 1;
                return Some(self.send_again(i, now, window, flight));
            }
            let fin_sent =
                self.flight.iter().any(|p| p.kind == ST_FIN) || self.fin_acked_at.is_some();
            if self.closing && self.unsent.is_empty() && !fin_sent {
                self.push(ST_FIN, Vec::new(), now);
                let i = self.flight.len() - 1;
                return Some(self.send_again(i, now, window, flight));
            }
        }
        if self.ack_due && self.state == State::Connected {
            self.ack_due = false;
            self.last_sent = now;
            return Some(self.header(ST_STATE, self.seq_nr, now).encode(&[]));
        }
        if self.finished(now) {
            self.state = State::Closed;
        }
        None
    }

    fn send_again(&mut self, i: usize, now: Instant, window: usize, flight: usize) -> Vec<u8> {
        let header = {
            let p = &self.flight[i];
            self.header(p.kind, p.seq, now)
        };
        let p = &mut self.flight[i];
        if p.transmissions > 0 {
            self.resent += 1;
        }
        p.transmissions += 1;
        p.sent_at = now;
        if p.lost {
            p.lost = false;
            self.lost_count -= 1;
            self.flight_bytes += p.size();
        }
        p.window_full = flight + p.size() + self.payload >= window;
        let bytes = header.encode(&p.payload);
        self.ack_due = false;
        self.last_sent = now;
        bytes
    }

    /// A packet for this connection: its header and payload.
    pub fn on_packet(&mut self, h: &Header, payload: &[u8], now: Instant) {
        if self.state == State::Closed {
            // Closed cleanly, the peer may not have heard our last ack of its FIN.
            if self.error.is_none() && h.kind == ST_FIN {
                self.ack_due = true;
            }
            return;
        }
        self.reply_micro = self.micros(now).wrapping_sub(h.timestamp);
        self.last_received = now;
        if let Some(size) = h.max_datagram
            && self.peer_datagram.is_none()
        {
            self.peer_datagram = Some(size.into());
            self.resize();
        }
        if h.kind == ST_RESET {
            self.state = State::Closed;
            self.error = Some(ErrorKind::ConnectionReset);
            return;
        }
        if self.state == State::SynSent {
            let syn_acked = self
                .flight
                .front()
                .is_some_and(|p| p.kind == ST_SYN && p.seq == h.ack_nr);
            // The acceptor's first packet (its ack, or data that carries the ack) connects us.
            if h.kind == ST_SYN || !syn_acked {
                return;
            }
            self.state = State::Connected;
            self.ack_nr = h.seq_nr.wrapping_sub(1);
        }
        if h.kind == ST_SYN {
            // The peer did not hear our answer: it goes again.
            self.ack_due = true;
            return;
        }
        self.peer_window = h.wnd_size as usize;
        if h.timestamp_diff != 0 {
            self.cc.delay_sample(h.timestamp_diff, now);
        }
        self.on_ack(h, payload.is_empty() && h.kind == ST_STATE, now);
        if h.kind == ST_DATA || h.kind == ST_FIN {
            self.on_data(h.kind, h.seq_nr, payload);
        }
    }

    /// Both FINs are acked, ours by the peer and the peer's by us (our last ack sent), or the
    /// peer's never came.
    fn finished(&self, now: Instant) -> bool {
        self.fin_acked_at
            .is_some_and(|at| (self.eof && !self.ack_due) || now.duration_since(at) > FIN_WAIT)
    }

    fn on_ack(&mut self, h: &Header, pure_ack: bool, now: Instant) {
        let mut acked_bytes = 0;
        let mut window_full = false;
        // Everything up to the ack number.
        while let Some(p) = self.flight.front() {
            if before(h.ack_nr, p.seq) {
                break;
            }
            let p = self.flight.pop_front().expect("front exists");
            if p.lost {
                self.lost_count -= 1;
            } else if !p.sacked {
                self.flight_bytes -= p.size();
            }
            if p.transmissions == 1 && !p.sacked {
                self.rtt_sample(now.duration_since(p.sent_at));
            }
            if !p.sacked {
                acked_bytes += p.size();
            }
            window_full |= p.window_full;
            if p.kind == ST_FIN {
                self.fin_acked_at = Some(now);
            }
        }
        if acked_bytes > 0 {
            self.timeouts = 0;
            self.dup_acks = 0;
        } else if pure_ack && h.ack_nr == self.last_ack && !self.flight.is_empty() {
            self.dup_acks += 1;
        }
        self.last_ack = h.ack_nr;
        if let Some(r) = self.recovering_until
            && !before(h.ack_nr, r)
        {
            self.recovering_until = None;
        }
        // Selective acks: what arrived past a gap (the flight holds consecutive sequence
        // numbers from its front, so each bit names one place in it).
        let mut lost_found = false;
        if let (Some(bits), Some(front)) = (&h.sack, self.flight.front().map(|p| p.seq)) {
            for i in 0..bits.len() * 8 {
                if bits[i / 8] & (1 << (i % 8)) == 0 {
                    continue;
                }
                let seq = h.ack_nr.wrapping_add(2).wrapping_add(i as u16);
                let at = seq.wrapping_sub(front) as usize;
                let Some(p) = self
                    .flight
                    .get_mut(at)
                    .filter(|p| p.seq == seq && !p.sacked)
                else {
                    continue;
                };
                if p.transmissions == 1 {
                    // A sample, as from an ack.
                    acked_bytes += p.size();
                }
                if p.lost {
                    p.lost = false;
                    self.lost_count -= 1;
                } else {
                    self.flight_bytes -= p.size();
                }
                p.sacked = true;
                window_full |= p.window_full;
            }
            // A packet sent once with three selectively acked after it is lost (each hole,
            // not only the first: a burst dropped at a full queue is sent again at once).
            let mut later = 0;
            for i in (0..self.flight.len()).rev() {
                let p = &self.flight[i];
                if p.sacked {
                    later += 1;
                } else if later >= 3 && !p.lost && p.transmissions == 1 {
                    self.mark_lost(i);
                    lost_found = true;
                }
            }
        }
        if acked_bytes > 0 {
            self.cc.on_ack(acked_bytes, window_full);
        }
        // Three duplicate acks: the first packet is lost.
        if self.dup_acks >= 3
            && let Some(first) = self.flight.front()
            && !first.sacked
            && !first.lost
            && first.transmissions > 0
        {
            self.mark_lost(0);
            self.dup_acks = 0;
            lost_found = true;
        }
        if lost_found && self.recovering_until.is_none() {
            self.cc.on_loss();
            self.recovering_until = Some(self.seq_nr);
        }
    }

    fn rtt_sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.expect("set above");
        self.rto = (srtt + self.rttvar * 4).max(MIN_RTO);
    }

    fn on_data(&mut self, kind: u8, seq: u16, payload: &[u8]) {
        self.ack_due = true;
        let next = self.ack_nr.wrapping_add(1);
        if before(seq, next) || self.fin_seq.is_some_and(|f| before(f, seq)) {
            return; // a duplicate, or past the end
        }
        if seq != next {
            // Out of order: kept while it fits the window, within 64 packets of the gap.
            let distance = seq.wrapping_sub(next) as usize;
            if distance < 64
                && !self.out_of_order.contains_key(&seq)
                && payload.len() <= self.window()
            {
                self.out_of_order_bytes += payload.len();
                self.out_of_order.insert(seq, (kind, payload.to_vec()));
            }
            return;
        }
        if payload.len() > self.window() {
            return; // past our window: the peer sends it again
        }
        self.deliver(kind, seq, payload);
        loop {
            let next = self.ack_nr.wrapping_add(1);
            let Some((kind, data)) = self.out_of_order.remove(&next) else {
                break;
            };
            self.out_of_order_bytes -= data.len();
            self.deliver(kind, next, &data);
        }
    }

    fn deliver(&mut self, kind: u8, seq: u16, payload: &[u8]) {
        self.ack_nr = seq;
        self.readable.extend(payload);
        if kind == ST_FIN {
            self.fin_seq = Some(seq);
            self.eof = true;
            self.out_of_order.clear();
            self.out_of_order_bytes = 0;
        }
    }

    /// Timers: a retransmission timeout, a keep-alive, the wait for the peer's FIN.
    pub fn on_tick(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.finished(now) {
            self.state = State::Closed;
            return;
        }
        if self.rto_deadline().is_some_and(|at| now >= at) {
            self.timeouts += 1;
            let limit = if self.state == State::SynSent {
                SYN_TRIES
            } else {
                MAX_RETRIES
            };
            if self.timeouts >= limit {
                self.state = State::Closed;
                self.error = Some(ErrorKind::TimedOut);
                return;
            }
            self.rto = (self.rto * 2).min(Duration::from_secs(60));
            self.cc.on_timeout();
            for i in 0..self.flight.len() {
                self.mark_lost(i);
            }
        }
        if self.state == State::Connected && now >= self.idle_since() + KEEPALIVE {
            self.ack_due = true;
        }
    }

    /// When the connection last sent or heard anything.
    fn idle_since(&self) -> Instant {
        self.last_sent.max(self.last_received)
    }

    /// When the oldest packet in flight times out, if one is.
    fn rto_deadline(&self) -> Option<Instant> {
        self.flight
            .iter()
            .filter(|p| !p.lost && !p.sacked)
            .map(|p| p.sent_at + self.rto)
            .min()
    }

    /// When [`Conn::on_tick`] next has something to do.
    pub fn deadline(&self) -> Instant {
        let rto = self.rto_deadline();
        let keepalive = self.idle_since() + KEEPALIVE;
        let fin = self.fin_acked_at.map(|at| at + FIN_WAIT);
        [rto, Some(keepalive), fin]
            .into_iter()
            .flatten()
            .min()
            .expect("keepalive")
    }
}

/// Moves the first `out.len()` bytes of `queue` into `out` (slice by slice, not byte by byte).
fn take_front(queue: &mut VecDeque<u8>, out: &mut [u8]) {
    let (a, b) = queue.as_slices();
    let first = out.len().min(a.len());
    out[..first].copy_from_slice(&a[..first]);
    let rest = out.len() - first;
    out[first..].copy_from_slice(&b[..rest]);
    queue.drain(..out.len());
}

mod inspect;
mod path;
#[cfg(test)]
mod tests;
