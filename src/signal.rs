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

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    let fd = PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the buffer is a static byte. The write end is
        // non-blocking: with the pipe full (signals nobody reads), the byte is dropped.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

fn wake() -> &'static (Sender<()>, Receiver<()>) {
    WAKE.get_or_init(|| async_std::channel::bounded(1))
}

/// Routes SIGINT and SIGTERM to [`stopped`]. Call once at start-up. The pipe is created
/// close-on-exec, so an `--on-done` child inherits neither end.
pub fn install() {
    let mut fds = [-1i32; 2];
    // SAFETY: pipe2(2) fills the two descriptors of a new pipe; fcntl(2) sets a flag on the
    // write end this function owns.
    let made = unsafe {
        libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) == 0
            && libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) == 0
    };
    if made {
        let reader = fds[0];
        std::thread::spawn(move || {
            let mut signals = 0;
            let mut byte = 0u8;
            loop {
                // SAFETY: reads one byte into a local from a descriptor this thread owns.
                let n = unsafe { libc::read(reader, (&mut byte as *mut u8).cast(), 1) };
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
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: `signal` from the C library, with a handler that is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
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
