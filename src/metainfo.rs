//! Torrent files (BEP 3 metainfo, BEP 12 announce-list): reading with validation, and the types
//! the rest of p2p works with. Creation lives in the `create_torrent` module (it hashes through
//! the piece store, a layer above this one).

use crate::bencode::{self, Bencode, DecodeError, Value};
use crate::hash::{Digest, merkle, sha1};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A torrent file larger than this is refused before it is read.
pub const MAX_TORRENT_FILE: u64 = 64 << 20;
/// A path component (file or directory name) longer than this is refused.
pub const MAX_NAME: usize = 255;
/// Pieces larger than this are refused: a piece is held in memory while it is verified.
pub const MAX_PIECE_LENGTH: u64 = 128 << 20;

pub use crate::hash::InfoHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torrent {
    pub info_hash: InfoHash,
    pub announce: Option<String>,
    /// BEP 12 tiers, as found (empty when the key is absent).
    pub announce_list: Vec<Vec<String>>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub info: Info,
    /// DHT nodes to join through (BEP 5 `nodes`), as `HOST:PORT`.
    pub nodes: Vec<String>,
    /// Web seeds (BEP 19 `url-list`), shown by `info`; not fetched from yet.
    pub url_list: Vec<String>,
    /// The `info` dictionary exactly as found: what `ut_metadata` serves (BEP 9) and what a
    /// saved .torrent holds.
    pub info_bytes: Arc<[u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The suggested name: the file's name, or the top directory of a multi-file torrent.
    pub name: String,
    pub piece_length: u64,
    /// Shared with the piece store that checks against them (a torrent of 4,000 pieces has
    /// 80 KB of them).
    pub pieces: Arc<[Digest]>,
    /// Every file in torrent order; a single-file torrent has one entry with an empty path.
    /// BEP 47 padding files are not here: they are the gaps between files' `offset`s.
    pub files: Vec<FileEntry>,
    /// Bytes the pieces cover: the files and the padding between them.
    pub stream_length: u64,
    pub multi_file: bool,
    pub private: bool,
    /// `info.source` (private trackers' cross-seeding tag).
    pub source: Option<String>,
    /// What a v2 (`pieces` empty) or hybrid torrent adds (BEP 52); `None` for v1.
    pub v2: Option<Box<V2>>,
}

/// Which BitTorrent a torrent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    #[default]
    V1,
    /// v1 and v2 at once (BEP 52 hybrid): v1 hashes verify, both info-hashes name it.
    Hybrid,
    /// v2 alone: SHA-256 merkle trees verify, the truncated v2 hash names it.
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::Hybrid => "hybrid",
            Version::V2 => "v2",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components below the torrent's name; empty for a single-file torrent.
    pub path: Vec<String>,
    pub length: u64,
    /// Where the file starts in the torrent's bytes.
    pub offset: u64,
    /// BEP 47 `attr` `x`: written with execute permission where it can be read.
    pub executable: bool,
}

impl FileEntry {
    /// Files laid end to end with no padding, as `(path, length)`.
    #[cfg(test)]
    pub fn end_to_end(files: impl IntoIterator<Item = (Vec<String>, u64)>) -> Vec<FileEntry> {
        let mut offset = 0;
        files
            .into_iter()
            .map(|(path, length)| {
                let f = FileEntry {
                    path,
                    length,
                    offset,
                    executable: false,
                };
                offset += length;
                f
            })
            .collect()
    }
}

impl Info {
    /// Bytes of content: the files, without padding.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// Where pieces and files meet, padding included.
    pub fn layout(&self) -> crate::layout::Layout {
        crate::layout::Layout::with_padding(
            self.piece_length,
            self.files.iter().map(|f| (f.offset, f.length)),
            self.stream_length,
        )
        .expect("parse_info lays files out in order within the stream")
    }

    pub fn piece_count(&self) -> usize {
        self.stream_length.div_ceil(self.piece_length) as usize
    }

