//! p2p: share files the BitTorrent way. One binary holds a tracker, a torrent maker, a seeder and
//! a fetcher. Each module's first line says what it owns; this page is the map.
//!
//! # Layers
//! Dependencies point down this list: a module imports its own layer and those below, and no
//! two modules import each other around a loop. `tests/layers.rs` checks both, from the
//! `crate::` paths in src/.
//! ```text
//! commands     main.rs, cli.rs: arguments → cli::Args → run(); cmd/: one run(args) a
//!              subcommand, thin (fetch, seed, demo add torrents to an engine and print its
//!              reports; add, list, pause, … are RPC clients of a daemon); error
//! daemon/      the node that stays up: an engine whose torrents live in a state directory
//!              (saved.rs), the Transmission RPC (http.rs, rpc.rs, fields.rs), the web page
//!              (web.html), the watch folder, and the RPC client the verbs use
//! lifecycle/   a torrent's life, shared by the commands and the daemon: an Engine (owner task
//!              + handle) runs many torrents on one session; machine.rs (sans-IO states:
//!              metadata → checking → downloading → seeding → paused/finished/error), disk.rs
//!              (.part names, resume data, the check, deletion)
//! session      the node: one port and peer id, accept (permit first), route inbound handshakes
//!              by info-hash, start torrent tasks, report their ends; session/metadata.rs
//!              fetches a magnet link's info dictionary
//! torrent/     the per-torrent owner task (the old leecher): picker, peer table, dialer
//!              (peers.rs), choking (choke.rs), bans (ban.rs), announce schedule (announce.rs),
//!              metadata served and PEX (extended.rs); Task::handle is synchronous and
//!              unit-tested
//! peer, webseed, create_torrent
//!              one connection: reader + writer tasks reporting PeerEvents on a channel they
//!              are given, knowing their key, never their torrent; a web seed (BEP 19) as one;
//!              making a .torrent (hashing through the piece store)
//! piece_store, picker, extensions/, tracker/, dht/, portmap/, lsd
//!              the content on disk; which block next (rarest first, endgame); BEP 10 registry,
//!              ut_metadata and ut_pex messages (sans-IO); tracker server (swarm store, HTTP,
//!              UDP) and client; the Mainline DHT (krpc, table, store, lookup, node sans-IO; UDP
//!              driver and state file); the router's port mapping (NAT-PMP, UPnP IGD); local
//!              service discovery (BEP 14)
//! metainfo, magnet, selection, resume
//!              .torrent reading; magnet links; which files a fetch takes; resume files
//! wire, layout, bencode, hash, url, address, bitfield, rate, runtime, signal, progress, net, …
//!              sans-IO codecs and arithmetic (bytes in, values out; InfoHash, SHA-1/SHA-256,
//!              percent-encoding, compact peers); token buckets; the async runtime's calls and
//!              stop tokens (Cancel); SIGINT/SIGTERM as a future; sizes and durations; where
//!              outgoing traffic leaves from (--listen, --interface) and TLS for https://
//! ```
//!
//! # Which way messages flow
//! ```text
//!  TcpListener ─accept─▶ session ─Event::Inbound─▶ torrent task ◀─Event::Peer(key, PeerEvent)─ peer reader
//!                                                      │  ▲                                          │
//!                                 PeerHandle (bounded) │  └─ Verified / Announced / Tick (ctrl queue) │
//!                                                      ▼                                              │
//!                                                 peer writer ──────────────── TCP ───────────────────┘
//! ```
//! The torrent task owns all per-torrent state; connections and helper tasks (verification off
//! the async threads, announces, the 1 s tick) only send it events, and it answers through each
//! connection's bounded queue. Its own events are served before peer traffic. Shutdown is by
//! dropping senders: a dropped [`peer::PeerHandle`] closes its socket.
//!
//! # Where each BEP lives
//! BEP 3 (wire, metainfo, HTTP tracker): `wire`, `metainfo`, `peer`, `torrent`, `tracker`;
//! BEP 5 (DHT): `dht`, `torrent` (lookups, `port`), `session::metadata`; BEP 6 (fast
//! extension): `wire`, `torrent::messages`, `torrent::uploads`; BEP 7 (IPv6):
//! `session` (dual-stack listener), `tracker` (`peers6`), `extensions::pex` (`added6`); BEP 9
//! (magnet, ut_metadata): `magnet`, `extensions::metadata`, `session::metadata` (fetching),
//! `torrent::extended` (serving); BEP 10 (extension protocol): `wire` (framing), `extensions`
//! (registry, handshake); BEP 11 (PEX): `extensions::pex`, `torrent::extended`; BEP 12
//! (announce-list): `tracker::client`; BEP 15 (UDP tracker): `tracker::udp` and
//! `tracker::client`; BEP 20 (peer id): `session`; BEP 23 (compact peers): `tracker`;
//! BEP 47 (padding files, `attr`): `metainfo` (read as gaps between files), `layout` (spans
//! skip them), `piece_store` (zeros, never on disk), `create_torrent` (`--pad`);
//! BEP 48 (scrape): `tracker::http`.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "p2p builds for Linux only: it uses preadv2, recvmmsg/sendmmsg, O_DIRECT, SEEK_DATA and getrandom"
);

