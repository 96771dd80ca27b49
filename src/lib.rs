//! p2p: share files the BitTorrent way. One binary holds a tracker, a torrent maker, a seeder and
//! a fetcher. The architecture, protocol notes and command-line contract are in DESIGN.md; each
//! module's first line says what it owns.

pub mod bencode;
pub mod bitfield;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod hash;
pub mod layout;
pub mod metainfo;
pub mod peer;
pub mod picker;
pub mod piece_store;
pub mod progress;
pub mod random;
pub mod rate;
pub mod session;
pub mod signal;
pub mod torrent;
pub mod tracker;
pub mod wire;

pub use error::{Error, Result};

/// Runs one parsed command line.
pub fn run(args: cli::Args) -> Result<()> {
    match args.command {
        cli::Command::Tracker(a) => cmd::tracker::run(a),
        cli::Command::MakeTorrent(a) => cmd::make_torrent::run(a),
        cli::Command::Seed(a) => cmd::seed::run(a),
        cli::Command::Fetch(a) => cmd::fetch::run(a),
        cli::Command::Info(a) => cmd::info::run(a),
        cli::Command::Demo(a) => cmd::demo::run(a),
    }
}