    /// 1, or 2 for a v2-only torrent (no v1 `pieces`).
    pub fn version(&self) -> Version {
        match (&self.v2, self.pieces.is_empty()) {
            (None, _) => Version::V1,
            (Some(_), false) => Version::Hybrid,
            (Some(_), true) => Version::V2,
        }
    }

    /// Where a file lands, relative to the output directory: `name` or `name/a/b`.
    pub fn file_path(&self, file: &FileEntry) -> PathBuf {
        let mut path = PathBuf::from(&self.name);
        for component in &file.path {
            path.push(component);
        }
        path
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    #[error(transparent)]
    Bencode(#[from] DecodeError),
    #[error("the torrent is not a bencoded dictionary")]
    NotDict,
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("`info.pieces` is {0} bytes, not a multiple of 20")]
    PiecesNotMultipleOf20(usize),
    #[error(
        "`info.pieces` holds {found} hashes but {total} bytes in pieces of {piece_length} need {expected}"
    )]
    PieceCount {
        found: usize,
        expected: u64,
        total: u64,
        piece_length: u64,
    },
    #[error("unsafe file path {path:?}: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("file path {0:?} appears twice")]
    DuplicatePath(String),
    #[error(
        "is a BitTorrent v2 torrent without `piece layers` (BEP 52: a .torrent carries them; a magnet link gets them from peers)"
    )]
    NoPieceLayers,
}

