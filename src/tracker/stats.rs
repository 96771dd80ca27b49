//! What the tracker tells its operator: `GET /stats` (one JSON object) and `GET /metrics`
//! (Prometheus text format 0.0.4), from counters the HTTP and UDP front ends bump and a sampler
//! that turns the announce count into a rate every [`SAMPLE_EVERY`].

use super::Tracker;
use crate::json::Json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Refused announces are logged at most this often.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Counters since the start.
#[derive(Debug)]
pub struct Counters {
    pub started: Instant,
    pub http_announces: AtomicU64,
    pub udp_announces: AtomicU64,
    pub scrapes: AtomicU64,
    /// Announces answered "tracker is full".
    pub refused: AtomicU64,
    /// Requests refused as malformed (a bad announce query, a bad UDP request).
    pub refused_bad: AtomicU64,
    /// When a refusal was last logged (seconds since `started`, plus one; 0: never).
    last_refusal_log: AtomicU64,
    /// Announces a second over the last sampling period.
    rate: AtomicU64,
    last_total: AtomicU64,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            started: Instant::now(),
            http_announces: AtomicU64::new(0),
            udp_announces: AtomicU64::new(0),
            scrapes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refused_bad: AtomicU64::new(0),
            last_refusal_log: AtomicU64::new(0),
            rate: AtomicU64::new(0),
            last_total: AtomicU64::new(0),
        }
    }
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal (`full`: the store is full; else a malformed request) and logs it at
    /// info level, at most one line every [`REFUSAL_LOG_EVERY`] (a flood of bad requests must
    /// not become a flood of log lines, nor cost the hot path a lock).
    pub fn refuse(&self, full: bool, from: std::net::IpAddr, why: &dyn std::fmt::Display) {
        Counters::bump(if full {
            &self.refused
        } else {
            &self.refused_bad
        });
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.last_refusal_log.load(Ordering::Relaxed);
        if (last == 0 || now >= last + REFUSAL_LOG_EVERY.as_secs())
            && self
                .last_refusal_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::info!(
                "refused an announce from {from}: {} ({} full and {} malformed so far; one line every {}s)",
                crate::escape::untrusted(&why.to_string(), 200),
                load(&self.refused),
                load(&self.refused_bad),
                REFUSAL_LOG_EVERY.as_secs()
            );
        }
    }

    fn announces(&self) -> u64 {
        self.http_announces.load(Ordering::Relaxed) + self.udp_announces.load(Ordering::Relaxed)
    }

    /// Called every `period` by the tracker's sampler.
    pub fn sample(&self, period: Duration) {
        let total = self.announces();
        let before = self.last_total.swap(total, Ordering::Relaxed);
        let per_sec = total.saturating_sub(before) as f64 / period.as_secs_f64().max(0.001);
        self.rate.store(per_sec.round() as u64, Ordering::Relaxed);
    }
}

