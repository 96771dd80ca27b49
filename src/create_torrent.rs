//! Torrent creation, deterministic and mktorrent-compatible: the same content and piece length
//! give the same info-hash as mktorrent.
//!
//! Choices (documented in the man page): files are ordered by their full `/`-joined path compared
//! byte-wise (what mktorrent does, so `a.txt` sorts before `a/b`); hidden files are included;
//! symbolic links are followed (a link to a directory that leads back up is refused); FIFOs,
//! sockets and devices are skipped with a warning; empty files are listed.
//!
//! With padding (`--pad`, BEP 47) the layout is libtorrent 2.0's canonical one instead, so the
//! info dictionary is the one `create_torrent` writes with `canonical_files`: files ordered by
//! path compared component by component, every non-empty file of a multi-file torrent (the last
//! too) followed by a padding file `.pad/N` of the N bytes up to the next piece boundary, and
//! executable files marked `attr` `x`.

use crate::bencode::Bencode;
use crate::bencode::Bencode as B;
use crate::glob::Glob;
use crate::hash::{Digest, Digest256, merkle};
use crate::layout::Layout;
pub use crate::metainfo::Version;
pub use crate::piece_store::HashProgress;
use crate::piece_store::PieceStore;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

pub const MIN_PIECE_LENGTH: u64 = 16 << 10;
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 << 20;

/// One file to put in the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub disk_path: PathBuf,
    /// Components below the torrent name (empty for a single-file torrent).
    pub path: Vec<String>,
    pub length: u64,
    /// Any execute bit set on disk (written as BEP 47 `x` when padding).
    pub executable: bool,
}

/// What the user asked for, trackers already resolved to URLs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub trackers: Vec<String>,
    /// DHT nodes (BEP 5 `nodes`): host and port.
    pub nodes: Vec<(String, u16)>,
    pub piece_length: Option<u64>,
    pub private: bool,
    /// `info.source` (cross-seeding on private trackers): part of the info-hash.
    pub source: Option<String>,
    pub comment: Option<String>,
    pub creation_date: Option<i64>,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    /// BEP 47 padding: each file starts on a piece boundary (see the module's notes).
    pub pad: bool,
    /// v1 (mktorrent's), v2 or hybrid (libtorrent 2.0's, BEP 52).
    pub version: Version,
}

/// The hashes of a torrent's pieces: SHA-1 for v1 (empty for v2-only), the v2 digest of
/// [`merkle`] for v2 (empty for v1).
#[derive(Debug, Clone, Default)]
pub struct Hashed {
    pub v1: Vec<Digest>,
    pub v2: Vec<Digest256>,
}

/// Where each file starts in the torrent's bytes, and how long those bytes are: end to end, or
/// with `pad` every non-empty file of a multi-file torrent padded to a piece boundary, as
/// libtorrent's `canonicalize` does (the last one too; a single file never).
pub fn lay_out(files: &[SourceFile], piece_length: u64, pad: bool) -> Layout {
    let pad = pad && files.len() > 1;
    let mut starts = Vec::with_capacity(files.len());
    let mut offset = 0u64;
    for f in files {
        starts.push((offset, f.length));
        offset += f.length;
        if pad && f.length > 0 && !offset.is_multiple_of(piece_length) {
            offset += piece_length - offset % piece_length;
        }
    }
    Layout::with_padding(piece_length, starts, offset).expect("files laid out in order")
}

/// libtorrent's canonical order for a padded torrent: paths compared component by component
/// (`sub/b` before `sub-x`, where a byte-wise comparison of joined paths puts it after).
pub fn sort_canonical(files: &mut [SourceFile]) {
    files.sort_by(|a, b| a.path.cmp(&b.path));
}

/// What libtorrent 2.0 chooses: the smallest power of two from 16 KiB whose square is at least
/// 100 times `total` (the piece length doubles as the content quadruples: 23 MiB → 64 KiB,
/// 1 GiB → 512 KiB, 40 GiB → 2 MiB), capped at 16 MiB. mktorrent takes 256 KiB whatever the
/// size, which is coarse for small content and fine-grained for large.
pub fn choose_piece_length(total: u64) -> u64 {
    let mut piece = MIN_PIECE_LENGTH;
    while piece < MAX_AUTO_PIECE_LENGTH && (piece as u128 * piece as u128) / 100 < total as u128 {
        piece *= 2;
    }
    piece
}

