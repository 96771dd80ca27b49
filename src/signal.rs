//! SIGINT and SIGTERM as a future that async code can wait on. The handler only does what a
//! signal handler may safely do: store to an atomic and write one byte to a pipe. A thread
//! blocked on the pipe's other end wakes every waiter by closing a channel, so nothing polls.

use async_std::channel::{Receiver, Sender};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
/// The pipe's write end, for the handler; -1 until installed.
static PIPE: AtomicI32 = AtomicI32::new(-1);
/// Closed when a stop is requested: `recv` on it then returns at once, for every waiter.
static WAKE: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn pipe(fds: *mut i32) -> i32;
    fn read(fd: i32, buf: *mut u8, count: usize) -> isize;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

extern "C" fn on_signal(_: i32) {
    STOP.store(true, Ordering::SeqCst);
    let fd = PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte.
        unsafe { write(fd, [1u8].as_ptr(), 1) };
    }
}

fn wake() -> &'static (Sender<()>, Receiver<()>) {
    WAKE.get_or_init(|| async_std::channel::bounded(1))
}

/// Routes SIGINT and SIGTERM to [`stopped`]. Call once at start-up.
pub fn install() {
    let mut fds = [-1i32; 2];
    // SAFETY: pipe(2) fills the two descriptors of a new pipe.
    if unsafe { pipe(fds.as_mut_ptr()) } == 0 {
        let reader = fds[0];
        std::thread::spawn(move || {
            let mut signals = 0;
            let mut byte = 0u8;
            loop {
                // SAFETY: reads one byte into a local from a descriptor this thread owns.
                let n = unsafe { read(reader, &mut byte, 1) };
                if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                if n != 1 {
                    break;
                }
                signals += 1;
                if signals == 1 {
                    log::info!("stopping (a second signal stops at once)");
                    request_stop();
                } else {
                    // A second signal: whatever is still being finished, stop now.
                    eprintln!("p2p: stopped at once (second signal)");
                    std::process::exit(130);
                }
            }
        });
        PIPE.store(fds[1], Ordering::SeqCst);
    }
    // SAFETY: `signal` from the C library, with a handler that is async-signal-safe.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

/// The flag a stop sets, for code that is handed it instead of asking this module.
pub fn flag() -> &'static AtomicBool {
    &STOP
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks everything waiting in [`stopped`] to stop, as a signal would.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
    wake().0.close();
}

/// Resolves once a stop was requested.
pub async fn stopped() {
    let receiver = wake().1.clone();
    if !stop_requested() {
        let _ = receiver.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_request_wakes_every_waiter() {
        let waiters: Vec<_> = (0..3).map(|_| crate::runtime::spawn(stopped())).collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        request_stop();
        crate::runtime::block_on(async {
            for w in waiters {
                let woke = crate::runtime::within(std::time::Duration::from_secs(5), w).await;
                assert!(woke.is_some());
            }
        });
        assert!(stop_requested());
    }
}
