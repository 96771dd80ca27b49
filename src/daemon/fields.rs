//! `torrent-get`'s fields: a torrent as the Transmission RPC names its parts (rpc-spec.md,
//! section 3.3), computed from the engine's snapshot and the daemon's record. A field p2p does
//! not know is left out of the answer (as Transmission leaves out names it does not know),
//! never filled with a made-up value.

use super::saved::Record;
use crate::json::Json;
use crate::lifecycle::{FileInfo, PeerInfo, Snapshot, State};

/// Transmission's status numbers.
pub mod status {
    pub const STOPPED: i64 = 0;
    pub const CHECKING: i64 = 2;
    pub const DOWNLOADING: i64 = 4;
    pub const SEEDING: i64 = 6;
}

/// The fields that need the torrent's file list (asked of the engine only for them).
pub const FILE_FIELDS: &[&str] = &["files", "fileStats", "wanted", "priorities"];

/// `eta` when there is none (TR_ETA_NOT_AVAIL) and `uploadRatio` when there is none
/// (TR_RATIO_NA).
const NOT_AVAILABLE: i64 = -1;

/// One torrent as a `torrent-get` sees it.
pub struct View<'a> {
    pub s: &'a Snapshot,
    pub r: &'a Record,
    /// The file list, when a field of [`FILE_FIELDS`] was asked for.
    pub files: &'a [FileInfo],
    /// The peers, when `peers` was asked for.
    pub peers: &'a [PeerInfo],
    /// The daemon's seeding ratio goal.
    pub session_ratio: Option<f64>,
}

impl View<'_> {
    /// A torrent asked to stop is stopped to a client at once (as in Transmission), though its
    /// task may take a moment to end.
    pub fn status(&self) -> i64 {
        if self.s.stopping {
            return status::STOPPED;
        }
        match self.s.state {
            State::Checking => status::CHECKING,
            State::Metadata | State::Downloading => status::DOWNLOADING,
            State::Seeding => status::SEEDING,
            State::Paused | State::Finished | State::Error(_) => status::STOPPED,
        }
    }

    /// What the chosen files take; the whole torrent before its check has said.
    pub fn size_when_done(&self) -> u64 {
        if self.s.wanted_bytes > 0 {
            self.s.wanted_bytes
        } else {
            self.s.size
        }
    }

    /// 0 only once the download is finished (its files under their final names), which
    /// is what a client polling for 100 % (Sonarr, a script) acts on: between the last
    /// piece's check and the rename, one byte is still "left".
    pub fn left_until_done(&self) -> u64 {
        if self.s.complete {
            0
        } else {
            self.size_when_done()
                .saturating_sub(self.s.have_bytes)
                .max(1)
        }
    }

    pub fn downloaded_ever(&self) -> u64 {
        self.r.downloaded + self.s.downloaded
    }

    pub fn uploaded_ever(&self) -> u64 {
        self.r.uploaded + self.s.uploaded
    }

    pub fn percent_done(&self) -> f64 {
        let size = self.size_when_done();
        if self.s.complete {
            1.0
        } else if size == 0 {
            0.0
        } else {
            // Not 1.0 (nor a figure the JSON would round to it) before the finish.
            ((size - self.left_until_done()) as f64 / size as f64).min(0.999)
        }
    }

    /// Seconds to completion at the current rate; -1 when not downloading or not moving.
    pub fn eta(&self) -> i64 {
        let left = self.left_until_done();
        if self.s.state != State::Downloading || self.s.download_rate < 1.0 || left == 0 {
            return NOT_AVAILABLE;
        }
        (left as f64 / self.s.download_rate) as i64
    }

    /// Uploaded over downloaded (over what is verified, for a torrent that downloaded nothing:
    /// a seed of its own content); -1 when both are 0.
    pub fn ratio(&self) -> f64 {
        let base = match self.downloaded_ever() {
            0 => self.s.have_bytes,
            d => d,
        };
        if base == 0 {
            NOT_AVAILABLE as f64
        } else {
            self.uploaded_ever() as f64 / base as f64
        }
    }

    fn error(&self) -> (i64, String) {
        match &self.s.state {
            // TR_STAT_LOCAL_ERROR: the torrent stopped on a failure of its own.
            State::Error(reason) => (3, reason.clone()),
            _ => (0, String::new()),
        }
    }

    /// A file's verified bytes: exact when the torrent is complete; otherwise the torrent's
    /// verified share of it (the engine counts verified bytes per torrent, not per file).
    fn file_done(&self, f: &FileInfo) -> u64 {
        if self.s.complete {
            return if f.wanted { f.length } else { 0 };
        }
        (f.length as f64 * self.percent_done()) as u64
    }

    fn ratio_mode(&self) -> (i64, f64) {
        match (self.r.seed_ratio, self.session_ratio) {
            (Some(r), _) => (1, r),
            (None, Some(r)) => (0, r),
            (None, None) => (2, 0.0),
        }
    }
}

