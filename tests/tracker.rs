//! `p2p tracker` driven with raw bytes over HTTP and UDP, and by real clients.

mod common;
use common::*;
use p2p::bencode;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

/// Reads one HTTP response (Content-Length framed) from a stream, never past its end, so
/// pipelined responses stay in the socket for the next call.
fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response");
        assert!(
            n > 0,
            "connection closed before a whole response: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("the whole body");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body, head)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn get(port: u16, target: &str) -> (u16, Vec<u8>) {
    let mut s = connect(port);
    write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, body, _) = read_response(&mut s);
    (status, body)
}

fn announce_target(hash: &[u8; 20], peer: &[u8; 20], port: u16, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left=100&{extra}",
        enc(hash),
        enc(peer)
    )
}

fn failure_reason(body: &[u8]) -> String {
    let v = bencode::decode(body).expect("bencoded body");
    v.get("failure reason")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string()
}

fn compact_ports(body: &[u8]) -> Vec<u16> {
    let v = bencode::decode(body).unwrap();
    let peers = v.get("peers").unwrap().as_bytes().unwrap();
    peers
        .chunks_exact(6)
        .map(|c| u16::from_be_bytes([c[4], c[5]]))
        .collect()
}

#[test]
fn http_announce_compact_dict_and_scrape() {
    let (_t, port) = start_tracker(60);
    let hash = [0x11; 20];
    let (status, body) = get(
        port,
        &announce_target(&hash, &[b'a'; 20], 7001, "compact=1&event=started"),
    );
    assert_eq!(status, 200);
    assert!(
        compact_ports(&body).is_empty(),
        "the first peer sees nobody, not itself"
    );
    let (_, body) = get(
        port,
        &announce_target(&hash, &[b'b'; 20], 7002, "compact=1&event=started"),
    );
    assert_eq!(compact_ports(&body), vec![7001]);
    let v = bencode::decode(&body).unwrap();
    assert_eq!(v.get("tracker id").unwrap().as_str(), Some("testnode"));
    assert_eq!(v.get("interval").unwrap().as_int(), Some(60));
    assert_eq!(v.get("incomplete").unwrap().as_int(), Some(2));
    assert_eq!(
        &v.get("peers").unwrap().as_bytes().unwrap()[..4],
        &[127, 0, 0, 1],
        "address from the connection"
    );

    let (_, body) = get(
        port,
        &announce_target(&hash, &[b'c'; 20], 7003, "compact=0"),
    );
    let v = bencode::decode(&body).unwrap();
    let peers = v.get("peers").unwrap().as_list().unwrap();
    let mut ports: Vec<i64> = peers
        .iter()
        .map(|p| p.get("port").unwrap().as_int().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, vec![7001, 7002]);
    assert!(
        peers
            .iter()
            .all(|p| p.get("ip").unwrap().as_str() == Some("127.0.0.1"))
    );

    // a completes; b stops.
    let completed =
        announce_target(&hash, &[b'a'; 20], 7001, "event=completed").replace("left=100", "left=0");
    get(port, &completed);
    get(
        port,
        &announce_target(&hash, &[b'b'; 20], 7002, "event=stopped"),
    );
    let (status, body) = get(port, &format!("/scrape?info_hash={}", enc(&hash)));
    assert_eq!(status, 200);
    let v = bencode::decode(&body).unwrap();
    let bencode::Kind::Dict(files) = &v.get("files").unwrap().kind else {
        panic!("files dict")
    };
    let entry = &files[0].1;
    assert_eq!(files[0].0, &hash);
    assert_eq!(entry.get("complete").unwrap().as_int(), Some(1));
    assert_eq!(entry.get("incomplete").unwrap().as_int(), Some(1));
    assert_eq!(entry.get("downloaded").unwrap().as_int(), Some(1));
}

