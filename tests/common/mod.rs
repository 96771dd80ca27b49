//! Helpers shared by the integration tests, by concern: processes (the real binary, children
//! killed on drop), real clients (each failing with the package to install), fixtures (content
//! and torrents), the tracker (start it, percent-encode, scrape).
#![allow(dead_code, unused_imports)]

pub mod clients;
pub mod daemon;
pub mod fixtures;
pub mod netns;
pub mod process;
pub mod raw_peer;
pub mod tracker;

pub use clients::*;
pub use daemon::*;
pub use fixtures::*;
pub use netns::*;
pub use process::*;
pub use raw_peer::*;
pub use tracker::*;
