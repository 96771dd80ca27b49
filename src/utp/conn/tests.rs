//! Two connections over a simulated link: a clock that steps a millisecond at a time, and a
//! path with delay, loss, reordering, duplication and a bottleneck with a tail-drop queue.

use super::*;
use crate::random::Rng;
use crate::utp::packet::EXTENSIONS_ROOM;

struct Link {
    delay: Duration,
    loss: f64,
    /// Chance that a packet takes 1–20 ms longer than the rest (and so arrives out of order).
    reorder: f64,
    duplicate: f64,
    /// Bytes a second through the bottleneck (`None`: no bottleneck), and the queue's depth.
    rate: Option<f64>,
    depth: usize,
    queue: VecDeque<(Instant, Vec<u8>)>,
    queued: usize,
    /// When the bottleneck is free again.
    free_at: Option<Instant>,
    rng: Rng,
    /// Queueing delays seen by packets that went through, for the report.
    delays: Vec<Duration>,
}

impl Link {
    fn new(delay_ms: u64, seed: u64) -> Link {
        Link {
            delay: Duration::from_millis(delay_ms),
            loss: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            rate: None,
            depth: usize::MAX,
            queue: VecDeque::new(),
            queued: 0,
            free_at: None,
            rng: Rng::seeded(seed),
            delays: Vec::new(),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() % 1_000_000) as f64 / 1e6 < p
    }

    fn send(&mut self, packet: Vec<u8>, now: Instant) {
        if self.chance(self.loss) {
            return;
        }
        let mut at = now;
        if let Some(rate) = self.rate {
            if self.queued + packet.len() > self.depth {
                return; // tail drop
            }
            let start = self.free_at.filter(|f| *f > now).unwrap_or(now);
            let done = start + Duration::from_secs_f64(packet.len() as f64 / rate);
            self.delays.push(start - now);
            self.free_at = Some(done);
            at = done;
        }
        at += self.delay;
        if self.chance(self.reorder) {
            at += Duration::from_millis(1 + self.rng.next_u64() % 20);
        }
        if self.chance(self.duplicate) {
            self.queue.push_back((at, packet.clone()));
        }
        self.queued += packet.len();
        self.queue.push_back((at, packet));
    }

    fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].0 <= now {
                let (_, p) = self.queue.remove(i).expect("in range");
                self.queued = self.queued.saturating_sub(p.len());
                out.push(p);
            } else {
                i += 1;
            }
        }
        out
    }
}

struct End {
    conn: Conn,
    to_send: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
}

impl End {
    fn pump(&mut self, link: &mut Link, now: Instant) {
        if self.sent < self.to_send.len() {
            self.sent += self.conn.write(&self.to_send[self.sent..]);
        }
        for _ in 0..10_000 {
            match self.conn.transmit(now) {
                Some(p) => link.send(p, now),
                None => break,
            }
        }
    }

