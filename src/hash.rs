//! SHA-1, the one hash BitTorrent v1 uses, and SHA-256 for v2 ([`sha256`]). Every SHA-1 in p2p
//! goes through [`Sha1`] or [`sha1`], so the implementation can be swapped in one place.
//!
//! On x86-64 processors with the SHA extensions (SHA-NI) the compression function runs on those
//! instructions, about twice as fast as the portable `sha1_smol` that serves everywhere else.

pub mod merkle;
mod sha256;
pub use sha256::{Digest256, Sha256, sha256};

/// The framing SHA-1 and SHA-256 share (Merkle–Damgård over 64-byte blocks, the message's
/// bit length big-endian at the end): input gathered into whole blocks for a compression
/// function, and the final padding.
#[derive(Clone)]
struct Blocks {
    buffer: [u8; 64],
    buffered: usize,
    length: u64,
}

impl Blocks {
    const fn new() -> Blocks {
        Blocks {
            buffer: [0; 64],
            buffered: 0,
            length: 0,
        }
    }

    /// Hands `compress` every whole block `data` completes, keeping the rest.
    fn update(&mut self, mut data: &[u8], mut compress: impl FnMut(&[u8])) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 64 {
                return;
            }
            compress(&self.buffer);
            self.buffered = 0;
        }
        let whole = data.len() / 64 * 64;
        if whole > 0 {
            compress(&data[..whole]);
        }
        let rest = &data[whole..];
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// Hands `compress` the last block or two: what is left, `0x80`, zeros, the bit length.
    fn finish(self, compress: impl FnOnce(&[u8])) {
        let bits = self.length.wrapping_mul(8);
        let mut tail = [0u8; 128];
        tail[..self.buffered].copy_from_slice(&self.buffer[..self.buffered]);
        tail[self.buffered] = 0x80;
        let total = if self.buffered < 56 { 64 } else { 128 };
        tail[total - 8..total].copy_from_slice(&bits.to_be_bytes());
        compress(&tail[..total]);
    }
}

/// A SHA-1 digest: a piece hash or an info-hash.
pub type Digest = [u8; 20];

/// SHA-1 of one buffer.
pub fn sha1(data: &[u8]) -> Digest {
    let mut hasher = Sha1::new();
    hasher.update(data);
    hasher.finish()
}

