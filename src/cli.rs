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
    Daemon(Daemon),
    Add(Add),
    List(List),
    Pause(Pause),
    Resume(Resume),
    Remove(Remove),
    Status(Status),
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
    /// IPv4 alone without IPv6; port 0 picks a free one); an address that is not a wildcard
    /// is also where every outgoing connection, datagram and tracker request leaves from
    #[argh(option, default = "String::from(\"[::]:6881\")")]
    pub listen: String,
    /// send all peer, DHT and tracker traffic through this network interface only
    /// (SO_BINDTODEVICE, e.g. a VPN's tun0): when it is down, traffic stops rather than leave
    /// another way
    #[argh(option)]
    pub interface: Option<String>,
    /// do not ask the router to forward the peer port (UPnP IGD, NAT-PMP; on by default
    /// unless listening on loopback)
    #[argh(switch)]
    pub no_port_mapping: bool,
    /// do not look for peers on the local network (BEP 14 local service discovery; on by
    /// default for public torrents unless listening on loopback)
    #[argh(switch)]
    pub no_lsd: bool,
    /// upload rate limit in bytes a second, with optional K/M/G suffix (1K = 1024)
    #[argh(option)]
    pub upload_limit: Option<String>,
    /// super-seed (BEP 16): show peers no pieces and offer each two at a time, the rarest,
    /// the next once it has one; for the first seed of a new torrent, so that a crowd gets
    /// each piece from it about once and the rest from each other
    #[argh(switch)]
    pub super_seed: bool,
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
    /// uTP (BEP 29, over UDP on the peer port, yielding to other traffic): on (default: dial uTP first, TCP when the peer does not answer it; take both), off (TCP only) or only (uTP only)
    #[argh(option)]
    pub utp: Option<String>,
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
    /// alone without IPv6, a free port); an address that is not a wildcard is also where
    /// every outgoing connection, datagram and tracker request leaves from
    #[argh(option)]
    pub listen: Option<String>,
    /// send all peer, DHT and tracker traffic through this network interface only
    /// (SO_BINDTODEVICE, e.g. a VPN's tun0): when it is down, traffic stops rather than leave
    /// another way
    #[argh(option)]
    pub interface: Option<String>,
    /// do not ask the router to forward the peer port (UPnP IGD, NAT-PMP; on by default
    /// unless listening on loopback)
    #[argh(switch)]
    pub no_port_mapping: bool,
    /// do not look for peers on the local network (BEP 14 local service discovery; on by
    /// default for public torrents unless listening on loopback)
    #[argh(switch)]
    pub no_lsd: bool,
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
    /// uTP (BEP 29, over UDP on the peer port, yielding to other traffic): on (default: dial uTP first, TCP when the peer does not answer it; take both), off (TCP only) or only (uTP only)
    #[argh(option)]
    pub utp: Option<String>,
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
    /// a BitTorrent v2 torrent (BEP 52: SHA-256 merkle trees per file), which only v2 clients
    /// (libtorrent 2.0, qBittorrent 4.4+) read; libtorrent's info-hash for the same content
    #[argh(switch)]
    pub v2: bool,
    /// a hybrid v1 + v2 torrent, read by every client (implies --pad); libtorrent 2.0's
    /// info-hashes for the same content and piece length
    #[argh(switch)]
    pub hybrid: bool,
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
/// Given a torrent number, info-hash or `all` instead, the running daemon hashes those again.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "verify")]
pub struct Verify {
    /// the .torrent file; or a torrent of the daemon (number, info-hash or all)
    #[argh(positional)]
    pub torrent: PathBuf,
    /// the directory holding the content, as DIR/NAME (default .)
    #[argh(option, default = "PathBuf::from(\".\")")]
    pub dir: PathBuf,
    /// print one JSON object instead of text (fields in the man page)
    #[argh(switch)]
    pub json: bool,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
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

/// `--utp on|off|only`; absent means on.
pub fn parse_utp(arg: Option<&str>) -> crate::Result<crate::utp::Mode> {
    let Some(text) = arg else {
        return Ok(Default::default());
    };
    crate::utp::Mode::parse(text).ok_or_else(|| crate::Error::BadArgument {
        what: "--utp",
        value: text.to_string(),
        reason: "must be on, off or only".into(),
    })
}

/// Run the node that stays up: many torrents on one peer port, kept across restarts, driven
/// over the Transmission RPC (transmission-remote, its web client, scripts), a web page and a
/// watch folder.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "daemon")]
pub struct Daemon {
    /// where the torrents, their resume data and the DHT state are kept (default
    /// $XDG_STATE_HOME/p2p, else ~/.local/state/p2p)
    #[argh(option)]
    pub state_dir: Option<PathBuf>,
    /// where added torrents download to unless told otherwise (default ~/Downloads)
    #[argh(option)]
    pub download_dir: Option<PathBuf>,
    /// address of the RPC and the web page (default 127.0.0.1:9091); an address other than
    /// loopback needs --rpc-auth or --rpc-no-auth
    #[argh(option, default = "String::from(\"127.0.0.1:9091\")")]
    pub rpc: String,
    /// USER:PASSWORD the RPC and the web page ask for (HTTP basic auth), or @FILE to read them
    /// from the file's first line
    #[argh(option)]
    pub rpc_auth: Option<String>,
    /// serve the RPC on an address other than loopback without a password
    #[argh(switch)]
    pub rpc_no_auth: bool,
    /// a host name the RPC answers to besides IP addresses and localhost (the Host header is
    /// checked against DNS rebinding); repeatable
    #[argh(option)]
    pub rpc_host: Vec<String>,
    /// address to accept peers on, IPv4 or [IPv6]:PORT (default [::]:6881); an address that
    /// is not a wildcard is also where every outgoing connection, datagram and tracker
    /// request leaves from
    #[argh(option, default = "String::from(\"[::]:6881\")")]
    pub listen: String,
    /// send all peer, DHT and tracker traffic through this network interface only
    /// (SO_BINDTODEVICE, e.g. a VPN's tun0): when it is down, traffic stops rather than leave
    /// another way
    #[argh(option)]
    pub interface: Option<String>,
    /// do not ask the router to forward the peer port (UPnP IGD, NAT-PMP; on by default
    /// unless listening on loopback)
    #[argh(switch)]
    pub no_port_mapping: bool,
    /// do not look for peers on the local network (BEP 14 local service discovery; on by
    /// default for public torrents unless listening on loopback)
    #[argh(switch)]
    pub no_lsd: bool,
    /// add every .torrent (and every .magnet file holding a magnet link) dropped in DIR
    #[argh(option)]
    pub watch: Option<PathBuf>,
    /// serve another web client's files (such as Transmission's) under /transmission/web/
    #[argh(option)]
    pub web_home: Option<PathBuf>,
    /// upload rate limit for all torrents together, bytes a second with optional K/M/G suffix
    #[argh(option)]
    pub upload_limit: Option<String>,
    /// download rate limit for all torrents together
    #[argh(option)]
    pub download_limit: Option<String>,
    /// stop seeding a torrent once it uploaded R times its size (default: seed until removed)
    #[argh(option)]
    pub seed_ratio: Option<String>,
    /// message stream encryption: prefer (default), require or off
    #[argh(option)]
    pub encryption: Option<String>,
    /// uTP: on (default: uTP first, then TCP), off (TCP only) or only (uTP only)
    #[argh(option)]
    pub utp: Option<String>,
    /// take no part in the DHT
    #[argh(switch)]
    pub no_dht: bool,
    /// a DHT node to join through, HOST:PORT; repeatable
    #[argh(option)]
    pub dht_bootstrap: Vec<String>,
}

/// Add a torrent file, magnet link or URL to the running daemon.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
pub struct Add {
    /// the .torrent file (sent to the daemon), a magnet link, or an http(s):// URL of a
    /// .torrent (fetched by the daemon; a redirect to a magnet link is followed)
    #[argh(positional)]
    pub torrent: String,
    /// the directory to download into (default: the daemon's --download-dir)
    #[argh(option)]
    pub out: Option<PathBuf>,
    /// add it without starting it
    #[argh(switch)]
    pub paused: bool,
    /// fetch only the files whose path matches GLOB; repeatable
    #[argh(option)]
    pub only: Vec<String>,
    /// do not fetch the files whose path matches GLOB; repeatable
    #[argh(option)]
    pub skip: Vec<String>,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}

/// List the running daemon's torrents.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
pub struct List {
    /// one JSON object a torrent, a line each
    #[argh(switch)]
    pub json: bool,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}

/// Pause torrents of the running daemon (they announce stopped and keep what they have).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pause")]
pub struct Pause {
    /// the torrents: a number from `p2p list`, an info-hash, or all
    #[argh(positional)]
    pub which: String,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}

/// Start paused torrents of the running daemon again.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "resume")]
pub struct Resume {
    /// the torrents: a number from `p2p list`, an info-hash, or all
    #[argh(positional)]
    pub which: String,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}

/// Remove torrents from the running daemon.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
pub struct Remove {
    /// the torrents: a number from `p2p list`, an info-hash, or all
    #[argh(positional)]
    pub which: String,
    /// delete their downloaded data too
    #[argh(switch)]
    pub delete: bool,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}

/// Show one torrent of the running daemon: its state, files, peers and trackers.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct Status {
    /// the torrent: its number in `p2p list` or its info-hash
    #[argh(positional)]
    pub which: String,
    /// the daemon's RPC address (default $P2P_RPC, else 127.0.0.1:9091)
    #[argh(option)]
    pub rpc: Option<String>,
    /// USER:PASSWORD for the daemon (default $P2P_RPC_AUTH)
    #[argh(option)]
    pub rpc_auth: Option<String>,
}