#[test]
fn keep_alive_numwant_cap_and_pipelining() {
    let (_t, port) = start_tracker(60);
    let hash = [0x22; 20];
    let mut s = connect(port);
    for i in 0..230u32 {
        let mut id = [b'p'; 20];
        id[..4].copy_from_slice(&i.to_be_bytes());
        write!(
            s,
            "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
            announce_target(&hash, &id, 10000 + i as u16, "compact=1")
        )
        .unwrap();
        let (status, _, head) = read_response(&mut s);
        assert_eq!(status, 200);
        assert!(!head.to_ascii_lowercase().contains("connection: close"));
    }
    write!(
        s,
        "GET {} HTTP/1.1\r\n\r\n",
        announce_target(&hash, &[b'q'; 20], 9999, "compact=1&numwant=1000")
    )
    .unwrap();
    let (_, body, _) = read_response(&mut s);
    assert_eq!(compact_ports(&body).len(), 200, "numwant is capped at 200");
    write!(
        s,
        "GET {} HTTP/1.1\r\n\r\n",
        announce_target(&hash, &[b'q'; 20], 9999, "compact=1&numwant=3")
    )
    .unwrap();
    let (_, body, _) = read_response(&mut s);
    assert_eq!(compact_ports(&body).len(), 3);
    // Two requests in one write are both answered, in order.
    write!(
        s,
        "GET /nope HTTP/1.1\r\n\r\nGET /scrape?info_hash={} HTTP/1.1\r\nConnection: close\r\n\r\n",
        enc(&hash)
    )
    .unwrap();
    assert_eq!(read_response(&mut s).0, 404);
    let (status, _, head) = read_response(&mut s);
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close"));
}

