//! A UDP tracker load generator (BEP 15), for benches/tracker_udp.sh: THREADS threads, each with
//! its own socket and so its own connection id, keep IN_FLIGHT announces outstanding for random
//! info-hashes among TORRENTS (the 20 ASCII digits of a number, as benches/tracker.sh's
//! whitelist holds them) and random peers among PORTS ports of the loopback address (a tracker
//! knows a peer by its address: 1,000 ports and 1,000 torrents make at most a million peers, so
//! the store never fills), for SECONDS; when a window of answers is lost, a new one is sent after
//! 200 ms. Prints the announces answered a second.
//!
//! With FILL = N, announces go in order instead: the k-th (k < N) for torrent k mod TORRENTS from
//! port 1024 + k / TORRENTS, so N announces leave N peers over min(N, TORRENTS) torrents; it
//! stops when all are answered (or after SECONDS). benches/tracker_scale.sh fills a store so.
//!
//! Usage: cargo bench --bench udp_load -- HOST:PORT [SECONDS=10] [THREADS=2] [IN_FLIGHT=32]
//!        [TORRENTS=1000] [PORTS=1000] [FILL=0]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const PROTOCOL_ID: u64 = 0x41727101980;

/// xorshift64*: enough randomness for hashes and ports, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn connect(socket: &UdpSocket, rng: &mut Rng) -> u64 {
    let tx = rng.next() as u32;
    let mut req = PROTOCOL_ID.to_be_bytes().to_vec();
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&tx.to_be_bytes());
    let mut buf = [0u8; 2048];
    for _ in 0..50 {
        socket.send(&req).expect("send connect");
        if let Ok(n) = socket.recv(&mut buf)
            && n >= 16
            && buf[0..4] == 0u32.to_be_bytes()
            && buf[4..8] == tx.to_be_bytes()
        {
            return u64::from_be_bytes(buf[8..16].try_into().unwrap());
        }
    }
    panic!("no answer to connect from the tracker");
}

/// What to announce next: random, or the next of a fill.
#[derive(Clone, Copy)]
struct Load {
    torrents: u64,
    ports: u64,
    /// For a fill: the next k, the step between this thread's ks, and where they end.
    fill: Option<(u64, u64, u64)>,
}

impl Load {
    /// The torrent and port of the next announce; `None` once a fill is all sent.
    fn next(&mut self, rng: &mut Rng) -> Option<(u64, u16)> {
        match &mut self.fill {
            None => Some((
                rng.next() % self.torrents,
                1024 + (rng.next() % self.ports) as u16,
            )),
            Some((k, step, end)) => {
                if *k >= *end {
                    return None;
                }
                let this = *k;
                *k += *step;
                Some((this % self.torrents, 1024 + (this / self.torrents) as u16))
            }
        }
    }
}

fn announce(conn: u64, tx: u32, (torrent, port): (u64, u16), rng: &mut Rng) -> Vec<u8> {
    let mut p = Vec::with_capacity(98);
    p.extend_from_slice(&conn.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&tx.to_be_bytes());
    p.extend_from_slice(format!("{torrent:020}").as_bytes());
    p.extend_from_slice(b"-UL0001-");
    p.extend_from_slice(format!("{:012}", rng.next() % 1_000_000_000_000).as_bytes());
    p.extend_from_slice(&0u64.to_be_bytes()); // downloaded
    p.extend_from_slice(&100u64.to_be_bytes()); // left
    p.extend_from_slice(&0u64.to_be_bytes()); // uploaded
    p.extend_from_slice(&2u32.to_be_bytes()); // started
    p.extend_from_slice(&0u32.to_be_bytes()); // ip
    p.extend_from_slice(&(rng.next() as u32).to_be_bytes()); // key
    p.extend_from_slice(&50i32.to_be_bytes()); // numwant
    p.extend_from_slice(&port.to_be_bytes());
    p
}

fn worker(tracker: SocketAddr, until: Instant, in_flight: usize, mut load: Load, seed: u64) -> u64 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(tracker).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut rng = Rng(seed | 1);
    let mut conn = connect(&socket, &mut rng);
    let mut conn_at = Instant::now();
    let mut answered = 0u64;
    let mut tx = 0u32;
    // Sends up to n announces; false once a fill has nothing left to send.
    let mut send_batch = |socket: &UdpSocket, conn: u64, n: usize, rng: &mut Rng, tx: &mut u32| {
        for _ in 0..n {
            let Some(next) = load.next(rng) else {
                return false;
            };
            *tx = tx.wrapping_add(1);
            let _ = socket.send(&announce(conn, *tx, next, rng));
        }
        true
    };
    send_batch(&socket, conn, in_flight, &mut rng, &mut tx);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        // Connection ids last one to two minutes: take a new one now and then.
        if conn_at.elapsed() > Duration::from_secs(50) {
            conn = connect(&socket, &mut rng);
            conn_at = Instant::now();
        }
        let more = match socket.recv(&mut buf) {
            Ok(n) if n >= 20 && buf[0..4] == 1u32.to_be_bytes() => {
                answered += 1;
                send_batch(&socket, conn, 1, &mut rng, &mut tx)
            }
            Ok(_) => send_batch(&socket, conn, 1, &mut rng, &mut tx),
            // Lost: a new window (a fill sends each announce once: a lost one is a peer fewer).
            Err(_) => send_batch(&socket, conn, in_flight, &mut rng, &mut tx),
        };
        // A fill sent in full: what is still in flight comes within the read timeout.
        if !more {
            while let Ok(n) = socket.recv(&mut buf) {
                answered += (n >= 20 && buf[0..4] == 1u32.to_be_bytes()) as u64;
            }
            break;
        }
    }
    answered
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let tracker: SocketAddr = args
        .first()
        .expect(
            "usage: udp_load HOST:PORT [SECONDS] [THREADS] [IN_FLIGHT] [TORRENTS] [PORTS] [FILL]",
        )
        .parse()
        .expect("HOST:PORT");
    let num = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (secs, threads, in_flight) = (num(1, 10), num(2, 2), num(3, 32));
    let (torrents, ports, fill) = (num(4, 1000), num(5, 1000), num(6, 0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let seed =
                0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1) ^ started.elapsed().as_nanos() as u64;
            let load = Load {
                torrents,
                ports,
                fill: (fill > 0).then_some((t, threads, fill)),
            };
            std::thread::spawn(move || worker(tracker, until, in_flight as usize, load, seed))
        })
        .collect();
    let answered: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{answered} announces answered in {secs:.1} s: {:.0} announces/s",
        answered as f64 / secs
    );
}
