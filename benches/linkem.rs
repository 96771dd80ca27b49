//! A link emulator for benchmarks (this kernel has no `netem`): it makes two network
//! namespaces, A (10.77.0.1) and B (10.77.0.2), each with a TUN device, and forwards the IP
//! packets between the two devices itself, adding in each direction:
//!
//! - a bottleneck of RATE Mbit/s with a tail-drop queue of QUEUE_MS of that rate (a packet
//!   that would make the queue longer is dropped, as a router's full buffer drops it);
//! - a one-way DELAY_MS after the bottleneck (so the round trip is twice it);
//! - random loss (a fraction of packets dropped before the queue) and reordering (a fraction
//!   held back 1–20 ms more than the rest).
//!
//! The devices have an MTU of 1500, as Ethernet. The namespaces are deleted on SIGTERM or
//! SIGINT; "ready" is printed once both ends are up. With `--log FILE`, every 100 ms and each
//! direction gets a line: the Unix time in milliseconds, direction (`ab` or `ba`), TCP and
//! UDP bytes delivered in those 100 ms, the longest queueing delay a packet met (ms) and the
//! packets dropped by the queue and by loss.
//!
//! `--host ADDR:DELAY_MS` (repeatable) gives namespace A one more address, 10.77.0.0/24's
//! ADDR, whose packets take DELAY_MS each way instead of DELAY_MS of the link: many hosts,
//! each behind its own round trip, for swarm benchmarks.
//!
//! Usage: cargo bench --bench linkem -- NS_A NS_B [--rate-mbit R] [--queue-ms Q]
//!        [--delay-ms D] [--loss P] [--reorder P] [--host ADDR:DELAY_MS]... [--log FILE]
//!   needs root and iproute2; run programs on the link with `ip netns exec NS_A ...`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::os::fd::RawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const MTU: usize = 1500;
const ADDR_A: &str = "10.77.0.1";
const ADDR_B: &str = "10.77.0.2";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Options {
    ns: [String; 2],
    rate_mbit: Option<f64>,
    queue_ms: f64,
    delay_ms: f64,
    loss: f64,
    reorder: f64,
    log: Option<String>,
    /// Addresses of A with their own one-way delay.
    hosts: Vec<([u8; 4], Duration)>,
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut positional = Vec::new();
    let mut o = Options {
        ns: [String::new(), String::new()],
        rate_mbit: None,
        queue_ms: 100.0,
        delay_ms: 0.0,
        loss: 0.0,
        reorder: 0.0,
        log: None,
        hosts: Vec::new(),
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |v: String, name: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "--rate-mbit" => o.rate_mbit = Some(number(value(&a)?, &a)?),
            "--queue-ms" => o.queue_ms = number(value(&a)?, &a)?,
            "--delay-ms" => o.delay_ms = number(value(&a)?, &a)?,
            "--loss" => o.loss = number(value(&a)?, &a)?,
            "--reorder" => o.reorder = number(value(&a)?, &a)?,
            "--log" => o.log = Some(value(&a)?),
            "--host" => {
                let v = value(&a)?;
                let (addr, delay) = v
                    .split_once(':')
                    .ok_or(format!("--host: ADDR:DELAY_MS, not {v}"))?;
                let addr: std::net::Ipv4Addr = addr
                    .parse()
                    .map_err(|_| format!("--host: not an address: {addr}"))?;
                let delay = number(delay.to_string(), &a)?;
                o.hosts
                    .push((addr.octets(), Duration::from_secs_f64(delay / 1000.0)));
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => positional.push(a),
        }
    }
    let [a, b]: [String; 2] = positional
        .try_into()
        .map_err(|_| "two namespace names are needed: NS_A NS_B".to_string())?;
    o.ns = [a, b];
    Ok(o)
}

/// xorshift64*: enough for loss and reordering.
struct Rng(u64);

impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        p > 0.0 && ((x >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e} (apt-get install -y iproute2)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A TUN device named `name` in the current namespace, non-blocking.
fn tun(name: &str) -> Result<RawFd, String> {
    // SAFETY: a NUL-terminated path; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(format!("/dev/net/tun: {}", std::io::Error::last_os_error()));
    }
    // struct ifreq: 16 bytes of name, then the flags (a short) in a 24-byte union.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
    // SAFETY: `ifr` is a live buffer the size of struct ifreq.
    if unsafe { libc::ioctl(fd, TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
        return Err(format!(
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(fd)
}

/// One direction of the link.
struct Direction {
    name: &'static str,
    from: RawFd,
    to: RawFd,
    /// Bytes a second through the bottleneck, and its queue in bytes.
    rate: Option<f64>,
    queue_limit: usize,
    delay: Duration,
    /// When the bottleneck is free, and the packets queued for it (when each leaves, bytes).
    free_at: Instant,
    queue: VecDeque<(Instant, usize)>,
    queued: usize,
    /// Packets on their way: when each is delivered (then an order that keeps FIFO).
    pending: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    sequence: u64,
    // This interval's figures.
    tcp: usize,
    udp: usize,
    max_queue: Duration,
    queue_drops: usize,
    loss_drops: usize,
}

impl Direction {
    fn arrive(&mut self, packet: Vec<u8>, now: Instant, o: &Options, rng: &mut Rng) {
        if rng.chance(o.loss) {
            self.loss_drops += 1;
            return;
        }
        while self.queue.front().is_some_and(|(leaves, _)| *leaves <= now) {
            let (_, len) = self.queue.pop_front().expect("front exists");
            self.queued -= len;
        }
        let mut at = now;
        if let Some(rate) = self.rate {
            if self.queued + packet.len() > self.queue_limit {
                self.queue_drops += 1;
                return;
            }
            let start = self.free_at.max(now);
            self.max_queue = self.max_queue.max(start - now);
            let leaves = start + Duration::from_secs_f64(packet.len() as f64 / rate);
            self.free_at = leaves;
            self.queue.push_back((leaves, packet.len()));
            self.queued += packet.len();
            at = leaves;
        }
        at += self.delay_of(&packet, &o.hosts);
        if rng.chance(o.reorder) {
            at += Duration::from_millis(1 + (rng.0 % 20));
        }
        self.sequence += 1;
        self.pending.push(Reverse((at, self.sequence, packet)));
    }

    /// The one-way delay of a packet: its A-side host's (the source going to B, the
    /// destination coming from it) or the link's.
    fn delay_of(&self, packet: &[u8], hosts: &[([u8; 4], Duration)]) -> Duration {
        let at = if self.name == "ab" { 12 } else { 16 };
        match packet.get(at..at + 4) {
            Some(addr) if packet[0] >> 4 == 4 => hosts
                .iter()
                .find(|(a, _)| a == addr)
                .map_or(self.delay, |(_, d)| *d),
            _ => self.delay,
        }
    }

    /// Delivers what is due; the next delivery's time.
    fn deliver(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((at, _, _))) = self.pending.peek() {
            if *at > now {
                return Some(*at);
            }
            let Reverse((_, _, packet)) = self.pending.pop().expect("peeked");
            match protocol(&packet) {
                6 => self.tcp += packet.len(),
                17 => self.udp += packet.len(),
                _ => {}
            }
            // SAFETY: a live buffer of its length; a TUN write takes the whole packet or
            // fails, and a failure is a packet lost.
            unsafe { libc::write(self.to, packet.as_ptr().cast(), packet.len()) };
        }
        None
    }

    fn report(&mut self, log: &mut impl Write, ms: u128) {
        let _ = writeln!(
            log,
            "{ms} {} {} {} {:.1} {} {}",
            self.name,
            self.tcp,
            self.udp,
            self.max_queue.as_secs_f64() * 1000.0,
            self.queue_drops,
            self.loss_drops
        );
        self.tcp = 0;
        self.udp = 0;
        self.max_queue = Duration::ZERO;
        self.queue_drops = 0;
        self.loss_drops = 0;
    }
}

/// The IP protocol of a packet (IPv4's, or IPv6's first next header).
fn protocol(packet: &[u8]) -> u8 {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => packet[9],
        Some(6) if packet.len() >= 40 => packet[6],
        _ => 0,
    }
}

/// Makes the namespaces (each added to `made`) and their devices.
fn setup(o: &Options, made: &mut Vec<String>) -> Result<[RawFd; 2], String> {
    let mut fds = [0; 2];
    for (i, (ns, addr)) in o.ns.iter().zip([ADDR_A, ADDR_B]).enumerate() {
        let dev = format!("lk{}{}", i, std::process::id());
        fds[i] = tun(&dev)?;
        ip(&["netns", "add", ns])?;
        made.push(ns.clone());
        ip(&["link", "set", &dev, "netns", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "link", "set", &dev, "mtu", &MTU.to_string(), "up"])?;
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", &dev])?;
        if i == 0 {
            for (host, _) in &o.hosts {
                let host = std::net::Ipv4Addr::from(*host);
                ip(&["-n", ns, "addr", "add", &format!("{host}/24"), "dev", &dev])?;
            }
        }
    }
    Ok(fds)
}

fn run(o: &Options, fds: [RawFd; 2]) -> Result<(), String> {
    let rate = o.rate_mbit.map(|r| r * 1e6 / 8.0);
    let now = Instant::now();
    let direction = |name, from, to| Direction {
        name,
        from,
        to,
        rate,
        queue_limit: rate.map_or(usize::MAX, |r| (r * o.queue_ms / 1000.0) as usize),
        delay: Duration::from_secs_f64(o.delay_ms / 1000.0),
        free_at: now,
        queue: VecDeque::new(),
        queued: 0,
        pending: BinaryHeap::new(),
        sequence: 0,
        tcp: 0,
        udp: 0,
        max_queue: Duration::ZERO,
        queue_drops: 0,
        loss_drops: 0,
    };
    let mut dirs = [
        direction("ab", fds[0], fds[1]),
        direction("ba", fds[1], fds[0]),
    ];
    let mut log: Box<dyn Write> = match &o.log {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?,
        )),
        None => Box::new(std::io::sink()),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64);
    let mut next_report = Instant::now() + Duration::from_millis(100);
    let mut buf = vec![0u8; 65536];
    println!("ready");
    let _ = std::io::stdout().flush();
    while !STOP.load(Ordering::SeqCst) {
        let now = Instant::now();
        let next = dirs
            .iter_mut()
            .filter_map(|d| d.deliver(now))
            .chain([next_report])
            .min()
            .expect("the report");
        let wait = next.saturating_duration_since(now);
        let timeout = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        let mut polls = [fds[0], fds[1]].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: two live pollfds and a live timespec.
        unsafe { libc::ppoll(polls.as_mut_ptr(), 2, &timeout, std::ptr::null()) };
        let now = Instant::now();
        for d in dirs.iter_mut() {
            for _ in 0..1024 {
                // SAFETY: a live buffer of its length.
                let n = unsafe { libc::read(d.from, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                d.arrive(buf[..n as usize].to_vec(), now, o, &mut rng);
            }
        }
        if now >= next_report {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            for d in dirs.iter_mut() {
                d.report(&mut log, ms);
            }
            let _ = log.flush();
            next_report += Duration::from_millis(100);
        }
    }
    Ok(())
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("linkem: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut made = Vec::new();
    let result = setup(&o, &mut made).and_then(|fds| run(&o, fds));
    for ns in &made {
        let _ = ip(&["netns", "delete", ns]);
    }
    if let Err(e) = result {
        eprintln!("linkem: {e}");
        std::process::exit(1);
    }
}