/// A request waiting at accept is answered there; what comes with it or after it (pipelined,
/// half a head, the rest later) is the connection's to answer, in order.
#[test]
fn what_follows_a_request_answered_at_accept_is_answered_too() {
    let (_t, port) = start_tracker(60);
    let hash = [0x23; 20];
    let first = announce_target(&hash, &[b'a'; 20], 7001, "compact=1");
    let second = announce_target(&hash, &[b'b'; 20], 7002, "compact=1");
    // Two requests in the connection's first write, the second closing it.
    let mut s = connect(port);
    write!(
        s,
        "GET {first} HTTP/1.1\r\n\r\nGET {second} HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    let (status, body, head) = read_response(&mut s);
    assert_eq!((status, compact_ports(&body)), (200, vec![7001]));
    assert!(head.contains("Connection: close"));
    // Half a head first, the rest 300 ms later: read on from what was read at accept.
    let mut s = connect(port);
    let request = format!("GET {first} HTTP/1.1\r\nConnection: close\r\n\r\n");
    let (a, b) = request.split_at(20);
    s.write_all(a.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b.as_bytes()).unwrap();
    let (status, body, _) = read_response(&mut s);
    assert_eq!((status, compact_ports(&body)), (200, vec![7002]));
    // A closing request answered at accept: the tracker closes.
    let mut s = connect(port);
    write!(s, "GET {second} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    let mut rest = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read_to_end(&mut s, &mut rest).unwrap(), 0);
}

#[test]
fn bad_requests_get_failures_and_limits_hold() {
    let (t, port) = start_tracker(60);
    let hash = [0x33; 20];
    let cases = [
        (
            format!("/announce?peer_id={}&port=1&left=0", enc(&[1; 20])),
            "missing `info_hash`",
        ),
        (
            format!(
                "/announce?info_hash={}&peer_id={}&port=1&left=0",
                enc(&[1; 19]),
                enc(&[1; 20])
            ),
            "`info_hash` is 19 bytes",
        ),
        (
            format!(
                "/announce?info_hash={}&peer_id={}&port=1&left=0",
                enc(&hash),
                enc(&[1; 21])
            ),
            "`peer_id` is 21 bytes",
        ),
        (
            announce_target(&hash, &[1; 20], 1, "").replace("port=1", "port=65536"),
            "`port` 65536",
        ),
        (
            announce_target(&hash, &[1; 20], 1, "").replace("port=1", "port=abc"),
            "`port` is not",
        ),
        (
            announce_target(&hash, &[1; 20], 1, "").replace("uploaded=0", "uploaded=-1"),
            "`uploaded` is not",
        ),
        (
            announce_target(&hash, &[1; 20], 1, "event=exploded"),
            "`event`",
        ),
        ("/scrape".to_string(), "needs at least one"),
        (
            format!("/scrape?info_hash={}", enc(&[1; 3])),
            "`info_hash` is 3 bytes",
        ),
    ];
    for (target, needle) in cases {
        let (status, body) = get(port, &target);
        assert_eq!(status, 200, "{target}");
        let reason = failure_reason(&body);
        assert!(reason.contains(needle), "{target}: {reason}");
    }
    // The operator sees refusals: a log line (one every 10 s at most) and a count by reason.
    let line = t.wait_line(
        "refused an announce from 127.0.0.1",
        Duration::from_secs(10),
    );
    assert!(line.contains("missing `info_hash`"), "{line}");
    let (_, stats) = get(port, "/stats");
    let stats = String::from_utf8(stats).unwrap();
    assert!(stats.contains("\"refused_malformed\":7,"), "{stats}");
    let (_, metrics) = get(port, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("p2p_tracker_refused_total{reason=\"malformed\"} 7\n"),
        "{metrics}"
    );
    let (status, body) = get(port, "/index.html");
    assert_eq!(status, 404);
    assert!(!failure_reason(&body).is_empty());

    // Oversized request line and head: 414 / 431, then the connection closes. A 100 KB
    // request line still reads its 414 (no reset from closing with unread input).
    for (request, expected) in [
        (
            format!("GET /announce?{} HTTP/1.1\r\n\r\n", "a".repeat(4000)),
            414,
        ),
        (
            format!("GET /announce?{} HTTP/1.1\r\n\r\n", "a".repeat(100_000)),
            414,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\n{}\r\n",
                "X-Filler: 0123456789\r\n".repeat(600)
            ),
            431,
        ),
    ] {
        let mut s = connect(port);
        let _ = s.write_all(request.as_bytes());
        let (status, _, head) = read_response(&mut s);
        assert_eq!(status, expected);
        assert!(head.contains("Connection: close"));
        // Closed cleanly (end of stream), not reset with the client's input unread.
        let mut rest = [0u8; 16];
        let end = s.read(&mut rest);
        assert!(matches!(end, Ok(0)), "closed after a {expected}: {end:?}");
    }
}

#[test]
fn slow_clients_are_cut_off_while_others_are_served() {
    let (_t, port) = start_tracker(60);
    let started = Instant::now();
    let mut slow = connect(port);
    slow.write_all(b"GET /announce?info_hash=").unwrap();
    // Meanwhile the tracker keeps answering others.
    let (status, _) = get(port, &announce_target(&[0x44; 20], &[1; 20], 5, ""));
    assert_eq!(status, 200);
    let mut rest = [0u8; 16];
    let n = slow.read(&mut rest).unwrap_or(0);
    let waited = started.elapsed();
    assert_eq!(n, 0, "a half-sent request gets no answer, only a close");
    assert!(
        waited >= Duration::from_secs(14) && waited < Duration::from_secs(19),
        "closed after {waited:?}"
    );
}

#[test]
fn a_client_that_pipelines_and_never_reads_is_cut_off() {
    let _alone = take_turns();
    let (_t, port) = start_tracker(60);
    let hash = [0x55; 20];
    // 50 peers, so that every reply carries 300 bytes of them.
    for p in 0..50u8 {
        let (status, _) = get(port, &announce_target(&hash, &[p; 20], 1000 + p as u16, ""));
        assert_eq!(status, 200);
    }
    let requests = 100_000;
    let one = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        announce_target(&hash, &[200; 20], 7, "numwant=50")
    );
    let stream = connect(port);
    small_receive_buffer(&stream);
    let mut writer = stream.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let started = Instant::now();
    // Never reading: the replies pile up in the tracker's send buffer; once 64 KiB of them are
    // unread the tracker resets the connection. (Closed gently after its write timeout, the
    // connection lived on for minutes: its goodbye queued behind replies the client never read,
    // while the client's own writes went into a send buffer the kernel had grown to 4 MiB.)
    let mut sent = 0;
    let outcome = loop {
        if sent == requests {
            break None;
        }
        if let Err(e) = writer.write_all(one.as_bytes()) {
            break Some(e.kind());
        }
        sent += 1;
    };
    let took = started.elapsed();
    assert!(
        matches!(
            outcome,
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
        ),
        "after {sent} requests and {took:?}: {outcome:?} (the tracker kept the connection)"
    );
    eprintln!("cut off after {sent} requests, {took:?}");
}

