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
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn uint(n: impl TryInto<i64>) -> Json {
        n.try_into().map(Json::Int).unwrap_or(Json::Null)
    }

    pub fn to_line(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Num(x) if x.is_finite() => {
                let _ = write!(out, "{x:.3}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 || c == '\u{7f}' => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Json::str(*k).write(out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
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
}
