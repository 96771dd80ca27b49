//! The BEP 3 peer wire protocol, sans-IO: the handshake and every message, encoded into and
//! decoded from byte slices. Decoding says `Incomplete` (read more), gives a message and the
//! bytes it used, or says why the bytes are invalid (close the connection).

use crate::bitfield::Bitfield;
use crate::layout::{BLOCK_SIZE, Layout};
use crate::metainfo::InfoHash;

pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
pub const HANDSHAKE_LEN: usize = 68;

/// Message ids (BEP 3; `port` is BEP 5's).
pub mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
}

/// Why bytes from a peer are not a valid message: the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message of {len} bytes is longer than the {max} allowed")]
    TooLong { len: u32, max: u32 },
    #[error("{name} message with a {got}-byte body, expected {expected}")]
    BadLength {
        name: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("piece message shorter than its header")]
    ShortPiece,
    #[error("have for piece {piece} of {pieces}")]
    HaveOutOfRange { piece: u32, pieces: usize },
    #[error("bitfield of {bytes} bytes for {pieces} pieces or with spare bits set")]
    BadBitfield { bytes: usize, pieces: usize },
    #[error(
        "request for piece {index}, offset {begin}, {length} bytes is out of range or over 16 KiB"
    )]
    BadRequest { index: u32, begin: u32, length: u32 },
    #[error("piece {index}, offset {begin}, {length} bytes is out of range")]
    BadPiece {
        index: u32,
        begin: u32,
        length: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
}