/// Every connection taken (1,024) by idle clients on many addresses: a newcomer is still
/// answered, because the connection idle longest makes room for it.
#[test]
fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let _alone = take_turns();
    let (_t, port) = start_tracker(60);
    // 18 hosts (127.0.0.10-27) × 60 connections asking every second: past the cap of 1,024,
    // under the 64 a host; between their requests they wait, and the longest waiting makes room.
    let (_flood, opened) = polling_flood(port, 10..28, 60);
    assert!(opened >= 1024, "the flood opened {opened}");
    // The tracker holds its 1,024 connections (and a few descriptors of its own).
    assert!(
        holds_descriptors(&_t.proc, 1024),
        "the tracker never held 1,024 connections"
    );
    // A client from another address asks for a scrape: it is answered.
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET /scrape HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "the newcomer got {:?}",
        String::from_utf8_lossy(&got)
    );
}

/// Whether `proc` holds `n` descriptors (its connections and a few of its own) within 10 s.
fn holds_descriptors(proc: &Proc, n: usize) -> bool {
    let pid = proc.pid();
    wait_until(Duration::from_secs(10), || {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|d| d.count() >= n)
    })
}

/// Starts python3 holding `per_host` keep-alive connections from each of 127.0.0.`hosts`,
/// each asking for a scrape every second as a polling client would (past 512 connections a
/// request has 3 s, so connections that never ask are soon cut and a flood of them sheds
/// itself); returns it, holding them until it is dropped, and how many it opened.
fn polling_flood(port: u16, hosts: std::ops::Range<u8>, per_host: usize) -> (Proc, usize) {
    let script = r#"
import socket, sys, threading, time
socks = []
lock = threading.Lock()
def keep_asking():
    while True:
        with lock:
            live = list(socks)
        for s in live:
            try:
                try:
                    s.recv(65536)
                except BlockingIOError:
                    pass
                s.send(b"GET /scrape HTTP/1.1\r\n\r\n")
            except OSError:
                pass
        time.sleep(1)
threading.Thread(target=keep_asking, daemon=True).start()
for h in range(FIRST, LAST):
    for _ in range(PER_HOST):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), 2, source_address=("127.0.0.%d" % h, 0))
            s.setblocking(False)
            with lock:
                socks.append(s)
        except OSError:
            pass
print(len(socks), flush=True)
sys.stdin.read()
"#
    .replace("PORT", &port.to_string())
    .replace("FIRST", &hosts.start.to_string())
    .replace("LAST", &hosts.end.to_string())
    .replace("PER_HOST", &per_host.to_string());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut flood = Proc::spawn("flooder", &mut cmd);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(flood.child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let opened = line.trim().parse().expect("the flood's count");
    (flood, opened)
}

/// Whether the tracker closed `s` within `limit` (EOF or reset), or it is still open.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => panic!("the tracker sent something unasked"),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_silent_connection_is_cut_sooner_when_the_tracker_is_busy() {
    let _alone = take_turns();
    let (_t, port) = start_tracker(60);
    // Quiet: a connection that sends nothing is kept for the whole request timeout (15 s).
    let mut quiet = connect(port);
    assert!(!closed_within(&mut quiet, Duration::from_secs(5)));
    // 900 connections from 15 hosts (60 each, under the 64 a host), each asking every second:
    // well over half the 1,024, and they stay.
    let (_flood, opened) = polling_flood(port, 40..55, 60);
    assert_eq!(opened, 900);
    // The tracker has taken them (its descriptors say so), then: a newcomer that sends nothing
    // is cut after 3 s, not 15.
    assert!(
        holds_descriptors(&_t.proc, 600),
        "the tracker never held 600 of the connections"
    );
    let started = Instant::now();
    let mut silent = connect(port);
    assert!(
        closed_within(&mut silent, Duration::from_secs(8)),
        "a silent connection was kept 8 s while the tracker was busy"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "cut after {:?}",
        started.elapsed()
    );
    // Those that do ask are answered.
    assert_eq!(get(port, "/scrape").0, 200);
}

/// Fixes the socket's receive buffer at 16 KiB, so loopback cannot buffer megabytes of what
/// the client does not read (autotuning would grow it to 32 MiB).
fn small_receive_buffer(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    unsafe extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const i32, len: u32) -> i32;
    }
    const SOL_SOCKET: i32 = 1;
    const SO_RCVBUF: i32 = 8;
    let size: i32 = 16 << 10;
    let rc = unsafe { setsockopt(stream.as_raw_fd(), SOL_SOCKET, SO_RCVBUF, &size, 4) };
    assert_eq!(rc, 0, "setsockopt SO_RCVBUF");
}

