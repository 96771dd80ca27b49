//! Piece and block arithmetic, and where a byte range of the torrent lies in its files. Pure: the
//! one owner of these sums, used by torrent creation, the piece store and the picker.
//!
//! The torrent's bytes are its files end to end, except where BEP 47 padding files stand between
//! them: those are gaps here, bytes that are zeros and lie in no file. A range's [`Span`]s say
//! where each run of file bytes sits in the range (`at`); whatever no span covers is padding.

/// The unit of transfer on the wire (BEP 3: requests are 16 KiB).
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Identifies one peer connection inside a torrent (who sent or was asked for a block).
pub type PeerKey = u64;

/// One block of one piece: what a request names and a piece message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    pub piece: u32,
    pub begin: u32,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    piece_length: u64,
    total: u64,
    /// Start offset of every file in the torrent's byte stream, ascending; a gap between one
    /// file's end and the next one's start is padding.
    file_starts: Vec<u64>,
    file_lengths: Vec<u64>,
    /// Whether any byte of the stream lies in no file (BEP 47 padding).
    padded: bool,
}

/// A run of bytes inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub file: usize,
    pub file_offset: u64,
    pub len: u64,
    /// Where the run starts in the range asked for: runs are contiguous unless padding lies
    /// between them.
    pub at: u64,
}

impl Layout {
    /// `piece_length` must be positive.
    pub fn new(piece_length: u64, file_lengths: impl IntoIterator<Item = u64>) -> Layout {
        assert!(piece_length > 0, "piece length must be positive");
        let file_lengths: Vec<u64> = file_lengths.into_iter().collect();
        let mut file_starts = Vec::with_capacity(file_lengths.len());
        let mut total = 0u64;
        for len in &file_lengths {
            file_starts.push(total);
            total += len;
        }
        Layout {
            piece_length,
            total,
            file_starts,
            file_lengths,
            padded: false,
        }
    }

    /// Files at the given `(start, length)`s, ascending and not overlapping, in a stream of
    /// `total` bytes: the bytes between them (and after the last) are padding (BEP 47).
    /// `None` when the files overlap, go backwards or pass `total`.
    pub fn with_padding(
        piece_length: u64,
        files: impl IntoIterator<Item = (u64, u64)>,
        total: u64,
    ) -> Option<Layout> {
        assert!(piece_length > 0, "piece length must be positive");
        let (mut file_starts, mut file_lengths) = (Vec::new(), Vec::new());
        let mut end = 0u64;
        for (start, len) in files {
            if start < end {
                return None;
            }
            end = start.checked_add(len)?;
            file_starts.push(start);
            file_lengths.push(len);
        }
        let padded = file_lengths.iter().sum::<u64>() != total;
        (end <= total).then_some(Layout {
            piece_length,
            total,
            file_starts,
            file_lengths,
            padded,
        })
    }

