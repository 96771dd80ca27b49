//! BitTorrent v2's hash messages (BEP 52): `hash request` (21) asks for a run of one layer of a
//! file's merkle tree and the uncle hashes that prove it, `hashes` (22) answers with them,
//! `hash reject` (23) declines. They are sent only between peers that both set the v2 bit of
//! the handshake's reserved bytes.

use crate::hash::Digest256;

pub const HASH_REQUEST: u8 = 21;
pub const HASHES: u8 = 22;
pub const HASH_REJECT: u8 = 23;
/// BEP 52: the sender speaks v2 (hash requests).
pub const RESERVED_V2: (usize, u8) = (7, 0x10);
/// Hashes asked for at once at most, as libtorrent bounds them (a piece of 128 MiB in blocks).
pub const MAX_COUNT: u32 = 8192;
/// Uncle hashes an answer may carry beyond the run: one a layer, and no tree has more layers.
pub const MAX_PROOF: u32 = 64;
/// A request's body: the root and four numbers.
const REQUEST_LEN: usize = 32 + 16;

/// Which hashes: `count` nodes from `index` of the layer `base` above the blocks (0 is the
/// blocks' own hashes) of the tree whose root is `root`, and enough uncle hashes for a tree
/// of `proof_layers` layers above `base` to be checked against the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashRequest {
    pub root: Digest256,
    pub base: u32,
    pub index: u32,
    pub count: u32,
    pub proof_layers: u32,
}

impl HashRequest {
    pub(super) fn decode(body: &[u8]) -> Option<HashRequest> {
        if body.len() < REQUEST_LEN {
            return None;
        }
        let n = |at: usize| u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        Some(HashRequest {
            root: body[..32].try_into().expect("32 bytes"),
            base: n(32),
            index: n(36),
            count: n(40),
            proof_layers: n(44),
        })
    }

    pub(super) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.root);
        for n in [self.base, self.index, self.count, self.proof_layers] {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// Uncle hashes an answer carries after the run: the proof layers above the subtree the
    /// run itself spans (libtorrent's count, which both ends must agree on).
    pub fn uncles(&self) -> u32 {
        let spanned = self.count.max(1).next_power_of_two().trailing_zeros() as i64 - 1;
        (self.proof_layers as i64 - spanned).max(0) as u32
    }
}

/// Decodes the body of a message with id 21, 22 or 23; `None` when it is malformed (the wrong
/// length, or more hashes than any request may ask for).
pub(super) fn decode(id: u8, body: &[u8]) -> Option<super::Message> {
    use super::Message;
    let request = HashRequest::decode(body)?;
    match id {
        HASH_REQUEST if body.len() == REQUEST_LEN => Some(Message::HashRequest(request)),
        HASH_REJECT if body.len() == REQUEST_LEN => Some(Message::HashReject(request)),
        HASHES => {
            let hashes = &body[REQUEST_LEN..];
            let n = hashes.len() / 32;
            let whole = hashes.len().is_multiple_of(32);
            if !whole || n == 0 || n as u32 > MAX_COUNT + MAX_PROOF {
                return None;
            }
            let hashes = hashes
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect();
            Some(Message::Hashes(request, hashes))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Decoded, Message, decode as decode_message};
    use super::*;

    fn request() -> HashRequest {
        HashRequest {
            root: [5; 32],
            base: 2,
            index: 512,
            count: 512,
            proof_layers: 11,
        }
    }

    #[test]
    fn hash_messages_round_trip() {
        for m in [
            Message::HashRequest(request()),
            Message::HashReject(request()),
            Message::Hashes(request(), vec![[1; 32]; 514]),
        ] {
            let bytes = m.encode();
            assert_eq!(
                decode_message(&bytes, u32::MAX),
                Decoded::Message(m.clone(), bytes.len())
            );
        }
        // The layout BEP 52 gives: length, id 21, root, then base, index, count, proof layers.
        let bytes = Message::HashRequest(request()).encode();
        assert_eq!(&bytes[..5], &[0, 0, 0, 49, 21]);
        assert_eq!(&bytes[37..41], &2u32.to_be_bytes());
        assert_eq!(&bytes[49..53], &11u32.to_be_bytes());
    }

    #[test]
    fn malformed_hash_messages_are_refused() {
        let framed = |id: u8, body: &[u8]| {
            let mut b = ((body.len() + 1) as u32).to_be_bytes().to_vec();
            b.push(id);
            b.extend_from_slice(body);
            b
        };
        let mut body = Vec::new();
        request().encode_into(&mut body);
        for bad in [
            framed(HASH_REQUEST, &body[..47]),
            framed(HASH_REQUEST, &[&body[..], &[0]].concat()),
            framed(HASH_REJECT, &body[..40]),
            framed(HASHES, &body),
            framed(HASHES, &[&body[..], &[0; 33]].concat()),
            framed(HASHES, &[&body[..], &vec![0; 32 * 8257]].concat()),
        ] {
            assert!(
                matches!(decode_message(&bad, u32::MAX), Decoded::Invalid(_)),
                "{} bytes",
                bad.len()
            );
        }
    }

    #[test]
    fn the_uncles_an_answer_carries_are_libtorrents_count() {
        let r = |count, proof_layers| HashRequest {
            count,
            proof_layers,
            ..request()
        };
        assert_eq!(r(512, 11).uncles(), 3);
        assert_eq!(r(512, 0).uncles(), 0);
        assert_eq!(r(2, 3).uncles(), 3);
        assert_eq!(r(8, 2).uncles(), 0);
    }
}