    fn receive(&mut self, link: &mut Link, now: Instant) {
        for p in link.due(now) {
            let (h, at) = super::super::packet::Header::decode(&p).expect("our packets decode");
            self.conn.on_packet(&h, &p[at..], now);
        }
        let mut buf = [0u8; 65536];
        loop {
            let n = self.conn.read(&mut buf);
            if n == 0 {
                break;
            }
            self.got.extend_from_slice(&buf[..n]);
        }
        self.conn.on_tick(now);
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Connects A to B over the links, sends `a_sends` one way and `b_sends` the other, until both
/// arrived or `limit` of simulated time passed. Returns the two ends and the time taken.
fn transfer(
    ab: &mut Link,
    ba: &mut Link,
    a_sends: usize,
    b_sends: usize,
    limit: Duration,
) -> (End, Option<End>, Duration) {
    let t0 = Instant::now();
    let mut a = End {
        conn: Conn::connect(1000, 50, t0),
        to_send: data(a_sends, 1),
        sent: 0,
        got: Vec::new(),
    };
    let mut b: Option<End> = None;
    let mut now = t0;
    while now - t0 < limit {
        a.pump(ab, now);
        if let Some(b) = &mut b {
            b.pump(ba, now);
        }
        // B comes to be with the first SYN that reaches it.
        for p in ab.due(now) {
            let (h, at) = super::super::packet::Header::decode(&p).unwrap();
            match &mut b {
                None if h.kind == ST_SYN => {
                    b = Some(End {
                        conn: Conn::accept(&h, 9000, now),
                        to_send: data(b_sends, 2),
                        sent: 0,
                        got: Vec::new(),
                    })
                }
                None => {}
                Some(b) => b.conn.on_packet(&h, &p[at..], now),
            }
        }
        if let Some(b) = &mut b {
            b.receive(&mut Link::new(0, 0), now);
        }
        a.receive(ba, now);
        let done = b
            .as_ref()
            .is_some_and(|b| b.got.len() == a_sends && a.got.len() == b_sends);
        if done {
            return (a, b, now - t0);
        }
        now += Duration::from_millis(1);
    }
    (a, b, now - t0)
}

#[test]
fn a_clean_path_carries_both_ways_byte_for_byte() {
    let (mut ab, mut ba) = (Link::new(10, 1), Link::new(10, 2));
    let (a, b, took) = transfer(&mut ab, &mut ba, 300_000, 200_000, Duration::from_secs(30));
    let b = b.expect("connected");
    assert!(b.got == data(300_000, 1), "A to B: {} bytes", b.got.len());
    assert!(a.got == data(200_000, 2), "B to A: {} bytes", a.got.len());
    assert_eq!(
        a.conn.resent + b.conn.resent,
        0,
        "nothing lost, nothing sent twice"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn loss_reordering_and_duplicates_are_repaired() {
    let mut ab = Link::new(25, 3);
    let mut ba = Link::new(25, 4);
    for l in [&mut ab, &mut ba] {
        l.loss = 0.03;
        l.reorder = 0.05;
        l.duplicate = 0.02;
    }
    let (a, b, _) = transfer(&mut ab, &mut ba, 500_000, 100_000, Duration::from_secs(120));
    let b = b.expect("connected");
    assert!(b.got == data(500_000, 1), "A to B: {} bytes", b.got.len());
    assert!(a.got == data(100_000, 2), "B to A: {} bytes", a.got.len());
    assert!(a.conn.resent > 0, "losses were repaired by sending again");
}

#[test]
fn a_lost_syn_is_sent_again_and_a_dead_peer_fails_the_connect() {
    let t0 = Instant::now();
    let mut c = Conn::connect(7, 1, t0);
    let syn = c.transmit(t0).unwrap();
    let (h, _) = super::super::packet::Header::decode(&syn).unwrap();
    assert_eq!((h.kind, h.conn_id, h.seq_nr), (ST_SYN, 7, 1));
    assert!(c.transmit(t0).is_none());
    let mut now = t0;
    let mut syns = 1;
    while !c.is_closed() && now - t0 < Duration::from_secs(30) {
        now += Duration::from_millis(10);
        c.on_tick(now);
        syns += c.transmit(now).is_some() as u32;
    }
    assert_eq!(syns, SYN_TRIES);
    assert_eq!(c.error(), Some(ErrorKind::TimedOut));
    assert!(now - t0 < Duration::from_secs(4), "{:?}", now - t0);
}

#[test]
fn the_receiver_bounds_what_it_buffers_and_the_sender_waits_for_its_window() {
    let (mut ab, mut ba) = (Link::new(5, 5), Link::new(5, 6));
    // B never reads: A must stop at B's window, with nothing lost.
    let t0 = Instant::now();
    let mut a = Conn::connect(1, 1, t0);
    let mut now = t0;
    let mut b: Option<Conn> = None;
    let payload = data(3 * RECV_WINDOW, 3);
    let mut written = 0;
    for _ in 0..5000 {
        written += a.write(&payload[written..]);
        while let Some(p) = a.transmit(now) {
            ab.send(p, now);
        }
        for p in ab.due(now) {
            let (h, at) = super::super::packet::Header::decode(&p).unwrap();
            match &mut b {
                None => b = Some(Conn::accept(&h, 5, now)),
                Some(b) => b.on_packet(&h, &p[at..], now),
            }
        }
        if let Some(b) = &mut b {
            while let Some(p) = b.transmit(now) {
                ba.send(p, now);
            }
        }
        for p in ba.due(now) {
            let (h, at) = super::super::packet::Header::decode(&p).unwrap();
            a.on_packet(&h, &p[at..], now);
        }
        a.on_tick(now);
        now += Duration::from_millis(1);
    }
    let b = b.unwrap();
    assert!(
        b.readable.len() <= RECV_WINDOW,
        "B holds its window, no more"
    );
    assert!(b.window() < PAYLOAD, "and fills it: {} left", b.window());
    assert!(!a.is_closed(), "a full window is not a failure");
}

#[test]
fn ledbat_keeps_the_queue_it_builds_near_its_target_at_a_bottleneck() {
    // 1 MB/s with a 2-second buffer: a loss-driven sender would fill it.
    let mut ab = Link::new(20, 7);
    ab.rate = Some(1e6);
    ab.depth = 2_000_000;
    let mut ba = Link::new(20, 8);
    let (_, b, took) = transfer(&mut ab, &mut ba, 8_000_000, 0, Duration::from_secs(60));
    assert_eq!(b.expect("connected").got.len(), 8_000_000);
    let steady = &ab.delays[ab.delays.len() / 2..];
    let mean = steady.iter().sum::<Duration>() / steady.len() as u32;
    assert!(
        mean < Duration::from_millis(150),
        "queueing delay {mean:?} (target 100 ms)"
    );
    // And it still fills the link: 8 MB at 1 MB/s.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn fin_closes_both_sides_after_the_data_and_reset_ends_at_once() {
    let t0 = Instant::now();
    let mut a = Conn::connect(1, 1, t0);
    let syn = a.transmit(t0).unwrap();
    let (h, _) = super::super::packet::Header::decode(&syn).unwrap();
    let mut b = Conn::accept(&h, 100, t0);
    let mut now = t0;
    let mut written = false;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for _ in 0..200 {
        now += Duration::from_millis(1);
        while let Some(p) = a.transmit(now) {
            let (h, at) = super::super::packet::Header::decode(&p).unwrap();
            b.on_packet(&h, &p[at..], now);
        }
        while let Some(p) = b.transmit(now) {
            let (h, at) = super::super::packet::Header::decode(&p).unwrap();
            a.on_packet(&h, &p[at..], now);
        }
        if a.is_connected() && !written {
            assert_eq!(a.write(b"last words"), 10);
            a.close();
            written = true;
        }
        let n = b.read(&mut buf);
        got.extend_from_slice(&buf[..n]);
        if b.at_eof() {
            b.close();
        }
        a.on_tick(now);
        b.on_tick(now);
    }
    assert_eq!(got, b"last words");
    assert!(a.is_closed() && b.is_closed());
    assert_eq!((a.error(), b.error()), (None, None));
    let mut c = Conn::accept(&h, 1, t0);
    let reset = c.reset(t0);
    let (r, _) = super::super::packet::Header::decode(&reset).unwrap();
    a = Conn::connect(1, 1, t0);
    a.transmit(t0);
    a.on_packet(&r, &[], t0);
    assert_eq!(a.error(), Some(ErrorKind::ConnectionReset));
}

#[test]
fn packets_grow_to_a_wide_path_only_for_a_peer_that_reads_them_whole() {
    let t0 = Instant::now();
    let decode = |p: &[u8]| {
        let (h, at) = super::super::packet::Header::decode(p).unwrap();
        (h, p[at..].to_vec())
    };
    // Both ends p2p, on loopback (MTU 65536): the SYN and its answer say so.
    let mut a = Conn::connect(1000, 50, t0);
    a.set_path_mtu(65536, false);
    let (syn, _) = decode(&a.transmit(t0).unwrap());
    assert_eq!(syn.max_datagram, Some(MAX_DATAGRAM as u16));
    let mut b = Conn::accept(&syn, 9000, t0);
    b.set_path_mtu(65536, false);
    let wide = 65536 - 20 - 8 - HEADER_LEN - EXTENSIONS_ROOM;
    assert_eq!(b.payload_size(), wide);
    assert_eq!(a.payload_size(), PAYLOAD, "A has not heard B yet");
    let (answer, _) = decode(&b.transmit(t0).unwrap());
    a.on_packet(&answer, &[], t0);
    assert!(a.is_connected());
    assert_eq!(a.payload_size(), wide);
    // A sends 200 kB in packets of the path's size; each fits what B reads whole.
    let sent = data(200_000, 3);
    assert_eq!(a.write(&sent), sent.len());
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for step in 0..100 {
        let now = t0 + Duration::from_millis(step);
        while let Some(p) = a.transmit(now) {
            assert!(
                p.len() <= MAX_DATAGRAM && p.len() <= 65536 - 28,
                "{}",
                p.len()
            );
            let (h, payload) = decode(&p);
            b.on_packet(&h, &payload, now);
        }
        let n = b.read(&mut buf);
        got.extend_from_slice(&buf[..n]);
        while let Some(p) = b.transmit(now) {
            let (h, payload) = decode(&p);
            a.on_packet(&h, &payload, now);
        }
    }
    assert!(got == sent, "{} of {} bytes", got.len(), sent.len());
    // B has heard A past the SYN: its packets no longer carry the extension.
    assert!(
        b.transmit(t0)
            .is_none_or(|p| decode(&p).0.max_datagram.is_none())
    );

    // A peer that did not say (libtorrent reads 1,500 bytes): the fixed size, however wide
    // the path.
    let quiet = Header {
        max_datagram: None,
        ..syn.clone()
    };
    let mut c = Conn::accept(&quiet, 9000, t0);
    c.set_path_mtu(65536, false);
    assert_eq!(c.payload_size(), PAYLOAD);
    // A path narrower than Ethernet (an IPv6 tunnel at 1280; ICMP "too big" says as much):
    // smaller packets, whoever the peer.
    b.set_path_mtu(1280, true);
    assert_eq!(
        b.payload_size(),
        1280 - 40 - 8 - HEADER_LEN - EXTENSIONS_ROOM
    );
    // An Ethernet path: the fixed size, though the peer reads more.
    b.set_path_mtu(1500, false);
    assert_eq!(b.payload_size(), PAYLOAD);
}
