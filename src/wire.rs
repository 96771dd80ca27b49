//! The peer wire protocol, sans-IO: the handshake and every message of BEP 3, the fast
//! extension (BEP 6) and the extension protocol's framing (BEP 10), encoded into and decoded
//! from byte slices. Decoding says `Incomplete` (read more), gives a message and the
//! bytes it used, or says why the bytes are invalid (close the connection).

pub mod hashes;
pub mod mse;

use crate::bitfield::Bitfield;
use crate::hash::InfoHash;
use crate::layout::{BLOCK_SIZE, BlockRef, Layout};

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
    pub const SUGGEST: u8 = 0x0D;
    pub const HAVE_ALL: u8 = 0x0E;
    pub const HAVE_NONE: u8 = 0x0F;
    pub const REJECT: u8 = 0x10;
    pub const ALLOWED_FAST: u8 = 0x11;
    pub const EXTENDED: u8 = 20;
}

/// Reserved handshake bits: the extension protocol (BEP 10) and the fast extension (BEP 6).
pub const RESERVED_EXTENSION: (usize, u8) = (5, 0x10);
pub const RESERVED_FAST: (usize, u8) = (7, 0x04);
/// BEP 5: the sender runs a DHT node and sends `port`.
pub const RESERVED_DHT: (usize, u8) = (7, 0x01);
/// The longest extension message body we take: a 16 KiB metadata piece and its header.
pub const MAX_EXTENDED: u32 = 16 * 1024 + 1024;

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
    #[error("piece {piece} named, of {pieces}")]
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
    /// Our handshake: it offers the extension protocol and the fast extension.
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0; 8];
        for (byte, bit) in [RESERVED_EXTENSION, RESERVED_FAST] {
            reserved[byte] |= bit;
        }
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    pub fn supports(&self, (byte, bit): (usize, u8)) -> bool {
        self.reserved[byte] & bit != 0
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
    /// BEP 6: a piece worth downloading (may be ignored).
    Suggest(u32),
    HaveAll,
    HaveNone,
    /// BEP 6: the answer to a request that will not be served.
    Reject {
        index: u32,
        begin: u32,
        length: u32,
    },
    /// BEP 6: a piece that may be requested while choked.
    AllowedFast(u32),
    /// BEP 10: an extension message, by the id its receiver assigned (0 is the handshake).
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
    /// BEP 52: hashes of a file's merkle tree asked for…
    HashRequest(hashes::HashRequest),
    /// …sent (the run, then the uncle hashes)…
    Hashes(hashes::HashRequest, Vec<crate::hash::Digest256>),
    /// …or declined.
    HashReject(hashes::HashRequest),
    /// A message id we do not speak: skipped.
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
    (9 + BLOCK_SIZE)
        .max(1 + piece_count.div_ceil(8) as u32)
        .max(2 + MAX_EXTENDED)
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
        id::SUGGEST => fixed(4, "suggest").map(|_| Message::Suggest(be32(body))),
        id::HAVE_ALL => fixed(0, "have all").map(|_| Message::HaveAll),
        id::HAVE_NONE => fixed(0, "have none").map(|_| Message::HaveNone),
        id::REJECT => fixed(12, "reject").map(|_| Message::Reject {
            index: be32(body),
            begin: be32(&body[4..]),
            length: be32(&body[8..]),
        }),
        id::ALLOWED_FAST => fixed(4, "allowed fast").map(|_| Message::AllowedFast(be32(body))),
        id::EXTENDED if !body.is_empty() && body.len() as u32 <= 1 + MAX_EXTENDED => {
            Ok(Message::Extended {
                id: body[0],
                payload: body[1..].to_vec(),
            })
        }
        id::EXTENDED => Err(WireError::BadLength {
            name: "extended",
            got: body.len(),
            expected: 1,
        }),
        hashes::HASH_REQUEST | hashes::HASHES | hashes::HASH_REJECT => hashes::decode(id, body)
            .ok_or(WireError::BadLength {
                name: "hash",
                got: body.len(),
                expected: 48,
            }),
        other => Ok(Message::Unknown(other)),
    };
    match msg {
        Ok(m) => Decoded::Message(m, total),
        Err(reason) => Decoded::Invalid(reason),
    }
}

