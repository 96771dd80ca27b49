//! BitTorrent v2 metainfo (BEP 52): the `file tree`, `piece layers`, and what a hybrid torrent's
//! two views must agree on. A v2 file starts on a piece boundary, so p2p lays a v2 torrent out
//! as it does a padded v1 one (BEP 47): the files at their aligned offsets, the gaps zeros, and
//! every piece inside one file.

use super::{FileEntry, MetainfoError, length_field, path_component};
use crate::bencode::{self, Value};
use crate::hash::merkle;
use crate::hash::{Digest256, sha256};

/// Directories deeper than this in a `file tree` are refused.
pub const MAX_TREE_DEPTH: usize = 32;

/// What a v2 or hybrid torrent adds to v1's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2 {
    /// SHA-256 of the `info` dictionary. Its first 20 bytes stand for a v2-only torrent where
    /// 20 bytes fit (handshakes, trackers, the DHT).
    pub info_hash: Digest256,
    /// The `pieces root` of every file of [`super::Info::files`], in that order; `None` for
    /// an empty file.
    pub roots: Vec<Option<Digest256>>,
    /// The v2 digest of every piece ([`merkle`]'s notes): the piece layers, and the roots of
    /// files no longer than a piece. Empty when they are not known (the `info` dictionary
    /// alone, as a magnet link gets it, has no piece layers).
    /// Shared with the piece store, as v1 hashes are.
    pub pieces: std::sync::Arc<[Digest256]>,
}

impl V2 {
    /// The 20 bytes of the v2 info-hash that handshakes, trackers and the DHT use.
    pub fn truncated(&self) -> [u8; 20] {
        self.info_hash[..20].try_into().expect("32 bytes")
    }
}

/// One file of a `file tree`, in the tree's order.
#[derive(Debug)]
pub(super) struct TreeFile {
    pub path: Vec<String>,
    pub length: u64,
    pub root: Option<Digest256>,
    pub executable: bool,
}

const TREE: &str = "info.file tree";

