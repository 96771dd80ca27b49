//! Hashing pieces on every core, with SHA-1 (v1) or as BEP 52's merkle trees (v2).

use super::HashProgress;
use crate::hash::{Digest, Digest256, merkle, sha1};
use crate::layout::Layout;
use crate::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The v2 digest of `piece` (its bytes in `data`, padding included) as `layout` lays it out:
/// `None` for a piece that is not inside exactly one file, which v2 has none of.
pub fn v2_digest(layout: &Layout, piece: usize, data: &[u8]) -> Option<Digest256> {
    let spans = layout.spans(layout.piece_offset(piece), data.len() as u64);
    let [span] = spans[..] else { return None };
    let bytes = &data[span.at as usize..(span.at + span.len) as usize];
    let whole_file = layout.file_length(span.file) <= layout.piece_length();
    Some(merkle::piece_digest(
        bytes,
        layout.piece_length(),
        whole_file,
    ))
}

/// SHA-1 of every piece, a piece of zeros hashed once.
pub fn sha1_of_pieces(layout: &Layout) -> impl Fn(usize, &[u8], bool) -> Digest + Sync {
    let zero_piece = std::sync::OnceLock::new();
    let piece_length = layout.piece_length();
    move |_, data, zeros| {
        if zeros && data.len() as u64 == piece_length {
            *zero_piece.get_or_init(|| sha1(data))
        } else {
            sha1(data)
        }
    }
}

/// `digest` of the given pieces on every core. `read(piece, buf)` fills `buf` (sized to the
/// piece) with the piece's bytes. Each worker holds one piece buffer, so memory stays flat.
/// `hole`: pieces known to be zeros, not read. `digest(piece, bytes, zeros)`: the piece's
/// hash. `keep(piece, digest)`: what to return for a piece, if anything.
pub(super) fn hash_parallel<D, T: Send>(
    layout: &Layout,
    pieces: &[usize],
    read: impl Fn(usize, &mut [u8]) -> Result<()> + Sync,
    hole: impl Fn(usize) -> bool + Sync,
    digest: impl Fn(usize, &[u8], bool) -> D + Sync,
    keep: impl Fn(usize, D) -> Option<T> + Sync,
    progress: &HashProgress,
) -> Result<Vec<(usize, T)>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(pieces.len().max(1));
    let next = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (read, hole, digest, keep) = (&read, &hole, &digest, &keep);
                let next = &next;
                scope.spawn(move || -> Result<Vec<(usize, T)>> {
                    let mut buffer = vec![0u8; layout.piece_length() as usize];
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&piece) = pieces.get(i) else { break };
                        if progress.cancel.is_cancelled() {
                            return Err(Error::Stopped(
                                "interrupted while checking what is on disk; nothing was changed"
                                    .into(),
                            ));
                        }
                        let size = layout.piece_size(piece) as usize;
                        let zeros = hole(piece);
                        if zeros {
                            buffer[..size].fill(0);
                        } else {
                            read(piece, &mut buffer[..size])?;
                        }
                        if let Some(kept) = keep(piece, digest(piece, &buffer[..size], zeros)) {
                            mine.push((piece, kept));
                        }
                        progress.pieces_done.fetch_add(1, Ordering::Relaxed);
                        progress
                            .bytes_done
                            .fetch_add(size as u64, Ordering::Relaxed);
                    }
                    Ok(mine)
                })
            })
            .collect();
        tasks
            .into_iter()
            .map(|t| t.join().expect("hashing worker panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(results.into_iter().flatten().collect())
}