#[test]
fn silent_peers_expire() {
    // With --interval 1 a peer is forgotten after 2 × 1 + 5 s of silence.
    let (_t, port) = start_tracker(1);
    let hash = [0x55; 20];
    get(port, &announce_target(&hash, &[b'a'; 20], 7001, ""));
    let (_, body) = get(port, &announce_target(&hash, &[b'b'; 20], 7002, ""));
    assert_eq!(compact_ports(&body), vec![7001]);
    let forgotten = wait_until(Duration::from_secs(15), || {
        let (_, body) = get(port, &format!("/scrape?info_hash={}", enc(&hash)));
        let v = bencode::decode(&body).unwrap();
        let bencode::Kind::Dict(files) = &v.get("files").unwrap().kind else {
            return false;
        };
        files[0].1.get("incomplete").unwrap().as_int() == Some(0)
    });
    assert!(forgotten, "peers silent past 2 × interval must expire");
}

fn udp_request(sock: &UdpSocket, packet: &[u8]) -> Vec<u8> {
    sock.send(packet).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock.recv(&mut buf).expect("a UDP answer");
    buf[..n].to_vec()
}

fn udp_announce_packet(conn: u64, hash: &[u8; 20], peer: u8, port: u16) -> Vec<u8> {
    let mut p = conn.to_be_bytes().to_vec();
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&42u32.to_be_bytes());
    p.extend_from_slice(hash);
    p.extend_from_slice(&[peer; 20]);
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&100u64.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&2u32.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&50i32.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p
}

#[test]
fn udp_connect_announce_and_forged_ids() {
    let (_t, port) = start_tracker(60);
    let hash = [0x66; 20];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    let mut connect = 0x41727101980u64.to_be_bytes().to_vec();
    connect.extend_from_slice(&0u32.to_be_bytes());
    connect.extend_from_slice(&7u32.to_be_bytes());
    let reply = udp_request(&sock, &connect);
    assert_eq!(&reply[..8], &[0, 0, 0, 0, 0, 0, 0, 7]);
    let conn = u64::from_be_bytes(reply[8..16].try_into().unwrap());

    // An HTTP peer and a UDP peer see each other.
    get(port, &announce_target(&hash, &[b'h'; 20], 7100, ""));
    let reply = udp_request(&sock, &udp_announce_packet(conn, &hash, b'u', 7200));
    assert_eq!(u32::from_be_bytes(reply[0..4].try_into().unwrap()), 1);
    assert_eq!(&reply[20..], &[127, 0, 0, 1, 0x1B, 0xBC]);

    // A forged connection id gets no answer (an error packet would amplify spoofed traffic).
    let silent = |sock: &UdpSocket, packet: &[u8]| {
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        sock.send(packet).unwrap();
        let mut buf = [0u8; 2048];
        assert!(
            sock.recv(&mut buf).is_err(),
            "no answer to a bad connection id"
        );
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    };
    silent(&sock, &udp_announce_packet(conn ^ 1, &hash, b'u', 7200));
    // The id is bound to the address: another socket cannot use it.
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    other.connect(("127.0.0.1", port)).unwrap();
    silent(&other, &udp_announce_packet(conn, &hash, b'v', 7300));
    // Garbage is dropped and the tracker still answers afterwards.
    for junk in [&b""[..], b"x", &[0xFF; 15], &[0; 200]] {
        sock.send(junk).unwrap();
    }
    let reply = udp_request(&sock, &connect);
    assert_eq!(reply.len(), 16);

    // What the operator sees: /stats (JSON) and /metrics (Prometheus text) count both peers,
    // the seed among them, and the announces of each protocol.
    get(
        port,
        &announce_target(&hash, &[b's'; 20], 7400, "").replace("left=100", "left=0"),
    );
    let mut s = self::connect(port);
    write!(s, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, body, head) = read_response(&mut s);
    let stats = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: application/json"), "{head}");
    for want in [
        "\"torrents\":1,",
        "\"peers\":3,",
        "\"seeds\":1,",
        "\"announces_http\":2,",
        "\"announces_udp\":1,",
        "\"memory_bytes\":",
        "\"announces_per_sec\":",
    ] {
        assert!(stats.contains(want), "{want} in {stats}");
    }
    let (status, metrics) = get(port, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(status, 200);
    for want in [
        "# TYPE p2p_tracker_peers gauge",
        "p2p_tracker_peers{kind=\"seed\"} 1\n",
        "p2p_tracker_peers{kind=\"leecher\"} 2\n",
        "p2p_tracker_announces_total{protocol=\"udp\"} 1\n",
        "p2p_tracker_torrents 1\n",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(want), "{want} in {metrics}");
    }
}

