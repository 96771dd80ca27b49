//! `p2p tracker`: the HTTP and UDP tracker on one port number until SIGINT or SIGTERM.

use crate::cli::Tracker as Args;
use crate::json::Json;
use crate::{Error, Result};
use std::time::Duration;

/// How often the tracker reports what it holds.
const STATS_EVERY: Duration = Duration::from_secs(30);

pub fn run(args: Args) -> Result<()> {
    let listen = super::parse_addr("--listen", &args.listen)?;
    if args.interval == 0 || args.interval > 24 * 3600 {
        return Err(Error::BadArgument {
            what: "--interval",
            value: args.interval.to_string(),
            reason: "must be from 1 to 86400 seconds".into(),
        });
    }
    crate::signal::install();
    crate::runtime::block_on(async {
        let (bound, tracker) =
            crate::tracker::start(listen, args.interval, args.name.clone()).await?;
        log::info!(
            "tracker `{}` listening on {bound} (HTTP /announce and /scrape, and UDP), interval {}s",
            args.name,
            args.interval
        );
        let stats = |event: &str| {
            Json::Obj(vec![
                ("event", Json::str(event)),
                ("torrents", Json::uint(tracker.store.torrent_count())),
                ("peers", Json::uint(tracker.store.peer_count())),
            ])
            .to_line()
        };
        loop {
            let stop = async {
                crate::signal::stopped().await;
                true
            };
            let tick = async {
                crate::runtime::sleep(STATS_EVERY).await;
                false
            };
            if crate::runtime::race(stop, tick).await {
                break;
            }
            if args.json {
                crate::outln!("{}", stats("stats"));
            } else {
                log::info!(
                    "{} torrents, {} peers",
                    tracker.store.torrent_count(),
                    tracker.store.peer_count()
                );
            }
        }
        if args.json {
            crate::outln!("{}", stats("stopped"));
        }
        log::info!(
            "tracker stopping: {} torrents, {} peers",
            tracker.store.torrent_count(),
            tracker.store.peer_count()
        );
        Ok(())
    })
}
