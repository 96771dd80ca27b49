//! SHA-256 (FIPS 180-4), the hash of BitTorrent v2 (BEP 52: merkle trees of 16 KiB blocks, the
//! v2 info-hash). Portable code everywhere, and on x86-64 processors with the SHA extensions
//! the compression function on `sha256rnds2`/`sha256msg1`/`sha256msg2`, chosen at run time as
//! SHA-1's is.

/// A SHA-256 digest.
pub type Digest256 = [u8; 32];

/// SHA-256 of one buffer.
pub fn sha256(data: &[u8]) -> Digest256 {
    let mut hasher = Sha256::new();
    hasher.update(data);
    hasher.finish()
}

const INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The round constants: the first 32 bits of the fractional parts of the cube roots of the
/// first 64 primes.
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// Incremental SHA-256.
#[derive(Clone)]
pub struct Sha256 {
    h: [u32; 8],
    blocks: super::Blocks,
    native: bool,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A new hasher, on the SHA-NI path when the processor has it.
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        let native = native::available();
        #[cfg(not(target_arch = "x86_64"))]
        let native = false;
        Sha256 {
            native,
            ..Sha256::portable()
        }
    }

    /// A hasher on the portable path whatever the processor.
    pub fn portable() -> Self {
        Sha256 {
            h: INITIAL,
            blocks: super::Blocks::new(),
            native: false,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        let (h, native) = (&mut self.h, self.native);
        self.blocks.update(data, |b| compress(h, b, native));
    }

    pub fn finish(mut self) -> Digest256 {
        let (h, native) = (&mut self.h, self.native);
        self.blocks.finish(|b| compress(h, b, native));
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.h) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Whole 64-byte blocks, on the SHA extensions when `native`.
fn compress(h: &mut [u32; 8], blocks: &[u8], native: bool) {
    debug_assert!(blocks.len().is_multiple_of(64));
    #[cfg(target_arch = "x86_64")]
    if native {
        // SAFETY: `native` is set only when `native::available()` said the CPU has the
        // features `compress_blocks` is compiled for.
        return unsafe { native::compress_blocks(h, blocks) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = native;
    compress_portable(h, blocks);
}

fn compress_portable(h: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes(word.try_into().expect("4 bytes"));
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod native {
    use super::K;
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

    /// The SHA-256 compression function over whole 64-byte blocks on the SHA extensions: the
    /// state kept as ABEF/CDGH, two rounds a `sha256rnds2`, the message schedule four words at
    /// a time with `sha256msg1`/`sha256msg2`, as Intel documents them.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress_blocks(h: &mut [u32; 8], blocks: &[u8]) {
        // Big-endian words of the message.
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        // SAFETY (all loads and stores): unaligned 16-byte accesses within `h`, `K` and the
        // 64-byte blocks.
        let (mut abef, mut cdgh) = unsafe {
            let dcba = _mm_shuffle_epi32(_mm_loadu_si128(h.as_ptr().cast()), 0xB1);
            let hgfe = _mm_shuffle_epi32(_mm_loadu_si128(h.as_ptr().add(4).cast()), 0x1B);
            (
                _mm_alignr_epi8(dcba, hgfe, 8),
                _mm_blend_epi16(hgfe, dcba, 0xF0),
            )
        };
        for block in blocks.chunks_exact(64) {
            let (abef_was, cdgh_was) = (abef, cdgh);
            let mut w = [_mm_setzero_si128(); 4];
            for (i, word) in w.iter_mut().enumerate() {
                // SAFETY: see above.
                *word = unsafe {
                    _mm_shuffle_epi8(_mm_loadu_si128(block.as_ptr().add(16 * i).cast()), mask)
                };
            }
            for group in 0..16 {
                if group >= 4 {
                    let next = _mm_sha256msg2_epu32(
                        _mm_add_epi32(
                            _mm_sha256msg1_epu32(w[group % 4], w[(group + 1) % 4]),
                            _mm_alignr_epi8(w[(group + 3) % 4], w[(group + 2) % 4], 4),
                        ),
                        w[(group + 3) % 4],
                    );
                    w[group % 4] = next;
                }
                // SAFETY: see above.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * group).cast()) };
                let msg = _mm_add_epi32(w[group % 4], k);
                cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
                abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(msg, 0x0E));
            }
            abef = _mm_add_epi32(abef, abef_was);
            cdgh = _mm_add_epi32(cdgh, cdgh_was);
        }
        let feba = _mm_shuffle_epi32(abef, 0x1B);
        let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        // SAFETY: see above.
        unsafe {
            _mm_storeu_si128(h.as_mut_ptr().cast(), _mm_blend_epi16(feba, dchg, 0xF0));
            _mm_storeu_si128(h.as_mut_ptr().add(4).cast(), _mm_alignr_epi8(dchg, feba, 8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: Digest256) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn nist_short_and_long_messages() {
        // FIPS 180-2 appendix B and the NIST example values.
        for (input, expected) in [
            (
                &b""[..],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
        ] {
            assert_eq!(hex(sha256(input)), expected, "{input:?}");
            let mut portable = Sha256::portable();
            portable.update(input);
            assert_eq!(hex(portable.finish()), expected, "portable, {input:?}");
        }
        let million_a = vec![b'a'; 1_000_000];
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
        assert_eq!(hex(sha256(&million_a)), expected);
        let mut portable = Sha256::portable();
        portable.update(&million_a);
        assert_eq!(hex(portable.finish()), expected);
    }

    #[test]
    fn native_path_matches_portable_for_every_length_and_split() {
        let data: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let mut portable = Sha256::portable();
            portable.update(&data[..len]);
            let expected = portable.finish();
            assert_eq!(sha256(&data[..len]), expected, "length {len}");
            let split = len / 3;
            let mut parts = Sha256::new();
            parts.update(&data[..split]);
            parts.update(&data[split..len]);
            assert_eq!(parts.finish(), expected, "length {len} split at {split}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Against coreutils' `sha256sum` on random input.
        #[test]
        fn agrees_with_sha256sum(data in proptest::collection::vec(proptest::num::u8::ANY, 0..5000)) {
            use std::io::Write;
            let mut child = std::process::Command::new("sha256sum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("sha256sum (coreutils)");
            child.stdin.take().unwrap().write_all(&data).unwrap();
            let out = child.wait_with_output().unwrap();
            let theirs = String::from_utf8(out.stdout).unwrap();
            proptest::prop_assert_eq!(hex(sha256(&data)), theirs.split_whitespace().next().unwrap());
        }
    }
}
