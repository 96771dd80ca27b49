//! The command line (argh structs only). Keep in step with man/p2p.1 and README.md.

use argh::FromArgs;
use std::path::PathBuf;

/// Share files the BitTorrent way: tracker, DHT node, torrent maker, seeder and fetcher in one
/// binary. `p2p --version` tells the version; `p2p COMMAND --help` a command's flags.
#[derive(FromArgs, Debug)]
pub struct Args {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Tracker(Tracker),
    Dht(Dht),
    MakeTorrent(MakeTorrent),
    Seed(Seed),
    Fetch(Fetch),
    Info(Info),
    Verify(Verify),
    Demo(Demo),
}

/// Run a tracker, a seed and N fetchers in one process over 127.0.0.1, and report.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "demo")]
pub struct Demo {
    /// bytes to share, with optional K/M/G suffix (default 64M)
    #[argh(option, default = "String::from(\"64M\")")]
    pub size: String,
    /// how many fetchers, 1 to 32 (default 4)
    #[argh(option, default = "4")]
    pub peers: u32,
}

/// Serve the content of one or more torrents to other peers until interrupted.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "seed")]
pub struct Seed {
    /// the .torrent files to seed
    #[argh(positional)]
    pub torrents: Vec<PathBuf>,
    /// the directory holding the content, as DIR/NAME (default .)
    #[argh(option, default = "PathBuf::from(\".\")")]
    pub dir: PathBuf,
    /// address to accept peers on, IPv4 or [IPv6]:PORT (default [::]:6881, both stacks,
    /// IPv4 alone without IPv6; port 0 picks a free one)
    #[argh(option, default = "String::from(\"[::]:6881\")")]
    pub listen: String,
    /// upload rate limit in bytes a second, with optional K/M/G suffix (1K = 1024)
    #[argh(option)]
    pub upload_limit: Option<String>,
    /// seed each torrent until its uploaded bytes reach R times its size, then stop it; exit 0
    /// once every torrent is done
    #[argh(option)]
    pub seed_ratio: Option<String>,
    /// seed each torrent this long (90s, 30m, 2h), then stop it; with --seed-ratio, whichever
    /// comes first; exit 0 once every torrent is done
    #[argh(option)]
    pub seed_time: Option<String>,
    /// message stream encryption: prefer (default: dial encrypted, fall back to plaintext; take both), require (RC4 only) or off (plaintext only)
    #[argh(option)]
    pub encryption: Option<String>,
    /// print each torrent's upload every 30 s, and the total at the end, as JSON lines on
    /// stdout (fields in the man page)
    #[argh(switch)]
    pub json: bool,
    /// a DHT node to join through, HOST:PORT; repeatable (default: the state file's nodes, else
    /// router.bittorrent.com, dht.transmissionbt.com and router.utorrent.com, port 6881)
    #[argh(option)]
    pub dht_bootstrap: Vec<String>,
    /// take no part in the DHT (peers then come from trackers, --peer and peer exchange)
    #[argh(switch)]
    pub no_dht: bool,
    /// where the DHT node id and good nodes are kept between runs (default
    /// $XDG_STATE_HOME/p2p, else ~/.local/state/p2p)
    #[argh(option)]
    pub state_dir: Option<PathBuf>,
}

/// Download a torrent into DIR/NAME from every peer at once, uploading meanwhile.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "fetch")]
pub struct Fetch {
    /// the .torrent file, or a magnet link (magnet:?xt=urn:btih:...)
    #[argh(positional)]
    pub torrent: PathBuf,
    /// the directory to download into (the content lands in DIR/NAME; default .)
    #[argh(option, default = "PathBuf::from(\".\")")]
    pub out: PathBuf,
    /// address to accept peers on, IPv4 or [IPv6]:PORT (default [::]:0: both stacks, IPv4
    /// alone without IPv6, a free port)
    #[argh(option)]
    pub listen: Option<String>,
    /// a peer to connect to directly, HOST:PORT; repeatable (no tracker needed)
    #[argh(option)]
    pub peer: Vec<String>,
    /// keep seeding after the download completes, until interrupted
    #[argh(switch)]
    pub seed: bool,
    /// fetch pieces in order (rarest first within 16 pieces ahead), to play a file while it
    /// downloads
    #[argh(switch)]
    pub sequential: bool,
    /// write pieces around the page cache (O_DIRECT) where the file system allows: the data
    /// is on the device when the fetch ends, a large download does not push other files out
    /// of the cache, and hosts where fresh page cache is dear (VMs) fetch faster
    #[argh(switch)]
    pub direct_io: bool,
    /// fetch only the files matching GLOB (`*.flac`, `cd1`, `cd2/*`) or numbered as `info`
    /// lists them (`2`, `1-3,7`); repeatable; the others are not created
    #[argh(option)]
    pub only: Vec<String>,
    /// leave out the files matching GLOB or numbers, as --only takes them; repeatable
    #[argh(option)]
    pub skip: Vec<String>,
    /// after completing, seed until uploaded bytes reach R times the torrent's size, then exit 0
    #[argh(option)]
    pub seed_ratio: Option<String>,
    /// after completing, seed this long (90s, 30m, 2h), then exit 0; with --seed-ratio,
    /// whichever comes first
    #[argh(option)]
    pub seed_time: Option<String>,
    /// give up, with an error, when no peer has been connected for this long (30s, 10m); by
    /// default a fetch waits for peers until interrupted
    #[argh(option)]
    pub timeout: Option<String>,
    /// run this shell command once the download is verified, with P2P_PATH, P2P_NAME and
    /// P2P_INFO_HASH set; its failure is reported, not fatal
    #[argh(option)]
    pub on_done: Option<String>,
    /// upload rate limit in bytes a second, with optional K/M/G suffix (1K = 1024)
    #[argh(option)]
    pub upload_limit: Option<String>,
    /// message stream encryption: prefer (default: dial encrypted, fall back to plaintext; take both), require (RC4 only) or off (plaintext only)
    #[argh(option)]
    pub encryption: Option<String>,
    /// download rate limit in bytes a second, with optional K/M/G suffix (1K = 1024)
    #[argh(option)]
    pub download_limit: Option<String>,
    /// print JSON lines on stdout instead of text: progress each second, then a summary
    #[argh(switch)]
    pub json: bool,
    /// a DHT node to join through, HOST:PORT; repeatable (default: the state file's nodes, else
    /// router.bittorrent.com, dht.transmissionbt.com and router.utorrent.com, port 6881)
    #[argh(option)]
    pub dht_bootstrap: Vec<String>,
    /// take no part in the DHT (peers then come from trackers, --peer and peer exchange)
    #[argh(switch)]
    pub no_dht: bool,
    /// where the DHT node id and good nodes are kept between runs (default
    /// $XDG_STATE_HOME/p2p, else ~/.local/state/p2p)
    #[argh(option)]
    pub state_dir: Option<PathBuf>,
}

