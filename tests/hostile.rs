//! Hostile peers, trackers and output directories against the real binary: each test here is a
//! defect that once let one party take memory, write outside `--out` or stop announcing.

mod common;
use common::*;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn info_hash_bytes(torrent: &Path) -> [u8; 20] {
    let hex = info_hash(torrent);
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Resident memory of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A fake seed that claims every piece, then sends unchoke/choke pairs as fast as it can and
/// never reads: each unchoke makes the fetch queue requests the peer will never take.
#[test]
fn a_peer_flooding_unchoke_and_choke_without_reading_is_dropped_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 4 << 20, "t@127.0.0.1:9", "16K");
    let hash = info_hash_bytes(&torrent);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dropped = Arc::new(AtomicBool::new(false));
    let flooder = {
        let dropped = dropped.clone();
        std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut hs = [0u8; 68];
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.read_exact(&mut hs).unwrap();
            let mut reply = b"\x13BitTorrent protocol".to_vec();
            reply.extend_from_slice(&[0; 8]);
            reply.extend_from_slice(&hash);
            reply.extend_from_slice(b"-XX0001-flooderflood");
            // 256 pieces: a 32-byte bitfield, every bit set.
            reply.extend_from_slice(&[0, 0, 0, 33, 5]);
            reply.extend_from_slice(&[0xff; 32]);
            c.write_all(&reply).unwrap();
            let pairs: Vec<u8> = [0, 0, 0, 1, 1, 0, 0, 0, 1, 0].repeat(1000);
            c.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Err(e) = c.write_all(&pairs)
                    && e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
                {
                    dropped.store(true, Ordering::SeqCst);
                    return;
                }
            }
        })
    };
    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    // The fake peer takes one connection and speaks plaintext only.
    let extra = ["--peer", &peer, "--encryption", "off"];
    let fetch = spawn_logged("fetch", &fetch_args(&torrent, &out, &extra));
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !dropped.load(Ordering::SeqCst) {
        peak = peak.max(rss_kib(fetch.proc.pid()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "the fetch kept a peer that reads nothing for 20 s (peak RSS {peak} KiB)"
    );
    assert!(peak < 150 * 1024, "fetch grew to {peak} KiB");
    fetch.wait_line("does not read what we send", Duration::from_secs(5));
    flooder.join().unwrap();
}

fn fetch_into(torrent: &Path, out: &Path) -> std::process::Output {
    let dead_peer = format!("127.0.0.1:{}", free_port());
    p2p(&fetch_args(
        torrent,
        out,
        &["--peer", &dead_peer, "--timeout", "10s"],
    ))
}

#[test]
fn fetch_never_writes_through_a_symbolic_link_under_its_output_directory() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let (_, single) = make_content(dir.path(), "one.bin", 200_000, "t@127.0.0.1:9", "16K");
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("a.bin"), data(50_000, 1)).unwrap();
    fs::write(tree.join("sub/b.bin"), data(60_000, 2)).unwrap();
    let multi = dir.path().join("tree.torrent");
    make_torrent_file(&tree, &multi, "t@127.0.0.1:9", "16K");
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    fs::write(&victim, b"twenty-eight bytes of mine\n").unwrap();

    // DIR/NAME is a link to a file outside.
    let out = dir.path().join("out1");
    fs::create_dir(&out).unwrap();
    symlink(&victim, out.join("one.bin")).unwrap();
    assert_error(
        &fetch_into(&single, &out),
        "out1/one.bin` is a symbolic link",
    );
    assert_eq!(fs::read(&victim).unwrap(), b"twenty-eight bytes of mine\n");

    // A dangling link: nothing may be created where it points.
    let out = dir.path().join("out2");
    fs::create_dir(&out).unwrap();
    symlink(outside.join("new.bin"), out.join("one.bin")).unwrap();
    assert_error(
        &fetch_into(&single, &out),
        "out2/one.bin` is a symbolic link",
    );
    assert!(!outside.join("new.bin").exists());

    // DIR/NAME, a directory of a multi-file torrent, links outside.
    let out = dir.path().join("out3");
    fs::create_dir(&out).unwrap();
    symlink(&outside, out.join("tree")).unwrap();
    assert_error(&fetch_into(&multi, &out), "out3/tree` is a symbolic link");

    // A directory further down links outside.
    let out = dir.path().join("out4");
    fs::create_dir_all(out.join("tree")).unwrap();
    symlink(&outside, out.join("tree/sub")).unwrap();
    assert_error(
        &fetch_into(&multi, &out),
        "out4/tree/sub` is a symbolic link",
    );

    // A file further down links outside.
    let out = dir.path().join("out5");
    fs::create_dir_all(out.join("tree/sub")).unwrap();
    symlink(&victim, out.join("tree/sub/b.bin")).unwrap();
    assert_error(
        &fetch_into(&multi, &out),
        "out5/tree/sub/b.bin` is a symbolic link",
    );

    assert_eq!(fs::read(&victim).unwrap(), b"twenty-eight bytes of mine\n");
    let mut names: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["victim.txt"], "nothing new appears outside");
}