impl Handshake {
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20]) -> Handshake {
        Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id,
        }
    }

    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    pub fn decode(b: &[u8; HANDSHAKE_LEN]) -> Result<Handshake, &'static str> {
        if b[0] != 19 || &b[1..20] != PROTOCOL {
            return Err("not a BitTorrent handshake");
        }
        Ok(Handshake {
            reserved: b[20..28].try_into().expect("8 bytes"),
            info_hash: InfoHash(b[28..48].try_into().expect("20 bytes")),
            peer_id: b[48..68].try_into().expect("20 bytes"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request {
        index: u32,
        begin: u32,
        length: u32,
    },
    Piece {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    Cancel {
        index: u32,
        begin: u32,
        length: u32,
    },
    Port(u16),
    /// An extension message we do not speak (BEP 6, 10, …): skipped.
    Unknown(u8),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Incomplete,
    Message(Message, usize),
    Invalid(WireError),
}

/// The longest message a peer of a torrent with `piece_count` pieces may send: a piece message
/// with one block, or the bitfield, whichever is larger.
pub fn max_message_len(piece_count: usize) -> u32 {
    (9 + BLOCK_SIZE).max(1 + piece_count.div_ceil(8) as u32)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

/// Decodes one length-prefixed message from the start of `buf`.
pub fn decode(buf: &[u8], max_len: u32) -> Decoded {
    if buf.len() < 4 {
        return Decoded::Incomplete;
    }
    let len = be32(buf);
    if len > max_len {
        return Decoded::Invalid(WireError::TooLong { len, max: max_len });
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Decoded::Incomplete;
    }
    if len == 0 {
        return Decoded::Message(Message::KeepAlive, 4);
    }
    let id = buf[4];
    let body = &buf[5..total];
    let fixed = |expected: usize, name: &'static str| -> Result<(), WireError> {
        if body.len() == expected {
            Ok(())
        } else {
            Err(WireError::BadLength {
                name,
                got: body.len(),
                expected,
            })
        }
    };
    let msg = match id {
        id::CHOKE => fixed(0, "choke").map(|_| Message::Choke),
        id::UNCHOKE => fixed(0, "unchoke").map(|_| Message::Unchoke),
        id::INTERESTED => fixed(0, "interested").map(|_| Message::Interested),
        id::NOT_INTERESTED => fixed(0, "not interested").map(|_| Message::NotInterested),
        id::HAVE => fixed(4, "have").map(|_| Message::Have(be32(body))),
        id::BITFIELD => Ok(Message::Bitfield(body.to_vec())),
        id::REQUEST => fixed(12, "request").map(|_| Message::Request {
            index: be32(body),
            begin: be32(&body[4..]),
            length: be32(&body[8..]),
        }),
        id::PIECE if body.len() >= 8 => Ok(Message::Piece {
            index: be32(body),
            begin: be32(&body[4..]),
            data: body[8..].to_vec(),
        }),
        id::PIECE => Err(WireError::ShortPiece),
        id::CANCEL => fixed(12, "cancel").map(|_| Message::Cancel {
            index: be32(body),
            begin: be32(&body[4..]),
            length: be32(&body[8..]),
        }),
        id::PORT => fixed(2, "port").map(|_| Message::Port(u16::from_be_bytes([body[0], body[1]]))),
        other => Ok(Message::Unknown(other)),
    };
    match msg {
        Ok(m) => Decoded::Message(m, total),
        Err(reason) => Decoded::Invalid(reason),
    }
}

impl Message {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let header = |out: &mut Vec<u8>, len: usize, id: u8| {
            out.extend_from_slice(&(len as u32 + 1).to_be_bytes());
            out.push(id);
        };
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0; 4]),
            Message::Choke => header(out, 0, id::CHOKE),
            Message::Unchoke => header(out, 0, id::UNCHOKE),
            Message::Interested => header(out, 0, id::INTERESTED),
            Message::NotInterested => header(out, 0, id::NOT_INTERESTED),
            Message::Have(i) => {
                header(out, 4, id::HAVE);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Message::Bitfield(b) => {
                header(out, b.len(), id::BITFIELD);
                out.extend_from_slice(b);
            }
            Message::Request { .. } | Message::Cancel { .. } => {
                let (index, begin, length) = self.block_fields().expect("a request or cancel");
                header(
                    out,
                    12,
                    if matches!(self, Message::Request { .. }) {
                        id::REQUEST
                    } else {
                        id::CANCEL
                    },
                );
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(&length.to_be_bytes());
            }
            Message::Piece { index, begin, data } => {
                header(out, 8 + data.len(), id::PIECE);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&begin.to_be_bytes());
                out.extend_from_slice(data);
            }
            Message::Port(p) => {
                header(out, 2, id::PORT);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Unknown(_) => {}
        }
    }

    /// The (index, begin, length) a request or cancel names.
    pub fn block_fields(&self) -> Option<(u32, u32, u32)> {
        match *self {
            Message::Request {
                index,
                begin,
                length,
            }
            | Message::Cancel {
                index,
                begin,
                length,
            } => Some((index, begin, length)),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Checks a decoded message against the torrent: indices in range, requests of at most one
    /// block inside their piece, a bitfield of the right length with no spare bits set.
    pub fn validate(&self, layout: &Layout) -> Result<(), WireError> {
        let pieces = layout.piece_count();
        match self {
            Message::Have(i) if *i as usize >= pieces => {
                Err(WireError::HaveOutOfRange { piece: *i, pieces })
            }
            Message::Bitfield(b) => {
                Bitfield::from_bytes(b, pieces)
                    .map(|_| ())
                    .ok_or(WireError::BadBitfield {
                        bytes: b.len(),
                        pieces,
                    })
            }
            Message::Request { .. } | Message::Cancel { .. } => {
                let (index, begin, length) = self.block_fields().expect("a request or cancel");
                if layout.valid_request(index as usize, begin, length) {
                    Ok(())
                } else {
                    Err(WireError::BadRequest {
                        index,
                        begin,
                        length,
                    })
                }
            }
            Message::Piece { index, begin, data } => {
                if data.is_empty()
                    || !layout.valid_request(*index as usize, *begin, data.len() as u32)
                {
                    Err(WireError::BadPiece {
                        index: *index,
                        begin: *begin,
                        length: data.len(),
                    })
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_round_trip_and_rejects_other_protocols() {
        let h = Handshake::new(InfoHash([7; 20]), *b"-P20001-abcdefghijkl");
        let bytes = h.encode();
        assert_eq!(bytes[0], 19);
        assert_eq!(Handshake::decode(&bytes), Ok(h));
        let mut bad = bytes;
        bad[5] = b'x';
        assert!(Handshake::decode(&bad).is_err());
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(5),
            Message::Bitfield(vec![0xF0]),
            Message::Request {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Message::Piece {
                index: 1,
                begin: 0,
                data: vec![9; 100],
            },
            Message::Cancel {
                index: 1,
                begin: 0,
                length: 16384,
            },
            Message::Port(6881),
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            m.encode_into(&mut stream);
        }
        let mut at = 0;
        for m in &msgs {
            match decode(&stream[at..], max_message_len(4)) {
                Decoded::Message(got, used) => {
                    assert_eq!(&got, m);
                    at += used;
                }
                other => panic!("{m:?}: {other:?}"),
            }
        }
        assert_eq!(at, stream.len());
        // Every strict prefix of a message is incomplete, never an error.
        let one = Message::Piece {
            index: 0,
            begin: 0,
            data: vec![1; 50],
        }
        .encode();
        for cut in 0..one.len() {
            assert_eq!(decode(&one[..cut], max_message_len(4)), Decoded::Incomplete);
        }
    }

    #[test]
    fn oversized_and_malformed_messages_are_invalid() {
        let max = max_message_len(10);
        assert_eq!(max, 9 + 16384);
        let mut huge = (max + 1).to_be_bytes().to_vec();
        huge.push(7);
        assert!(matches!(decode(&huge, max), Decoded::Invalid(_)));
        assert!(
            matches!(decode(&[0, 0, 0, 2, 4, 0], max), Decoded::Invalid(_)),
            "short have"
        );
        assert!(
            matches!(decode(&[0, 0, 0, 1, 6], max), Decoded::Invalid(_)),
            "short request"
        );
        assert!(
            matches!(
                decode(&[0, 0, 0, 5, 7, 0, 0, 0, 0], max),
                Decoded::Invalid(_)
            ),
            "piece header cut"
        );
        assert_eq!(
            decode(&[0, 0, 0, 1, 20], max),
            Decoded::Message(Message::Unknown(20), 5)
        );
    }

    #[test]
    fn validation_against_the_torrent() {
        let layout = Layout::new(32768, [70000]);
        assert!(Message::Have(2).validate(&layout).is_ok());
        assert!(Message::Have(3).validate(&layout).is_err());
        assert!(Message::Bitfield(vec![0xE0]).validate(&layout).is_ok());
        assert!(
            Message::Bitfield(vec![0xF0]).validate(&layout).is_err(),
            "spare bit"
        );
        assert!(
            Message::Bitfield(vec![0xE0, 0]).validate(&layout).is_err(),
            "wrong length"
        );
        assert!(
            Message::Request {
                index: 0,
                begin: 0,
                length: 16384
            }
            .validate(&layout)
            .is_ok()
        );
        assert!(
            Message::Request {
                index: 0,
                begin: 0,
                length: 32768
            }
            .validate(&layout)
            .is_err(),
            "over 16 KiB"
        );
        assert!(
            Message::Request {
                index: 2,
                begin: 0,
                length: 4465
            }
            .validate(&layout)
            .is_err(),
            "past the end"
        );
        assert!(
            Message::Request {
                index: 3,
                begin: 0,
                length: 1
            }
            .validate(&layout)
            .is_err()
        );
        assert!(
            Message::Piece {
                index: 2,
                begin: 0,
                data: vec![0; 4464]
            }
            .validate(&layout)
            .is_ok()
        );
        assert!(
            Message::Piece {
                index: 2,
                begin: 0,
                data: vec![]
            }
            .validate(&layout)
            .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder_or_validation(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let layout = Layout::new(32768, [100_000]);
            let mut at = 0;
            while let Decoded::Message(m, used) = decode(&bytes[at..], max_message_len(layout.piece_count())) {
                let _ = m.validate(&layout);
                at += used;
            }
            let mut handshake = [0u8; HANDSHAKE_LEN];
            let n = bytes.len().min(HANDSHAKE_LEN);
            handshake[..n].copy_from_slice(&bytes[..n]);
            let _ = Handshake::decode(&handshake);
        }
    }
}
