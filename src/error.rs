//! The top-level error. Every variant names the thing at fault: the path, the input, the field.

use crate::metainfo::MetainfoError;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error at `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("torrent `{}`: {source}", path.display())]
    Torrent {
        path: PathBuf,
        source: MetainfoError,
    },
    #[error("`{}` {reason}", path.display())]
    Input { path: PathBuf, reason: String },
    #[error("`{}` already exists (use --force to overwrite)", .0.display())]
    OutputExists(PathBuf),
    #[error("piece length {0} is not a power of two between 16384 and 134217728")]
    BadPieceLength(u64),
    #[error("tracker `{spec}`: {reason}")]
    BadTracker { spec: String, reason: String },
    #[error("{what}{}: {reason}", quoted(value))]
    BadArgument {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("network error on {what}: {source}")]
    Net {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}; choose another address or port with --listen")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("no peer could be reached within {}s (last problem: {last_problem})", .waited.as_secs())]
    NoPeers {
        waited: std::time::Duration,
        last_problem: String,
    },
    #[error(
        "interrupted with {have} of {total} pieces verified; run the same command again to resume"
    )]
    Interrupted { have: usize, total: usize },
    #[error(transparent)]
    Magnet(#[from] crate::magnet::MagnetError),
    /// Stopped by a signal before there was anything to resume.
    #[error("{0}")]
    Stopped(String),
    #[error("{0}")]
    Failed(String),
}

/// ` `value`` after an argument's name, or nothing when there is no value to show.
fn quoted(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        format!(" `{value}`")
    }
}

impl Error {
    /// The process's exit status for this error: 2 for what the command line got wrong (as
    /// argh's usage errors), 130 for a run stopped by SIGINT/SIGTERM, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Magnet(_)
            | Error::BadArgument { .. }
            | Error::BadPieceLength(_)
            | Error::BadTracker { .. } => 2,
            // As shells report a command ended by SIGINT.
            Error::Interrupted { .. } | Error::Stopped(_) => 130,
            _ => 1,
        }
    }
}
