//! The encoder: an owned value whose dictionaries are `BTreeMap`s, so keys come out in byte
//! order, the canonical form BEP 3 asks for.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(i) => {
                out.push(b'i');
                if *i < 0 {
                    out.push(b'-');
                }
                put_decimal(out, i.unsigned_abs());
                out.push(b'e');
            }
            Bencode::Bytes(b) => put_bytes(out, b),
            Bencode::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Bencode::Dict(entries) => {
                out.push(b'd');
                for (key, value) in entries {
                    put_bytes(out, key);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    pub fn str(s: &str) -> Bencode {
        Bencode::Bytes(s.as_bytes().to_vec())
    }
}

/// A byte string, `<len>:<bytes>`.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_decimal(out, bytes.len() as u64);
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// The decimal digits of `n`, without the allocation of `to_string` (a tracker's reply is
/// mostly these); every integer and length the encoder writes goes through here.
pub fn put_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `digits` without the formatting machinery (the
/// bencoder's and the JSON writer's thousands of numbers).
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Builds a dictionary from `(key, value)` pairs.
impl<K: Into<Vec<u8>>> FromIterator<(K, Bencode)> for Bencode {
    fn from_iter<I: IntoIterator<Item = (K, Bencode)>>(iter: I) -> Self {
        Bencode::Dict(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_keys_come_out_sorted() {
        let d: Bencode = [("zeta", Bencode::Int(1)), ("alpha", Bencode::str("x"))]
            .into_iter()
            .collect();
        assert_eq!(d.encode(), b"d5:alpha1:x4:zetai1ee");
        assert_eq!(Bencode::Int(-3).encode(), b"i-3e");
        assert_eq!(Bencode::List(vec![]).encode(), b"le");
    }

    #[test]
    fn decimals_are_written_as_to_string_writes_them() {
        for n in [0, 7, 10, 99, 100, 65535, 1 << 40, u64::MAX] {
            let mut out = b"x".to_vec();
            put_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").as_bytes());
        }
        let mut out = Vec::new();
        put_bytes(&mut out, &[b'a'; 12]);
        assert_eq!(out, b"12:aaaaaaaaaaaa");
    }
}
