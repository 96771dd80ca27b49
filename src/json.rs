//! Just enough JSON: for `--json` output and the daemon's RPC answers, values built in code,
//! written on one line with strings escaped as RFC 8259 says (field names are documented in
//! the man page and kept stable); for RPC requests, [`parse`], bounded.

mod parse;

pub use parse::{MAX_DEPTH, ParseError, Value, parse};

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    List(Vec<Json>),
    /// Fields in the order given.
    Obj(Vec<(&'static str, Json)>),
    /// JSON text already written (by [`Json::write_to`] and [`write_key`]), put in as it is: a
    /// list of thousands of objects written straight into one string, not built as values first.
    Raw(String),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn uint(n: impl TryInto<i64>) -> Json {
        n.try_into().map(Json::Int).unwrap_or(Json::Null)
    }

    pub fn to_line(&self) -> String {
        // Sized at once: a list of thousands of objects (a daemon's `torrent-get`) would
        // otherwise be copied a dozen times as it grows.
        let mut out = String::with_capacity(self.size_hint());
        self.write_to(&mut out);
        out
    }

    /// About how long the written value is (escapes aside).
    fn size_hint(&self) -> usize {
        match self {
            Json::Null | Json::Bool(_) => 5,
            Json::Int(_) | Json::Num(_) => 20,
            Json::Str(s) => s.len() + 2,
            Json::Raw(text) => text.len(),
            Json::List(items) => 2 + items.iter().map(|i| i.size_hint() + 1).sum::<usize>(),
            Json::Obj(fields) => {
                2 + fields
                    .iter()
                    .map(|(k, v)| k.len() + 4 + v.size_hint())
                    .sum::<usize>()
            }
        }
    }

    /// Appends the value to `out`, on one line.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => write_int(out, *i),
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{x:.3}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => write_str(out, s),
            Json::Raw(text) => out.push_str(text),
            Json::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_to(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_key(out, k);
                    v.write_to(out);
                }
                out.push('}');
            }
        }
    }
}

/// A field's name and its colon.
pub fn write_key(out: &mut String, key: &str) {
    write_str(out, key);
    out.push(':');
}

/// `s` as a JSON string: runs that need no escape are copied whole (a daemon writes
/// thousands of names and paths an answer).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    while let Some(at) = rest
        .bytes()
        .position(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f)
    {
        out.push_str(&rest[..at]);
        match rest.as_bytes()[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        // The byte is ASCII: the next one starts a character.
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// `i` in decimal (see [`crate::bencode::encode::decimal`]).
fn write_int(out: &mut String, i: i64) {
    if i < 0 {
        out.push('-');
    }
    let mut buffer = [0; 20];
    let digits = crate::bencode::encode::decimal(i.unsigned_abs(), &mut buffer);
    // Only ASCII digits.
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_line_with_escapes() {
        let v = Json::Obj(vec![
            ("name", Json::str("a \"b\"\n\u{1b}[1m")),
            ("n", Json::Int(-3)),
            ("rate", Json::Num(1.5)),
            ("ok", Json::Bool(true)),
            ("none", Json::Null),
            ("list", Json::List(vec![Json::Int(1), Json::str("x")])),
        ]);
        assert_eq!(
            v.to_line(),
            r#"{"name":"a \"b\"\n\u001b[1m","n":-3,"rate":1.500,"ok":true,"none":null,"list":[1,"x"]}"#
        );
    }

    #[test]
    fn writes_numbers_and_strings_as_the_formatter_would() {
        for i in [0, 7, -1, 10, 1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(Json::Int(i).to_line(), i.to_string());
        }
        let v = Json::Obj(vec![
            ("k\t", Json::str("é\\x\u{7f}\u{0}ü\r")),
            ("plain", Json::str("no escapes at all")),
        ]);
        assert_eq!(
            v.to_line(),
            r#"{"k\t":"é\\x\u007f\u0000ü\r","plain":"no escapes at all"}"#
        );
    }
}