/// A user-given piece length must be a power of two of at least 16 KiB.
pub fn check_piece_length(piece_length: u64) -> Result<u64> {
    if piece_length < MIN_PIECE_LENGTH
        || !piece_length.is_power_of_two()
        || piece_length > crate::metainfo::MAX_PIECE_LENGTH
    {
        return Err(Error::BadPieceLength(piece_length));
    }
    Ok(piece_length)
}

/// Resolves `NAME@HOST[:PORT]` (port 6969 by default) to `http://HOST:PORT/announce`; passes
/// `http://`, `https://` and `udp://` URLs through after checking they name a host.
pub fn tracker_url(spec: &str) -> Result<String> {
    let bad = |reason: &str| Error::BadTracker {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    for scheme in ["http://", "https://", "udp://"] {
        if let Some(rest) = spec.strip_prefix(scheme) {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            if host.is_empty() || host.starts_with(':') {
                return Err(bad("the URL names no host"));
            }
            if scheme == "udp://" && !host.contains(':') {
                return Err(bad("a udp:// tracker URL needs a port"));
            }
            return Ok(spec.to_owned());
        }
    }
    if spec.contains("://") {
        return Err(bad(
            "only http://, https:// and udp:// trackers are supported",
        ));
    }
    let (name, host_port) = spec
        .split_once('@')
        .ok_or_else(|| bad("expected NAME@HOST[:PORT] or an http://, https:// or udp:// URL"))?;
    if name.is_empty() {
        return Err(bad("the tracker name before `@` is empty"));
    }
    let (host, port) = split_host_port(host_port).map_err(bad)?;
    let port = match port {
        None => 6969,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad(&format!("port `{p}` is not a number from 1 to 65535")))?,
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad("the host after `@` is empty or not a host name"));
    }
    Ok(format!("http://{host}:{port}/announce"))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; IPv6 hosts keep their brackets.
/// The error is the reason, for [`tracker_url`] to name with the spec.
fn split_host_port(s: &str) -> std::result::Result<(&str, Option<&str>), &'static str> {
    if s.starts_with('[') {
        let close = s.find(']').ok_or("unclosed `[` in the host")?;
        let (host, rest) = s.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or("unexpected text after `]`"),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    })
}

/// What a directory walk leaves out.
#[derive(Debug, Clone, Default)]
pub struct Skip {
    /// `--exclude` patterns, matched on paths inside the torrent.
    pub exclude: Vec<Glob>,
    /// The torrent being written (or overwritten): never part of its own content.
    pub output: Option<PathBuf>,
}

impl Skip {
    fn excludes(&self, components: &[String]) -> bool {
        self.exclude.iter().any(|g| g.matches(components))
    }

    fn is_output(&self, path: &Path) -> bool {
        let Some(out) = &self.output else {
            return false;
        };
        out.file_name() == path.file_name()
            && absolute(path).is_some_and(|p| Some(p) == absolute(out))
    }
}

/// `path` made absolute through its directory's real path (the file itself may not exist yet).
fn absolute(path: &Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// The name a torrent of `root` gets: its last component (that of its real path for `.`).
pub fn torrent_name(root: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: root.to_owned(),
        source,
    };
    let name = match root.file_name() {
        Some(n) => n.to_owned(),
        None => root
            .canonicalize()
            .map_err(io)?
            .file_name()
            .ok_or_else(|| Error::Input {
                path: root.to_owned(),
                reason: "has no name to give the torrent".into(),
            })?
            .to_owned(),
    };
    name.into_string().map_err(|_| Error::Input {
        path: root.to_owned(),
        reason: "its name is not UTF-8".into(),
    })
}

/// The torrent name and files for `root`: a file gives a single-file torrent, a directory a
/// multi-file one. Returns (name, files, multi_file).
pub fn collect_files(root: &Path, skip: &Skip) -> Result<(String, Vec<SourceFile>, bool)> {
    let io = |source| Error::Io {
        path: root.to_owned(),
        source,
    };
    let meta = std::fs::metadata(root).map_err(io)?;
    let name = torrent_name(root)?;
    if meta.is_file() {
        let file = SourceFile {
            disk_path: root.to_owned(),
            path: Vec::new(),
            length: meta.len(),
            executable: is_executable(&meta),
        };
        return Ok((name, vec![file], false));
    }
    if !meta.is_dir() {
        return Err(Error::Input {
            path: root.to_owned(),
            reason: "is neither a file nor a directory".into(),
        });
    }
    let mut files = Vec::new();
    let mut ancestors = vec![root.canonicalize().map_err(io)?];
    walk(root, &mut Vec::new(), &mut ancestors, skip, &mut files)?;
    if files.is_empty() {
        return Err(Error::Input {
            path: root.to_owned(),
            reason: if skip.exclude.is_empty() {
                "is an empty directory".into()
            } else {
                "has no file left once --exclude is applied".into()
            },
        });
    }
    files.sort_by(|a, b| a.path.join("/").as_bytes().cmp(b.path.join("/").as_bytes()));
    Ok((name, files, true))
}

fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    ancestors: &mut Vec<PathBuf>,
    skip: &Skip,
    out: &mut Vec<SourceFile>,
) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let component = entry.file_name().into_string().map_err(|_| Error::Input {
            path: path.clone(),
            reason: "its name is not UTF-8".into(),
        })?;
        prefix.push(component);
        let excluded = skip.excludes(prefix);
        let component = prefix.pop().expect("pushed");
        if excluded {
            log::debug!("excluding {}", path.display());
            continue;
        }
        if skip.is_output(&path) {
            log::info!(
                "skipping {}: it is the torrent being written",
                path.display()
            );
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            let canonical = path.canonicalize().map_err(io(&path))?;
            if ancestors.contains(&canonical) {
                return Err(Error::Input {
                    path,
                    reason: "is a link back to a directory above it".into(),
                });
            }
            ancestors.push(canonical);
            prefix.push(component);
            walk(&path, prefix, ancestors, skip, out)?;
            prefix.pop();
            ancestors.pop();
        } else if meta.is_file() {
            let mut file_path = prefix.clone();
            file_path.push(component);
            out.push(SourceFile {
                disk_path: path,
                path: file_path,
                length: meta.len(),
                executable: is_executable(&meta),
            });
        } else {
            log::warn!(
                "skipping {}: not a regular file or directory",
                path.display()
            );
        }
    }
    Ok(())
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// The torrent of `root` (a file or a directory, nothing skipped) with `options`, hashed
/// without progress: for the demo and for tests. `options.piece_length` or the default for
/// the size.
pub fn torrent_of(root: &Path, options: &Options) -> Result<crate::metainfo::Torrent> {
    let (name, mut files, multi) = collect_files(root, &Skip::default())?;
    let aligned = options.pad || options.version != Version::V1;
    if aligned {
        sort_canonical(&mut files);
    }
    let total = files.iter().map(|f| f.length).sum();
    let piece_length = options
        .piece_length
        .unwrap_or_else(|| choose_piece_length(total));
    let layout = lay_out(&files, piece_length, aligned);
    let pieces = hash_pieces(
        &files,
        layout.clone(),
        options.version,
        &HashProgress::default(),
    )?;
    let bytes = encode_torrent(&name, &files, multi, &layout, &pieces, options);
    crate::metainfo::Torrent::from_bytes(&bytes).map_err(|source| Error::Torrent {
        path: root.to_owned(),
        source,
    })
}

/// The hashes of every piece of the files laid out as `layout` says (padding hashed as zeros),
/// SHA-1 and the v2 digest in one pass for a hybrid, on every core, with positional reads.
pub fn hash_pieces(
    files: &[SourceFile],
    layout: Layout,
    version: Version,
    progress: &HashProgress,
) -> Result<Hashed> {
    use crate::piece_store::{sha1_of_pieces, v2_digest};
    let store = PieceStore::reader(files.iter().map(|f| f.disk_path.clone()).collect(), layout);
    let layout = store.layout();
    let count = layout.piece_count();
    let sha1 = sha1_of_pieces(layout);
    let (want_v1, want_v2) = (version != Version::V2, version != Version::V1);
    let digests = store.hash_all(progress, |p, data, zeros| {
        let v1 = want_v1.then(|| sha1(p, data, zeros));
        let v2 = if want_v2 {
            v2_digest(layout, p, data)
        } else {
            None
        };
        (v1, v2)
    })?;
    let mut hashed = Hashed {
        v1: vec![[0; 20]; if want_v1 { count } else { 0 }],
        v2: vec![[0; 32]; if want_v2 { count } else { 0 }],
    };
    for (piece, (v1, v2)) in digests {
        if let Some(d) = v1 {
            hashed.v1[piece] = d;
        }
        if want_v2 {
            hashed.v2[piece] = v2.ok_or_else(|| Error::Input {
                path: files[0].disk_path.clone(),
                reason: format!("piece {piece} is not inside one file: no v2 hash"),
            })?;
        }
    }
    Ok(hashed)
}