/// The field `name` of a torrent, under the name it is asked by; `None` for a name p2p does
/// not answer.
pub fn get(name: &str, v: &View) -> Option<(&'static str, Json)> {
    let s = v.s;
    let int = |n: u64| Json::uint(n);
    let count = |n: usize| Json::uint(n);
    let value = match name {
        "id" => ("id", int(s.id)),
        "name" => ("name", Json::str(&*s.name)),
        "hashString" => ("hashString", Json::str(s.info_hash.hex())),
        "status" => ("status", Json::Int(v.status())),
        "error" => ("error", Json::Int(v.error().0)),
        "errorString" => ("errorString", Json::str(v.error().1)),
        "percentDone" => ("percentDone", Json::Num(v.percent_done())),
        "percentComplete" => ("percentComplete", Json::Num(v.percent_done())),
        "metadataPercentComplete" => (
            "metadataPercentComplete",
            Json::Num(if s.has_metadata { 1.0 } else { 0.0 }),
        ),
        "recheckProgress" => ("recheckProgress", Json::Num(0.0)),
        "rateDownload" => ("rateDownload", int(s.download_rate as u64)),
        "rateUpload" => ("rateUpload", int(s.upload_rate as u64)),
        "eta" => ("eta", Json::Int(v.eta())),
        "etaIdle" => ("etaIdle", Json::Int(NOT_AVAILABLE)),
        "sizeWhenDone" => ("sizeWhenDone", int(v.size_when_done())),
        "leftUntilDone" => ("leftUntilDone", int(v.left_until_done())),
        "totalSize" => ("totalSize", int(s.size)),
        "haveValid" => ("haveValid", int(s.have_bytes)),
        "haveUnchecked" => ("haveUnchecked", Json::Int(0)),
        "downloadDir" => ("downloadDir", Json::str(v.r.dir.display().to_string())),
        "downloadedEver" => ("downloadedEver", int(v.downloaded_ever())),
        "uploadedEver" => ("uploadedEver", int(v.uploaded_ever())),
        "corruptEver" => ("corruptEver", Json::Int(0)),
        "uploadRatio" => ("uploadRatio", Json::Num(v.ratio())),
        "addedDate" => ("addedDate", int(v.r.added)),
        "doneDate" => ("doneDate", int(v.r.done)),
        "isFinished" => ("isFinished", Json::Bool(s.state == State::Finished)),
        "isStalled" => ("isStalled", Json::Bool(false)),
        "isPrivate" => ("isPrivate", Json::Bool(s.private)),
        "magnetLink" => ("magnetLink", Json::str(&*s.magnet)),
        "peersConnected" => ("peersConnected", count(s.peers)),
        "peersGettingFromUs" => ("peersGettingFromUs", count(s.peers_getting_from_us)),
        "peersSendingToUs" => ("peersSendingToUs", count(s.peers_sending_to_us)),
        "webseedsSendingToUs" => ("webseedsSendingToUs", Json::Int(0)),
        "pieceCount" => ("pieceCount", count(s.pieces)),
        "pieceSize" => ("pieceSize", int(s.piece_length)),
        "queuePosition" => ("queuePosition", int(s.id)),
        "bandwidthPriority" => ("bandwidthPriority", Json::Int(0)),
        "honorsSessionLimits" => ("honorsSessionLimits", Json::Bool(true)),
        "downloadLimited" => ("downloadLimited", Json::Bool(v.r.download_limit.1)),
        "downloadLimit" => ("downloadLimit", int(v.r.download_limit.0)),
        "uploadLimited" => ("uploadLimited", Json::Bool(v.r.upload_limit.1)),
        "uploadLimit" => ("uploadLimit", int(v.r.upload_limit.0)),
        "seedRatioMode" => ("seedRatioMode", Json::Int(v.ratio_mode().0)),
        "seedRatioLimit" => ("seedRatioLimit", Json::Num(v.ratio_mode().1)),
        "sequentialDownload" => ("sequentialDownload", Json::Bool(false)),
        "labels" => ("labels", Json::List(Vec::new())),
        "trackers" => ("trackers", trackers(s, false)),
        "peers" => ("peers", Json::List(v.peers.iter().map(peer).collect())),
        "trackerStats" => ("trackerStats", trackers(s, true)),
        "files" => (
            "files",
            Json::List(
                v.files
                    .iter()
                    .map(|f| {
                        Json::Obj(vec![
                            ("name", Json::str(&f.path)),
                            ("length", int(f.length)),
                            ("bytesCompleted", int(v.file_done(f))),
                        ])
                    })
                    .collect(),
            ),
        ),
        "fileStats" => (
            "fileStats",
            Json::List(
                v.files
                    .iter()
                    .map(|f| {
                        Json::Obj(vec![
                            ("bytesCompleted", int(v.file_done(f))),
                            ("wanted", Json::Bool(f.wanted)),
                            ("priority", Json::Int(0)),
                        ])
                    })
                    .collect(),
            ),
        ),
        "wanted" => (
            "wanted",
            Json::List(v.files.iter().map(|f| Json::Int(f.wanted.into())).collect()),
        ),
        "priorities" => (
            "priorities",
            Json::List(v.files.iter().map(|_| Json::Int(0)).collect()),
        ),
        _ => return None,
    };
    Some(value)
}

