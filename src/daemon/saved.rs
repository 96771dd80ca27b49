//! The daemon's state directory: each torrent it runs as `torrents/HASH.torrent` (the
//! metainfo as given; a magnet link has none until a restart finds the metadata it fetched) and
//! `torrents/HASH.state`, a bencoded record of what the daemon was told of it; its resume data
//! as `resume/HASH.resume`. Every file is replaced whole (written aside, then renamed), so that a
//! kill -9 leaves the old record or the new, never half of one; every file is read bounded and
//! never through a link.

use crate::bencode::{self, Bencode};
use crate::metainfo::InfoHash;
use crate::state_file::{self, Links};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A record is small; a state file larger than this is not ours.
const MAX_RECORD: u64 = 1 << 20;
const MAX_TORRENT: u64 = 64 << 20;
/// Torrents a state directory may hold (10,000 in the benchmark).
const MAX_TORRENTS: usize = 100_000;

/// What the daemon keeps of one torrent across restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub info_hash: InfoHash,
    /// The magnet link it was added by, when it was (none: its .torrent is beside).
    pub magnet: Option<String>,
    pub dir: PathBuf,
    /// Stopped by request (or its seeding goal met): not started again at a restart.
    pub paused: bool,
    /// Unix seconds; 0 for never.
    pub added: u64,
    /// Its place in the order of adding (ids follow it at a restart).
    pub order: u64,
    pub done: u64,
    /// Bytes of earlier runs, added to the engine's counters.
    pub downloaded: u64,
    pub uploaded: u64,
    /// One flag a file (empty: all).
    pub wanted: Vec<bool>,
    /// Its own seeding ratio goal, overriding the daemon's.
    pub seed_ratio: Option<f64>,
    /// Its own speed limits, KiB a second, and whether each is on (Transmission keeps the
    /// figure while the limit is off).
    pub upload_limit: (u64, bool),
    pub download_limit: (u64, bool),
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        let int = |n: u64| Bencode::Int(n.min(i64::MAX as u64) as i64);
        d.insert(
            b"info_hash".to_vec(),
            Bencode::Bytes(self.info_hash.0.to_vec()),
        );
        if let Some(m) = &self.magnet {
            d.insert(b"magnet".to_vec(), Bencode::Bytes(m.as_bytes().to_vec()));
        }
        use std::os::unix::ffi::OsStrExt;
        d.insert(
            b"dir".to_vec(),
            Bencode::Bytes(self.dir.as_os_str().as_bytes().to_vec()),
        );
        d.insert(b"paused".to_vec(), int(self.paused.into()));
        d.insert(b"added".to_vec(), int(self.added));
        d.insert(b"order".to_vec(), int(self.order));
        d.insert(b"done".to_vec(), int(self.done));
        d.insert(b"downloaded".to_vec(), int(self.downloaded));
        d.insert(b"uploaded".to_vec(), int(self.uploaded));
        if !self.wanted.is_empty() {
            let flags = self.wanted.iter().map(|&w| if w { b'1' } else { b'0' });
            d.insert(b"wanted".to_vec(), Bencode::Bytes(flags.collect()));
        }
        if let Some(r) = self.seed_ratio {
            // Thousandths: bencode has no fractions.
            d.insert(
                b"seed_ratio_milli".to_vec(),
                int((r * 1000.0).round() as u64),
            );
        }
        for (key, (kib, on)) in [
            (&b"upload_limit"[..], self.upload_limit),
            (b"download_limit", self.download_limit),
        ] {
            d.insert(key.to_vec(), Bencode::List(vec![int(kib), int(on.into())]));
        }
        Bencode::Dict(d).encode()
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        let root = bencode::decode(bytes).ok()?;
        let int = |k: &str| {
            root.get(k)
                .and_then(|v| v.as_int())
                .and_then(|n| u64::try_from(n).ok())
        };
        let bytes_of = |k: &str| root.get(k).and_then(|v| v.as_bytes()).map(<[u8]>::to_vec);
        let hash: [u8; 20] = bytes_of("info_hash")?.try_into().ok()?;
        use std::os::unix::ffi::OsStringExt;
        Some(Record {
            info_hash: InfoHash(hash),
            magnet: bytes_of("magnet").and_then(|b| String::from_utf8(b).ok()),
            dir: PathBuf::from(std::ffi::OsString::from_vec(bytes_of("dir")?)),
            paused: int("paused")? != 0,
            added: int("added").unwrap_or(0),
            order: int("order").unwrap_or(0),
            done: int("done").unwrap_or(0),
            downloaded: int("downloaded").unwrap_or(0),
            uploaded: int("uploaded").unwrap_or(0),
            wanted: bytes_of("wanted")
                .unwrap_or_default()
                .iter()
                .map(|&b| b == b'1')
                .collect(),
            seed_ratio: int("seed_ratio_milli").map(|m| m as f64 / 1000.0),
            upload_limit: limit(&root, "upload_limit"),
            download_limit: limit(&root, "download_limit"),
        })
    }
}