#[test]
fn fetch_does_not_truncate_a_longer_file_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "one.bin", 100_000, "t@127.0.0.1:9", "16K");
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let theirs = data(150_000, 9);
    fs::write(out.join("one.bin"), &theirs).unwrap();
    assert_error(
        &fetch_into(&torrent, &out),
        "has 150000 bytes, more than the torrent's 100000",
    );
    assert_eq!(fs::read(out.join("one.bin")).unwrap(), theirs);
}

/// An HTTP tracker on 127.0.0.1 that answers every request with `reply`, for a minute at most;
/// returns its port and the count of requests it answered.
fn fake_tracker(reply: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let tracker = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tracker.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tracker.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok((mut c, _)) = tracker.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(&reply);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, answered)
}

fn fetch_announcing_to(dir: &Path, tport: u16) -> Logged {
    let (_, torrent) = make_content(
        dir,
        "f.bin",
        100_000,
        &format!("http://127.0.0.1:{tport}/announce"),
        "16K",
    );
    spawn_logged(
        "fetch",
        &fetch_args(&torrent, &dir.join("out"), &["--timeout", "5s"]),
    )
}

/// A tracker whose every reply declares a chunk of 2^64 - 1 bytes.
#[test]
fn a_chunk_size_that_overflows_is_an_announce_error_not_a_panic() {
    let (tport, announces) = fake_tracker(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nxx".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut fetch = fetch_announcing_to(dir.path(), tport);
    fetch.wait_line("announce failed: ", Duration::from_secs(20));
    let status = fetch.proc.wait_for(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1));
    let rest: Vec<String> = fetch.lines.try_iter().collect();
    let text = rest.join("\n");
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.contains("last problem") && text.contains("a body over 2097152 bytes"),
        "{text}"
    );
    assert!(announces.load(Ordering::SeqCst) >= 1);
}

/// A tracker's megabyte-long failure reason full of terminal escapes.
#[test]
fn a_tracker_failure_reason_is_escaped_and_capped_in_the_log() {
    let reason = "\u{1b}[2J\u{1b}[31mowned\n".repeat(100_000);
    let body = format!("d14:failure reason{}:{reason}e", reason.len());
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (tport, _) = fake_tracker(reply.into_bytes());
    let dir = tempfile::tempdir().unwrap();
    let fetch = fetch_announcing_to(dir.path(), tport);
    let line = fetch.wait_line("announce failed: ", Duration::from_secs(20));
    assert!(!line.contains('\u{1b}'), "raw escape in {line:?}");
    assert!(line.contains("\\u{1b}[31mowned\\n"), "{line}");
    assert!(line.len() < 2000, "{} bytes logged", line.len());
}

/// File names with terminal escapes and newlines are printed escaped by `info`.
#[test]
fn info_escapes_control_characters_in_names() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("evil\u{1b}[31m");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("two\nlines.bin"), data(1000, 1)).unwrap();
    let torrent = dir.path().join("e.torrent");
    make_torrent_file(&tree, &torrent, "t@127.0.0.1:9", "16K");
    let o = p2p(&["info", torrent.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("evil\\u{1b}[31m/two\\nlines.bin"), "{out}");
}

