//! The decoder. Strict where strictness protects us (integers, lengths, nesting, trailing bytes),
//! lenient where real torrents differ (dictionary keys out of order are accepted: the raw bytes
//! are what gets hashed, so nothing is lost).

use super::{Kind, Value};

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bencode: unexpected end of input at byte {0}")]
    UnexpectedEnd(usize),
    #[error("bencode: unexpected byte {byte:#04x} at byte {at}")]
    UnexpectedByte { byte: u8, at: usize },
    #[error("bencode: invalid integer at byte {0} (empty, leading zero, -0, or out of range)")]
    BadInteger(usize),
    #[error("bencode: string length at byte {at} is {len}, past the end of the input")]
    LengthPastEnd { at: usize, len: u64 },
    #[error("bencode: dictionary key at byte {0} is not a byte string")]
    KeyNotString(usize),
    #[error("bencode: duplicate dictionary key at byte {0}")]
    DuplicateKey(usize),
    #[error("bencode: nesting deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    #[error("bencode: trailing bytes after the value at byte {0}")]
    Trailing(usize),
}

/// Decode exactly one value that spans the whole input.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    let (value, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(DecodeError::Trailing(used));
    }
    Ok(value)
}

/// Decode one value from the start of the input; returns it and the number of bytes it used.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), DecodeError> {
    let mut decoder = Decoder {
        input,
        pos: 0,
        unbuilt: &[],
    };
    let value = decoder.value(0)?;
    Ok((value, decoder.pos))
}

/// [`decode`], except that a list or dictionary under one of the dictionary keys `unbuilt` (a
/// torrent's `files` or v2 `file tree`, millions of entries in a hostile one) is checked
/// without being kept: it comes back empty, its `raw` the whole value, for [`list_items`] or
/// [`dict_entries`] to walk. Memory stays proportional to one item, not to the whole.
pub fn decode_unbuilt<'a>(input: &'a [u8], unbuilt: &[&[u8]]) -> Result<Value<'a>, DecodeError> {
    let mut decoder = Decoder {
        input,
        pos: 0,
        unbuilt,
    };
    let value = decoder.value(0)?;
    if decoder.pos != input.len() {
        return Err(DecodeError::Trailing(decoder.pos));
    }
    Ok(value)
}

/// The items of the list `raw` (one whole, well-formed list, as [`decode_unbuilt`] leaves
/// one), decoded one at a time.
pub fn list_items(raw: &[u8]) -> impl Iterator<Item = Result<Value<'_>, DecodeError>> {
    let mut decoder = Decoder {
        input: raw,
        pos: 1,
        unbuilt: &[],
    };
    let is_list = raw.first() == Some(&b'l');
    std::iter::from_fn(move || {
        if !is_list || decoder.peek().ok()? == b'e' {
            return None;
        }
        Some(decoder.value(1))
    })
}

/// The entries of the dictionary `raw` (one whole, well-formed dictionary, as
/// [`decode_unbuilt`] leaves one) in input order, each value as its raw bytes: nothing below
/// is built, so a walk of nested dictionaries holds one path's worth at a time.
pub fn dict_entries(raw: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), DecodeError>> {
    let mut decoder = Decoder {
        input: raw,
        pos: 1,
        unbuilt: &[],
    };
    let is_dict = raw.first() == Some(&b'd');
    std::iter::from_fn(move || {
        if !is_dict || decoder.peek().ok()? == b'e' {
            return None;
        }
        Some((|| {
            let key = decoder.bytes()?;
            let start = decoder.pos;
            decoder.skip(1)?;
            Ok((key, &decoder.input[start..decoder.pos]))
        })())
    })
}

struct Decoder<'a, 'k> {
    input: &'a [u8],
    pos: usize,
    unbuilt: &'k [&'k [u8]],
}

