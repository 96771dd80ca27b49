//! `ut_metadata` (BEP 9), sans-IO: the messages that carry the info dictionary in 16 KiB
//! pieces, and [`Assembly`], which collects one peer's pieces and trusts nothing until the
//! whole dictionary's SHA-1 is the info-hash.

use super::ExtensionError;
use crate::bencode::{self, Bencode};
use crate::hash::sha1;
use crate::metainfo::InfoHash;
use std::collections::BTreeMap;

/// The size of a metadata piece (the last may be shorter).
pub const PIECE: usize = 16 << 10;
/// Info dictionaries larger than this are refused (a 64 GiB torrent of 16 KiB pieces has a
/// 80 MB dictionary; real ones are far below).
pub const MAX_METADATA: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMsg {
    Request(u32),
    Data {
        piece: u32,
        total_size: u32,
        data: Vec<u8>,
    },
    Reject(u32),
}

impl MetadataMsg {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, piece) = match self {
            MetadataMsg::Request(p) => (0, *p),
            MetadataMsg::Data { piece, .. } => (1, *piece),
            MetadataMsg::Reject(p) => (2, *p),
        };
        let mut dict = BTreeMap::new();
        dict.insert(b"msg_type".to_vec(), Bencode::Int(kind));
        dict.insert(b"piece".to_vec(), Bencode::Int(piece as i64));
        if let MetadataMsg::Data { total_size, .. } = self {
            dict.insert(b"total_size".to_vec(), Bencode::Int(*total_size as i64));
        }
        let mut out = Bencode::Dict(dict).encode();
        if let MetadataMsg::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }

    /// Reads a message; an unknown `msg_type` is `Ok(None)` (ignored, as BEP 9 says).
    pub fn parse(payload: &[u8]) -> Result<Option<MetadataMsg>, ExtensionError> {
        let (dict, used) =
            bencode::decode_prefix(payload).map_err(|source| ExtensionError::Bencode {
                message: "ut_metadata message",
                source,
            })?;
        let int = |key| dict.get(key).and_then(|v| v.as_int());
        let piece =
            int("piece")
                .and_then(|p| u32::try_from(p).ok())
                .ok_or(ExtensionError::Field {
                    message: "ut_metadata message",
                    field: "piece",
                })?;
        let msg = match int("msg_type") {
            Some(0) => MetadataMsg::Request(piece),
            Some(1) => {
                let data = &payload[used..];
                if data.len() > PIECE {
                    return Err(ExtensionError::MetadataPieceTooLong(data.len()));
                }
                MetadataMsg::Data {
                    piece,
                    total_size: int("total_size")
                        .and_then(|t| u32::try_from(t).ok())
                        .ok_or(ExtensionError::Field {
                            message: "ut_metadata data",
                            field: "total_size",
                        })?,
                    data: data.to_vec(),
                }
            }
            Some(2) => MetadataMsg::Reject(piece),
            _ => return Ok(None),
        };
        Ok(Some(msg))
    }
}

/// Pieces an info dictionary of `size` bytes has.
pub fn piece_count(size: usize) -> usize {
    size.div_ceil(PIECE)
}

/// Piece `piece` of `info`, if there is one.
pub fn piece_of(info: &[u8], piece: u32) -> Option<&[u8]> {
    let start = (piece as usize).checked_mul(PIECE)?;
    (start < info.len()).then(|| &info[start..info.len().min(start + PIECE)])
}

/// One peer's copy of the metadata, piece by piece.
#[derive(Debug)]
pub struct Assembly {
    expected: InfoHash,
    buf: Vec<u8>,
    got: Vec<bool>,
}

impl Assembly {
    /// For a peer that says the dictionary is `size` bytes; refused past [`MAX_METADATA`].
    pub fn new(size: u32, expected: InfoHash) -> Result<Assembly, ExtensionError> {
        let size = size as usize;
        if size == 0 || size > MAX_METADATA {
            return Err(ExtensionError::MetadataSize {
                size,
                max: MAX_METADATA,
            });
        }
        Ok(Assembly {
            expected,
            buf: vec![0; size],
            got: vec![false; piece_count(size)],
        })
    }

