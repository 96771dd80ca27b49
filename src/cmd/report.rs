//! What `fetch` prints: the progress line, its `--json` form, and the summary; and the port
//! mapping as `fetch` and `seed` report it in `--json`.

use crate::json::Json;
use crate::lifecycle::Snapshot;
use crate::progress;
use std::time::Instant;

pub fn status(s: &Snapshot) -> String {
    let (have, total, down, up) = (s.have_bytes, s.wanted_bytes, s.download_rate, s.upload_rate);
    let eta = if down > 0.0 {
        progress::duration(((total - have.min(total)) as f64 / down) as u64)
    } else {
        "-".into()
    };
    format!(
        "{}: {:.1}% {}/{}, down {} up {}, {}, ETA {eta}",
        s.name,
        have as f64 * 100.0 / total.max(1) as f64,
        progress::bytes(have),
        progress::bytes(total),
        progress::rate(down),
        progress::rate(up),
        progress::count(s.peers, "peer")
    )
}

/// With `--json`, a `{"event":"port_mapped","external":"IP:PORT","via":...}` line when the
/// router has mapped the peer port, or mapped it anew (the log says so without `--json`).
pub async fn port_mapping(
    engine: &crate::lifecycle::Engine,
    last: &mut Option<crate::portmap::Mapped>,
    json: bool,
) {
    if !json {
        return;
    }
    let now = engine.mapped().await;
    if now != *last {
        if let Some(m) = &now {
            let line = Json::Obj(vec![
                ("event", Json::str("port_mapped")),
                ("external", Json::str(m.external.to_string())),
                ("via", Json::str(m.via)),
            ]);
            crate::outln!("{}", line.to_line());
        }
        *last = now;
    }
}

/// A `fetch --json` progress line (field names kept stable; see the man page).
pub fn progress_json(s: &Snapshot) -> Json {
    Json::Obj(vec![
        ("event", Json::str("progress")),
        ("have_bytes", Json::uint(s.have_bytes)),
        ("total_bytes", Json::uint(s.wanted_bytes)),
        ("pieces_verified", Json::uint(s.have_pieces)),
        ("prefix_bytes", Json::uint(s.prefix_bytes)),
        ("download_rate", Json::Num(s.download_rate)),
        ("upload_rate", Json::Num(s.upload_rate)),
        ("peers", Json::uint(s.peers)),
    ])
}

/// The last `fetch --json` line of a run that ends incomplete.
pub fn stopped_json(s: &Snapshot, reason: &str) -> Json {
    Json::Obj(vec![
        ("event", Json::str("stopped")),
        ("reason", Json::str(reason)),
        ("have_bytes", Json::uint(s.have_bytes)),
        ("total_bytes", Json::uint(s.wanted_bytes)),
        ("pieces_verified", Json::uint(s.have_pieces)),
        ("downloaded", Json::uint(s.downloaded)),
        ("uploaded", Json::uint(s.uploaded)),
    ])
}

pub fn summary(target: &std::path::Path, s: &Snapshot, started: Instant, json: bool) {
    let secs = started.elapsed().as_secs_f64();
    let (total, wasted, web) = (s.wanted_bytes, s.wasted, s.web_seed_bytes);
    // Payload: what was received and used; the rest is reported apart.
    let down = s.downloaded.saturating_sub(wasted);
    if json {
        let line = Json::Obj(vec![
            ("event", Json::str("complete")),
            ("path", Json::str(target.to_string_lossy())),
            ("total_bytes", Json::uint(total)),
            ("seconds", Json::Num(secs)),
            ("downloaded", Json::uint(down)),
            ("wasted", Json::uint(wasted)),
            ("web_seed_bytes", Json::uint(web)),
            ("uploaded", Json::uint(s.uploaded)),
            ("connections", Json::uint(s.connections)),
            ("encrypted_connections", Json::uint(s.encrypted_connections)),
            ("utp_connections", Json::uint(s.utp_connections)),
            (
                "tcp_connections",
                Json::uint(s.connections - s.utp_connections),
            ),
        ]);
        crate::outln!("{}", line.to_line());
        return;
    }
    crate::outln!(
        "complete: {} ({total} bytes) done in {secs:.1}s; downloaded {down} bytes ({}{}) and {wasted} wasted, uploaded {} bytes; {} of {} connections encrypted, {} over uTP",
        target.display(),
        progress::rate(down as f64 / secs.max(1e-3)),
        if web > 0 {
            format!(", {web} from web seeds")
        } else {
            String::new()
        },
        s.uploaded,
        s.encrypted_connections,
        s.connections,
        s.utp_connections
    );
}