/// webtorrent announces `left=NaN` before it has a magnet link's metadata; opentracker takes it
/// as a leecher, and so do we (a missing `left` too).
#[test]
fn an_unreadable_or_missing_left_is_a_leechers() {
    let (_t, port) = start_tracker(60);
    let hash = [0x44; 20];
    let webtorrent = format!(
        "/announce?info_hash={}&peer_id={}&port=6881&uploaded=0&downloaded=0&left=NaN&event=started&compact=1&numwant=50",
        enc(&hash),
        enc(b"-WW0105-abcdefghijkl")
    );
    let (status, body) = get(port, &webtorrent);
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&body).contains("8:intervali"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let missing = announce_target(&hash, &[2; 20], 6882, "").replace("&left=100", "");
    assert!(!missing.contains("left="));
    let (_, body) = get(port, &missing);
    assert!(String::from_utf8_lossy(&body).contains("8:intervali"));
    let (_, stats) = get(port, "/stats");
    let stats = String::from_utf8(stats).unwrap();
    assert!(
        stats.contains("\"peers\":2,") && stats.contains("\"seeds\":0,"),
        "{stats}"
    );
}

#[test]
fn sigterm_stops_the_tracker() {
    let (mut t, port) = start_tracker(60);
    assert_eq!(get(port, "/scrape").0, 200);
    t.proc.signal("TERM");
    let status = t.proc.wait_for(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_tracker_arguments() {
    assert_usage_error(
        &p2p(&["tracker", "--listen", "nonsense"]),
        "--listen `nonsense`",
    );
    assert_usage_error(
        &p2p(&["tracker", "--listen", "127.0.0.1:0", "--interval", "0"]),
        "--interval `0`",
    );
}

#[test]
fn aria2c_finds_a_libtorrent_seed_through_the_tracker() {
    let aria2c = require("aria2c", "aria2");
    let py = require_libtorrent();
    let (_t, tport) = start_tracker(60);
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir(&seed_dir).unwrap();
    let (_, torrent) = make_content(
        &seed_dir,
        "shared.bin",
        3_000_000,
        &format!("tracker@127.0.0.1:{tport}"),
        "64K",
    );

    let lt_port = free_port();
    let mut lt = Command::new(py);
    lt.args([
        libtorrent_peer_script(),
        torrent.to_str().unwrap(),
        seed_dir.to_str().unwrap(),
        &lt_port.to_string(),
        "--timeout",
        "100",
    ])
    .stdout(std::process::Stdio::null());
    let _seed = Proc::spawn("libtorrent seed", &mut lt);
    // The seed is known to the tracker once a scrape counts it.
    let hash = hex_to_bytes(&info_hash(&torrent));
    let seen = wait_until(Duration::from_secs(30), || {
        let (_, body) = get(tport, &format!("/scrape?info_hash={}", enc(&hash)));
        String::from_utf8_lossy(&body).contains("8:completei1e")
    });
    assert!(
        seen,
        "libtorrent never announced itself as a seed to p2p tracker"
    );

    let out = dir.path().join("aria");
    let mut cmd = aria2c_fetch(&aria2c, &torrent, &out);
    let mut aria = Proc::spawn("aria2c", &mut cmd);
    let status = aria.wait_for(Duration::from_secs(90));
    assert!(status.success(), "aria2c failed: {status:?}");
    assert_eq!(
        std::fs::read(out.join("shared.bin")).unwrap(),
        std::fs::read(seed_dir.join("shared.bin")).unwrap()
    );
}

fn hex_to_bytes(hex: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}
