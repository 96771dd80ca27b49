//! uTP over one UDP socket, the peer port's: a driver task reads datagrams, hands those that
//! start with `d` (bencoded KRPC) to the DHT and the rest to the connections, and runs their
//! timers; [`UtpStream`] is a connection as an async byte stream, so that the peer code runs
//! over it as over TCP.
//!
//! - Sends never wait: a datagram the kernel will not take now is dropped, which uTP treats as
//!   loss and sends again.
//! - Incoming connections are bounded: [`MAX_PER_HOST`] from one address, [`MAX_CONNS`] in
//!   all, and [`ACCEPT_BACKLOG`] accepted but not yet taken; a SYN past those, or a packet for
//!   no connection, gets one RESET the size of its header (never more than came in).
//! - The kernel's ICMP "port unreachable" for a peer with no UDP listener (`IP_RECVERR`) fails
//!   a connect to it at once, so that the dialer falls back to TCP without waiting.
//! - Each connection learns the path's MTU from the kernel when it starts, and again from an
//!   ICMP "too big" (see [`Conn::set_path_mtu`]).

use super::conn::Conn;
use super::icmp::{self, Icmp};
use super::packet::{Header, ST_RESET, ST_SYN};
use async_io::Async;
use async_std::channel::{Receiver, Sender};
use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Connections from one IP address at most (loopback included: a test's peers share it,
/// and stay well under).
pub const MAX_PER_HOST: usize = 32;
/// Connections in all.
pub const MAX_CONNS: usize = 2048;
/// Accepted connections waiting for the session to take them.
pub const ACCEPT_BACKLOG: usize = 64;
/// Datagrams read before the connections they touched send (acks and all): one ack answers
/// many packets.
const BATCH: usize = 128;
/// A closed connection is kept this long to answer a late FIN again.
const LINGER: Duration = Duration::from_secs(5);
/// A connection nobody holds that has not closed (a peer that stopped reading) after this
/// long is reset.
const RELEASED_KEPT: Duration = Duration::from_secs(30);
/// Addresses whose uTP failed, remembered for TCP.
const FAILED_KEPT: usize = 4096;

/// A datagram and where it came from.
pub type Datagram = (Vec<u8>, SocketAddr);

struct Slot {
    conn: Conn,
    reader: Option<Waker>,
    writer: Option<Waker>,
    connector: Option<Waker>,
    /// Streams holding it; at zero, it closes.
    handles: usize,
    /// Shut down on our side: reads end and writes fail at once, as on a TCP socket.
    shut: bool,
    /// When the last stream let go; a connection not closed [`RELEASED_KEPT`] after is reset.
    released_at: Option<Instant>,
    closed_at: Option<Instant>,
}

impl Slot {
    /// A new connection, held by the one stream made for it.
    fn new(conn: Conn) -> Slot {
        Slot {
            conn,
            reader: None,
            writer: None,
            connector: None,
            handles: 1,
            shut: false,
            released_at: None,
            closed_at: None,
        }
    }

    fn wake(&mut self) {
        let ready = [
            self.conn.readable(),
            self.conn.writable(),
            self.conn.is_connected() || self.conn.is_closed(),
        ];
        for (waker, ready) in [&mut self.reader, &mut self.writer, &mut self.connector]
            .into_iter()
            .zip(ready)
        {
            if ready && let Some(w) = waker.take() {
                w.wake();
            }
        }
    }
}

type Key = (SocketAddr, u16);

struct Table {
    conns: HashMap<Key, Slot>,
    rng: crate::random::Rng,
    accepted: Sender<UtpStream>,
    dht: Option<Sender<Datagram>>,
    /// Peers that did not answer uTP: dialed over TCP from then on.
    failed: HashSet<SocketAddr>,
}

struct Shared {
    udp: Async<UdpSocket>,
    local: SocketAddr,
    table: Mutex<Table>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, bytes: &[u8], to: SocketAddr) {
        // A full send buffer drops the datagram: uTP sends it again.
        let _ = self.udp.get_ref().send_to(bytes, to);
    }

    /// Sends what `slot`'s connection has to send now, and wakes its waiters.
    fn flush(&self, addr: SocketAddr, slot: &mut Slot, now: Instant) {
        for _ in 0..4096 {
            match slot.conn.transmit(now) {
                Some(bytes) => self.send(&bytes, addr),
                None => break,
            }
        }
        if slot.conn.is_closed() && slot.closed_at.is_none() {
            slot.closed_at = Some(now);
        }
        slot.wake();
    }
}

