//! `p2p tracker`: the HTTP and UDP tracker on one port number until SIGINT or SIGTERM.

use crate::cli::Tracker as Args;
use crate::{Error, Result};

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
        crate::signal::stopped().await;
        log::info!(
            "tracker stopping: {} torrents, {} peers",
            tracker.store.torrent_count(),
            tracker.store.peer_count()
        );
        Ok(())
    })
}