    /// Where file `file` starts in the torrent's bytes.
    pub fn file_start(&self, file: usize) -> u64 {
        self.file_starts[file]
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    pub fn piece_count(&self) -> usize {
        self.total.div_ceil(self.piece_length) as usize
    }

    pub fn piece_offset(&self, piece: usize) -> u64 {
        piece as u64 * self.piece_length
    }

    /// Size of `piece`; the last one may be short. Zero past the end.
    pub fn piece_size(&self, piece: usize) -> u64 {
        let start = self.piece_offset(piece);
        self.total.saturating_sub(start).min(self.piece_length)
    }

    /// Bytes of `piece` that lie in files: its size less the padding in it. What progress and
    /// sizes count, so that a padded torrent's padding is never shown as content.
    pub fn piece_data(&self, piece: usize) -> u64 {
        if !self.padded {
            return self.piece_size(piece);
        }
        self.spans(self.piece_offset(piece), self.piece_size(piece))
            .iter()
            .map(|s| s.len)
            .sum()
    }

    pub fn blocks_in_piece(&self, piece: usize) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK_SIZE as u64) as u32
    }

    /// Size of block `block` of `piece`; the last block of the last piece may be short.
    pub fn block_size(&self, piece: usize, block: u32) -> u32 {
        let size = self.piece_size(piece);
        let start = block as u64 * BLOCK_SIZE as u64;
        size.saturating_sub(start).min(BLOCK_SIZE as u64) as u32
    }

    /// True when (`piece`, `begin`, `length`) names a whole block as BEP 3 peers request them,
    /// or any range inside the piece of at most one block (other clients may split differently).
    pub fn valid_request(&self, piece: usize, begin: u32, length: u32) -> bool {
        piece < self.piece_count()
            && length > 0
            && length <= BLOCK_SIZE
            && begin as u64 + length as u64 <= self.piece_size(piece)
    }

    /// The file runs within `len` bytes from torrent offset `offset`, in order. Empty files
    /// never appear, nor does padding: bytes no span covers are zeros.
    pub fn spans(&self, offset: u64, len: u64) -> Vec<Span> {
        let end = (offset + len).min(self.total);
        let mut spans = Vec::new();
        if offset >= end {
            return spans;
        }
        // The last file whose start is <= offset and that is not empty holds `offset`.
        let mut file = self
            .file_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let mut pos = offset;
        while pos < end && file < self.file_lengths.len() {
            let start = self.file_starts[file];
            if start >= end {
                break;
            }
            // Padding before this file is skipped.
            pos = pos.max(start);
            let file_end = start + self.file_lengths[file];
            if pos < file_end {
                let take = file_end.min(end) - pos;
                spans.push(Span {
                    file,
                    file_offset: pos - start,
                    len: take,
                    at: pos - offset,
                });
                pos += take;
            }
            file += 1;
        }
        spans
    }

    pub fn file_count(&self) -> usize {
        self.file_lengths.len()
    }

    pub fn file_length(&self, file: usize) -> u64 {
        self.file_lengths[file]
    }

    /// The pieces touching file `file` (an empty file touches none).
    pub fn pieces_of_file(&self, file: usize) -> std::ops::Range<usize> {
        let start = self.file_starts[file];
        let len = self.file_lengths[file];
        if len == 0 {
            return 0..0;
        }
        let first = (start / self.piece_length) as usize;
        let last = ((start + len - 1) / self.piece_length) as usize;
        first..last + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_and_block_sizes() {
        let l = Layout::new(32768, [40000, 0, 30000]);
        assert_eq!(l.total(), 70000);
        assert_eq!(l.piece_count(), 3);
        assert_eq!(l.piece_size(0), 32768);
        assert_eq!(l.piece_size(2), 70000 - 65536);
        assert_eq!(l.piece_size(3), 0);
        assert_eq!(l.blocks_in_piece(0), 2);
        assert_eq!(l.blocks_in_piece(2), 1);
        assert_eq!(l.block_size(2, 0), 4464);
        assert_eq!(l.block_size(0, 1), 16384);
        assert!(l.valid_request(2, 0, 4464));
        assert!(!l.valid_request(2, 0, 4465));
        assert!(!l.valid_request(3, 0, 1));
        assert!(!l.valid_request(0, 0, 16385));
        assert!(!l.valid_request(0, 0, 0));
    }

    #[test]
    fn spans_cross_files_and_skip_empty_ones() {
        // Worked example: piece 1 of 32 KiB covers torrent bytes 32768..65536; file 0 ends at
        // 40000, file 1 is empty, file 2 starts at 40000.
        let l = Layout::new(32768, [40000, 0, 30000]);
        assert_eq!(
            l.spans(32768, 32768),
            vec![
                Span {
                    file: 0,
                    file_offset: 32768,
                    len: 7232,
                    at: 0
                },
                Span {
                    file: 2,
                    file_offset: 0,
                    len: 25536,
                    at: 7232
                },
            ]
        );
        assert_eq!(
            l.spans(0, 10),
            vec![Span {
                file: 0,
                file_offset: 0,
                len: 10,
                at: 0
            }]
        );
        assert_eq!(
            l.spans(69990, 100),
            vec![Span {
                file: 2,
                file_offset: 29990,
                len: 10,
                at: 0
            }]
        );
        assert!(l.spans(70000, 5).is_empty());
        assert_eq!(l.pieces_of_file(0), 0..2);
        assert_eq!(l.pieces_of_file(1), 0..0);
        assert_eq!(l.pieces_of_file(2), 1..3);
    }

    #[test]
    fn piece_data_leaves_the_padding_out() {
        // 20,000 bytes, padding to 32 KiB, 100 bytes, padding to 48 KiB: pieces of 16 KiB.
        let l = Layout::with_padding(16384, [(0, 20_000), (32768, 100)], 49152).unwrap();
        let data: Vec<u64> = (0..3).map(|p| l.piece_data(p)).collect();
        assert_eq!(data, [16384, 20_000 - 16384, 100]);
        assert_eq!(data.iter().sum::<u64>(), 20_100);
        // Without padding, every byte of a piece is data.
        let plain = Layout::new(16384, [20_000, 100]);
        assert_eq!(plain.piece_data(1), plain.piece_size(1));
    }

    #[test]
    fn spans_with_leading_empty_files_and_many_small_files() {
        let l = Layout::new(10, [0, 0, 3, 3, 3, 3]);
        assert_eq!(
            l.spans(0, 10),
            vec![
                Span {
                    file: 2,
                    file_offset: 0,
                    len: 3,
                    at: 0
                },
                Span {
                    file: 3,
                    file_offset: 0,
                    len: 3,
                    at: 3
                },
                Span {
                    file: 4,
                    file_offset: 0,
                    len: 3,
                    at: 6
                },
                Span {
                    file: 5,
                    file_offset: 0,
                    len: 1,
                    at: 9
                },
            ]
        );
        let covered: u64 = (0..l.piece_count())
            .flat_map(|p| l.spans(l.piece_offset(p), l.piece_size(p)))
            .map(|s| s.len)
            .sum();
        assert_eq!(covered, l.total());
    }

    #[test]
    fn padding_is_a_gap_no_span_covers() {
        // BEP 47 as libtorrent pads: a 20,000-byte file, 12,768 bytes of padding to the 32 KiB
        // piece boundary, then a 10,000-byte file; 42,768 bytes in the stream.
        let l = Layout::with_padding(32768, [(0, 20_000), (32768, 10_000)], 42_768).unwrap();
        assert_eq!(l.piece_count(), 2);
        assert_eq!(l.total(), 42_768);
        assert_eq!(
            l.spans(16384, 32768),
            vec![
                Span {
                    file: 0,
                    file_offset: 16384,
                    len: 3616,
                    at: 0
                },
                Span {
                    file: 1,
                    file_offset: 0,
                    len: 10_000,
                    at: 16384
                },
            ]
        );
        // A range wholly in the padding lies in no file; one starting there begins at the next.
        assert!(l.spans(20_000, 12_768).is_empty());
        assert_eq!(
            l.spans(30_000, 3000),
            vec![Span {
                file: 1,
                file_offset: 0,
                len: 232,
                at: 2768
            }]
        );
        assert_eq!(l.pieces_of_file(1), 1..2);
        // Trailing padding is allowed; overlapping or backwards files are not.
        assert!(Layout::with_padding(16384, [(0, 100)], 16384).is_some());
        assert!(Layout::with_padding(16384, [(0, 100), (50, 10)], 200).is_none());
        assert!(Layout::with_padding(16384, [(0, 100)], 99).is_none());
    }
}