impl Torrent {
    /// Reads and validates a .torrent file.
    pub fn load(path: &Path) -> crate::Result<Torrent> {
        let io = |source| crate::Error::Io {
            path: path.to_owned(),
            source,
        };
        let too_large = |size: String| crate::Error::Torrent {
            path: path.to_owned(),
            source: MetainfoError::Invalid {
                field: "file",
                reason: format!("{size} is larger than the {MAX_TORRENT_FILE} bytes allowed"),
            },
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_TORRENT_FILE {
            return Err(too_large(format!("{size} bytes")));
        }
        // The read itself is bounded too: a pipe or a device reports no size.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, MAX_TORRENT_FILE + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_TORRENT_FILE {
            return Err(too_large("what it holds".into()));
        }
        Torrent::from_bytes(&bytes).map_err(|source| crate::Error::Torrent {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a .torrent p2p saved itself (a magnet's metadata): never through a link, only a
    /// regular file.
    pub fn load_saved(path: &Path) -> crate::Result<Torrent> {
        use crate::state_file::{Links, read};
        let bytes =
            read(path, MAX_TORRENT_FILE, Links::Refuse).map_err(|source| crate::Error::Io {
                path: path.to_owned(),
                source,
            })?;
        Torrent::from_bytes(&bytes).map_err(|source| crate::Error::Torrent {
            path: path.to_owned(),
            source,
        })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent, MetainfoError> {
        // `info.files` is walked one entry at a time, never held as a tree.
        let root = bencode::decode_unbuilt(bytes, &[b"files", b"file tree"])?;
        if !root.is_dict() {
            return Err(MetainfoError::NotDict);
        }
        let info_value = root.get("info").ok_or(MetainfoError::Missing("info"))?;
        let info = parse_info(info_value, root.get("piece layers"))?;
        Ok(Torrent {
            info_hash: swarm_hash(&info, info_value.raw),
            announce: optional_str(&root, "announce")?,
            announce_list: parse_announce_list(&root)?,
            comment: optional_str(&root, "comment")?,
            created_by: optional_str(&root, "created by")?,
            creation_date: root.get("creation date").and_then(Value::as_int),
            info,
            nodes: parse_nodes(&root),
            url_list: parse_url_list(&root),
            info_bytes: info_value.raw.into(),
        })
    }

    /// A torrent from an `info` dictionary fetched with `ut_metadata` (BEP 9), already checked
    /// against `expected`, and the trackers a magnet link named.
    /// `layers`: the piece layers of a v2 torrent, as a bencoded `piece layers` dictionary,
    /// fetched from peers with hash requests ([`layers_wanted`] says which).
    pub fn from_metadata(
        info_bytes: &[u8],
        expected: InfoHash,
        trackers: &[String],
        layers: Option<&[u8]>,
    ) -> Result<Torrent, MetainfoError> {
        let value = bencode::decode_unbuilt(info_bytes, &[b"files", b"file tree"])?;
        let layers = layers.map(bencode::decode).transpose()?;
        let info = parse_info(&value, layers.as_ref())?;
        // A hybrid found through its v2 hash answers to either.
        let v2_hash = info.v2.as_ref().map(|v2| InfoHash(v2.truncated()));
        if swarm_hash(&info, info_bytes) != expected && v2_hash != Some(expected) {
            return Err(MetainfoError::Invalid {
                field: "info",
                reason: format!("its hash is not the info-hash {}", expected.hex()),
            });
        }
        Ok(Torrent {
            info_hash: expected,
            announce: trackers.first().cloned(),
            announce_list: if trackers.len() > 1 {
                trackers.iter().map(|t| vec![t.clone()]).collect()
            } else {
                Vec::new()
            },
            comment: None,
            created_by: None,
            creation_date: None,
            info,
            nodes: Vec::new(),
            url_list: Vec::new(),
            info_bytes: info_bytes.into(),
        })
    }

    /// The .torrent file of this torrent: its trackers and the `info` dictionary as found, so
    /// the file has the same info-hash.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = b"d".to_vec();
        if let Some(a) = &self.announce {
            bencode::encode::put_bytes(&mut out, b"announce");
            bencode::encode::put_bytes(&mut out, a.as_bytes());
        }
        if !self.announce_list.is_empty() {
            bencode::encode::put_bytes(&mut out, b"announce-list");
            let tiers = self
                .announce_list
                .iter()
                .map(|t| Bencode::List(t.iter().map(|u| Bencode::str(u)).collect()))
                .collect();
            Bencode::List(tiers).encode_into(&mut out);
        }
        if let Some(c) = &self.comment {
            bencode::encode::put_bytes(&mut out, b"comment");
            bencode::encode::put_bytes(&mut out, c.as_bytes());
        }
        if let Some(c) = &self.created_by {
            bencode::encode::put_bytes(&mut out, b"created by");
            bencode::encode::put_bytes(&mut out, c.as_bytes());
        }
        if let Some(d) = self.creation_date {
            bencode::encode::put_bytes(&mut out, b"creation date");
            Bencode::Int(d).encode_into(&mut out);
        }
        bencode::encode::put_bytes(&mut out, b"info");
        out.extend_from_slice(&self.info_bytes);
        if !self.nodes.is_empty() {
            bencode::encode::put_bytes(&mut out, b"nodes");
            let nodes = self
                .nodes
                .iter()
                .filter_map(|n| {
                    let (h, p) = n.rsplit_once(':')?;
                    let h = h.trim_start_matches('[').trim_end_matches(']');
                    Some(Bencode::List(vec![
                        Bencode::str(h),
                        Bencode::Int(p.parse().ok()?),
                    ]))
                })
                .collect();
            Bencode::List(nodes).encode_into(&mut out);
        }
        if let Some(v2) = &self.info.v2
            && !v2.pieces.is_empty()
        {
            bencode::encode::put_bytes(&mut out, b"piece layers");
            let files = self.info.files.iter().map(|f| f.length);
            v2::piece_layers(
                files.zip(v2.roots.iter().copied()),
                &v2.pieces,
                self.info.piece_length,
            )
            .encode_into(&mut out);
        }
        out.push(b'e');
        out
    }

    /// The info-hashes peers know the torrent by: its own, and for a hybrid (BEP 52) the
    /// first 20 bytes of its v2 hash too, as the v2 half of its swarm names it.
    pub fn swarm_hashes(&self) -> Vec<InfoHash> {
        let mut hashes = vec![self.info_hash];
        if let Some(v2) = &self.info.v2
            && InfoHash(v2.truncated()) != self.info_hash
        {
            hashes.push(InfoHash(v2.truncated()));
        }
        hashes
    }

    /// Tracker tiers to use (BEP 12: `announce-list` when present, else `announce`), without
    /// the URLs that are not clean http, https or udp ones (a CR/LF would go into a request).
    pub fn tracker_tiers(&self) -> Vec<Vec<String>> {
        use crate::address::{TRACKER_SCHEMES, is_clean_url};
        let tiers = if self.announce_list.is_empty() {
            self.announce.iter().map(|a| vec![a.clone()]).collect()
        } else {
            self.announce_list.clone()
        };
        tiers
            .into_iter()
            .map(|t| {
                t.into_iter()
                    .filter(|u| is_clean_url(u, TRACKER_SCHEMES))
                    .collect()
            })
            .filter(|t: &Vec<String>| !t.is_empty())
            .collect()
    }
}

/// The 20 bytes a swarm knows the torrent by: the SHA-1 of `info`, or for a v2-only torrent
/// the first 20 bytes of its SHA-256.
fn swarm_hash(info: &Info, raw: &[u8]) -> InfoHash {
    match &info.v2 {
        Some(v2) if info.version() == Version::V2 => InfoHash(v2.truncated()),
        _ => InfoHash(sha1(raw)),
    }
}

/// BEP 19 `url-list`: one URL or a list of them (non-strings, and URLs that are not clean
/// http/https/ftp ones, skipped; 64 kept).
fn parse_url_list(root: &Value<'_>) -> Vec<String> {
    use crate::address::{WEB_SEED_SCHEMES, is_clean_url};
    let clean = |u: &String| is_clean_url(u, WEB_SEED_SCHEMES);
    match root.get("url-list") {
        Some(v) if v.as_str().is_some() => v
            .as_str()
            .map(str::to_string)
            .into_iter()
            .filter(clean)
            .collect(),
        Some(v) => v
            .as_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|u| u.as_str().map(str::to_string))
            .filter(clean)
            .take(64)
            .collect(),
        None => Vec::new(),
    }
}

/// BEP 5 `nodes`: `[["host", port], ...]`, read leniently (bad entries skipped, 64 kept).
fn parse_nodes(root: &Value<'_>) -> Vec<String> {
    let Some(list) = root.get("nodes").and_then(Value::as_list) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|n| {
            let pair = n.as_list()?;
            let host = pair.first()?.as_str()?;
            let port = u16::try_from(pair.get(1)?.as_int()?)
                .ok()
                .filter(|&p| p > 0)?;
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            Some(format!("{host}:{port}"))
        })
        .take(64)
        .collect()
}

fn optional_str(dict: &Value<'_>, key: &'static str) -> Result<Option<String>, MetainfoError> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bytes()
            .map(|b| Some(String::from_utf8_lossy(b).into_owned()))
            .ok_or(MetainfoError::WrongType(key)),
    }
}

