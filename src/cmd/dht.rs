//! `p2p dht`: a standalone DHT node (BEP 5) until SIGINT/SIGTERM, which save its state: the
//! bootstrap point of a closed network, as the tracker node was in the old system.

use crate::cli::Dht;
use crate::dht::{self, DhtConfig};
use crate::{Error, Result, runtime, signal};
use std::time::{Duration, Instant};

/// Stats are logged this soon after start, then this often.
const FIRST_REPORT: Duration = Duration::from_secs(5);
const REPORT_EVERY: Duration = Duration::from_secs(60);

pub fn run(args: Dht) -> Result<()> {
    let listen = super::parse_addr("--listen", &args.listen)?;
    let config = DhtConfig {
        bootstrap: args.bootstrap.clone(),
        state_dir: args.state_dir.clone().or_else(dht::default_state_dir),
    };
    signal::install();
    runtime::block_on(async {
        let node = dht::start(listen, config)
            .await
            .map_err(|source| Error::Net {
                what: format!("listening on {listen} (UDP)"),
                source,
            })?;
        log::info!("dht node {} listening on {}", node.id, node.local);
        let (mut wait, mut last, mut seen) = (FIRST_REPORT, Instant::now(), (0u64, 0u64));
        loop {
            let stop = async {
                signal::stopped().await;
                true
            };
            let tick = async {
                runtime::sleep(wait).await;
                false
            };
            if runtime::race(stop, tick).await {
                break;
            }
            let s = node.stats().await;
            let secs = last.elapsed().as_secs_f64().max(1e-3);
            log::info!(
                "dht: {} nodes in {} buckets ({} without a BEP 42 id); {} peers of {} torrents stored; {:.1} queries/s in, {:.1} out, {} dropped",
                s.nodes,
                s.buckets,
                s.without_bep42,
                s.peers,
                s.info_hashes,
                (s.queries_in - seen.0) as f64 / secs,
                (s.queries_out - seen.1) as f64 / secs,
                s.dropped
            );
            (wait, last, seen) = (REPORT_EVERY, Instant::now(), (s.queries_in, s.queries_out));
        }
        node.stop().await;
        log::info!("dht: stopped, state saved");
        Ok(())
    })
}