/// One of `peers`, as Transmission describes a peer (`flagStr` in its letters: D/d we download
/// from it / would, U/u we upload to it / it would like us to, K it unchokes us unasked, ? we
/// unchoke it unasked, E encrypted, I incoming).
fn peer(p: &PeerInfo) -> Json {
    let mut flags = String::new();
    let downloading = !p.peer_choking && p.am_interested;
    let uploading = !p.am_choking && p.peer_interested;
    if downloading {
        flags.push('D');
    } else if p.am_interested {
        flags.push('d');
    }
    if uploading {
        flags.push('U');
    } else if p.peer_interested {
        flags.push('u');
    }
    if !p.peer_choking && !p.am_interested {
        flags.push('K');
    }
    if !p.am_choking && !p.peer_interested {
        flags.push('?');
    }
    if p.encrypted {
        flags.push('E');
    }
    if p.incoming {
        flags.push('I');
    }
    Json::Obj(vec![
        ("address", Json::str(p.addr.ip().to_string())),
        ("port", Json::uint(p.addr.port())),
        ("clientName", Json::str(&p.client)),
        ("progress", Json::Num(p.progress)),
        ("rateToClient", Json::uint(p.download_rate as u64)),
        ("rateToPeer", Json::uint(p.upload_rate as u64)),
        ("isEncrypted", Json::Bool(p.encrypted)),
        ("isIncoming", Json::Bool(p.incoming)),
        ("isUTP", Json::Bool(p.utp)),
        ("isDownloadingFrom", Json::Bool(downloading)),
        ("isUploadingTo", Json::Bool(uploading)),
        ("clientIsChoked", Json::Bool(p.peer_choking)),
        ("clientIsInterested", Json::Bool(p.am_interested)),
        ("peerIsChoked", Json::Bool(p.am_choking)),
        ("peerIsInterested", Json::Bool(p.peer_interested)),
        ("flagStr", Json::Str(flags)),
    ])
}