fn parse_announce_list(root: &Value<'_>) -> Result<Vec<Vec<String>>, MetainfoError> {
    const FIELD: &str = "announce-list";
    let Some(list) = root.get(FIELD) else {
        return Ok(Vec::new());
    };
    let tiers = list.as_list().ok_or(MetainfoError::WrongType(FIELD))?;
    let mut out = Vec::new();
    for tier in tiers {
        let urls = tier.as_list().ok_or(MetainfoError::WrongType(FIELD))?;
        let urls: Vec<String> = urls
            .iter()
            .map(|u| {
                u.as_str()
                    .map(str::to_owned)
                    .ok_or(MetainfoError::WrongType(FIELD))
            })
            .collect::<Result<_, _>>()?;
        if !urls.is_empty() {
            out.push(urls);
        }
    }
    Ok(out)
}

fn length_field(v: &Value<'_>, field: &'static str) -> Result<u64, MetainfoError> {
    let n = v.as_int().ok_or(MetainfoError::WrongType(field))?;
    u64::try_from(n).map_err(|_| MetainfoError::Invalid {
        field,
        reason: format!("{n} is negative"),
    })
}

/// The `info` dictionary, and the torrent's `piece layers` for a v2 or hybrid one (`None`
/// when absent, or when only the dictionary is known).
fn parse_info(info: &Value<'_>, layers: Option<&Value<'_>>) -> Result<Info, MetainfoError> {
    if !info.is_dict() {
        return Err(MetainfoError::WrongType("info"));
    }
    let name = info
        .get("name")
        .ok_or(MetainfoError::Missing("info.name"))?
        .as_bytes()
        .ok_or(MetainfoError::WrongType("info.name"))?;
    let name = path_component(name)?;

    let piece_length = length_field(
        info.get("piece length")
            .ok_or(MetainfoError::Missing("info.piece length"))?,
        "info.piece length",
    )?;
    if piece_length == 0 || piece_length > MAX_PIECE_LENGTH {
        return Err(MetainfoError::Invalid {
            field: "info.piece length",
            reason: format!("{piece_length} is not between 1 and {MAX_PIECE_LENGTH}"),
        });
    }

    let version = match info.get("meta version") {
        None => 1,
        Some(v) => v
            .as_int()
            .ok_or(MetainfoError::WrongType("info.meta version"))?,
    };
    if !(1..=2).contains(&version) {
        return Err(MetainfoError::Invalid {
            field: "info.meta version",
            reason: format!("{version} is not a version p2p knows (1 or 2)"),
        });
    }
    if version == 2 && (piece_length < merkle::BLOCK || !piece_length.is_power_of_two()) {
        return Err(MetainfoError::Invalid {
            field: "info.piece length",
            reason: format!("{piece_length} is not a power of two of at least 16 KiB (v2)"),
        });
    }
    let tree = match version {
        2 => Some(v2::parse_file_tree(
            info.get("file tree")
                .ok_or(MetainfoError::Missing("info.file tree"))?,
        )?),
        _ => None,
    };
    let private = matches!(info.get("private").and_then(Value::as_int), Some(1));
    let source = info
        .get("source")
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned());

    let (pieces, files, multi_file, stream_length) = match (info.get("pieces"), &tree) {
        (Some(pieces), _) => {
            let pieces = v1_pieces(pieces)?;
            let (files, multi_file, stream_length) = v1_files(info)?;
            if let Some(tree) = &tree {
                v2::check_hybrid(&files, multi_file, tree, piece_length)?;
            }
            let expected = stream_length.div_ceil(piece_length);
            if pieces.len() as u64 != expected {
                return Err(MetainfoError::PieceCount {
                    found: pieces.len(),
                    expected,
                    total: stream_length,
                    piece_length,
                });
            }
            (pieces, files, multi_file, stream_length)
        }
        (None, Some(tree)) => {
            let (files, stream_length, multi_file) = v2::lay_out(tree, piece_length)?;
            (Vec::new(), files, multi_file, stream_length)
        }
        (None, None) => return Err(MetainfoError::Missing("info.pieces")),
    };
    if files.iter().all(|f| f.length == 0) {
        return Err(MetainfoError::Invalid {
            field: "info",
            reason: "the torrent holds no data".into(),
        });
    }
    let v2 = match &tree {
        None => None,
        Some(tree) => {
            let roots: Vec<_> = tree.iter().map(|f| f.root).collect();
            let digests = v2::piece_digests(&files, &roots, piece_length, layers)?;
            if pieces.is_empty() && digests.is_empty() {
                return Err(MetainfoError::NoPieceLayers);
            }
            Some(Box::new(v2::v2_of(info, tree, digests)))
        }
    };
    Ok(Info {
        name,
        piece_length,
        pieces: pieces.into(),
        files,
        stream_length,
        multi_file,
        private,
        source,
        v2,
    })
}

#[cfg(test)]
mod tests;
mod v1;
mod v2;
use v1::{path_component, v1_files, v1_pieces};
pub use v2::{V2, layers_wanted, piece_layers};
