//! BitTorrent v2's merkle trees (BEP 52): every file is hashed on its own as a binary tree of
//! SHA-256 hashes over 16 KiB blocks. The leaves past the file's last block, up to a power of
//! two, are 32 zero bytes (not the hash of a zero block); a node is the SHA-256 of its two
//! children. The file's `pieces root` is the tree's root; its `piece layer` is the layer whose
//! nodes each cover one piece.
//!
//! p2p hashes a piece at a time, so what it computes for a piece is the piece's *v2 digest*:
//! - in a file longer than one piece: the node covering the piece, the root of a subtree of
//!   `piece length / 16 KiB` leaves (the last piece's missing leaves are zero);
//! - in a file of one piece or less: the file's root, a tree of as many leaves as the next
//!   power of two above its block count.
//!
//! Either way it is the value a torrent holds for the piece: a piece layer entry, or the
//! `pieces root` of a file no longer than a piece.

use super::{Digest256, Sha256, sha256};

/// The leaf size: every block of a v2 torrent is hashed on its own.
pub const BLOCK: u64 = 16 << 10;

/// SHA-256 of two nodes laid side by side: their parent.
pub fn parent(left: &Digest256, right: &Digest256) -> Digest256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finish()
}

/// The root of a subtree of `2^height` leaves that are all zero (past the end of a file).
pub fn pad_hash(height: u32) -> Digest256 {
    let mut node = [0u8; 32];
    for _ in 0..height {
        node = parent(&node, &node);
    }
    node
}

/// The root over `nodes` padded to `width` (a power of two, at least `nodes.len()`) with
/// `pad`, the root of a missing subtree at their level.
pub fn root(nodes: &[Digest256], width: usize, pad: Digest256) -> Digest256 {
    debug_assert!(width.is_power_of_two() && nodes.len() <= width);
    let mut layer: Vec<Digest256> = nodes.to_vec();
    let mut pad = pad;
    let mut width = width;
    while width > 1 {
        let next: Vec<Digest256> = layer
            .chunks(2)
            .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pad)))
            .collect();
        pad = parent(&pad, &pad);
        layer = next;
        width /= 2;
    }
    layer.first().copied().unwrap_or(pad)
}

/// The v2 digest of a piece (see the module's notes) from the file's bytes in it (`data`,
/// without any padding past the file's end). `whole_file`: the file fits in this one piece.
pub fn piece_digest(data: &[u8], piece_length: u64, whole_file: bool) -> Digest256 {
    let leaves: Vec<Digest256> = data.chunks(BLOCK as usize).map(sha256).collect();
    let width = if whole_file {
        leaves.len().max(1).next_power_of_two()
    } else {
        (piece_length / BLOCK) as usize
    };
    root(&leaves, width, [0; 32])
}

/// A file's `pieces root` from its piece layer (the v2 digests of its pieces, in order), for a
/// file longer than one piece.
pub fn file_root(layer: &[Digest256], piece_length: u64) -> Digest256 {
    let height = (piece_length / BLOCK).trailing_zeros();
    root(
        layer,
        layer.len().max(1).next_power_of_two(),
        pad_hash(height),
    )
}

/// A file's tree from its piece layer up: `layers[0]` the piece layer padded to a power of two
/// with the root of a subtree of zeros, each next layer half as long, the last one the root.
pub fn layers_above(piece_layer: &[Digest256], piece_length: u64) -> Vec<Vec<Digest256>> {
    let mut layer = piece_layer.to_vec();
    let width = layer.len().max(1).next_power_of_two();
    layer.resize(width, pad_hash((piece_length / BLOCK).trailing_zeros()));
    layers_up(layer, width.trailing_zeros())
}

/// The layers of a tree from `leaves` up, `up` layers above them: `layers[0]` the leaves,
/// each next layer half as long. `leaves.len()` is a multiple of `2^up`.
pub fn layers_up(leaves: Vec<Digest256>, up: u32) -> Vec<Vec<Digest256>> {
    let mut layers = vec![leaves];
    for _ in 0..up {
        let last = layers.last().expect("one layer at least");
        let next = last.chunks(2).map(|p| parent(&p[0], &p[1])).collect();
        layers.push(next);
    }
    layers
}

/// Whether a `hash request` (base, index, count, proof layers) lies inside the tree of a file
/// of `blocks` blocks, asking at most 8192 nodes and no proof past the root.
pub fn fits(blocks: u64, (base, index, count, proof_layers): (u32, u32, u32, u32)) -> bool {
    let leaves = blocks.max(1).next_power_of_two();
    let height = leaves.trailing_zeros();
    let level = leaves >> base.min(63);
    base < height
        && (1..=8192).contains(&count)
        && (index as u64) < level
        && index as u64 + count as u64 <= level
        && proof_layers < height - base
}