#[test]
fn state_files_that_are_links_devices_or_fifos_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    // A DHT state file linked to /dev/zero: the node starts afresh, with a warning, instead
    // of reading until memory runs out.
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink("/dev/zero", state.join("dht.dat")).unwrap();
    let node = spawn_logged(
        "dht",
        &[
            "dht",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let warning = node.wait_line("starting afresh", Duration::from_secs(20));
    assert!(warning.contains("symbolic link"), "{warning}");
    node.wait_line("listening on", Duration::from_secs(20));
    node.proc.signal("TERM");
    let mut node = node;
    assert!(node.proc.wait_for(Duration::from_secs(20)).success());
    assert!(
        fs::symlink_metadata(state.join("dht.dat"))
            .unwrap()
            .is_file()
    );

    // A FIFO where the resume file goes: the fetch neither hangs on it nor reads it.
    let (content, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &[]);
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let fifo = std::ffi::CString::new(out.join(".f.bin.p2p-resume").to_str().unwrap()).unwrap();
    unsafe extern "C" {
        fn mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let peer = format!("127.0.0.1:{port}");
    let (ok, _, err) = start_fetch("fetch", &torrent, &out, &["--peer", &peer, "--no-dht"])
        .finish(Duration::from_secs(60));
    assert!(ok, "{err}");
    assert!(err.contains("is not a regular file"), "{err}");
    assert!(fs::read(out.join("f.bin")).unwrap() == fs::read(&content).unwrap());
}

#[test]
fn a_torrent_read_from_a_device_or_pipe_is_bounded() {
    let started = Instant::now();
    let o = p2p(&["info", "/dev/zero"]);
    assert_error(
        &o,
        "what it holds is larger than the 67108864 bytes allowed",
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Asks `python3` for a TCP exchange from source address 127.0.0.2 (the test's own sockets all
/// come from 127.0.0.1, which the flood holds): sends `request`, prints how many bytes came
/// back within the time limit.
fn exchange_from_127_0_0_2(port: u16, request: &[u8], want: usize, limit_secs: f64) -> usize {
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket,time\n\
         s=socket.create_connection(('127.0.0.1',{port}),{limit_secs},source_address=('127.0.0.2',0))\n\
         s.sendall(bytes.fromhex('{hex}'))\n\
         got=b''\nend=time.time()+{limit_secs}\n\
         try:\n  while len(got)<{want} and time.time()<end:\n    c=s.recv(65536)\n    if not c: break\n    got+=c\n\
         except Exception: pass\n\
         print(len(got))"
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("python3: {}", String::from_utf8_lossy(&o.stderr)))
}

/// 2,000 idle connections from 127.0.0.1 to the tracker and to a seed's peer port: a client at
/// 127.0.0.2 is still answered by both within a second, and completes a fetch within 3 s.
#[test]
fn one_host_flooding_connections_does_not_lock_out_another() {
    let _alone = take_turns();
    let (_tracker, tport) = start_tracker(60);
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let (_seed, sport) = start_seed("seed", &torrent, dir.path(), &[]);
    // Each listener is flooded, then asked at once, well inside its own idle timeout.
    let flood = |port: u16| -> Vec<std::net::TcpStream> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        (0..2000)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
            })
            .collect()
    };
    let idle = flood(tport);
    let scrape = b"GET /scrape HTTP/1.1\r\nConnection: close\r\n\r\n";
    let got = exchange_from_127_0_0_2(tport, scrape, 12, 1.0);
    assert!(got >= 12, "the tracker answered {got} bytes within 1 s");
    drop(idle);
    let idle = flood(sport);
    let mut hs = b"\x13BitTorrent protocol".to_vec();
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&info_hash_bytes(&torrent));
    hs.extend_from_slice(b"-XX0001-from12700002");
    let got = exchange_from_127_0_0_2(sport, &hs, 68, 1.0);
    assert!(
        got >= 68,
        "the seed answered {got} bytes of its handshake within 1 s"
    );
    // And a whole fetch from 127.0.0.2 (libtorrent) completes within 3 s.
    let py = require_libtorrent();
    let out = dir.path().join("lt");
    let mut cmd = libtorrent_fetch(py, &torrent, &out, sport, 3, &["--bind", "127.0.0.2"]);
    let status =
        Proc::spawn("libtorrent from 127.0.0.2", &mut cmd).wait_for(Duration::from_secs(30));
    assert!(status.success(), "no complete fetch within 3 s: {status:?}");
    assert_eq!(
        std::fs::read(out.join("f.bin")).unwrap(),
        std::fs::read(dir.path().join("f.bin")).unwrap()
    );
    drop(idle);
}