/// A speed limit as a record keeps it: `[KiB, on]`; (0, off) when absent.
fn limit(root: &bencode::Value, key: &str) -> (u64, bool) {
    let item = |i: usize| {
        root.get(key)
            .and_then(|v| v.as_list())
            .and_then(|l| l.get(i))
            .and_then(|v| v.as_int())
            .and_then(|n| u64::try_from(n).ok())
    };
    (item(0).unwrap_or(0), item(1).unwrap_or(0) != 0)
}

/// What `session-set` changed, kept across restarts (a flag given at start wins over it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionSettings {
    pub download_dir: Option<PathBuf>,
    pub start_added: Option<bool>,
    pub seed_ratio: Option<f64>,
    /// Bytes a second, 0 for none.
    pub upload_limit: Option<u64>,
    pub download_limit: Option<u64>,
}

impl SessionSettings {
    fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let mut d = BTreeMap::new();
        let int = |n: u64| Bencode::Int(n.min(i64::MAX as u64) as i64);
        if let Some(dir) = &self.download_dir {
            let bytes = dir.as_os_str().as_bytes().to_vec();
            d.insert(b"download_dir".to_vec(), Bencode::Bytes(bytes));
        }
        if let Some(start) = self.start_added {
            d.insert(b"start_added".to_vec(), int(start.into()));
        }
        if let Some(r) = self.seed_ratio {
            d.insert(
                b"seed_ratio_milli".to_vec(),
                int((r * 1000.0).round() as u64),
            );
        }
        for (key, value) in [
            (&b"upload_limit"[..], self.upload_limit),
            (b"download_limit", self.download_limit),
        ] {
            if let Some(v) = value {
                d.insert(key.to_vec(), int(v));
            }
        }
        Bencode::Dict(d).encode()
    }

    fn decode(bytes: &[u8]) -> Option<SessionSettings> {
        use std::os::unix::ffi::OsStringExt;
        let root = bencode::decode(bytes).ok()?;
        let int = |k: &str| {
            root.get(k)
                .and_then(|v| v.as_int())
                .and_then(|n| u64::try_from(n).ok())
        };
        Some(SessionSettings {
            download_dir: root
                .get("download_dir")
                .and_then(|v| v.as_bytes())
                .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b.to_vec()))),
            start_added: int("start_added").map(|n| n != 0),
            seed_ratio: int("seed_ratio_milli").map(|m| m as f64 / 1000.0),
            upload_limit: int("upload_limit"),
            download_limit: int("download_limit"),
        })
    }
}

/// A record found at start, and the metainfo saved with it.
pub struct Found {
    pub record: Record,
    pub torrent: Option<Vec<u8>>,
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    /// `root/resume`, shared by every torrent's options.
    resume: Arc<Path>,
}

