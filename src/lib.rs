//! p2p: share files the BitTorrent way. One binary holds a tracker, a torrent maker, a seeder and
//! a fetcher. The architecture, protocol notes and command-line contract are in DESIGN.md; each
//! module's first line says what it owns.

pub mod bencode;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod hash;
pub mod layout;
pub mod metainfo;
pub mod progress;
pub mod random;
pub mod signal;
pub mod tracker;

pub use error::{Error, Result};

/// Runs one parsed command line.
pub fn run(args: cli::Args) -> Result<()> {
    match args.command {
        cli::Command::Tracker(a) => cmd::tracker::run(a),
        cli::Command::MakeTorrent(a) => cmd::make_torrent::run(a),
        cli::Command::Info(a) => cmd::info::run(a),
    }
}