pub mod address;
pub mod base64;
pub mod bencode;
pub mod bitfield;
pub mod cli;
pub mod cmd;
pub mod create_torrent;
pub mod daemon;
pub mod dht;
pub mod error;
pub mod escape;
pub mod extensions;
pub mod fairness;
#[doc(hidden)]
pub mod fuzzing;
pub mod glob;
pub mod hash;
pub mod http1;
pub mod json;
pub mod layout;
pub mod lifecycle;
pub mod lsd;
pub mod magnet;
pub mod metainfo;
pub mod net;
pub mod peer;
pub mod picker;
pub mod piece_store;
pub mod portmap;
pub mod progress;
pub mod random;
pub mod rate;
pub mod resume;
pub mod runtime;
pub mod selection;
pub mod session;
pub mod signal;
pub mod state_file;
pub mod torrent;
pub mod tracker;
pub mod url;
pub mod utp;
pub mod webseed;
pub mod wire;

/// Writes a line to standard output. A closed output (`p2p info x | head -1`) is not worth the
/// panic `println!` makes of it, nor a reason to stop a seed that logged its magnet link there:
/// the line is dropped.
pub fn out(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `println!` through [`out`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out(format_args!($($arg)*))
    };
}

pub use error::{Error, Result};

/// `p2p --version`: the version, the git commit it was built from, what it speaks.
pub fn version() -> String {
    format!(
        "p2p {} (git {})\nBEPs: 3 5 6 7 9 10 11 12 15 19 20 23 27 47 48; MSE/PE encryption",
        env!("CARGO_PKG_VERSION"),
        env!("P2P_GIT_COMMIT")
    )
}

/// Runs one parsed command line.
pub fn run(args: cli::Args) -> Result<()> {
    match args.command {
        cli::Command::Tracker(a) => cmd::tracker::run(a),
        cli::Command::Dht(a) => cmd::dht::run(a),
        cli::Command::MakeTorrent(a) => cmd::make_torrent::run(a),
        cli::Command::Seed(a) => cmd::seed::run(a),
        cli::Command::Fetch(a) => cmd::fetch::run(a),
        cli::Command::Info(a) => cmd::info::run(a),
        cli::Command::Verify(a) => cmd::verify::run(a),
        cli::Command::Demo(a) => cmd::demo::run(a),
        cli::Command::Daemon(a) => cmd::daemon::run(a),
        cli::Command::Add(a) => cmd::remote::add(a),
        cli::Command::List(a) => cmd::remote::list(a),
        cli::Command::Status(a) => cmd::remote::status(a),
        cli::Command::Pause(a) => {
            let (rpc, auth) = (a.rpc.as_deref(), a.rpc_auth.as_deref());
            cmd::remote::act("torrent-stop", &a.which, false, rpc, auth)
        }
        cli::Command::Resume(a) => {
            let (rpc, auth) = (a.rpc.as_deref(), a.rpc_auth.as_deref());
            cmd::remote::act("torrent-start", &a.which, false, rpc, auth)
        }
        cli::Command::Remove(a) => {
            let (rpc, auth) = (a.rpc.as_deref(), a.rpc_auth.as_deref());
            cmd::remote::act("torrent-remove", &a.which, a.delete, rpc, auth)
        }
    }
}