/// What a `hash request` gets (BEP 52, answered as libtorrent answers it): `count` nodes of the
/// layer `base` above the blocks from `index`, then the uncle hashes of the proof layers above
/// the subtree the run spans. `node(layer, i)` is the tree's node `i` of `layer` (0: the
/// blocks), `blocks` the file's block count. `None` for a request outside the tree, or one
/// needing a node `node` does not have.
pub fn answer_with(
    blocks: u64,
    request: (u32, u32, u32, u32),
    node: impl Fn(u32, usize) -> Option<Digest256>,
) -> Option<Vec<Digest256>> {
    if !fits(blocks, request) {
        return None;
    }
    let (base, index, count, proof_layers) = request;
    let mut out = (index..index + count)
        .map(|i| node(base, i as usize))
        .collect::<Option<Vec<_>>>()?;
    let spanned = count.next_power_of_two().trailing_zeros() as i64 - 1;
    let mut at = index as usize;
    for i in 0..proof_layers {
        at /= 2;
        if i as i64 >= spanned {
            out.push(node(base + i + 1, at ^ 1)?);
        }
    }
    Some(out)
}

/// [`answer_with`] from a file's tree above its piece layer alone: `layers` as
/// [`layers_above`] builds them, `piece_base` the piece layer's height. Requests below the
/// piece layer get `None`.
pub fn answer(
    layers: &[Vec<Digest256>],
    piece_base: u32,
    blocks: u64,
    request: (u32, u32, u32, u32),
) -> Option<Vec<Digest256>> {
    answer_with(blocks, request, |layer, i| {
        let above = layer.checked_sub(piece_base)? as usize;
        layers.get(above)?.get(i).copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree built the plain way: all leaves, zero-padded to a power of two, then halved.
    fn naive_root(data: &[u8]) -> Digest256 {
        let mut layer: Vec<Digest256> = data.chunks(BLOCK as usize).map(sha256).collect();
        layer.resize(layer.len().next_power_of_two(), [0; 32]);
        while layer.len() > 1 {
            layer = layer.chunks(2).map(|p| parent(&p[0], &p[1])).collect();
        }
        layer[0]
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn a_file_root_is_the_same_from_pieces_or_from_blocks() {
        let piece = 64 << 10;
        for len in [
            1,
            16384,
            16385,
            65536,
            65537,
            3 * 65536 + 100,
            5 * 65536,
            9 * 65536 - 1,
        ] {
            let data = bytes(len);
            let expected = naive_root(&data);
            let pieces: Vec<&[u8]> = data.chunks(piece).collect();
            let got = if pieces.len() == 1 {
                piece_digest(&data, piece as u64, true)
            } else {
                let layer: Vec<Digest256> = pieces
                    .iter()
                    .map(|p| piece_digest(p, piece as u64, false))
                    .collect();
                file_root(&layer, piece as u64)
            };
            assert_eq!(got, expected, "length {len}");
        }
    }

    #[test]
    fn the_pad_of_a_subtree_is_its_zero_root() {
        assert_eq!(pad_hash(0), [0; 32]);
        assert_eq!(pad_hash(2), root(&[], 4, [0; 32]));
        assert_eq!(root(&[[1; 32]], 1, [0; 32]), [1; 32]);
    }

    #[test]
    fn answers_carry_the_run_and_the_uncles_that_prove_it() {
        // A file of 40 pieces of 4 blocks: 160 blocks, 256 leaves, the piece layer at 2.
        let piece = 4 * BLOCK;
        let layer: Vec<Digest256> = (0..40u8).map(|i| sha256(&[i])).collect();
        let layers = layers_above(&layer, piece);
        assert_eq!(layers[0].len(), 64);
        assert_eq!(layers.last().unwrap(), &vec![file_root(&layer, piece)]);
        // The whole piece layer with no proof: 64 hashes whose root is the file's.
        let all = answer(&layers, 2, 160, (2, 0, 64, 0)).unwrap();
        assert_eq!(all.len(), 64);
        assert_eq!(root(&all, 64, [0; 32]), file_root(&layer, piece));
        // 8 hashes from 16 with proofs up to the root: the run spans 3 layers, the uncles are
        // the siblings of its subtree's root and of each ancestor below the root.
        let req = (2, 16, 8, 5);
        let got = answer(&layers, 2, 160, req).unwrap();
        assert_eq!(got.len(), 8 + 3);
        let mut node = root(&got[..8], 8, [0; 32]);
        let mut at = 16 / 8;
        for uncle in &got[8..] {
            node = if at % 2 == 0 {
                parent(&node, uncle)
            } else {
                parent(uncle, &node)
            };
            at /= 2;
        }
        assert_eq!(
            node,
            file_root(&layer, piece),
            "the proof leads to the root"
        );
        // Out of the tree, too many, below the piece layer, proofs past the root: refused.
        for bad in [
            (2, 60, 8, 0),
            (2, 0, 0, 0),
            (2, 0, 9000, 0),
            (1, 0, 2, 0),
            (2, 0, 8, 6),
            (8, 0, 1, 0),
            (40, 0, 1, 0),
        ] {
            assert_eq!(answer(&layers, 2, 160, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_known_root() {
        // One 100-byte file: its root is the SHA-256 of its one block (libtorrent 2.0.8 wrote
        // this `pieces root` for 100 bytes of 0x61).
        assert_eq!(
            piece_digest(&[0x61; 100], 16384, true),
            sha256(&[0x61; 100])
        );
    }
}