impl<'a> Decoder<'a, '_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::UnexpectedEnd(self.pos))
    }

    /// A list or dictionary checked whole and not kept (see [`decode_unbuilt`]).
    fn unbuilt(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'l' => Kind::List(Vec::new()),
            _ => Kind::Dict(Vec::new()),
        };
        self.skip(depth)?;
        Ok(Value {
            raw: &self.input[start..self.pos],
            kind,
        })
    }

    /// Checks one value as [`Decoder::value`] does without building it: lists item by item,
    /// dictionaries keeping only their keys (to refuse duplicates).
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        let start = self.pos;
        match self.peek()? {
            b'l' | b'd' if depth >= MAX_DEPTH => return Err(DecodeError::TooDeep(start)),
            b'l' => {
                self.pos += 1;
                while self.peek()? != b'e' {
                    self.skip(depth + 1)?;
                }
                self.pos += 1;
            }
            b'd' => {
                self.pos += 1;
                let mut keys = std::collections::BTreeSet::new();
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(DecodeError::KeyNotString(key_at));
                    }
                    let key = self.bytes()?;
                    if !keys.insert(key) {
                        return Err(DecodeError::DuplicateKey(key_at));
                    }
                    self.skip(depth + 1)?;
                }
                self.pos += 1;
            }
            _ => {
                self.value(depth)?;
            }
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'i' => {
                self.pos += 1;
                Kind::Int(self.integer(b'e')?)
            }
            b'0'..=b'9' => Kind::Bytes(self.bytes()?),
            b'l' => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(start));
                }
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                // Exact sizes: a torrent of millions of small lists would otherwise carry
                // twice the memory it needs in growth slack.
                items.shrink_to_fit();
                Kind::List(items)
            }
            b'd' => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(start));
                }
                self.pos += 1;
                let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
                let mut sorted = true;
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(DecodeError::KeyNotString(key_at));
                    }
                    let key = self.bytes()?;
                    if let Some((last, _)) = entries.last() {
                        if key == *last {
                            return Err(DecodeError::DuplicateKey(key_at));
                        }
                        if key < *last {
                            sorted = false;
                            if entries.iter().any(|(k, _)| *k == key) {
                                return Err(DecodeError::DuplicateKey(key_at));
                            }
                        } else if !sorted && entries.iter().any(|(k, _)| *k == key) {
                            return Err(DecodeError::DuplicateKey(key_at));
                        }
                    }
                    let value =
                        if self.unbuilt.contains(&key) && matches!(self.peek()?, b'l' | b'd') {
                            self.unbuilt(depth + 1)?
                        } else {
                            self.value(depth + 1)?
                        };
                    entries.push((key, value));
                }
                self.pos += 1;
                entries.shrink_to_fit();
                Kind::Dict(entries)
            }
            byte => return Err(DecodeError::UnexpectedByte { byte, at: start }),
        };
        Ok(Value {
            raw: &self.input[start..self.pos],
            kind,
        })
    }

    /// Digits up to `end`, as a canonical signed integer; consumes `end`.
    fn integer(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let stop = self.input[start..]
            .iter()
            .position(|&b| b == end)
            .map(|i| start + i)
            .ok_or(DecodeError::UnexpectedEnd(self.input.len()))?;
        let text = &self.input[start..stop];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let negative = digits.len() != text.len();
        let malformed = digits.is_empty()
            || !digits.iter().all(u8::is_ascii_digit)
            || (digits.len() > 1 && digits[0] == b'0')
            || (negative && digits == b"0");
        if malformed {
            return Err(DecodeError::BadInteger(start));
        }
        // Only ASCII digits and an optional sign remain, so the text is valid UTF-8.
        let parsed = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(DecodeError::BadInteger(start))?;
        self.pos = stop + 1;
        Ok(parsed)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let len = self.integer(b':')?;
        if len < 0 {
            return Err(DecodeError::BadInteger(at));
        }
        let len = len as u64;
        let remaining = (self.input.len() - self.pos) as u64;
        if len > remaining {
            return Err(DecodeError::LengthPastEnd { at, len });
        }
        let bytes = &self.input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_kind_and_keeps_raw_spans() {
        let input = b"d3:bar4:spam3:fooi42e4:listli-7e0:ee";
        let v = decode(input).unwrap();
        assert_eq!(v.get("bar").unwrap().as_bytes(), Some(&b"spam"[..]));
        assert_eq!(v.get("foo").unwrap().as_int(), Some(42));
        assert_eq!(v.get("foo").unwrap().raw, b"i42e");
        let list = v.get("list").unwrap();
        assert_eq!(list.raw, b"li-7e0:e");
        assert_eq!(list.as_list().unwrap().len(), 2);
        assert_eq!(v.raw, &input[..]);
    }

    #[test]
    fn unsorted_keys_are_accepted_and_raw_is_untouched() {
        let input = b"d1:bi1e1:ai2ee";
        let v = decode(input).unwrap();
        assert_eq!(v.get("a").unwrap().as_int(), Some(2));
        assert_eq!(v.raw, &input[..]);
    }

    #[test]
    fn rejects_with_precise_errors() {
        use DecodeError::*;
        let cases: &[(&[u8], DecodeError)] = &[
            (b"i03e", BadInteger(1)),
            (b"i-0e", BadInteger(1)),
            (b"ie", BadInteger(1)),
            (b"i-e", BadInteger(1)),
            (b"i1x2e", BadInteger(1)),
            (b"i99999999999999999999e", BadInteger(1)),
            (b"i12", UnexpectedEnd(3)),
            (b"l", UnexpectedEnd(1)),
            (b"li1e", UnexpectedEnd(4)),
            (b"d3:foo", UnexpectedEnd(6)),
            (b"5:abc", LengthPastEnd { at: 0, len: 5 }),
            (b"05:abcde", BadInteger(0)),
            (
                b"99999999999:x",
                LengthPastEnd {
                    at: 0,
                    len: 99_999_999_999,
                },
            ),
            (b"i1ei2e", Trailing(3)),
            (b"di1ei2ee", KeyNotString(1)),
            (b"d1:ai1e1:ai2ee", DuplicateKey(7)),
            (b"d1:bi1e1:ai1e1:bi2ee", DuplicateKey(13)),
            (b"x", UnexpectedByte { byte: b'x', at: 0 }),
            (b"", UnexpectedEnd(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                decode(input).unwrap_err(),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = vec![b'l'; 100_000];
        assert_eq!(decode(&deep).unwrap_err(), DecodeError::TooDeep(MAX_DEPTH));
        let mut ok = vec![b'l'; MAX_DEPTH];
        ok.extend(vec![b'e'; MAX_DEPTH]);
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn extreme_integers() {
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap().as_int(),
            Some(i64::MIN)
        );
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap().as_int(),
            Some(i64::MAX)
        );
        assert!(decode(b"i9223372036854775808e").is_err());
    }

    #[test]
    fn an_unbuilt_list_is_checked_whole_and_walked_item_by_item() {
        let input = b"d5:filesld1:ai1eed1:ai2eee4:name1:xe";
        let full = decode(input).unwrap();
        let lazy = decode_unbuilt(input, &[b"files"]).unwrap();
        let files = lazy.get("files").unwrap();
        assert_eq!(files.as_list().map(|l| l.len()), Some(0), "not built");
        assert_eq!(files.raw, full.get("files").unwrap().raw);
        let walked: Vec<_> = list_items(files.raw).map(|v| v.unwrap().raw).collect();
        let built: Vec<_> = full
            .get("files")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(|v| v.raw)
            .collect();
        assert_eq!(walked, built);
        assert_eq!(lazy.get("name").unwrap().as_bytes(), Some(&b"x"[..]));
        // Errors inside it are found all the same, and so are trailing bytes.
        assert!(matches!(
            decode_unbuilt(b"d5:filesld1:ai1e1:ai2eeee", &[b"files"]),
            Err(DecodeError::DuplicateKey(_))
        ));
        assert!(matches!(
            decode_unbuilt(b"d5:filesli01eee", &[b"files"]),
            Err(DecodeError::BadInteger(_))
        ));
        assert!(matches!(
            decode_unbuilt(b"d5:fileslee!", &[b"files"]),
            Err(DecodeError::Trailing(11))
        ));
        // Not a list under that key: decoded as usual.
        assert_eq!(
            decode_unbuilt(b"d5:filesi3ee", &[b"files"])
                .unwrap()
                .get("files")
                .unwrap()
                .as_int(),
            Some(3)
        );
        assert_eq!(list_items(b"i1e").count(), 0, "not a list: no items");
    }

    #[test]
    fn an_unbuilt_dictionary_is_checked_whole_and_walked_entry_by_entry() {
        let input = b"d9:file treed1:ad0:d6:lengthi1eee1:bd1:cd0:d6:lengthi2eeeee1:xi1ee";
        let lazy = decode_unbuilt(input, &[b"file tree"]).unwrap();
        let tree = lazy.get("file tree").unwrap();
        assert!(tree.is_dict());
        assert_eq!(tree.get("a"), None, "not built");
        let entries: Vec<_> = dict_entries(tree.raw).map(Result::unwrap).collect();
        assert_eq!(
            entries,
            vec![
                (&b"a"[..], &b"d0:d6:lengthi1eee"[..]),
                (&b"b"[..], &b"d1:cd0:d6:lengthi2eeee"[..])
            ]
        );
        let inner: Vec<_> = dict_entries(entries[1].1).map(Result::unwrap).collect();
        assert_eq!(inner, vec![(&b"c"[..], &b"d0:d6:lengthi2eee"[..])]);
        assert_eq!(lazy.get("x").unwrap().as_int(), Some(1));
        // Errors deep inside are found at decode time.
        for bad in [
            &b"d9:file treed1:ad0:d6:lengthi01eeeee"[..],
            b"d9:file treed1:ai1e1:ai2eee",
            b"d9:file treed1:bi1e1:ai2e1:bi3eee",
            b"d9:file treedi1ei2eee",
        ] {
            assert!(decode_unbuilt(bad, &[b"file tree"]).is_err(), "{bad:?}");
        }
        let deep = format!("d9:file tree{}{}e", "d1:a".repeat(70), "e".repeat(70));
        assert!(matches!(
            decode_unbuilt(deep.as_bytes(), &[b"file tree"]),
            Err(DecodeError::TooDeep(_))
        ));
        assert_eq!(
            dict_entries(b"li1ee").count(),
            0,
            "not a dictionary: no entries"
        );
    }
}