/// The body and content type for `/stats` and `/metrics`; `None` for any other path.
pub fn page(tracker: &Tracker, path: &[u8]) -> Option<(&'static str, Vec<u8>)> {
    match path {
        b"/stats" => Some(("application/json", json(tracker).into_bytes())),
        b"/metrics" => Some((
            "text/plain; version=0.0.4",
            prometheus(tracker).into_bytes(),
        )),
        _ => None,
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

pub fn json(tracker: &Tracker) -> String {
    let c = &tracker.counters;
    let store = &tracker.store;
    let mut fields = vec![
        ("name", Json::str(&tracker.name)),
        ("uptime_secs", Json::uint(c.started.elapsed().as_secs())),
        ("torrents", Json::uint(store.torrent_count())),
        ("peers", Json::uint(store.peer_count())),
        ("seeds", Json::uint(store.seed_count())),
        (
            "leechers",
            Json::uint(store.peer_count().saturating_sub(store.seed_count())),
        ),
        ("announces", Json::uint(c.announces())),
        ("announces_http", Json::uint(load(&c.http_announces))),
        ("announces_udp", Json::uint(load(&c.udp_announces))),
        ("announces_per_sec", Json::uint(load(&c.rate))),
        ("scrapes", Json::uint(load(&c.scrapes))),
        ("refused_full", Json::uint(load(&c.refused))),
        ("refused_malformed", Json::uint(load(&c.refused_bad))),
        ("interval", Json::uint(tracker.interval)),
    ];
    if let Some(rss) = resident_bytes() {
        fields.push(("memory_bytes", Json::uint(rss)));
    }
    Json::Obj(fields).to_line()
}

pub fn prometheus(tracker: &Tracker) -> String {
    let c = &tracker.counters;
    let store = &tracker.store;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    metric(
        "p2p_tracker_torrents",
        "gauge",
        "Torrents with at least one peer.",
        &[("", store.torrent_count() as u64)],
    );
    let (peers, seeds) = (store.peer_count() as u64, store.seed_count() as u64);
    metric(
        "p2p_tracker_peers",
        "gauge",
        "Peers known, by whether they have everything.",
        &[
            ("{kind=\"seed\"}", seeds),
            ("{kind=\"leecher\"}", peers.saturating_sub(seeds)),
        ],
    );
    metric(
        "p2p_tracker_announces_total",
        "counter",
        "Announces answered, by protocol.",
        &[
            ("{protocol=\"http\"}", load(&c.http_announces)),
            ("{protocol=\"udp\"}", load(&c.udp_announces)),
        ],
    );
    metric(
        "p2p_tracker_scrapes_total",
        "counter",
        "Scrapes answered (HTTP and UDP).",
        &[("", load(&c.scrapes))],
    );
    metric(
        "p2p_tracker_refused_total",
        "counter",
        "Announces refused, by reason: the tracker was full, or the request was malformed.",
        &[
            ("{reason=\"full\"}", load(&c.refused)),
            ("{reason=\"malformed\"}", load(&c.refused_bad)),
        ],
    );
    metric(
        "p2p_tracker_uptime_seconds",
        "gauge",
        "Seconds since the tracker started.",
        &[("", c.started.elapsed().as_secs())],
    );
    if let Some(rss) = resident_bytes() {
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            &[("", rss)],
        );
    }
    out
}

/// The process's resident memory (Linux: `VmRSS` of /proc/self/status).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::AnnounceRequest;

    #[test]
    fn stats_and_metrics_count_torrents_peers_seeds_and_announces() {
        let t = Tracker::new(60, "t".into());
        let announce = |id: u8, left: u64| {
            let a = AnnounceRequest {
                info_hash: crate::metainfo::InfoHash([9; 20]),
                peer_id: [id; 20],
                port: 6000 + id as u16,
                uploaded: 0,
                downloaded: 0,
                left,
                event: crate::tracker::AnnounceEvent::None,
                numwant: 50,
                compact: true,
                no_peer_id: false,
            };
            t.store.announce(&a, "10.0.0.1".parse().unwrap()).unwrap();
            Counters::bump(&t.counters.http_announces);
        };
        announce(1, 0);
        announce(2, 100);
        announce(3, 100);
        announce(3, 0);
        Counters::bump(&t.counters.udp_announces);
        t.counters.sample(Duration::from_secs(1));
        let json = json(&t);
        for want in [
            "\"torrents\":1",
            "\"peers\":3",
            "\"seeds\":2",
            "\"leechers\":1",
            "\"announces\":5",
            "\"announces_udp\":1",
            "\"announces_per_sec\":5",
        ] {
            assert!(json.contains(want), "{want} in {json}");
        }
        let text = prometheus(&t);
        for want in [
            "# TYPE p2p_tracker_torrents gauge\np2p_tracker_torrents 1\n",
            "p2p_tracker_peers{kind=\"seed\"} 2\n",
            "p2p_tracker_peers{kind=\"leecher\"} 1\n",
            "p2p_tracker_announces_total{protocol=\"http\"} 4\n",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
