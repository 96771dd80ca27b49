//! Reading JSON (RFC 8259) from an untrusted peer, the daemon's RPC clients: the input is
//! bounded by the caller, nesting by [`MAX_DEPTH`], and any malformed byte is an error saying
//! where, never a panic. Numbers are read as `f64` (integers up to 2^53 exactly, as in
//! JavaScript, which is what the front-ends send).

/// Arrays and objects nested deeper than this are refused (the recursion is bounded).
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Value>),
    /// Members in the order given; a repeated name keeps both, [`Value::get`] finds the first.
    Obj(Vec<(String, Value)>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed JSON at byte {at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: &'static str,
}

impl Value {
    /// The member `name` of an object (`None` for other values).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Obj(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            // Old clients send 0 and 1 for booleans.
            Value::Num(n) if *n == 0.0 || *n == 1.0 => Some(*n == 1.0),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// A whole number from 0 to 2^53.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Num(n) if *n >= 0.0 && *n <= 9_007_199_254_740_992.0 && n.fract() == 0.0 => {
                Some(*n as u64)
            }
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// One JSON value, with nothing but whitespace after it.
pub fn parse(text: &[u8]) -> Result<Value, ParseError> {
    let mut p = Parser { text, at: 0 };
    let value = p.value(0)?;
    p.space();
    if p.at != text.len() {
        return Err(p.error("text after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> ParseError {
        ParseError { at: self.at, what }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, word: &[u8], value: Value) -> Result<Value, ParseError> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("an unknown word"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.space();
        match self.peek() {
            None => Err(self.error("the text ends where a value should be")),
            Some(b'n') => self.expect(b"null", Value::Null),
            Some(b't') => self.expect(b"true", Value::Bool(true)),
            Some(b'f') => self.expect(b"false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') | Some(b'{') if depth >= MAX_DEPTH => Err(self.error("nested too deep")),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Value::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::List(items));
                        }
                        _ => return Err(self.error("expected `,` or `]`")),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.space();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Value::Obj(members));
                }
                loop {
                    self.space();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a member name"));
                    }
                    let name = self.string()?;
                    self.space();
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected `:`"));
                    }
                    self.at += 1;
                    members.push((name, self.value(depth + 1)?));
                    self.space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Obj(members));
                        }
                        _ => return Err(self.error("expected `,` or `}`")),
                    }
                }
            }
            Some(_) => Err(self.error("not a value")),
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at - from
        };
        let int_start = self.at;
        let n = digits(self);
        if n == 0 || (n > 1 && self.text[int_start] == b'0') {
            return Err(self.error("a malformed number"));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("a malformed number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("a malformed number"));
            }
        }
        // Only ASCII digits and signs were taken: the slice is UTF-8.
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::Num)
            .ok_or(ParseError {
                at: start,
                what: "a number out of range",
            })
    }

    /// A string, from its opening quote.
    fn string(&mut self) -> Result<String, ParseError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("an unterminated string"));
            };
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            let c = self.unicode_escape()?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("a bad escape")),
                    };
                    self.at += 1;
                    out.push(c as u8);
                }
                0..0x20 => return Err(self.error("a control character in a string")),
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("a string that is not UTF-8"))
    }

    /// After `\u`: four hex digits, and the low half of a surrogate pair when they are a high.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if !self.text[self.at..].starts_with(b"\\u") {
                return Err(self.error("a lone surrogate"));
            }
            self.at += 2;
            let low = self.hex4()?;
            if !(0xdc00..0xe000).contains(&low) {
                return Err(self.error("a lone surrogate"));
            }
            0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or(self.error("a lone surrogate"))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or(self.error("a bad \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_transmission_remote_sends() {
        let v = parse(
            br#"{"arguments":{"fields":["id","name"],"ids":[1,"ab"],"delete-local-data":true},
                "method":"torrent-get","tag":4}"#,
        )
        .unwrap();
        assert_eq!(v.get("method").and_then(Value::as_str), Some("torrent-get"));
        assert_eq!(v.get("tag").and_then(Value::as_u64), Some(4));
        let args = v.get("arguments").unwrap();
        assert_eq!(
            args.get("fields").and_then(Value::as_list).unwrap().len(),
            2
        );
        assert_eq!(
            args.get("delete-local-data").and_then(Value::as_bool),
            Some(true)
        );
    }

    #[test]
    fn strings_numbers_and_escapes() {
        assert_eq!(
            parse(br#""a\"\\\/\n\u00e9\ud83d\ude00""#).unwrap(),
            Value::Str("a\"\\/\né😀".into())
        );
        assert_eq!(parse(b" -1.5e2 ").unwrap(), Value::Num(-150.0));
        assert_eq!(parse(b"0").unwrap().as_u64(), Some(0));
        assert_eq!(parse(b"1.5").unwrap().as_u64(), None);
        assert_eq!(parse(b"-1").unwrap().as_u64(), None);
        assert_eq!(parse(b"[]").unwrap(), Value::List(vec![]));
        assert_eq!(parse(b"{}").unwrap(), Value::Obj(vec![]));
        assert_eq!(parse("\"é\"".as_bytes()).unwrap(), Value::Str("é".into()));
    }

    #[test]
    fn refuses_malformed_input_saying_where() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\" 1}",
            b"01",
            b"1.",
            b"-",
            b"1e999",
            b"\"abc",
            b"\"\\x\"",
            b"\"\\ud800\"",
            b"\"\x01\"",
            b"\"\xff\"",
            b"nul",
            b"true false",
            b"{1:2}",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"[1,x]").unwrap_err().at, 3);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse(deep(MAX_DEPTH + 1).as_bytes()).unwrap_err().what,
            "nested too deep"
        );
        // Far deeper than any stack would take, refused without recursing that far.
        assert!(parse(deep(1_000_000).as_bytes()).is_err());
    }

    #[test]
    fn round_trips_what_json_writes() {
        use crate::json::Json;
        let written = Json::Obj(vec![
            ("s", Json::str("a\u{1}\"\n")),
            (
                "l",
                Json::List(vec![Json::Int(-7), Json::Bool(false), Json::Null]),
            ),
        ])
        .to_line();
        let v = parse(written.as_bytes()).unwrap();
        assert_eq!(v.get("s").and_then(Value::as_str), Some("a\u{1}\"\n"));
        assert_eq!(
            v.get("l"),
            Some(&Value::List(vec![
                Value::Num(-7.0),
                Value::Bool(false),
                Value::Null
            ]))
        );
    }
}
