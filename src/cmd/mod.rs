//! One `run(args)` per subcommand.

pub mod info;
pub mod make_torrent;
pub mod tracker;
