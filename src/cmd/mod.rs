//! One `run(args)` per subcommand, and the argument checks they share.

pub mod daemon;
pub mod demo;
pub mod dht;
pub mod fetch;
pub mod info;
pub mod make_torrent;
pub mod remote;
mod report;
pub mod seed;
pub mod tracker;
pub mod verify;

use crate::{Error, Result};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub use crate::lifecycle::{Wake, next};

/// `--seed-ratio R`: a number of 0 or more.
pub fn parse_ratio(what: &'static str, text: Option<&str>) -> Result<Option<f64>> {
    text.map(|r| {
        r.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| Error::BadArgument {
                what,
                value: r.into(),
                reason: "expected a number of 0 or more, such as 1.5".into(),
            })
    })
    .transpose()
}

/// A DURATION argument: `90s`, `30m`, `2h`.
pub fn parse_duration(what: &'static str, text: Option<&str>) -> Result<Option<Duration>> {
    text.map(|t| {
        crate::progress::parse_duration(t).ok_or_else(|| Error::BadArgument {
            what,
            value: t.into(),
            reason: "expected a duration such as 90s, 30m or 2h".into(),
        })
    })
    .transpose()
}

/// A `HOST:PORT` argument resolved to one address.
/// Makes `listen`'s address (unless a wildcard) and `interface` where all of this process's
/// traffic leaves from ([`crate::net::source`]).
pub fn set_source(listen: SocketAddr, interface: Option<&str>) -> Result<()> {
    let source = crate::net::source::Source::new(listen, interface.map(str::to_owned));
    crate::net::source::set(source).map_err(|e| Error::BadArgument {
        what: "--interface",
        value: interface.unwrap_or_default().to_owned(),
        reason: e.to_string(),
    })
}

pub fn parse_addr(what: &'static str, text: &str) -> Result<SocketAddr> {
    let bad = |reason: String| Error::BadArgument {
        what,
        value: text.to_owned(),
        reason,
    };
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(bad("expected HOST:PORT".into()));
    }
    text.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))
}

/// `HOST:PORT` (`[v6]:PORT` for IPv6) split, not resolved: the host as written and the port.
pub fn split_host_port(what: &'static str, text: &str) -> Result<(String, u16)> {
    let bad = |reason: &str| Error::BadArgument {
        what,
        value: text.to_owned(),
        reason: reason.into(),
    };
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| bad("the port must be 1 to 65535"))?;
    if host.is_empty() {
        return Err(bad("expected HOST:PORT"));
    }
    Ok((host.to_string(), port))
}

/// The DHT set-up `seed` and `fetch` share: `None` with `--no-dht`.
pub fn dht_config(
    no_dht: bool,
    bootstrap: &[String],
    state_dir: Option<&std::path::Path>,
    torrent_nodes: impl IntoIterator<Item = String>,
) -> Option<crate::dht::DhtConfig> {
    if no_dht {
        return None;
    }
    let mut bootstrap = bootstrap.to_vec();
    bootstrap.extend(torrent_nodes);
    Some(crate::dht::DhtConfig {
        bootstrap,
        state_dir: state_dir
            .map(std::path::Path::to_path_buf)
            .or_else(crate::dht::default_state_dir),
    })
}
