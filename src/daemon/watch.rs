//! `--watch DIR`: every `.torrent` dropped in DIR, and every `.magnet` file holding a magnet
//! link, is added to the daemon, then renamed `NAME.added` (as Transmission does), or
//! `NAME.invalid` with the reason logged, so that it is tried once. The folder is looked at
//! every [`EVERY`]; a file still growing (its size changed since the last look) waits a turn.

use super::{Adding, Node};
use crate::{escape, runtime};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const EVERY: Duration = Duration::from_secs(1);
/// Files taken in one look; the rest wait for the next.
const PER_LOOK: usize = 1000;

pub async fn run(dir: PathBuf, node: Arc<Node>) {
    log::info!("watching {} for .torrent and .magnet files", dir.display());
    let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
    loop {
        let found = runtime::spawn_blocking({
            let dir = dir.clone();
            move || candidates(&dir)
        })
        .await;
        let mut seen = HashMap::new();
        for (path, size) in found {
            seen.insert(path.clone(), size);
            // Settled: the same size as a second ago.
            if sizes.get(&path) == Some(&size) {
                take(&node, &path).await;
            }
        }
        sizes = seen;
        runtime::sleep(EVERY).await;
    }
}

fn candidates(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "torrent" || x == "magnet")
        })
        .filter_map(|p| Some((p.clone(), std::fs::metadata(&p).ok()?.len())))
        .take(PER_LOOK)
        .collect()
}

async fn take(node: &Node, path: &Path) {
    let what = if path.extension().is_some_and(|x| x == "magnet") {
        match crate::state_file::read(path, 64 << 10, crate::state_file::Links::Follow) {
            Ok(bytes) => Adding::Name(String::from_utf8_lossy(&bytes).trim().to_owned()),
            Err(e) => return mark(path, "invalid", &e.to_string()),
        }
    } else {
        Adding::Name(path.display().to_string())
    };
    match node.add(what, None, None).await {
        Ok(added) => {
            log::info!(
                "{}: added from the watch folder as {}{}",
                path.display(),
                added.id,
                if added.duplicate {
                    " (it was there already)"
                } else {
                    ""
                }
            );
            mark(path, "added", "");
        }
        Err(e) => mark(path, "invalid", &e.to_string()),
    }
}

fn mark(path: &Path, suffix: &str, reason: &str) {
    let mut to = path.as_os_str().to_owned();
    to.push(format!(".{suffix}"));
    if !reason.is_empty() {
        log::warn!(
            "{}: not added: {}",
            path.display(),
            escape::untrusted(reason, 200)
        );
    }
    if let Err(e) = std::fs::rename(path, &to) {
        log::warn!("{}: could not rename it: {e}", path.display());
    }
}