fn invalid(field: &'static str, reason: impl Into<String>) -> MetainfoError {
    MetainfoError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The files of `file tree` (a dictionary, possibly left unbuilt), depth first in key order.
pub(super) fn parse_file_tree(tree: &Value<'_>) -> Result<Vec<TreeFile>, MetainfoError> {
    if !tree.is_dict() {
        return Err(MetainfoError::WrongType(TREE));
    }
    let mut out = Vec::new();
    walk(tree.raw, &mut Vec::new(), &mut out)?;
    if out.is_empty() {
        return Err(invalid(TREE, "holds no file"));
    }
    Ok(out)
}

fn walk(raw: &[u8], path: &mut Vec<String>, out: &mut Vec<TreeFile>) -> Result<(), MetainfoError> {
    if path.len() > MAX_TREE_DEPTH {
        return Err(invalid(
            TREE,
            format!("directories nested deeper than {MAX_TREE_DEPTH}"),
        ));
    }
    let mut entries = bencode::dict_entries(raw).peekable();
    // A file is a dictionary whose one key is the empty string.
    if let Some(Ok((b"", _))) = entries.peek() {
        let (_, file) = entries.next().expect("peeked")?;
        if entries.next().is_some() || path.is_empty() {
            return Err(invalid(
                TREE,
                format!("{:?} is both a file and a directory", path.join("/")),
            ));
        }
        out.push(tree_file(path, file)?);
        return Ok(());
    }
    for entry in entries {
        let (name, value) = entry?;
        if !value.starts_with(b"d") {
            return Err(MetainfoError::WrongType(TREE));
        }
        path.push(path_component(name)?);
        walk(value, path, out)?;
        path.pop();
    }
    Ok(())
}

fn tree_file(path: &[String], raw: &[u8]) -> Result<TreeFile, MetainfoError> {
    let file = bencode::decode(raw)?;
    if !file.is_dict() {
        return Err(MetainfoError::WrongType(TREE));
    }
    let length = length_field(
        file.get("length")
            .ok_or(MetainfoError::Missing("info.file tree.length"))?,
        "info.file tree.length",
    )?;
    let root = match file.get("pieces root") {
        _ if length == 0 => None,
        None => return Err(MetainfoError::Missing("info.file tree.pieces root")),
        Some(v) => {
            let bytes = v
                .as_bytes()
                .ok_or(MetainfoError::WrongType("info.file tree.pieces root"))?;
            let root: Digest256 = bytes.try_into().map_err(|_| {
                invalid(
                    "info.file tree.pieces root",
                    format!("{} bytes, not 32, for {:?}", bytes.len(), path.join("/")),
                )
            })?;
            if root == [0; 32] {
                return Err(invalid(
                    "info.file tree.pieces root",
                    format!("zero for {:?}", path.join("/")),
                ));
            }
            Some(root)
        }
    };
    Ok(TreeFile {
        path: path.to_vec(),
        length,
        root,
        executable: super::v1::attributes(&file).executable,
    })
}

/// A v2-only torrent's files at their piece-aligned offsets, and the stream's length. Every
/// file ends on a piece boundary, the last one too, as libtorrent lays a v2 torrent out: its
/// peers ask for the last piece of a file whole, the padding read as zeros. Returns (files,
/// stream length, multi-file).
pub(super) fn lay_out(
    tree: &[TreeFile],
    piece_length: u64,
) -> Result<(Vec<FileEntry>, u64, bool), MetainfoError> {
    let single = tree.len() == 1 && tree[0].path.len() == 1;
    let mut offset = 0u64;
    let mut files = Vec::with_capacity(tree.len());
    for f in tree {
        files.push(FileEntry {
            path: if single { Vec::new() } else { f.path.clone() },
            length: f.length,
            offset,
            executable: f.executable,
        });
        offset = offset
            .checked_add(f.length)
            .and_then(|o| o.checked_next_multiple_of(piece_length))
            .ok_or_else(|| invalid(TREE, "total length overflows"))?;
    }
    Ok((files, offset, !single))
}

/// A hybrid torrent's v1 `files` (or `length`) and `file tree` describe the same files, in
/// the same order, each starting on a piece boundary.
pub(super) fn check_hybrid(
    files: &[FileEntry],
    multi_file: bool,
    tree: &[TreeFile],
    piece_length: u64,
) -> Result<(), MetainfoError> {
    let hybrid = |reason: String| invalid("info.files", format!("{reason} (hybrid torrent)"));
    if files.len() != tree.len() {
        return Err(hybrid(format!(
            "{} files, where `file tree` has {}",
            files.len(),
            tree.len()
        )));
    }
    for (v1, v2) in files.iter().zip(tree) {
        let same_path = if multi_file {
            v1.path == v2.path
        } else {
            v2.path.len() == 1
        };
        if !same_path || v1.length != v2.length {
            return Err(hybrid(format!(
                "{:?} ({} bytes) where `file tree` has {:?} ({} bytes)",
                v1.path.join("/"),
                v1.length,
                v2.path.join("/"),
                v2.length
            )));
        }
        if v1.length > 0 && !v1.offset.is_multiple_of(piece_length) {
            return Err(hybrid(format!(
                "{:?} does not start on a piece boundary",
                v1.path.join("/")
            )));
        }
    }
    Ok(())
}

/// The v2 digest of every piece, from `piece layers` (the dictionary at the torrent's top
/// level, `None` when absent). Each layer is checked against its file's root. Without piece
/// layers, the pieces are known only when every file fits in one piece; else the result is
/// empty.
pub(super) fn piece_digests(
    files: &[FileEntry],
    roots: &[Option<Digest256>],
    piece_length: u64,
    layers: Option<&Value<'_>>,
) -> Result<Vec<Digest256>, MetainfoError> {
    const LAYERS: &str = "piece layers";
    if layers.is_some_and(|l| !l.is_dict()) {
        return Err(MetainfoError::WrongType(LAYERS));
    }
    let mut pieces = Vec::new();
    for (file, root) in files.iter().zip(roots) {
        let Some(root) = root else { continue };
        if file.length <= piece_length {
            pieces.push(*root);
            continue;
        }
        let Some(layers) = layers else {
            return Ok(Vec::new());
        };
        let name = file.path.join("/");
        let layer = layers
            .get_bytes_key(root)
            .ok_or_else(|| invalid(LAYERS, format!("no layer for {name:?}")))?
            .as_bytes()
            .ok_or(MetainfoError::WrongType(LAYERS))?;
        let count = file.length.div_ceil(piece_length);
        if layer.len() as u64 != count * 32 {
            return Err(invalid(
                LAYERS,
                format!(
                    "{} bytes for {name:?}, whose {count} pieces need {}",
                    layer.len(),
                    count * 32
                ),
            ));
        }
        let layer: Vec<Digest256> = layer
            .chunks_exact(32)
            .map(|c| c.try_into().expect("chunks of 32"))
            .collect();
        if merkle::file_root(&layer, piece_length) != *root {
            return Err(invalid(
                LAYERS,
                format!("the layer of {name:?} does not hash to its pieces root"),
            ));
        }
        pieces.extend(layer);
    }
    Ok(pieces)
}

/// What a v2-only `info` dictionary needs from peers before its pieces can be checked: every
/// file longer than a piece, as (pieces root, piece count), in order, and the piece layer's
/// height above the blocks. Empty for v1 and hybrid torrents, for v2 ones whose files each fit
/// in a piece, and for what does not parse (the dictionary's own checks say why).
pub fn layers_wanted(info_bytes: &[u8]) -> (Vec<(Digest256, u64)>, u32) {
    let none = (Vec::new(), 0);
    let Ok(info) = bencode::decode_unbuilt(info_bytes, &[b"files", b"file tree"]) else {
        return none;
    };
    let piece_length = info.get("piece length").and_then(Value::as_int);
    let (Some(tree), None, Some(piece_length)) =
        (info.get("file tree"), info.get("pieces"), piece_length)
    else {
        return none;
    };
    let piece_length = piece_length.max(1) as u64;
    let wanted = parse_file_tree(tree)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.length > piece_length)
        .filter_map(|f| Some((f.root?, f.length.div_ceil(piece_length))))
        .collect();
    (wanted, (piece_length / merkle::BLOCK).trailing_zeros())
}

