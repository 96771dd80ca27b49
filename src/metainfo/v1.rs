//! BitTorrent v1's file list (BEP 3 `length` or `files`, BEP 47 padding and attributes, which
//! v2's `file tree` shares) and `pieces`, and the path checks every version's names go through.

use super::{FileEntry, MAX_NAME, MetainfoError, length_field};
use crate::bencode::{self, Value};
use crate::hash::Digest;

/// v1 `pieces`: SHA-1 hashes end to end.
pub(super) fn v1_pieces(pieces: &Value<'_>) -> Result<Vec<Digest>, MetainfoError> {
    let pieces = pieces
        .as_bytes()
        .ok_or(MetainfoError::WrongType("info.pieces"))?;
    if !pieces.len().is_multiple_of(20) {
        return Err(MetainfoError::PiecesNotMultipleOf20(pieces.len()));
    }
    Ok(pieces
        .chunks_exact(20)
        .map(|c| c.try_into().expect("chunks of 20"))
        .collect())
}

/// v1 `length` or `files`: the files, whether there are several, the stream's length.
pub(super) fn v1_files(info: &Value<'_>) -> Result<(Vec<FileEntry>, bool, u64), MetainfoError> {
    match (info.get("length"), info.get("files")) {
        (Some(length), None) => {
            let length = length_field(length, "info.length")?;
            let file = FileEntry {
                path: Vec::new(),
                length,
                offset: 0,
                executable: attributes(info).executable,
            };
            Ok((vec![file], false, length))
        }
        (None, Some(files)) => {
            let (files, stream_length) = parse_files(files)?;
            Ok((files, true, stream_length))
        }
        (Some(_), Some(_)) => Err(MetainfoError::Invalid {
            field: "info",
            reason: "has both `length` and `files`".into(),
        }),
        (None, None) => Err(MetainfoError::Missing("info.length or info.files")),
    }
}

/// BEP 47 `attr`: characters in any order, unknown ones ignored.
#[derive(Default)]
pub(super) struct Attributes {
    pub padding: bool,
    pub executable: bool,
}

pub(super) fn attributes(entry: &Value<'_>) -> Attributes {
    let attr = entry.get("attr").and_then(Value::as_bytes).unwrap_or(b"");
    Attributes {
        padding: attr.contains(&b'p'),
        executable: attr.contains(&b'x'),
    }
}

/// `files`: the list as decoded or left unbuilt ([`bencode::decode_unbuilt`]): its entries are
/// read from its raw bytes one at a time either way. Padding files (BEP 47) only move the next
/// file's offset. Returns the files and the length of the stream they and the padding make.
fn parse_files(files: &Value<'_>) -> Result<(Vec<FileEntry>, u64), MetainfoError> {
    if files.as_list().is_none() {
        return Err(MetainfoError::WrongType("info.files"));
    }
    let mut out = Vec::new();
    let mut offset = 0u64;
    for file in bencode::list_items(files.raw) {
        let file = file?;
        let length = length_field(
            file.get("length")
                .ok_or(MetainfoError::Missing("info.files.length"))?,
            "info.files.length",
        )?;
        let start = offset;
        offset = offset.checked_add(length).ok_or(MetainfoError::Invalid {
            field: "info.files",
            reason: "total length overflows".into(),
        })?;
        let attr = attributes(&file);
        if attr.padding {
            // Never on disk, so its path is never used.
            continue;
        }
        let components = file
            .get("path")
            .ok_or(MetainfoError::Missing("info.files.path"))?
            .as_list()
            .ok_or(MetainfoError::WrongType("info.files.path"))?;
        if components.is_empty() {
            return Err(MetainfoError::UnsafePath {
                path: String::new(),
                reason: "the path is empty",
            });
        }
        let path = components
            .iter()
            .map(|c| {
                c.as_bytes()
                    .ok_or(MetainfoError::WrongType("info.files.path"))
                    .and_then(path_component)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(FileEntry {
            path,
            length,
            offset: start,
            executable: attr.executable,
        });
    }
    if out.is_empty() {
        return Err(MetainfoError::Invalid {
            field: "info.files",
            reason: "the list holds no file".into(),
        });
    }
    out.shrink_to_fit();
    // Two files at one path: found by sorting indices, with no copy of any path.
    let mut order: Vec<u32> = (0..out.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| out[a as usize].path.cmp(&out[b as usize].path));
    if let Some(w) = order
        .windows(2)
        .find(|w| out[w[0] as usize].path == out[w[1] as usize].path)
    {
        return Err(MetainfoError::DuplicatePath(
            out[w[0] as usize].path.join("/"),
        ));
    }
    Ok((out, offset))
}

/// One path component from a torrent, refused unless it names a plain entry inside its folder:
/// a torrent must never make us write outside the output directory.
pub(super) fn path_component(raw: &[u8]) -> Result<String, MetainfoError> {
    let unsafe_path = |reason| MetainfoError::UnsafePath {
        path: String::from_utf8_lossy(raw).into_owned(),
        reason,
    };
    let s = std::str::from_utf8(raw).map_err(|_| unsafe_path("not UTF-8"))?;
    if s.is_empty() {
        return Err(unsafe_path("empty path component"));
    }
    if s == "." || s == ".." {
        return Err(unsafe_path("`.` or `..` component"));
    }
    if s.contains('/') || s.contains('\\') {
        return Err(unsafe_path("path separator inside a component"));
    }
    if s.contains('\0') {
        return Err(unsafe_path("NUL byte"));
    }
    // What file systems hold in one name (ext4, xfs, btrfs: 255 bytes).
    if s.len() > MAX_NAME {
        return Err(unsafe_path("a name longer than 255 bytes"));
    }
    Ok(s.to_owned())
}
