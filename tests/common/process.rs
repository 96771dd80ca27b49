//! Running the real binary and other programs as child processes that never outlive a test.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p");

/// A fresh directory for one p2p process's state (its DHT node id and nodes), so test
/// processes never share one and never read the user's.
pub fn fresh_state_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "state-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `p2p` as a command with its own state directory.
pub fn p2p_command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("XDG_STATE_HOME", fresh_state_dir());
    cmd
}

pub fn p2p(args: &[&str]) -> Output {
    p2p_command()
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run p2p")
}

pub fn p2p_in(dir: &Path, args: &[&str]) -> Output {
    p2p_command()
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run p2p")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure with exit code 1 and a single `p2p: error:` line containing `needle`.
pub fn assert_error(o: &Output, needle: &str) {
    assert_error_code(o, 1, needle);
}

/// Asserts a usage error (a bad flag value, exit code 2) naming `needle` in one error line.
pub fn assert_usage_error(o: &Output, needle: &str) {
    assert_error_code(o, 2, needle);
}

fn assert_error_code(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}, stderr: {err}"
    );
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("p2p: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, stderr: {err}");
    assert!(
        lines[0].contains(needle),
        "error {:?} should name {needle:?}",
        lines[0]
    );
}

/// A child process killed when dropped, so a failing test never leaves it running.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for exit up to `limit`; kills and fails the test past it.
    pub fn wait_for(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `INT`, `TERM` or `KILL` to this process (and only to it, by PID).
    pub fn signal(&self, signal: &str) {
        unsafe extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        let number = match signal {
            "INT" => 2,
            "KILL" => 9,
            "TERM" => 15,
            other => panic!("unknown signal {other}"),
        };
        // SAFETY: kill(2) with the PID of a child this test started and has not reaped.
        unsafe { kill(self.pid() as i32, number) };
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; tests that can should bind :0 instead).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// For tests that flood a listener: they take turns within their test binary, since side by
/// side on two cores their flooders fall behind and the pressure each makes comes and goes.
pub fn take_turns() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Polls `check` until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A p2p process whose stderr lines arrive on a channel (and are echoed, for failing tests).
pub struct Logged {
    pub proc: Proc,
    pub lines: std::sync::mpsc::Receiver<String>,
}

pub fn spawn_logged(name: &str, args: &[&str]) -> Logged {
    spawn_logged_env(name, args, &[])
}

/// [`spawn_logged`] with more environment variables.
pub fn spawn_logged_env(name: &str, args: &[&str], env: &[(&str, &Path)]) -> Logged {
    let mut cmd = p2p_command();
    cmd.envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::null());
    spawn_logged_command(name, &mut cmd)
}

/// A p2p command (or one that runs p2p, as `ip netns exec` does) run with its log lines on a
/// channel; its standard output goes where the command says.
pub fn spawn_logged_command(name: &str, cmd: &mut Command) -> Logged {
    if !cmd.get_envs().any(|(name, _)| name == "RUST_LOG") {
        cmd.env("RUST_LOG", "info");
    }
    cmd.stderr(Stdio::piped());
    let mut proc = Proc::spawn(name, cmd);
    let stderr = proc.child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let label = name.to_string();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[{label}] {line}");
            let _ = tx.send(line);
        }
    });
    Logged { proc, lines: rx }
}

impl Logged {
    /// The first line containing `needle` within `limit`; fails the test otherwise.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!(
                    "{}: no line containing {needle:?} within {limit:?}",
                    self.proc.name
                ),
            }
        }
    }

    /// The port from a `listening on HOST:PORT` line.
    pub fn listening_port(&self) -> u16 {
        let line = self.wait_line("listening on ", Duration::from_secs(20));
        let after = line.split("listening on ").nth(1).unwrap();
        let addr = after.split_whitespace().next().unwrap();
        addr.rsplit(':').next().unwrap().parse().expect("a port")
    }
}

/// `p2p seed TORRENT --dir DIR --listen 127.0.0.1:0 EXTRA...`; returns it and its port.
pub fn start_seed(name: &str, torrent: &Path, dir: &Path, extra: &[&str]) -> (Logged, u16) {
    let mut args = vec![
        "seed",
        torrent.to_str().unwrap(),
        "--dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let s = spawn_logged(name, &args);
    let port = s.listening_port();
    (s, port)
}

/// A fetch whose stdout and stderr go to files, so it can be waited on with a limit.
pub struct FetchRun {
    pub proc: Proc,
    pub out: PathBuf,
    pub err: PathBuf,
}

/// `fetch TORRENT --out OUT --listen 127.0.0.1:0 EXTRA...`, the arguments every test fetch
/// starts from.
pub fn fetch_args<'a>(torrent: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    fetch_args_on(torrent, out, "127.0.0.1:0", extra)
}

/// `fetch TORRENT --out OUT --listen LISTEN EXTRA...`.
pub fn fetch_args_on<'a>(
    torrent: &'a Path,
    out: &'a Path,
    listen: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "fetch",
        torrent.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    args
}

pub fn start_fetch(name: &str, torrent: &Path, out: &Path, extra: &[&str]) -> FetchRun {
    start_fetch_args(name, &fetch_args(torrent, out, extra), out)
}

/// `p2p ARGS...` as a [`FetchRun`] whose output files sit in `OUT.log/` beside `out`.
pub fn start_fetch_args(name: &str, args: &[&str], out: &Path) -> FetchRun {
    start_fetch_env(name, args, out, &[])
}

/// [`start_fetch_args`] with more environment variables.
pub fn start_fetch_env(name: &str, args: &[&str], out: &Path, env: &[(&str, &Path)]) -> FetchRun {
    let logs = out.with_extension("log");
    fs::create_dir_all(&logs).unwrap();
    let (o, e) = (logs.join("stdout"), logs.join("stderr"));
    let mut cmd = p2p_command();
    cmd.envs(env.iter().copied())
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap());
    FetchRun {
        proc: Proc::spawn(name, &mut cmd),
        out: o,
        err: e,
    }
}

impl FetchRun {
    pub fn finish(&mut self, limit: Duration) -> (bool, String, String) {
        let status = self.proc.wait_for(limit);
        let (out, err) = (
            fs::read_to_string(&self.out).unwrap(),
            fs::read_to_string(&self.err).unwrap(),
        );
        if !status.success() {
            eprintln!("[{}] stdout:\n{out}\nstderr:\n{err}", self.proc.name);
        }
        (status.success(), out, err)
    }
}