#[test]
fn a_silent_handshake_is_cut_sooner_when_many_are_in_progress() {
    let _alone = take_turns();
    let dir = tempfile::tempdir().unwrap();
    let (_, torrent) = make_content(dir.path(), "f.bin", 100_000, "t@127.0.0.1:9", "16K");
    let (_seed, port) = start_seed("seed", &torrent, dir.path(), &["--no-dht"]);
    let silent_for = |limit: Duration| -> Option<Duration> {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(limit)).unwrap();
        let started = std::time::Instant::now();
        match s.read(&mut [0u8; 1]) {
            Ok(0) => Some(started.elapsed()),
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                Some(started.elapsed())
            }
            _ => None,
        }
    };
    // Quiet: a connection that never sends its handshake keeps its place for 10 s.
    assert_eq!(silent_for(Duration::from_secs(5)), None);
    // 150 handshakes in progress from 5 hosts (30 each, under the 32 a host): over half of 256.
    // A silent newcomer right behind them (timed by the same script: those past the threshold
    // get 3 s themselves, so the pressure lasts only while they do) is cut after 3 s.
    let script = r#"
import socket, time
socks = []
for h in range(60, 65):
    for _ in range(30):
        try:
            socks.append(socket.create_connection(("127.0.0.1", PORT), 2, source_address=("127.0.0.%d" % h, 0)))
        except OSError:
            pass
s = socket.create_connection(("127.0.0.1", PORT), 2)
s.settimeout(8)
started = time.time()
try:
    s.recv(1)
    print(len(socks), time.time() - started)
except socket.timeout:
    print(len(socks), "kept")
except OSError:
    print(len(socks), time.time() - started)
"#
    .replace("PORT", &port.to_string());
    let o = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut words = text.split_whitespace();
    assert_eq!(words.next(), Some("150"), "{text}");
    let cut: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("a silent handshake was kept 8 s: {text}"));
    assert!((2.0..8.0).contains(&cut), "cut after {cut} s");
}

#[test]
fn sigterm_stops_a_fetch_still_creating_its_files_and_a_second_signal_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // 100,000 one-byte files: creating them takes the fetch a few seconds.
    let content = dir.path().join("many");
    fs::create_dir(&content).unwrap();
    for i in 0..100_000 {
        fs::write(content.join(format!("f{i:06}")), b"x").unwrap();
    }
    let torrent = dir.path().join("many.torrent");
    make_torrent_file(&content, &torrent, "t@127.0.0.1:9", "16K");
    let out = dir.path().join("out");
    let mut fetch = start_fetch("fetch", &torrent, &out, &["--no-dht"]);
    let created = || fs::read_dir(out.join("many.part")).map_or(0, |d| d.count());
    assert!(
        wait_until(Duration::from_secs(30), || created() >= 1000),
        "the fetch never started creating files"
    );
    fetch.proc.signal("TERM");
    let status = fetch.proc.wait_for(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{status:?}");
    let n = created();
    assert!(n < 90_000, "{n} files created after SIGTERM came");

    // A fetch waiting at its end for an --on-done hook: one signal is not enough to leave the
    // hook, a second ends the fetch at once.
    let (_, small) = make_content(dir.path(), "s.bin", 50_000, "t@127.0.0.1:9", "16K");
    let (_seed, port) = start_seed("seed", &small, dir.path(), &["--no-dht"]);
    let peer = format!("127.0.0.1:{port}");
    let (hook, release) = (dir.path().join("hook-started"), dir.path().join("release"));
    // The hook outlives the fetch: it ends when the test releases it (or after 60 s).
    let cmd = format!(
        "touch '{}'; i=0; while [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
        hook.display(),
        release.display()
    );
    let mut fetch = start_fetch(
        "hooked",
        &small,
        &dir.path().join("s"),
        &["--peer", &peer, "--no-dht", "--on-done", &cmd],
    );
    assert!(wait_until(Duration::from_secs(30), || hook.exists()));
    fetch.proc.signal("INT");
    assert!(wait_until(Duration::from_secs(10), || {
        fs::read_to_string(&fetch.err)
            .unwrap_or_default()
            .contains("a second signal stops at once")
    }));
    fetch.proc.signal("INT");
    let status = fetch.proc.wait_for(Duration::from_secs(10));
    fs::write(&release, b"").unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}
