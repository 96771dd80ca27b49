//! The tracker: protocol types shared by server and client, the swarm store, the HTTP (BEP 3,
//! 23, 48) and UDP (BEP 15) servers, and the announce client peers use.

pub mod client;
pub mod http;
pub mod proto;
pub mod stats;
pub mod swarm;
pub mod udp;

pub use proto::{AnnounceEvent, AnnounceRequest};

use async_std::net::{TcpListener, UdpSocket};
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
    let udp = UdpSocket::bind(udp_addr)
        .await
        .map_err(|source| crate::Error::Listen {
            addr: udp_addr,
            source,
        })?;
    let tracker = Arc::new(Tracker::new(interval, name));
    crate::runtime::spawn(http::serve(tcp, tracker.clone()));
    crate::runtime::spawn(udp::serve(udp, tracker.clone()));
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
