//! SIGINT and SIGTERM as a flag that async code can wait on. The handler only stores to an
//! atomic, the one thing a signal handler may safely do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

extern "C" fn on_signal(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to the stop flag. Call once at start-up.
pub fn install() {
    // SAFETY: `signal` from the C library, with a handler that only stores to an atomic.
    unsafe {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks everything waiting in [`stopped`] to stop, as a signal would.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Resolves once a stop was requested.
pub async fn stopped() {
    while !stop_requested() {
        async_std::task::sleep(Duration::from_millis(100)).await;
    }
}