/// The peer port's UDP socket, carrying uTP (and the DHT's datagrams, handed over).
#[derive(Clone)]
pub struct UtpSocket {
    shared: Arc<Shared>,
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl UtpSocket {
    /// Binds `addr` (UDP) and starts the driver; connections peers open arrive on the
    /// receiver.
    pub fn bind(addr: SocketAddr) -> io::Result<(UtpSocket, Receiver<UtpStream>)> {
        let udp = UdpSocket::bind(addr)?;
        // `--interface`: uTP leaves through it alone, as TCP does.
        crate::net::source::confine(&udp)?;
        udp.set_nonblocking(true)?;
        let local = udp.local_addr()?;
        tune(&udp, local.is_ipv6());
        let udp = Async::new(udp)?;
        let (accepted, incoming) = async_std::channel::bounded(ACCEPT_BACKLOG);
        let shared = Arc::new(Shared {
            udp,
            local,
            table: Mutex::new(Table {
                conns: HashMap::new(),
                rng: crate::random::Rng::new(),
                accepted,
                dht: None,
                failed: HashSet::new(),
            }),
        });
        crate::runtime::spawn(drive(shared.clone()));
        Ok((UtpSocket { shared }, incoming))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The DHT's share of the socket: a handle to send from, and the datagrams that start
    /// with `d`.
    pub fn dht(&self) -> io::Result<(async_std::net::UdpSocket, Receiver<Datagram>)> {
        let send = self.shared.udp.get_ref().try_clone()?;
        let (tx, rx) = async_std::channel::bounded(256);
        self.shared.lock().dht = Some(tx);
        Ok((async_std::net::UdpSocket::from(send), rx))
    }

    /// Whether uTP to `addr` failed before (so TCP is the way to it).
    pub fn failed_before(&self, addr: SocketAddr) -> bool {
        self.shared.lock().failed.contains(&canonical(addr))
    }

    /// Remembers that `addr` is reached over TCP, not uTP.
    pub fn forget(&self, addr: SocketAddr) {
        remember_failed(&mut self.shared.lock().failed, addr);
    }

    /// Opens a connection to `addr`: done when the peer answers, failed when it refuses,
    /// resets, or does not answer our SYNs (about 3 s).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let to = crate::net::source::for_socket(addr, self.shared.local.is_ipv6());
        let key = {
            let mut t = self.shared.lock();
            if t.conns.len() >= MAX_CONNS {
                return Err(io::Error::other("too many uTP connections"));
            }
            let mut recv_id = t.rng.next_u64() as u16;
            while t.conns.contains_key(&(to, recv_id))
                || t.conns.contains_key(&(to, recv_id.wrapping_add(1)))
            {
                recv_id = recv_id.wrapping_add(2);
            }
            let now = Instant::now();
            let seq = t.rng.next_u64() as u16;
            let mut conn = Conn::connect(recv_id, seq, now);
            learn_path(&mut conn, to);
            let mut slot = Slot::new(conn);
            self.shared.flush(to, &mut slot, now);
            t.conns.insert((to, recv_id), slot);
            (to, recv_id)
        };
        let stream = UtpStream {
            shared: self.shared.clone(),
            key,
        };
        std::future::poll_fn(|cx| {
            let mut t = self.shared.lock();
            let Some(slot) = t.conns.get_mut(&key) else {
                return Poll::Ready(Err(ErrorKind::NotConnected.into()));
            };
            if slot.conn.is_connected() {
                return Poll::Ready(Ok(()));
            }
            if slot.conn.is_closed() {
                let kind = slot.conn.error().unwrap_or(ErrorKind::ConnectionRefused);
                remember_failed(&mut t.failed, addr);
                let why = match kind {
                    ErrorKind::TimedOut => "no answer over uTP",
                    ErrorKind::ConnectionReset => "uTP connection reset",
                    _ => "uTP refused (no UDP listener)",
                };
                return Poll::Ready(Err(io::Error::new(kind, why)));
            }
            slot.connector = Some(cx.waker().clone());
            Poll::Pending
        })
        .await?;
        Ok(stream)
    }
}

/// Tells a new connection the MTU of its path, as far as the kernel knows it (without it, the
/// connection keeps to the fixed size that fits Ethernet).
fn learn_path(conn: &mut Conn, to: SocketAddr) {
    let to = canonical(to);
    match icmp::path_mtu(to) {
        Ok(mtu) => conn.set_path_mtu(mtu, to.is_ipv6()),
        Err(e) => log::debug!("uTP: no MTU for the path to {to}: {e}"),
    }
}

fn remember_failed(failed: &mut HashSet<SocketAddr>, addr: SocketAddr) {
    if failed.len() >= FAILED_KEPT {
        failed.clear();
    }
    failed.insert(canonical(addr));
}

/// Asks the kernel to report ICMP errors (port unreachable) for datagrams we send, and sets
/// socket buffers of 4 MiB each way (as far as the system allows: `net.core.rmem_max`), so
/// that a window of packets arriving at once is not dropped by the kernel before the driver
/// reads it (the default, about 200 KiB, holds 150 packets). Best effort: without them uTP
/// still works, slower to fall back and to fill a fast link.
fn tune(udp: &UdpSocket, v6: bool) {
    use crate::net::source::set_int;
    let fd = udp.as_raw_fd();
    let _ = set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1);
    if v6 {
        let _ = set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1);
    }
    for name in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let _ = set_int(fd, libc::SOL_SOCKET, name, 4 << 20);
    }
}