/// Incremental SHA-1.
#[derive(Clone)]
pub struct Sha1 {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Portable(sha1_smol::Sha1),
    #[cfg(target_arch = "x86_64")]
    Native(native::State),
}

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha1 {
    /// A new hasher, on the SHA-NI path when the processor has it.
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if native::available() {
            return Sha1 {
                inner: Inner::Native(native::State::new()),
            };
        }
        Self::portable()
    }

    fn portable() -> Self {
        Sha1 {
            inner: Inner::Portable(sha1_smol::Sha1::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Portable(h) => h.update(data),
            #[cfg(target_arch = "x86_64")]
            Inner::Native(s) => s.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        match self.inner {
            Inner::Portable(h) => h.digest().bytes(),
            #[cfg(target_arch = "x86_64")]
            Inner::Native(s) => s.finish(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod native {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("sha")
                && is_x86_feature_detected!("sse2")
                && is_x86_feature_detected!("ssse3")
                && is_x86_feature_detected!("sse4.1")
        })
    }

    #[derive(Clone)]
    pub struct State {
        h: [u32; 5],
        blocks: super::Blocks,
    }

    impl State {
        pub fn new() -> Self {
            State {
                h: [
                    0x6745_2301,
                    0xEFCD_AB89,
                    0x98BA_DCFE,
                    0x1032_5476,
                    0xC3D2_E1F0,
                ],
                blocks: super::Blocks::new(),
            }
        }

        pub fn update(&mut self, data: &[u8]) {
            let h = &mut self.h;
            self.blocks.update(data, |b| compress(h, b));
        }

        pub fn finish(mut self) -> [u8; 20] {
            let h = &mut self.h;
            self.blocks.finish(|b| compress(h, b));
            let mut out = [0u8; 20];
            for (chunk, word) in out.chunks_exact_mut(4).zip(self.h) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            out
        }
    }

    fn compress(h: &mut [u32; 5], blocks: &[u8]) {
        debug_assert!(blocks.len().is_multiple_of(64));
        // SAFETY: a `State` is made only when `available()` was true, so the CPU has the
        // features `compress_blocks` is compiled for.
        unsafe { compress_blocks(h, blocks) }
    }

    /// The SHA-1 compression function over whole 64-byte blocks, on the SHA extensions; the
    /// round structure is the one Intel documents for these instructions.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress_blocks(h: &mut [u32; 5], blocks: &[u8]) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        // SAFETY: h has 5 u32s; the first 16 bytes are read unaligned.
        let mut abcd = unsafe { _mm_loadu_si128(h.as_ptr() as *const __m128i) };
        abcd = _mm_shuffle_epi32(abcd, 0x1B);
        let mut e0 = _mm_set_epi32(h[4] as i32, 0, 0, 0);

        for block in blocks.chunks_exact(64) {
            let abcd_save = abcd;
            let e0_save = e0;
            let p = block.as_ptr() as *const __m128i;
            // SAFETY: block is 64 bytes; four unaligned 16-byte loads stay inside it.
            let (mut m0, mut m1, mut m2, mut m3) = unsafe {
                (
                    _mm_shuffle_epi8(_mm_loadu_si128(p), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask),
                )
            };
            let mut e1;

            // Rounds 0-15: the message words as loaded.
            e0 = _mm_add_epi32(e0, m0);
            e1 = abcd;
            abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);

            e1 = _mm_sha1nexte_epu32(e1, m1);
            e0 = abcd;
            abcd = _mm_sha1rnds4_epu32(abcd, e1, 0);
            m0 = _mm_sha1msg1_epu32(m0, m1);

            e0 = _mm_sha1nexte_epu32(e0, m2);
            e1 = abcd;
            abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);
            m1 = _mm_sha1msg1_epu32(m1, m2);
            m0 = _mm_xor_si128(m0, m2);

            // Rounds 12-63 follow one pattern, rotating the four message registers; `f` is the
            // round function for the group of four rounds (round / 20).
            macro_rules! step {
                ($ecur:ident, $eother:ident, $a:ident, $b:ident, $c:ident, $d:ident, $f:literal) => {
                    $ecur = _mm_sha1nexte_epu32($ecur, $a);
                    $eother = abcd;
                    $b = _mm_sha1msg2_epu32($b, $a);
                    abcd = _mm_sha1rnds4_epu32(abcd, $ecur, $f);
                    $d = _mm_sha1msg1_epu32($d, $a);
                    $c = _mm_xor_si128($c, $a);
                };
            }
            step!(e1, e0, m3, m0, m1, m2, 0); // 12-15
            step!(e0, e1, m0, m1, m2, m3, 0); // 16-19
            step!(e1, e0, m1, m2, m3, m0, 1); // 20-23
            step!(e0, e1, m2, m3, m0, m1, 1); // 24-27
            step!(e1, e0, m3, m0, m1, m2, 1); // 28-31
            step!(e0, e1, m0, m1, m2, m3, 1); // 32-35
            step!(e1, e0, m1, m2, m3, m0, 1); // 36-39
            step!(e0, e1, m2, m3, m0, m1, 2); // 40-43
            step!(e1, e0, m3, m0, m1, m2, 2); // 44-47
            step!(e0, e1, m0, m1, m2, m3, 2); // 48-51
            step!(e1, e0, m1, m2, m3, m0, 2); // 52-55
            step!(e0, e1, m2, m3, m0, m1, 2); // 56-59
            step!(e1, e0, m3, m0, m1, m2, 3); // 60-63
            step!(e0, e1, m0, m1, m2, m3, 3); // 64-67

            // Rounds 68-79: the schedule runs out.
            e1 = _mm_sha1nexte_epu32(e1, m1);
            e0 = abcd;
            m2 = _mm_sha1msg2_epu32(m2, m1);
            abcd = _mm_sha1rnds4_epu32(abcd, e1, 3);
            m3 = _mm_xor_si128(m3, m1);

            e0 = _mm_sha1nexte_epu32(e0, m2);
            e1 = abcd;
            m3 = _mm_sha1msg2_epu32(m3, m2);
            abcd = _mm_sha1rnds4_epu32(abcd, e0, 3);

            e1 = _mm_sha1nexte_epu32(e1, m3);
            e0 = abcd;
            abcd = _mm_sha1rnds4_epu32(abcd, e1, 3);

            e0 = _mm_sha1nexte_epu32(e0, e0_save);
            abcd = _mm_add_epi32(abcd, abcd_save);
        }

        abcd = _mm_shuffle_epi32(abcd, 0x1B);
        // SAFETY: writes the first 16 bytes of h, which has 20.
        unsafe { _mm_storeu_si128(h.as_mut_ptr() as *mut __m128i, abcd) };
        h[4] = _mm_extract_epi32(e0, 3) as u32;
    }
}

/// Bytes as lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A torrent's identity on the wire: the SHA-1 of the bencoded `info` dictionary, or for a
/// v2-only torrent the first 20 bytes of its SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// From 40 hexadecimal digits, either case.
    pub fn from_hex(text: &str) -> Option<InfoHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut h = [0u8; 20];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            h[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(InfoHash(h))
    }
}

impl std::fmt::Display for InfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InfoHash({})", self.hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: Digest) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(sha1(&million_a)),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn native_path_matches_portable_for_every_length_and_split() {
        let data: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let mut portable = Sha1::portable();
            portable.update(&data[..len]);
            let expected = portable.finish();
            assert_eq!(sha1(&data[..len]), expected, "length {len}");
            let split = len / 3;
            let mut parts = Sha1::new();
            parts.update(&data[..split]);
            parts.update(&data[split..len]);
            assert_eq!(parts.finish(), expected, "length {len} split at {split}");
        }
    }
}
