//! The command line (argh structs only). Keep in step with man/p2p.1 and README.md.

use argh::FromArgs;
use std::path::PathBuf;

/// Share files the BitTorrent way: tracker, torrent maker, seeder and fetcher in one binary.
#[derive(FromArgs, Debug)]
pub struct Args {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Tracker(Tracker),
    MakeTorrent(MakeTorrent),
    Info(Info),
}

/// Run a BitTorrent tracker: HTTP (/announce, /scrape) and UDP on one port number.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tracker")]
pub struct Tracker {
    /// address to listen on for HTTP and UDP (default 0.0.0.0:6969; port 0 picks a free one)
    #[argh(option, default = "String::from(\"0.0.0.0:6969\")")]
    pub listen: String,
    /// the tracker's node name, sent to clients as `tracker id` (default tracker)
    #[argh(option, default = "String::from(\"tracker\")")]
    pub name: String,
    /// seconds clients should wait between announces (default 120); silent peers expire after
    /// twice this
    #[argh(option, default = "120")]
    pub interval: u32,
}

/// Write a .torrent for a file or a directory.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "make-torrent")]
pub struct MakeTorrent {
    /// the file or directory to share
    #[argh(positional)]
    pub path: PathBuf,
    /// tracker as NAME@HOST[:PORT] (port 6969 by default) or an http://, https:// or udp:// URL;
    /// repeat for backup trackers
    #[argh(option)]
    pub tracker: Vec<String>,
    /// where to write the torrent (default ./NAME.torrent)
    #[argh(option)]
    pub out: Option<PathBuf>,
    /// piece length in bytes, a power of two of at least 16384, with optional K/M suffix
    /// (default: chosen for 1,000-2,000 pieces)
    #[argh(option)]
    pub piece_length: Option<String>,
    /// set the private flag (BEP 27): peers come from the tracker only
    #[argh(switch)]
    pub private: bool,
    /// a comment to store in the torrent
    #[argh(option)]
    pub comment: Option<String>,
    /// overwrite the output file if it exists
    #[argh(switch)]
    pub force: bool,
}

/// Show what a .torrent holds: name, info-hash, sizes, trackers and files.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "info")]
pub struct Info {
    /// the .torrent file
    #[argh(positional)]
    pub torrent: PathBuf,
}
