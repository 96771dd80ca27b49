//! What a torrent leaves behind it on completion: its fetched metadata as a .torrent, the done
//! command, the log line of its seeding goal.

use super::AddOptions;
use crate::metainfo::Torrent;
use crate::progress;
use crate::runtime::{self, JoinHandle};

/// Saves a magnet link's fetched metadata as `DIR/NAME.torrent`, so that a later run starts
/// from it; an existing file is left alone.
pub(super) fn save_torrent(dir: &std::path::Path, torrent: &Torrent) {
    let path = dir.join(format!("{}.torrent", torrent.info.name));
    let bytes = torrent.to_file_bytes();
    let write = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
    });
    match write {
        Ok(()) => log::info!("saved the torrent as {}", path.display()),
        Err(e) => log::warn!("could not save the torrent as {}: {e}", path.display()),
    }
}

pub(super) fn seed_goal(options: &AddOptions) -> String {
    match (options.seed_ratio, options.seed_time) {
        (Some(r), Some(t)) => format!("ratio {r} or {}", progress::duration(t.as_secs())),
        (Some(r), None) => format!("ratio {r}"),
        (None, Some(t)) => progress::duration(t.as_secs()),
        (None, None) => "interrupted".into(),
    }
}

/// Starts the done command on a blocking thread, so that a slow one stalls neither the engine
/// nor seeding; its exit status is logged when it ends. A failure is never fatal.
pub(super) fn on_done(cmd: &str, target: &std::path::Path, meta: &Torrent) -> JoinHandle<()> {
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", cmd])
        .env("P2P_PATH", target)
        .env("P2P_NAME", &meta.info.name)
        .env("P2P_INFO_HASH", meta.info_hash.hex())
        .stdin(std::process::Stdio::null());
    runtime::spawn_blocking(move || match command.status() {
        Ok(s) if s.success() => log::info!("--on-done command finished"),
        Ok(s) => log::warn!("--on-done command failed: {s}"),
        Err(e) => log::warn!("--on-done command could not run: {e}"),
    })
}
