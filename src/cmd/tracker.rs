//! `p2p tracker`: the HTTP and UDP tracker on one port number until SIGINT or SIGTERM.

use crate::cli::Tracker as Args;
use crate::tracker::http::{self, Tracker};
use crate::tracker::udp;
use crate::{Error, Result};
use async_std::net::{TcpListener, UdpSocket};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub fn run(args: Args) -> Result<()> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| Error::BadArgument {
        what: "--listen",
        value: args.listen.clone(),
        reason: "expected HOST:PORT with an IP address, e.g. 0.0.0.0:6969".into(),
    })?;
    if args.interval == 0 || args.interval > 24 * 3600 {
        return Err(Error::BadArgument {
            what: "--interval",
            value: args.interval.to_string(),
            reason: "must be from 1 to 86400 seconds".into(),
        });
    }
    crate::signal::install();
    async_std::task::block_on(async {
        let net = |what: String| move |source| Error::Net { what, source };
        let tcp = TcpListener::bind(listen)
            .await
            .map_err(net(format!("TCP {listen}")))?;
        let bound = tcp.local_addr().map_err(net("the listener".into()))?;
        // UDP on the same port number as TCP, so `:0` gives one port for both.
        let udp_addr = SocketAddr::new(listen.ip(), bound.port());
        let udp = UdpSocket::bind(udp_addr)
            .await
            .map_err(net(format!("UDP {udp_addr}")))?;
        let tracker = Arc::new(Tracker::new(args.interval, args.name.clone()));
        log::info!(
            "tracker `{}` listening on {bound} (HTTP /announce and /scrape, and UDP), interval {}s",
            args.name,
            args.interval
        );
        async_std::task::spawn(http::serve(tcp, tracker.clone()));
        async_std::task::spawn(udp::serve(udp, tracker.clone()));
        let sweeper = tracker.clone();
        async_std::task::spawn(async move {
            let every = Duration::from_secs((sweeper.interval as u64 / 2).clamp(1, 60));
            loop {
                async_std::task::sleep(every).await;
                let gone = sweeper.store.expire();
                if gone > 0 {
                    log::debug!("tracker: {gone} silent peers expired");
                }
            }
        });
        crate::signal::stopped().await;
        log::info!(
            "tracker stopping: {} torrents, {} peers",
            tracker.store.torrent_count(),
            tracker.store.peer_count()
        );
        Ok(())
    })
}