impl StateDir {
    /// Creates `torrents/` and `resume/` under `root` when missing.
    pub fn open(root: &Path) -> std::io::Result<StateDir> {
        for sub in ["torrents", "resume"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(StateDir {
            root: root.to_owned(),
            resume: root.join("resume").into(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file(&self, hash: InfoHash, ext: &str) -> PathBuf {
        self.root
            .join("torrents")
            .join(format!("{}.{ext}", hash.hex()))
    }

    pub fn resume_file(&self, hash: InfoHash) -> PathBuf {
        crate::resume::path_in(&self.resume, hash)
    }

    pub fn resume_dir(&self) -> Arc<Path> {
        self.resume.clone()
    }

    pub fn save_torrent(&self, hash: InfoHash, bytes: &[u8]) -> std::io::Result<()> {
        state_file::replace(&self.file(hash, "torrent"), bytes)
    }

    pub fn save(&self, record: &Record) -> std::io::Result<()> {
        state_file::replace(&self.file(record.info_hash, "state"), &record.encode())
    }

    pub fn save_settings(&self, settings: &SessionSettings) -> std::io::Result<()> {
        state_file::replace(&self.root.join("settings"), &settings.encode())
    }

    /// The settings saved last; none (defaults) when there are none or they cannot be read.
    pub fn load_settings(&self) -> SessionSettings {
        state_file::read(&self.root.join("settings"), MAX_RECORD, Links::Refuse)
            .ok()
            .and_then(|b| SessionSettings::decode(&b))
            .unwrap_or_default()
    }

    /// Forgets a torrent: its record, metainfo and resume data.
    pub fn remove(&self, hash: InfoHash) {
        for path in [
            self.file(hash, "state"),
            self.file(hash, "torrent"),
            self.resume_file(hash),
        ] {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Every record, oldest added first; a record that cannot be read is logged and skipped
    /// (left where it is for the user to look at).
    pub fn load(&self) -> Vec<Found> {
        let Ok(entries) = std::fs::read_dir(self.root.join("torrents")) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for path in entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "state"))
            .take(MAX_TORRENTS)
        {
            let record = state_file::read(&path, MAX_RECORD, Links::Refuse)
                .ok()
                .and_then(|b| Record::decode(&b));
            let Some(record) = record else {
                log::warn!("{}: not a torrent record of p2p's; skipped", path.display());
                continue;
            };
            let torrent = state_file::read(
                &self.file(record.info_hash, "torrent"),
                MAX_TORRENT,
                Links::Refuse,
            )
            .ok();
            found.push(Found { record, torrent });
        }
        found.sort_by_key(|f| (f.record.order, f.record.added, f.record.info_hash.0));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8) -> Record {
        Record {
            info_hash: InfoHash([n; 20]),
            magnet: n
                .is_multiple_of(2)
                .then(|| format!("magnet:?xt=urn:btih:{}", "ab".repeat(20))),
            dir: PathBuf::from(format!("/srv/dl {n}")),
            paused: n.is_multiple_of(3),
            added: 1_700_000_000,
            order: u64::from(10 - n),
            done: 0,
            downloaded: 123,
            uploaded: u64::from(n) << 40,
            wanted: vec![true, false, true],
            seed_ratio: Some(1.5),
            upload_limit: (u64::from(n), true),
            download_limit: (100, false),
        }
    }

    #[test]
    fn session_settings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.load_settings(), SessionSettings::default());
        let settings = SessionSettings {
            download_dir: Some(PathBuf::from("/srv/new dl")),
            start_added: Some(false),
            seed_ratio: Some(0.25),
            upload_limit: Some(0),
            download_limit: Some(1 << 20),
        };
        state.save_settings(&settings).unwrap();
        assert_eq!(
            StateDir::open(dir.path()).unwrap().load_settings(),
            settings
        );
    }

    #[test]
    fn records_survive_a_restart_oldest_first_and_remove_forgets_all_of_one() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        for n in 1..=3 {
            state.save(&record(n)).unwrap();
        }
        state
            .save_torrent(InfoHash([1; 20]), b"d4:infodee")
            .unwrap();
        // A record overwritten keeps one file.
        let mut changed = record(2);
        changed.paused = true;
        state.save(&changed).unwrap();
        std::fs::write(state.resume_file(InfoHash([1; 20])), b"r").unwrap();
        std::fs::write(dir.path().join("torrents/junk.state"), b"not bencode").unwrap();

        let found = StateDir::open(dir.path()).unwrap().load();
        let records: Vec<Record> = found.iter().map(|f| f.record.clone()).collect();
        assert_eq!(records, vec![record(3), changed, record(1)]);
        assert_eq!(found[2].torrent.as_deref(), Some(&b"d4:infodee"[..]));
        assert!(found[0].torrent.is_none());

        state.remove(InfoHash([1; 20]));
        assert_eq!(state.load().len(), 2);
        assert!(!state.resume_file(InfoHash([1; 20])).exists());
        assert!(
            !dir.path()
                .join("torrents")
                .join(InfoHash([1; 20]).hex() + ".torrent")
                .exists()
        );
    }
}