/// Run a standalone DHT node (BEP 5) until interrupted: the bootstrap point of a network.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "dht")]
pub struct Dht {
    /// UDP address to listen on (default 0.0.0.0:6881; port 0 picks a free one)
    #[argh(option, default = "String::from(\"0.0.0.0:6881\")")]
    pub listen: String,
    /// a DHT node to join through, HOST:PORT; repeatable (default: the state file's nodes,
    /// else the well-known routers; a first node of a closed network needs none)
    #[argh(option)]
    pub bootstrap: Vec<String>,
    /// where the node id and good nodes are kept between runs (default $XDG_STATE_HOME/p2p,
    /// else ~/.local/state/p2p)
    #[argh(option)]
    pub state_dir: Option<PathBuf>,
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
    /// print what it holds every 30 s as JSON lines on stdout (torrents, peers)
    #[argh(switch)]
    pub json: bool,
}

/// Write a .torrent for a file or a directory.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "make-torrent")]
pub struct MakeTorrent {
    /// the file or directory to share
    #[argh(positional)]
    pub path: PathBuf,
    /// tracker as NAME@HOST[:PORT] (port 6969 by default) or an http://, https:// or udp:// URL;
    /// repeat for backup trackers; none makes a trackerless torrent, found through the DHT
    #[argh(option)]
    pub tracker: Vec<String>,
    /// a DHT node to write into the torrent (BEP 5 `nodes`), HOST:PORT; repeatable
    #[argh(option)]
    pub dht_node: Vec<String>,
    /// where to write the torrent (default ./NAME.torrent)
    #[argh(option)]
    pub out: Option<PathBuf>,
    /// piece length in bytes, a power of two of at least 16384, with optional K/M suffix
    /// (default: as libtorrent, doubling as the content quadruples: 23 MiB gets 64K, 1 GiB
    /// 512K, at most 16M)
    #[argh(option)]
    pub piece_length: Option<String>,
    /// set the private flag (BEP 27): peers come from the tracker only
    #[argh(switch)]
    pub private: bool,
    /// a comment to store in the torrent
    #[argh(option)]
    pub comment: Option<String>,
    /// info.source, for cross-seeding on private trackers (it changes the info-hash)
    #[argh(option)]
    pub source: Option<String>,
    /// write no creation date, so the same input gives the same bytes
    #[argh(switch)]
    pub no_date: bool,
    /// a web seed (BEP 19 `url-list`) serving the content over HTTP: for a file, its URL (or
    /// that of its directory, ending in /); for a directory, the URL above it; repeatable
    #[argh(option)]
    pub web_seed: Vec<String>,
    /// leave out files and directories matching GLOB (`*`, `?`, `[a-z]`, `**`; without `/`
    /// it names any file or directory, with `/` a path inside PATH); repeatable
    #[argh(option)]
    pub exclude: Vec<String>,
    /// pad every file to a piece boundary with BEP 47 padding files, in libtorrent 2.0's
    /// canonical file order (its info-hash for the same content and piece length)
    #[argh(switch)]
    pub pad: bool,
    /// overwrite the output file if it exists
    #[argh(switch)]
    pub force: bool,
    /// print one JSON object instead of text (fields in the man page)
    #[argh(switch)]
    pub json: bool,
}

/// Show what a .torrent holds: name, info-hash, sizes, trackers and files.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "info")]
pub struct Info {
    /// the .torrent file
    #[argh(positional)]
    pub torrent: PathBuf,
    /// print one JSON object instead of text (fields in the man page)
    #[argh(switch)]
    pub json: bool,
}

/// Check the content in DIR/NAME against a torrent: per file complete, missing or bad pieces.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "verify")]
pub struct Verify {
    /// the .torrent file
    #[argh(positional)]
    pub torrent: PathBuf,
    /// the directory holding the content, as DIR/NAME (default .)
    #[argh(option, default = "PathBuf::from(\".\")")]
    pub dir: PathBuf,
    /// print one JSON object instead of text (fields in the man page)
    #[argh(switch)]
    pub json: bool,
}

/// `--encryption prefer|require|off`; absent means prefer.
pub fn parse_encryption(arg: Option<&str>) -> crate::Result<crate::peer::encryption::Encryption> {
    let Some(text) = arg else {
        return Ok(Default::default());
    };
    crate::peer::encryption::Encryption::parse(text).ok_or_else(|| crate::Error::BadArgument {
        what: "--encryption",
        value: text.to_string(),
        reason: "must be prefer, require or off".into(),
    })
}
