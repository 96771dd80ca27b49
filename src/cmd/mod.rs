//! One `run(args)` per subcommand, and the argument checks they share.

pub mod demo;
pub mod fetch;
pub mod info;
pub mod make_torrent;
pub mod seed;
pub mod tracker;

use crate::{Error, Result};
use std::net::{SocketAddr, ToSocketAddrs};

/// A `HOST:PORT` argument resolved to one address.
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
