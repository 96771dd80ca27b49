//! The async runtime's calls in one place. async-std is discontinued upstream (its successor,
//! smol, is built on the same crates and has the same shapes), so everything that names the
//! runtime goes through here: spawning, blocking work, sleeping, timeouts, accepting.

use async_std::channel::{Receiver, Sender};
use async_std::net::{TcpListener, TcpStream};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use async_std::task::{JoinHandle, block_on, sleep, spawn_blocking};

/// Starts `future` as a task of its own, boxed here at once. async-std passes a future by
/// value through several frames before it reaches the heap: a large one (an RPC connection's,
/// tens of kilobytes) was copied down each of them, and grew each executor thread's stack by
/// hundreds of kilobytes, resident from then on.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(Box::pin(future))
}

/// Runs `fut` under `limit`, naming `what` in the timeout error.
pub async fn timeout<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    async_std::future::timeout(limit, fut).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{what} timed out after {}s", limit.as_secs()),
        )
    })?
}

/// Like [`timeout`] for a future that cannot fail: `None` when the time ran out.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    async_std::future::timeout(limit, fut).await.ok()
}

/// The first of two futures to finish; the other is dropped. When both are ready, `a` wins.
/// The next multiple of `period` counted from a process-wide start: every ticker of one
/// period that waits for these instants fires at the same moments, so that a daemon's
/// thousand torrents wake the runtime once a second, not a thousand times spread over it.
pub fn next_boundary(period: Duration) -> std::time::Instant {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let period_ns = period.as_nanos().max(1);
    let since = start.elapsed().as_nanos();
    let next = (since / period_ns + 1) * period_ns;
    start + Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// Sleeps until [`next_boundary`].
pub async fn sleep_to_next(period: Duration) {
    let at = next_boundary(period);
    sleep(at.saturating_duration_since(std::time::Instant::now())).await;
}

pub async fn race<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    use async_std::prelude::FutureExt;
    a.race(b).await
}

/// How long a host name may take to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first address of `host` (a name, or an IP address as text, IPv6 with or without its
/// brackets): names are resolved on a blocking thread, never on the async ones, within
/// [`RESOLVE_TIMEOUT`].
pub async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let name = host.to_string();
    let lookup = spawn_blocking(move || {
        use std::net::ToSocketAddrs;
        (name.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to no address")
            })
    });
    timeout("resolving the host", RESOLVE_TIMEOUT, lookup).await
}

/// The next connection. Accept errors (out of descriptors, say) back off from 10 ms up to
/// 1 s instead of spinning, and are logged once per run of failures.
pub async fn accept(listener: &TcpListener, who: &str) -> (TcpStream, SocketAddr) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok(conn) => return conn,
            Err(e) => {
                if backoff == Duration::from_millis(10) {
                    log::warn!("{who}: accept failed: {e}");
                }
                sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A counting semaphore. Taking a permit before `accept` leaves connections beyond the limit
/// in the kernel's backlog instead of accepting and dropping them.
#[derive(Clone)]
pub struct Permits {
    taken: Sender<()>,
    returned: Receiver<()>,
}

/// Held for the life of one connection; dropping it frees the place.
pub struct Permit(Receiver<()>);

impl Permits {
    pub fn new(limit: usize) -> Permits {
        let (taken, returned) = async_std::channel::bounded(limit.max(1));
        Permits { taken, returned }
    }

    /// Waits for a free place.
    pub async fn acquire(&self) -> Permit {
        // Cannot fail: `self` holds the receiving end.
        let _ = self.taken.send(()).await;
        Permit(self.returned.clone())
    }

    pub fn in_use(&self) -> usize {
        self.taken.len()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

/// A stop token for work that may take long (hashing what is on disk, creating a million
/// files, fetching a magnet link's metadata): the owner of the work cancels it; the work checks
/// [`Cancel::is_cancelled`] between steps, or awaits [`Cancel::cancelled`]. Clones share one
/// state. Nothing is global: each piece of work is given its own.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<CancelState>);

#[derive(Debug, Default)]
struct CancelState {
    flag: std::sync::atomic::AtomicBool,
    /// The tasks awaiting it, woken at once when it is cancelled (a daemon keeps one token a
    /// torrent: no channel preallocated for it).
    waiting: std::sync::Mutex<Vec<std::task::Waker>>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.waiting());
        waiting.into_iter().for_each(std::task::Waker::wake);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once [`Cancel::cancel`] was called (at once if it already was).
    pub async fn cancelled(&self) {
        std::future::poll_fn(|cx| {
            if self.is_cancelled() {
                return std::task::Poll::Ready(());
            }
            let mut waiting = self.waiting();
            // Looked at again under the lock: a cancel in between has emptied the list, and
            // one after this finds the waker in it.
            if self.is_cancelled() {
                return std::task::Poll::Ready(());
            }
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
            std::task::Poll::Pending
        })
        .await
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<std::task::Waker>> {
        self.0.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Has every thread allocate from one heap. glibc gives each thread that allocates its own
/// arena (up to eight a core), and what one thread frees stays in its arena: a daemon whose
/// torrents are added by one thread, checked by another and parked by a third keeps several
/// arenas of mostly free pages (1,000 seeds: seven arenas, 2 MiB more resident than one).
/// Small blocks still come from each thread's own cache without a lock. Call it before any
/// thread starts.
pub fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only sets the allocator's own parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the memory the allocator holds free back to the system. glibc keeps what every
/// thread's arena freed until then: after a daemon's thousands of torrents are checked and
/// parked, megabytes of it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_bound_what_is_held_and_come_back_when_dropped() {
        block_on(async {
            let permits = Permits::new(2);
            let a = permits.acquire().await;
            let _b = permits.acquire().await;
            assert_eq!(permits.in_use(), 2);
            assert!(
                within(Duration::from_millis(50), permits.acquire())
                    .await
                    .is_none()
            );
            drop(a);
            assert!(
                within(Duration::from_millis(50), permits.acquire())
                    .await
                    .is_some()
            );
        });
    }

    #[test]
    fn timeouts_name_the_operation() {
        let e = block_on(timeout(
            "reading the handshake",
            Duration::from_millis(10),
            std::future::pending::<std::io::Result<()>>(),
        ))
        .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "reading the handshake timed out after 0s");
    }

    #[test]
    fn a_cancel_wakes_its_waiters_and_stays_cancelled() {
        block_on(async {
            let cancel = Cancel::new();
            let waiter = cancel.clone();
            let waiting = spawn(async move { waiter.cancelled().await });
            assert!(!cancel.is_cancelled());
            cancel.cancel();
            assert!(within(Duration::from_secs(5), waiting).await.is_some());
            assert!(cancel.is_cancelled());
            // A later wait returns at once; an unrelated token is untouched.
            assert!(
                within(Duration::from_millis(50), cancel.cancelled())
                    .await
                    .is_some()
            );
            assert!(!Cancel::new().is_cancelled());
        });
    }
}
