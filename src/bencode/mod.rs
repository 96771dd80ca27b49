//! Bencode, BitTorrent's serialisation: a zero-copy decoder that keeps the raw bytes of every
//! value (the info-hash is the SHA-1 of the `info` dictionary exactly as found), and an encoder
//! that writes canonical output (dictionary keys in byte order).

mod decode;
pub mod encode;

pub use decode::{DecodeError, decode, decode_prefix, decode_unbuilt, dict_entries, list_items};
pub use encode::Bencode;

/// A decoded value borrowing from the input. `raw` is the exact input span the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    pub raw: &'a [u8],
    pub kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    /// Entries in input order; keys are unique.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_dict(&self) -> bool {
        matches!(self.kind, Kind::Dict(_))
    }

    /// The value under `key` when this is a dictionary holding it.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.get_bytes_key(key.as_bytes())
    }

    /// [`Value::get`] for a key that is not text (a v2 `piece layers` root).
    pub fn get_bytes_key(&self, key: &[u8]) -> Option<&Value<'a>> {
        match &self.kind {
            Kind::Dict(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// An owned copy, for re-encoding.
    pub fn to_owned(&self) -> Bencode {
        match &self.kind {
            Kind::Int(i) => Bencode::Int(*i),
            Kind::Bytes(b) => Bencode::Bytes(b.to_vec()),
            Kind::List(l) => Bencode::List(l.iter().map(Value::to_owned).collect()),
            Kind::Dict(d) => {
                Bencode::Dict(d.iter().map(|(k, v)| (k.to_vec(), v.to_owned())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_bencode() -> impl Strategy<Value = Bencode> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Bencode::Int),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bencode::Bytes),
        ];
        leaf.prop_recursive(6, 128, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Bencode::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..12),
                    inner,
                    0..8
                )
                .prop_map(Bencode::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(value in arb_bencode()) {
            let bytes = value.encode();
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(decoded.raw, &bytes[..]);
            prop_assert_eq!(decoded.to_owned(), value);
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn mutated_valid_input_never_panics(value in arb_bencode(), at in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = value.encode();
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            let _ = decode(&bytes);
        }
    }
}