async fn drive(shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65536];
    let mut described = Instant::now();
    loop {
        if log::log_enabled!(log::Level::Trace) && described.elapsed() >= Duration::from_secs(1) {
            described = Instant::now();
            for (key, slot) in shared.lock().conns.iter() {
                log::trace!("uTP {} ({}): {}", key.0, key.1, slot.conn.describe());
            }
        }
        // Until a datagram comes or the next timer is due (a second at most).
        let next = {
            let t = shared.lock();
            t.conns
                .values()
                .filter(|s| !s.conn.is_closed())
                .map(|s| s.conn.deadline())
                .chain(
                    t.conns
                        .values()
                        .filter_map(|s| s.closed_at.map(|at| at + LINGER)),
                )
                .min()
        };
        let wait = next
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        let _ = crate::runtime::within(wait, shared.udp.readable()).await;
        let mut touched: HashSet<Key> = HashSet::new();
        let now = Instant::now();
        for _ in 0..BATCH {
            match shared.udp.get_ref().recv_from(&mut buf) {
                Ok((n, from)) => receive(&shared, &buf[..n], from, now, &mut touched),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    // An ICMP error: a peer with no uTP, or a path narrower than we sent.
                    for (addr, what) in icmp::take_errors(shared.udp.get_ref()) {
                        let mut t = shared.lock();
                        for (key, slot) in t.conns.iter_mut() {
                            if canonical(key.0) != canonical(addr) {
                                continue;
                            }
                            match what {
                                Icmp::Refused if !slot.conn.is_connected() => {
                                    slot.conn.reset(now);
                                    touched.insert(*key);
                                }
                                Icmp::TooBig(mtu) => {
                                    slot.conn.set_path_mtu(mtu, canonical(addr).is_ipv6());
                                }
                                Icmp::Refused => {}
                            }
                        }
                    }
                }
            }
        }
        let mut t = shared.lock();
        for (key, slot) in t.conns.iter_mut() {
            let abandoned = slot
                .released_at
                .is_some_and(|at| now.duration_since(at) > RELEASED_KEPT);
            if abandoned && !slot.conn.is_closed() {
                let reset = slot.conn.reset(now);
                shared.send(&reset, key.0);
            }
            if touched.contains(key) || slot.conn.deadline() <= now {
                slot.conn.on_tick(now);
                shared.flush(key.0, slot, now);
            }
        }
        t.conns.retain(|_, s| {
            let lingering = s
                .closed_at
                .is_some_and(|at| now.duration_since(at) < LINGER);
            !s.conn.is_closed() || s.handles > 0 || lingering
        });
    }
}

