//! The tracker: protocol types shared by server and client, the swarm store, the HTTP (BEP 3,
//! 23, 48) and UDP (BEP 15) servers, and the announce client peers use.

pub mod client;
pub mod http;
mod mmsg;
pub mod proto;
pub mod stats;
pub mod swarm;
pub mod udp;

pub use proto::{AnnounceEvent, AnnounceRequest};

use async_std::net::TcpListener;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use swarm::SwarmStore;

/// What the tracker tells every client, and the store behind it.
pub struct Tracker {
    pub store: SwarmStore,
    pub interval: u32,
    pub name: String,
    pub counters: stats::Counters,
}

impl Tracker {
    pub fn new(interval: u32, name: String) -> Tracker {
        Tracker {
            store: SwarmStore::new(Duration::from_secs(2 * interval as u64 + 5)),
            interval,
            name,
            counters: stats::Counters::default(),
        }
    }

    pub fn min_interval(&self) -> u32 {
        (self.interval / 2).max(1)
    }
}

/// Starts the HTTP and UDP tracker on `listen` (UDP on the bound TCP port number, so `:0` gives
/// one port for both) and the sweeper that expires silent peers. Returns the bound address.
pub async fn start(
    listen: SocketAddr,
    interval: u32,
    name: String,
) -> crate::Result<(SocketAddr, Arc<Tracker>)> {
    let net = |what: String| move |source| crate::Error::Net { what, source };
    let tcp = TcpListener::bind(listen)
        .await
        .map_err(|source| crate::Error::Listen {
            addr: listen,
            source,
        })?;
    let bound = tcp.local_addr().map_err(net("the listener".into()))?;
    let udp_addr = SocketAddr::new(listen.ip(), bound.port());
    let udp = std::net::UdpSocket::bind(udp_addr).map_err(|source| crate::Error::Listen {
        addr: udp_addr,
        source,
    })?;
    let tracker = Arc::new(Tracker::new(interval, name));
    crate::runtime::spawn(http::serve(tcp, tracker.clone()));
    // UDP on threads of its own, blocking in batched receives: one a core, up to 4.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let ids = Arc::new(udp::ConnectionIds::new());
    let clock = std::time::Instant::now();
    for i in 0..threads {
        let ids = ids.clone();
        let (socket, tracker) = (
            udp.try_clone().map_err(|source| crate::Error::Listen {
                addr: udp_addr,
                source,
            })?,
            tracker.clone(),
        );
        std::thread::Builder::new()
            .name(format!("tracker-udp-{i}"))
            .spawn(move || udp::serve(socket, tracker, ids, clock))
            .map_err(|source| crate::Error::Listen {
                addr: udp_addr,
                source,
            })?;
    }
    let sampler = tracker.clone();
    crate::runtime::spawn(async move {
        loop {
            crate::runtime::sleep(stats::SAMPLE_EVERY).await;
            sampler.counters.sample(stats::SAMPLE_EVERY);
        }
    });
    let sweeper = tracker.clone();
    crate::runtime::spawn(async move {
        let every = Duration::from_secs((sweeper.interval as u64 / 2).clamp(1, 60));
        loop {
            crate::runtime::sleep(every).await;
            let gone = sweeper.store.expire();
            if gone > 0 {
                log::debug!("tracker: {gone} silent peers expired");
            }
        }
    });
    Ok((bound, tracker))
}