/// The `pieces root` of each file (`None` for an empty one) from the pieces' v2 digests.
pub fn file_roots(layout: &Layout, v2: &[Digest256]) -> Vec<Option<Digest256>> {
    let piece_length = layout.piece_length();
    (0..layout.file_count())
        .map(|f| {
            let length = layout.file_length(f);
            if length == 0 {
                return None;
            }
            let first = (layout.file_start(f) / piece_length) as usize;
            let count = length.div_ceil(piece_length) as usize;
            let layer = &v2[first..first + count];
            Some(if length <= piece_length {
                layer[0]
            } else {
                merkle::file_root(layer, piece_length)
            })
        })
        .collect()
}

/// The v2 `file tree` of `files`: nested dictionaries by path component, each file a
/// dictionary under the empty key holding its length, root and attributes.
fn file_tree(name: &str, files: &[SourceFile], multi_file: bool, roots: &[Option<Digest256>]) -> B {
    use std::collections::BTreeMap;
    let mut tree: BTreeMap<Vec<u8>, B> = BTreeMap::new();
    for (f, root) in files.iter().zip(roots) {
        let mut entry: Vec<(&str, B)> = vec![("length", B::Int(f.length as i64))];
        if let Some(root) = root {
            entry.push(("pieces root", B::Bytes(root.to_vec())));
        }
        if f.executable {
            entry.push(("attr", B::str("x")));
        }
        let leaf: B = [("", entry.into_iter().collect::<B>())]
            .into_iter()
            .collect();
        let path: Vec<&str> = if multi_file {
            f.path.iter().map(String::as_str).collect()
        } else {
            vec![name]
        };
        let mut dir = &mut tree;
        for component in &path[..path.len() - 1] {
            let node = dir
                .entry(component.as_bytes().to_vec())
                .or_insert_with(|| B::Dict(BTreeMap::new()));
            let B::Dict(inner) = node else {
                unreachable!("a path component names a directory")
            };
            dir = inner;
        }
        dir.insert(path[path.len() - 1].as_bytes().to_vec(), leaf);
    }
    B::Dict(tree)
}