/// The `piece layers` dictionary of a torrent whose files are `files` (length and root, in
/// order) and whose pieces have the v2 digests `pieces`: a layer for each file longer than a
/// piece, keyed by its root. What a .torrent holds beside `info`, made or written back.
pub fn piece_layers(
    files: impl IntoIterator<Item = (u64, Option<Digest256>)>,
    pieces: &[Digest256],
    piece_length: u64,
) -> bencode::Bencode {
    let mut layers = std::collections::BTreeMap::new();
    let mut at = 0;
    for (length, root) in files {
        let count = length.div_ceil(piece_length) as usize;
        if let Some(root) = root
            && length > piece_length
            && at + count <= pieces.len()
        {
            let layer = pieces[at..at + count].concat();
            layers.insert(root.to_vec(), bencode::Bencode::Bytes(layer));
        }
        at += count;
    }
    bencode::Bencode::Dict(layers)
}

/// What `info` of a v2 or hybrid torrent adds: the SHA-256 of the dictionary, the roots.
pub(super) fn v2_of(info: &Value<'_>, tree: &[TreeFile], pieces: Vec<Digest256>) -> V2 {
    V2 {
        info_hash: sha256(info.raw),
        roots: tree.iter().map(|f| f.root).collect(),
        pieces: pieces.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Torrent, Version};
    use super::*;
    use crate::bencode::Bencode as B;
    use std::collections::BTreeMap;

    const PIECE: u64 = 16384;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    /// The root and (for a file longer than a piece) the piece layer of `data`.
    fn hashes(data: &[u8]) -> (Digest256, Vec<Digest256>) {
        if data.len() as u64 <= PIECE {
            return (merkle::piece_digest(data, PIECE, true), Vec::new());
        }
        let layer: Vec<Digest256> = data
            .chunks(PIECE as usize)
            .map(|c| merkle::piece_digest(c, PIECE, false))
            .collect();
        (merkle::file_root(&layer, PIECE), layer)
    }

    /// A torrent's `info` entries and `piece layers` for `files` (path, content): v2 alone,
    /// or with `hybrid` the v1 `files` with padding and `pieces` too.
    fn v2_torrent(files: &[(&[&str], Vec<u8>)], hybrid: bool) -> (Vec<(String, B)>, B) {
        let mut tree = BTreeMap::new();
        let mut layers = BTreeMap::new();
        let (mut v1_files, mut stream) = (Vec::new(), Vec::new());
        for (path, data) in files {
            let mut entry: Vec<(&str, B)> = vec![("length", B::Int(data.len() as i64))];
            if !data.is_empty() {
                let (root, layer) = hashes(data);
                entry.push(("pieces root", B::Bytes(root.to_vec())));
                if !layer.is_empty() {
                    layers.insert(root.to_vec(), B::Bytes(layer.concat()));
                }
            }
            let mut dir = &mut tree;
            for c in &path[..path.len() - 1] {
                let B::Dict(d) = dir
                    .entry(c.as_bytes().to_vec())
                    .or_insert_with(|| B::Dict(BTreeMap::new()))
                else {
                    unreachable!()
                };
                dir = d;
            }
            let leaf: B = [("", entry.into_iter().collect::<B>())]
                .into_iter()
                .collect();
            dir.insert(path[path.len() - 1].as_bytes().to_vec(), leaf);
            let file = |p: Vec<&str>, len: usize, attr: Option<&str>| -> B {
                [
                    ("length", B::Int(len as i64)),
                    ("path", B::List(p.into_iter().map(B::str).collect())),
                ]
                .into_iter()
                .chain(attr.map(|a| ("attr", B::str(a))))
                .collect()
            };
            v1_files.push(file(path.to_vec(), data.len(), None));
            stream.extend_from_slice(data);
            let pad = (PIECE as usize - stream.len() % PIECE as usize) % PIECE as usize;
            if !data.is_empty() && pad > 0 {
                v1_files.push(file(vec![".pad", "x"], pad, Some("p")));
                stream.resize(stream.len() + pad, 0);
            }
        }
        let mut info = vec![
            ("name".to_string(), B::str("pack")),
            ("piece length".to_string(), B::Int(PIECE as i64)),
            ("meta version".to_string(), B::Int(2)),
            ("file tree".to_string(), B::Dict(tree)),
        ];
        if hybrid {
            let pieces: Vec<u8> = stream
                .chunks(PIECE as usize)
                .flat_map(crate::hash::sha1)
                .collect();
            info.push(("pieces".into(), B::Bytes(pieces)));
            info.push(("files".into(), B::List(v1_files)));
        }
        (info, B::Dict(layers))
    }

    fn encode(info: &[(String, B)], layers: Option<B>) -> Vec<u8> {
        let info: B = info.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        [("info", info)]
            .into_iter()
            .chain(layers.map(|l| ("piece layers", l)))
            .collect::<B>()
            .encode()
    }

    fn sample() -> Vec<(&'static [&'static str], Vec<u8>)> {
        vec![
            (&["a.bin"][..], bytes(20_000, 1)),
            (&["empty"][..], Vec::new()),
            (&["sub", "b.bin"][..], bytes(70_000, 2)),
        ]
    }

    #[test]
    fn a_v2_torrent_is_laid_out_on_piece_boundaries_and_round_trips() {
        let (info, layers) = v2_torrent(&sample(), false);
        let bytes = encode(&info, Some(layers));
        let t = Torrent::from_bytes(&bytes).unwrap();
        assert_eq!(t.info.version(), Version::V2);
        let v2 = t.info.v2.as_ref().unwrap();
        let info_raw = crate::bencode::decode(&bytes)
            .unwrap()
            .get("info")
            .unwrap()
            .raw;
        assert_eq!(v2.info_hash, sha256(info_raw));
        assert_eq!(t.info_hash.0[..], v2.info_hash[..20], "the swarm's hash");
        assert_eq!(t.swarm_hashes(), vec![t.info_hash]);
        let offsets: Vec<_> = t.info.files.iter().map(|f| (f.offset, f.length)).collect();
        assert_eq!(offsets, [(0, 20_000), (32768, 0), (32768, 70_000)]);
        assert_eq!(
            t.info.stream_length,
            32768 + 5 * PIECE,
            "the last file padded"
        );
        assert_eq!(t.info.piece_count(), 7);
        assert_eq!(v2.pieces.len(), 7);
        assert_eq!(v2.roots[1], None);
        // Written back (as the daemon saves it), it reads the same, piece layers and all.
        let again = Torrent::from_bytes(&t.to_file_bytes()).unwrap();
        assert_eq!(again.info, t.info);
        assert_eq!(again.info_hash, t.info_hash);
    }

    #[test]
    fn a_hybrid_is_known_by_both_hashes_and_checked_with_sha1() {
        let (info, layers) = v2_torrent(&sample(), true);
        let t = Torrent::from_bytes(&encode(&info, Some(layers))).unwrap();
        assert_eq!(t.info.version(), Version::Hybrid);
        let v2 = t.info.v2.as_ref().unwrap();
        assert_eq!(t.swarm_hashes().len(), 2);
        assert_eq!(t.swarm_hashes()[1].0[..], v2.info_hash[..20]);
        assert_eq!(t.info.pieces.len(), 7);
        // Its dictionary alone (from a magnet link) is enough: v1 hashes check the pieces.
        let (info, _) = v2_torrent(&sample(), true);
        assert!(Torrent::from_bytes(&encode(&info, None)).is_ok());
    }

    #[test]
    fn a_single_file_v2_torrent_is_not_a_directory() {
        let files = [(&["one.bin"][..], bytes(40_000, 3))];
        let (info, layers) = v2_torrent(&files, false);
        let t = Torrent::from_bytes(&encode(&info, Some(layers))).unwrap();
        assert!(!t.info.multi_file);
        assert!(t.info.files[0].path.is_empty());
        assert_eq!(t.info.piece_count(), 3);
    }

    #[test]
    fn bad_v2_torrents_are_refused_naming_the_field() {
        let set = |info: &mut Vec<(String, B)>, key: &str, value: B| {
            info.retain(|(k, _)| k != key);
            info.push((key.into(), value));
        };
        let error = |info: &[(String, B)], layers: Option<B>| {
            Torrent::from_bytes(&encode(info, layers))
                .unwrap_err()
                .to_string()
        };
        let (good, layers) = v2_torrent(&sample(), false);

        let mut info = good.clone();
        set(&mut info, "piece length", B::Int(3 * 16384));
        assert!(error(&info, Some(layers.clone())).contains("`info.piece length`"));
        set(&mut info, "piece length", B::Int(8192));
        assert!(error(&info, Some(layers.clone())).contains("`info.piece length`"));

        let mut info = good.clone();
        set(&mut info, "meta version", B::Int(3));
        assert!(error(&info, Some(layers.clone())).contains("`info.meta version`"));

        // No piece layers for a file longer than a piece, a layer too short, a layer that
        // does not hash to its root.
        assert!(error(&good, None).contains("without `piece layers`"));
        let B::Dict(map) = &layers else { panic!() };
        let (root, layer) = map.iter().next().unwrap();
        let B::Bytes(layer) = layer else { panic!() };
        let with = |l: Vec<u8>| {
            let mut map = map.clone();
            map.insert(root.clone(), B::Bytes(l));
            Some(B::Dict(map))
        };
        assert!(error(&good, with(layer[32..].to_vec())).contains("`piece layers`"));
        let mut flipped = layer.clone();
        flipped[0] ^= 1;
        let e = error(&good, with(flipped));
        assert!(e.contains("does not hash to its pieces root"), "{e}");
        assert!(error(&good, Some(B::Int(1))).contains("`piece layers`"));

        // Roots: zero, the wrong length, missing.
        let tree_with = |file: B| {
            let mut info = good.clone();
            let leaf: B = [("", file)].into_iter().collect();
            set(
                &mut info,
                "file tree",
                [("x.bin", leaf)].into_iter().collect(),
            );
            info
        };
        let file = |root: Option<Vec<u8>>| -> B {
            [("length", B::Int(100))]
                .into_iter()
                .chain(root.map(|r| ("pieces root", B::Bytes(r))))
                .collect()
        };
        let e = error(&tree_with(file(Some(vec![0; 32]))), None);
        assert!(
            e.contains("`info.file tree.pieces root`") && e.contains("zero"),
            "{e}"
        );
        let e = error(&tree_with(file(Some(vec![1; 31]))), None);
        assert!(e.contains("`info.file tree.pieces root`"), "{e}");
        let e = error(&tree_with(file(None)), None);
        assert!(e.contains("`info.file tree.pieces root`"), "{e}");

        // A tree nested past the bound, a node that is a file and a directory, an empty tree.
        let mut deep: B = [("", file(Some(vec![1; 32])))].into_iter().collect();
        for _ in 0..=MAX_TREE_DEPTH {
            deep = [("d", deep)].into_iter().collect();
        }
        let mut info = good.clone();
        set(&mut info, "file tree", deep);
        assert!(error(&info, None).contains("nested deeper than 32"));
        let both: B = [
            ("", file(Some(vec![1; 32]))),
            ("x", [("", file(Some(vec![1; 32])))].into_iter().collect()),
        ]
        .into_iter()
        .collect();
        let mut info = good.clone();
        set(&mut info, "file tree", [("d", both)].into_iter().collect());
        assert!(error(&info, None).contains("both a file and a directory"));
        let mut info = good.clone();
        set(&mut info, "file tree", B::Dict(BTreeMap::new()));
        assert!(error(&info, None).contains("holds no file"));
        let mut info = good;
        set(&mut info, "file tree", B::List(Vec::new()));
        assert!(error(&info, None).contains("`info.file tree`"));
    }

    #[test]
    fn a_hybrid_whose_halves_disagree_is_refused() {
        let (mut info, layers) = v2_torrent(&sample(), true);
        // v1 says the first file is one byte shorter.
        let (_, B::List(files)) = info.iter_mut().find(|(k, _)| k == "files").unwrap() else {
            panic!()
        };
        let B::Dict(first) = &mut files[0] else {
            panic!()
        };
        first.insert(b"length".to_vec(), B::Int(19_999));
        let e = Torrent::from_bytes(&encode(&info, Some(layers.clone())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`info.files`") && e.contains("hybrid"), "{e}");

        // Or no padding: the second file would not start on a piece.
        let (mut info, _) = v2_torrent(&sample(), true);
        let (_, B::List(files)) = info.iter_mut().find(|(k, _)| k == "files").unwrap() else {
            panic!()
        };
        files.remove(1);
        let e = Torrent::from_bytes(&encode(&info, Some(layers)))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("piece boundary") || e.contains("`info.pieces`"),
            "{e}"
        );
    }
}
