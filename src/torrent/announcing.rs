//! Talking to the tracker: runs the announces [`super::announce::Schedule`] asks for (the
//! announcer travels with each one and comes back with its outcome), hands the peers it names
//! to the dialer, and says goodbye at shutdown. Looking the torrent up in the DHT, the other
//! place peers come from, is here too.

use super::{Event, Task};
use crate::tracker::AnnounceEvent;
use crate::tracker::AnnounceRequest;
use crate::tracker::client::{AnnounceResult, Announcer, TrackerError};
use async_std::channel::Receiver;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Task {
    pub(super) fn announce_params(&self, event: AnnounceEvent) -> AnnounceRequest {
        // Content bytes, as `bytes_have` counts them: padding is neither left nor had.
        let total = self.meta.info.total_length();
        AnnounceRequest {
            info_hash: self.meta.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.listen.port(),
            uploaded: self.stats.uploaded.load(Ordering::Relaxed),
            downloaded: self.stats.downloaded.load(Ordering::Relaxed),
            left: total - self.picker.bytes_have().min(total),
            event,
            numwant: crate::tracker::proto::DEFAULT_NUMWANT,
            compact: true,
            no_peer_id: false,
        }
    }

    /// Starts the announce the schedule says is due, if any.
    pub(super) fn maybe_announce(&mut self) {
        if self.announcer.is_none() {
            return;
        }
        let Some(event) = self.schedule.due(Instant::now()) else {
            return;
        };
        let Some(mut announcer) = self.announcer.take() else {
            return;
        };
        let params = self.announce_params(event);
        let events = self.ctrl.clone();
        // A hybrid is announced under its v2 hash too, to the tracker that just answered: one
        // swarm, whichever half a peer is in (BEP 52).
        let alias = self.meta.swarm_hashes().get(1).copied();
        crate::runtime::spawn(async move {
            let mut result = announcer.announce(&params).await;
            if let (Some(alias), Ok(first)) = (alias, &mut result) {
                let v2 = AnnounceRequest {
                    info_hash: alias,
                    ..params
                };
                match announcer.announce(&v2).await {
                    Ok(more) => first.peers.extend(more.peers),
                    Err(e) => log::debug!("announce under the v2 info-hash: {e}"),
                }
            }
            let _ = events
                .send(Event::Announced(announcer, event, Box::new(result)))
                .await;
        });
    }

    pub(super) fn announced(
        &mut self,
        announcer: Announcer,
        event: AnnounceEvent,
        result: std::result::Result<AnnounceResult, TrackerError>,
    ) {
        self.announcer = Some(announcer);
        let now = Instant::now();
        let short_of_peers = self.peers.is_empty() && !self.picker.is_complete();
        match result {
            Ok(r) => {
                log::debug!(
                    "tracker gave {} peers, next announce in {}s",
                    r.peers.len(),
                    r.interval.as_secs()
                );
                self.schedule
                    .on_result(event, Ok(r.interval), short_of_peers, now);
                for addr in r.peers {
                    self.dialer.add(addr, false, now);
                }
                self.connect_more();
            }
            Err(e) => {
                self.schedule.on_result(event, Err(()), short_of_peers, now);
                if self.schedule.first_failure() {
                    log::warn!(
                        "{}: announce failed: {e}",
                        crate::escape::untrusted(&self.meta.info.name, 80)
                    );
                }
                self.last_error = Some(e.to_string());
            }
        }
        self.maybe_announce();
    }

    /// Tells the tracker we leave (5 s at most for each announce) and closes every connection.
    pub(super) async fn shutdown(&mut self, ctrl: &Receiver<Event>) {
        self.peers.clear();
        self.update_stats();
        let limit = Duration::from_secs(5);
        // A trackerless torrent has no announcer at all: nothing to wait for.
        if self.announcer.is_none() && !self.meta.tracker_tiers().is_empty() {
            // An announce is under way (often the `completed` one): wait for it to come back.
            let deadline = Instant::now() + limit;
            while self.announcer.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                match crate::runtime::within(left, ctrl.recv()).await {
                    Some(Ok(Event::Announced(announcer, event, result))) => {
                        let result = (*result).map(|r| r.interval).map_err(|_| ());
                        self.schedule
                            .on_result(event, result, false, Instant::now());
                        self.announcer = Some(announcer);
                    }
                    Some(Ok(_)) => continue,
                    _ => break,
                }
            }
        }
        if let Some(mut announcer) = self.announcer.take() {
            for event in self.schedule.farewell() {
                let params = self.announce_params(event);
                let _ = crate::runtime::within(limit, announcer.announce(&params)).await;
            }
        }
    }

    /// Every 10 minutes (every 15 s while no peer is connected and pieces are missing), looks
    /// the torrent up in the DHT and announces us there; the peers found go to the dialer.
    pub(super) fn dht_lookup(&mut self, now: Instant) {
        let Some(dht) = &self.config.dht else {
            return;
        };
        if now < self.dht_due {
            return;
        }
        let starving = self.peers.is_empty() && !self.picker.is_complete();
        self.dht_due = now + Duration::from_secs(if starving { 15 } else { 600 });
        // A hybrid is looked up and announced under both its hashes (BEP 52).
        for hash in self.meta.swarm_hashes() {
            let found = dht.get_peers(hash, Some(self.config.listen.port()));
            let ctrl = self.ctrl.clone();
            crate::runtime::spawn(async move {
                while let Ok(peers) = found.recv().await {
                    if ctrl.send(Event::PeersFound(peers)).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}