/// The bencoded torrent for `files` laid out as `layout` says, with `pieces` already hashed.
pub fn encode_torrent(
    name: &str,
    files: &[SourceFile],
    multi_file: bool,
    layout: &Layout,
    pieces: &Hashed,
    options: &Options,
) -> Vec<u8> {
    let piece_length = layout.piece_length();
    let mut info: Vec<(&str, Bencode)> = vec![
        ("name", Bencode::str(name)),
        ("piece length", Bencode::Int(piece_length as i64)),
    ];
    let mut piece_layers = None;
    if options.version != Version::V1 {
        let roots = file_roots(layout, &pieces.v2);
        info.push(("file tree", file_tree(name, files, multi_file, &roots)));
        info.push(("meta version", Bencode::Int(2)));
        let files = files.iter().map(|f| f.length).zip(roots.iter().copied());
        piece_layers = Some(crate::metainfo::piece_layers(
            files,
            &pieces.v2,
            piece_length,
        ));
    }
    if options.version == Version::V2 {
        // v2 alone: no `pieces`, `length` or `files`.
    } else if multi_file {
        info.push(("pieces", Bencode::Bytes(pieces.v1.concat())));
        let entry = |path: Vec<Bencode>, length: u64, attr: Option<&str>| -> Bencode {
            [
                ("length", Bencode::Int(length as i64)),
                ("path", Bencode::List(path)),
            ]
            .into_iter()
            .chain(attr.map(|a| ("attr", Bencode::str(a))))
            .collect()
        };
        let mut list = Vec::with_capacity(files.len() * 2);
        for (i, f) in files.iter().enumerate() {
            let path = f.path.iter().map(|c| Bencode::str(c)).collect();
            let attr =
                ((options.pad || options.version != Version::V1) && f.executable).then_some("x");
            list.push(entry(path, f.length, attr));
            // The padding up to the next file's start (or the stream's end).
            let end = layout.file_start(i) + f.length;
            let next = files
                .get(i + 1)
                .map_or(layout.total(), |_| layout.file_start(i + 1));
            if next > end {
                let size = next - end;
                let path = vec![Bencode::str(".pad"), Bencode::str(&size.to_string())];
                list.push(entry(path, size, Some("p")));
            }
        }
        info.push(("files", Bencode::List(list)));
    } else {
        info.push(("pieces", Bencode::Bytes(pieces.v1.concat())));
        info.push(("length", Bencode::Int(files[0].length as i64)));
    }
    if options.private {
        info.push(("private", Bencode::Int(1)));
    }
    if let Some(source) = &options.source {
        info.push(("source", Bencode::str(source)));
    }
    let mut root: Vec<(&str, Bencode)> = vec![("info", info.into_iter().collect())];
    root.extend(piece_layers.map(|l| ("piece layers", l)));
    root.extend([(
        "created by",
        Bencode::str(concat!("p2p ", env!("CARGO_PKG_VERSION"))),
    )]);
    if let Some(first) = options.trackers.first() {
        root.push(("announce", Bencode::str(first)));
    }
    if options.trackers.len() > 1 {
        // One tracker a tier, in the order given: clients try them in turn (BEP 12).
        let tiers = options
            .trackers
            .iter()
            .map(|t| Bencode::List(vec![Bencode::str(t)]))
            .collect();
        root.push(("announce-list", Bencode::List(tiers)));
    }
    if !options.nodes.is_empty() {
        let nodes = options
            .nodes
            .iter()
            .map(|(h, p)| Bencode::List(vec![Bencode::str(h), Bencode::Int(*p as i64)]))
            .collect();
        root.push(("nodes", Bencode::List(nodes)));
    }
    if let Some(comment) = &options.comment {
        root.push(("comment", Bencode::str(comment)));
    }
    // One web seed as a string, several as a list, as mktorrent writes them.
    match options.web_seeds.as_slice() {
        [] => {}
        [one] => root.push(("url-list", Bencode::str(one))),
        many => root.push((
            "url-list",
            Bencode::List(many.iter().map(|u| Bencode::str(u)).collect()),
        )),
    }
    if let Some(date) = options.creation_date {
        root.push(("creation date", Bencode::Int(date)));
    }
    root.into_iter().collect::<Bencode>().encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_length_picker_follows_libtorrent() {
        // Sizes where libtorrent 2.0.8's `create_torrent` changes its choice (probed with
        // python3-libtorrent), and its choices for common sizes.
        assert_eq!(choose_piece_length(1), 16 << 10);
        assert_eq!(choose_piece_length(2_684_354), 16 << 10);
        assert_eq!(choose_piece_length(2_684_356), 32 << 10);
        assert_eq!(choose_piece_length(10_737_418), 32 << 10);
        assert_eq!(choose_piece_length(10_737_419), 64 << 10);
        assert_eq!(choose_piece_length(23 << 20), 64 << 10);
        assert_eq!(choose_piece_length(100 << 20), 128 << 10);
        assert_eq!(choose_piece_length(1 << 30), 512 << 10);
        assert_eq!(choose_piece_length(4 << 30), 1 << 20);
        assert_eq!(choose_piece_length(64 << 30), 4 << 20);
        assert_eq!(choose_piece_length(703_687_441_778), 16 << 20);
        assert_eq!(choose_piece_length(1 << 50), 16 << 20);
    }

    #[test]
    fn piece_length_must_be_power_of_two_from_16k() {
        assert!(check_piece_length(16384).is_ok());
        assert!(check_piece_length(1 << 20).is_ok());
        for bad in [0, 8192, 16385, 3 << 14, 1 << 40] {
            assert!(check_piece_length(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tracker_notation() {
        assert_eq!(
            tracker_url("tracker@example.org").unwrap(),
            "http://example.org:6969/announce"
        );
        assert_eq!(
            tracker_url("t@127.0.0.1:7000").unwrap(),
            "http://127.0.0.1:7000/announce"
        );
        assert_eq!(
            tracker_url("t@[::1]:7000").unwrap(),
            "http://[::1]:7000/announce"
        );
        assert_eq!(
            tracker_url("t@[::1]").unwrap(),
            "http://[::1]:6969/announce"
        );
        assert_eq!(tracker_url("udp://h:80").unwrap(), "udp://h:80");
        assert_eq!(tracker_url("http://h/ann").unwrap(), "http://h/ann");
        for bad in [
            "example.org",
            "@host",
            "t@",
            "t@host:0",
            "t@host:99999",
            "t@host:x",
            "ftp://h/",
            "http://",
            "udp://host",
            "t@[::1",
        ] {
            let e = tracker_url(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