/// The 13 bytes before a `piece` message's `len` bytes of data.
pub fn piece_header(index: u32, begin: u32, len: u32) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..4].copy_from_slice(&(9 + len).to_be_bytes());
    h[4] = id::PIECE;
    h[5..9].copy_from_slice(&index.to_be_bytes());
    h[9..].copy_from_slice(&begin.to_be_bytes());
    h
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
            Message::Request { .. } | Message::Cancel { .. } | Message::Reject { .. } => {
                let b = self.block().expect("names a block");
                let id = match self {
                    Message::Request { .. } => id::REQUEST,
                    Message::Cancel { .. } => id::CANCEL,
                    _ => id::REJECT,
                };
                header(out, 12, id);
                out.extend_from_slice(&b.piece.to_be_bytes());
                out.extend_from_slice(&b.begin.to_be_bytes());
                out.extend_from_slice(&b.length.to_be_bytes());
            }
            Message::Piece { index, begin, data } => {
                out.extend_from_slice(&piece_header(*index, *begin, data.len() as u32));
                out.extend_from_slice(data);
            }
            Message::Port(p) => {
                header(out, 2, id::PORT);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Suggest(i) | Message::AllowedFast(i) => {
                let id = if matches!(self, Message::Suggest(_)) {
                    id::SUGGEST
                } else {
                    id::ALLOWED_FAST
                };
                header(out, 4, id);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Message::HaveAll => header(out, 0, id::HAVE_ALL),
            Message::HaveNone => header(out, 0, id::HAVE_NONE),
            Message::Extended { id: ext, payload } => {
                header(out, 1 + payload.len(), id::EXTENDED);
                out.push(*ext);
                out.extend_from_slice(payload);
            }
            Message::HashRequest(r) | Message::HashReject(r) => {
                let id = match self {
                    Message::HashRequest(_) => hashes::HASH_REQUEST,
                    _ => hashes::HASH_REJECT,
                };
                header(out, 48, id);
                r.encode_into(out);
            }
            Message::Hashes(r, hashes) => {
                header(out, 48 + 32 * hashes.len(), hashes::HASHES);
                r.encode_into(out);
                hashes.iter().for_each(|h| out.extend_from_slice(h));
            }
            Message::Unknown(_) => {}
        }
    }

    /// The block a request, cancel or reject names.
    pub fn block(&self) -> Option<BlockRef> {
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
            }
            | Message::Reject {
                index,
                begin,
                length,
            } => Some(BlockRef {
                piece: index,
                begin,
                length,
            }),
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
            Message::Have(i) | Message::Suggest(i) | Message::AllowedFast(i)
                if *i as usize >= pieces =>
            {
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
            Message::Request { .. } | Message::Cancel { .. } | Message::Reject { .. } => {
                let b = self.block().expect("names a block");
                if layout.valid_request(b.piece as usize, b.begin, b.length) {
                    Ok(())
                } else {
                    Err(WireError::BadRequest {
                        index: b.piece,
                        begin: b.begin,
                        length: b.length,
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
    fn fast_and_extension_messages_round_trip() {
        let max = max_message_len(100);
        for m in [
            Message::Suggest(7),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Message::AllowedFast(99),
            Message::Extended {
                id: 0,
                payload: b"d1:md11:ut_metadatai3eee".to_vec(),
            },
            Message::Extended {
                id: 3,
                payload: vec![0; 16 * 1024 + 100],
            },
        ] {
            let bytes = m.encode();
            assert_eq!(decode(&bytes, max), Decoded::Message(m, bytes.len()));
        }
        let ours = Handshake::new(InfoHash([1; 20]), [2; 20]);
        assert!(ours.supports(RESERVED_FAST) && ours.supports(RESERVED_EXTENSION));
        assert_eq!(ours.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
    }

    #[test]
    fn oversized_and_malformed_messages_are_invalid() {
        let max = max_message_len(10);
        assert_eq!(
            max,
            2 + MAX_EXTENDED,
            "an extension message may carry a 16 KiB block"
        );
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
            decode(&[0, 0, 0, 1, 30], max),
            Decoded::Message(Message::Unknown(30), 5)
        );
        assert!(
            matches!(decode(&[0, 0, 0, 1, 21], max), Decoded::Invalid(_)),
            "a hash request without its body"
        );
        assert!(
            matches!(decode(&[0, 0, 0, 1, 20], max), Decoded::Invalid(_)),
            "extended without its id"
        );
        assert!(
            matches!(decode(&[0, 0, 0, 2, 0x0E, 0], max), Decoded::Invalid(_)),
            "have all with a body"
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