    pub fn size(&self) -> usize {
        self.buf.len()
    }

    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        self.got
            .iter()
            .enumerate()
            .filter(|(_, g)| !**g)
            .map(|(i, _)| i as u32)
    }

    /// Stores a piece; a size or length that does not fit what the peer announced is an error.
    pub fn store(
        &mut self,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> Result<(), ExtensionError> {
        if total_size as usize != self.buf.len() {
            return Err(ExtensionError::TotalSize {
                said: total_size,
                announced: self.buf.len(),
            });
        }
        let Some(expected) = piece_of(&self.buf, piece).map(<[u8]>::len) else {
            return Err(ExtensionError::NoSuchPiece(piece));
        };
        if data.len() != expected {
            return Err(ExtensionError::PieceLength {
                piece,
                len: data.len(),
                expected,
            });
        }
        let start = piece as usize * PIECE;
        self.buf[start..start + expected].copy_from_slice(data);
        self.got[piece as usize] = true;
        Ok(())
    }

    pub fn is_complete(&self) -> bool {
        self.got.iter().all(|g| *g)
    }

    /// The verified dictionary, or an error when neither its SHA-1 nor the first 20 bytes of
    /// its SHA-256 (a v2 torrent's, BEP 52) is the info-hash.
    pub fn finish(self) -> Result<Vec<u8>, ExtensionError> {
        if InfoHash(sha1(&self.buf)) == self.expected
            || crate::hash::sha256(&self.buf)[..20] == self.expected.0
        {
            Ok(self.buf)
        } else {
            Err(ExtensionError::HashMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_match_bep_9s_examples() {
        assert_eq!(
            MetadataMsg::Request(0).encode(),
            b"d8:msg_typei0e5:piecei0ee"
        );
        let data = MetadataMsg::Data {
            piece: 1,
            total_size: 20000,
            data: vec![7; 3616],
        };
        let bytes = data.encode();
        assert!(bytes.starts_with(b"d8:msg_typei1e5:piecei1e10:total_sizei20000ee\x07"));
        assert_eq!(MetadataMsg::parse(&bytes).unwrap(), Some(data));
        assert_eq!(
            MetadataMsg::parse(b"d8:msg_typei2e5:piecei3ee").unwrap(),
            Some(MetadataMsg::Reject(3))
        );
        assert_eq!(
            MetadataMsg::parse(b"d8:msg_typei9e5:piecei3ee").unwrap(),
            None
        );
        assert!(MetadataMsg::parse(b"d8:msg_typei0ee").is_err());
        assert!(MetadataMsg::parse(b"d8:msg_typei1e5:piecei0ee").is_err());
        assert!(MetadataMsg::parse(b"junk").is_err());
        let mut big = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
        big.extend(vec![0; PIECE + 1]);
        assert!(MetadataMsg::parse(&big).is_err());
    }

    #[test]
    fn assembly_checks_sizes_and_the_hash() {
        let info: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let hash = InfoHash(sha1(&info));
        assert!(Assembly::new(0, hash).is_err());
        assert!(Assembly::new(100 << 20, hash).is_err());
        let mut a = Assembly::new(40_000, hash).unwrap();
        assert_eq!(a.missing().collect::<Vec<_>>(), [0, 1, 2]);
        assert!(a.store(0, 39_999, piece_of(&info, 0).unwrap()).is_err());
        assert!(a.store(3, 40_000, &[]).is_err());
        assert!(a.store(2, 40_000, &info[..100]).is_err());
        for p in [2, 0, 1] {
            a.store(p, 40_000, piece_of(&info, p).unwrap()).unwrap();
        }
        assert!(a.is_complete());
        assert_eq!(a.finish().unwrap(), info);
        let mut liar = Assembly::new(40_000, hash).unwrap();
        for p in 0..3 {
            liar.store(p, 40_000, &vec![0; piece_of(&info, p).unwrap().len()])
                .unwrap();
        }
        assert!(liar.finish().is_err());
        assert_eq!(piece_of(&info, 2).unwrap().len(), 40_000 - 2 * PIECE);
        assert_eq!(piece_of(&info, 3), None);
    }
}
