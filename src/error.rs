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
    #[error("{what} `{value}`: {reason}")]
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
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// The process's exit status for this error: 2 for a malformed magnet link (a usage
    /// error, as argh's are), 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Magnet(_) => 2,
            _ => 1,
        }
    }
}