/// One datagram that is not the DHT's… or is.
fn receive(
    shared: &Arc<Shared>,
    bytes: &[u8],
    from: SocketAddr,
    now: Instant,
    touched: &mut HashSet<Key>,
) {
    let mut t = shared.lock();
    if bytes.first() == Some(&b'd') {
        if let Some(dht) = &t.dht {
            let _ = dht.try_send((bytes.to_vec(), from));
        }
        return;
    }
    let Some((h, at)) = Header::decode(bytes) else {
        return;
    };
    let key = if h.kind == ST_SYN {
        (from, h.conn_id.wrapping_add(1))
    } else {
        (from, h.conn_id)
    };
    if let Some(slot) = t.conns.get_mut(&key) {
        slot.conn.on_packet(&h, &bytes[at..], now);
        touched.insert(key);
        return;
    }
    if h.kind == ST_RESET {
        // A peer that lost the connection (restarted) answers with the id our packets
        // carried, not the one we receive on: either neighbour of it.
        for recv_id in [h.conn_id.wrapping_sub(1), h.conn_id.wrapping_add(1)] {
            if let Some(slot) = t.conns.get_mut(&(from, recv_id))
                && slot.conn.send_id() == h.conn_id
            {
                slot.conn.on_packet(&h, &bytes[at..], now);
                touched.insert((from, recv_id));
            }
        }
        return;
    }
    let host = t.conns.keys().filter(|(a, _)| a.ip() == from.ip()).count();
    let full = host >= MAX_PER_HOST || t.conns.len() >= MAX_CONNS || t.accepted.is_full();
    if h.kind != ST_SYN || full {
        let reset = Header {
            kind: ST_RESET,
            conn_id: h.conn_id,
            timestamp: 0,
            timestamp_diff: 0,
            wnd_size: 0,
            seq_nr: t.rng.next_u64() as u16,
            ack_nr: h.seq_nr,
            sack: None,
            max_datagram: None,
        };
        shared.send(&reset.encode(&[]), from);
        return;
    }
    let seq = t.rng.next_u64() as u16;
    let mut conn = Conn::accept(&h, seq, now);
    learn_path(&mut conn, from);
    let slot = Slot::new(conn);
    t.conns.insert(key, slot);
    touched.insert(key);
    let stream = UtpStream {
        shared: shared.clone(),
        key,
    };
    if let Err(e) = t.accepted.try_send(stream) {
        // Nobody takes connections any more: this one goes (dropping the stream here would
        // take the lock we hold).
        let stream = e.into_inner();
        std::mem::forget(stream);
        if let Some(slot) = t.conns.get_mut(&key) {
            slot.handles = 0;
            slot.released_at = Some(now);
            slot.conn.close();
        }
    }
}

/// A uTP connection as a byte stream. Clones share the connection; it closes (FIN) when the
/// last is dropped or [`UtpStream::shutdown`] is called.
pub struct UtpStream {
    shared: Arc<Shared>,
    key: Key,
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uTP {} ({})", self.peer_addr(), self.key.1)
    }
}

impl std::fmt::Debug for UtpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uTP on {}", self.shared.local)
    }
}

impl UtpStream {
    /// The peer's address (an IPv4 peer as IPv4).
    pub fn peer_addr(&self) -> SocketAddr {
        canonical(self.key.0)
    }

    /// Closes our side (a FIN after what is queued): reads end and writes fail from now on,
    /// and whoever waits on the stream is woken.
    pub fn shutdown(&self) {
        let mut t = self.shared.lock();
        if let Some(slot) = t.conns.get_mut(&self.key) {
            slot.shut = true;
            slot.conn.close();
            self.shared.flush(self.key.0, slot, Instant::now());
            if let Some(w) = slot.reader.take() {
                w.wake();
            }
            if let Some(w) = slot.writer.take() {
                w.wake();
            }
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Shared, &mut Slot) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut t = self.shared.lock();
        match t.conns.get_mut(&self.key) {
            Some(slot) => f(&self.shared, slot),
            None => Poll::Ready(Err(ErrorKind::NotConnected.into())),
        }
    }
}

fn closed_error(slot: &Slot) -> io::Error {
    slot.conn.error().unwrap_or(ErrorKind::BrokenPipe).into()
}

impl Clone for UtpStream {
    fn clone(&self) -> UtpStream {
        if let Some(slot) = self.shared.lock().conns.get_mut(&self.key) {
            slot.handles += 1;
        }
        UtpStream {
            shared: self.shared.clone(),
            key: self.key,
        }
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        let mut t = self.shared.lock();
        if let Some(slot) = t.conns.get_mut(&self.key) {
            slot.handles = slot.handles.saturating_sub(1);
            if slot.handles == 0 {
                slot.released_at = Some(Instant::now());
                slot.conn.close();
                self.shared.flush(self.key.0, slot, Instant::now());
            }
        }
    }
}

impl async_std::io::Read for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|shared, slot| {
            if slot.shut {
                return Poll::Ready(Ok(0));
            }
            let n = slot.conn.read(buf);
            if n > 0 {
                // Reading may have opened our window: the peer hears of it.
                shared.flush(self.key.0, slot, Instant::now());
                return Poll::Ready(Ok(n));
            }
            if slot.conn.at_eof() {
                return Poll::Ready(Ok(0));
            }
            if slot.conn.is_closed() {
                return Poll::Ready(match slot.conn.error() {
                    None => Ok(0),
                    Some(kind) => Err(kind.into()),
                });
            }
            slot.reader = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}

impl async_std::io::Write for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|shared, slot| {
            if slot.conn.is_closed() || slot.shut {
                return Poll::Ready(Err(closed_error(slot)));
            }
            let n = slot.conn.write(buf);
            if n > 0 || buf.is_empty() {
                shared.flush(self.key.0, slot, Instant::now());
                return Poll::Ready(Ok(n));
            }
            slot.writer = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutdown();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests;