/// `trackers` (or, with `stats`, `trackerStats`: what p2p knows of them is their place, not
/// their last answers, so only those fields are given).
fn trackers(s: &Snapshot, stats: bool) -> Json {
    Json::List(
        s.trackers
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let mut fields = vec![
                    ("id", Json::uint(i)),
                    ("announce", Json::str(url)),
                    ("tier", Json::uint(i)),
                ];
                if stats {
                    let host = crate::url::split_url(url, 80)
                        .map(|(host, _, _)| host)
                        .unwrap_or_default();
                    fields.push(("host", Json::str(host)));
                    fields.push(("isBackup", Json::Bool(false)));
                } else {
                    fields.push(("scrape", Json::str("")));
                }
                Json::Obj(fields)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::InfoHash;
    use std::path::PathBuf;
    use std::time::SystemTime;

    fn snapshot(state: State, have: u64, complete: bool) -> Snapshot {
        Snapshot {
            id: 3,
            name: "n".into(),
            info_hash: InfoHash([7; 20]),
            state,
            stopping: false,
            has_metadata: true,
            size: 1000,
            wanted_bytes: 800,
            have_bytes: have,
            pieces: 10,
            piece_length: 100,
            have_pieces: 0,
            prefix_bytes: 0,
            complete,
            downloaded: 400,
            uploaded: 200,
            wasted: 0,
            web_seed_bytes: 0,
            connections: 0,
            encrypted_connections: 0,
            utp_connections: 0,
            peers: 2,
            peers_sending_to_us: 1,
            peers_getting_from_us: 0,
            download_rate: 100.0,
            upload_rate: 0.0,
            added: SystemTime::UNIX_EPOCH,
            completed: None,
            private: false,
            trackers: vec!["http://t.example:6969/announce".to_string()].into(),
            magnet: "".into(),
        }
    }

    fn record() -> Record {
        Record {
            info_hash: InfoHash([7; 20]),
            magnet: None,
            dir: PathBuf::from("/dl"),
            paused: false,
            added: 5,
            order: 1,
            done: 0,
            downloaded: 600,
            uploaded: 1000,
            wanted: Vec::new(),
            seed_ratio: None,
            upload_limit: (0, false),
            download_limit: (0, false),
        }
    }

    fn field(s: &Snapshot, name: &str) -> Json {
        let r = record();
        let view = View {
            s,
            r: &r,
            files: &[],
            peers: &[],
            session_ratio: Some(2.0),
        };
        get(name, &view).expect(name).1
    }

    #[test]
    fn a_download_counts_what_its_chosen_files_take_and_earlier_runs() {
        let s = snapshot(State::Downloading, 300, false);
        assert_eq!(field(&s, "status"), Json::Int(status::DOWNLOADING));
        assert_eq!(field(&s, "sizeWhenDone"), Json::Int(800));
        assert_eq!(field(&s, "leftUntilDone"), Json::Int(500));
        assert_eq!(field(&s, "eta"), Json::Int(5));
        assert_eq!(field(&s, "downloadedEver"), Json::Int(1000));
        assert_eq!(field(&s, "uploadRatio"), Json::Num(1.2));
        assert_eq!(field(&s, "seedRatioMode"), Json::Int(0));
        assert_eq!(field(&s, "peersSendingToUs"), Json::Int(1));
        let view = View {
            s: &s,
            r: &record(),
            files: &[],
            peers: &[],
            session_ratio: None,
        };
        assert!(get("noSuchField", &view).is_none());
    }

    #[test]
    fn every_piece_verified_is_not_100_percent_until_the_download_is_finished() {
        let s = snapshot(State::Downloading, 800, false);
        assert_eq!(field(&s, "leftUntilDone"), Json::Int(1));
        let Json::Num(p) = field(&s, "percentDone") else {
            panic!()
        };
        assert!(p < 1.0 && format!("{:.3}", p) != "1.000", "{p}");
        let done = snapshot(State::Seeding, 800, true);
        assert_eq!(field(&done, "leftUntilDone"), Json::Int(0));
        assert_eq!(field(&done, "percentDone"), Json::Num(1.0));
        assert_eq!(field(&done, "status"), Json::Int(status::SEEDING));
    }

    #[test]
    fn a_failed_torrent_is_stopped_with_its_reason() {
        let s = snapshot(State::Error("disk full".into()), 0, false);
        assert_eq!(field(&s, "status"), Json::Int(status::STOPPED));
        assert_eq!(field(&s, "error"), Json::Int(3));
        assert_eq!(field(&s, "errorString"), Json::str("disk full"));
        assert_eq!(field(&s, "eta"), Json::Int(-1));
    }
}
