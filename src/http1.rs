//! HTTP/1.x as p2p speaks it, sans-IO and bounded, for every side that needs it: the tracker's
//! server and client, the web-seed client, the daemon's RPC. Request and response heads are
//! parsed from a buffer (incomplete is a normal outcome, a head past its limit an error),
//! bodies framed by `Content-Length`, chunked encoding or the end of the connection, and
//! `Connection` decides keep-alive. Header names are matched without regard to case; values
//! are bytes, trimmed.

/// Why a request or response could not be read; [`HttpError::status`] is the answer a server
/// gives to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("a request line over {0} bytes")]
    LineTooLong(usize),
    #[error("a head over {0} bytes")]
    HeadTooLarge(usize),
    #[error("a malformed request line")]
    BadRequestLine,
    #[error("not HTTP/1.0 or HTTP/1.1: `{0}`")]
    Version(String),
    #[error("a response without a status")]
    NoStatus,
    #[error("a header that is not text")]
    NotText,
    #[error("a bad Content-Length")]
    BadLength,
    #[error("a bad chunked body")]
    BadChunk,
    #[error("a body over {0} bytes")]
    BodyTooLarge(usize),
    #[error("the connection closed before the message was whole")]
    CutShort,
}

impl HttpError {
    /// The status a server answers this with (then closes).
    pub fn status(&self) -> u16 {
        match self {
            HttpError::LineTooLong(_) => 414,
            HttpError::HeadTooLarge(_) => 431,
            HttpError::Version(_) => 505,
            HttpError::BodyTooLarge(_) => 413,
            _ => 400,
        }
    }
}

/// How far a head may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The first line (request line or status line).
    pub line: usize,
    /// The whole head, through its blank line.
    pub head: usize,
}

/// A head's fields, as found: the lines between the first line and the blank line, read on
/// demand (no allocation: the tracker parses a request head per announce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers<'a>(&'a [u8]);

impl<'a> Headers<'a> {
    /// Each field as (name, value), both trimmed; lines without a colon are skipped.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.0
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
            })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether `name` lists `token` (`Connection: keep-alive, Upgrade`), without regard to case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// `Content-Length`, if given; a value that is not a number is an error.
    pub fn content_length(&self) -> Result<Option<u64>, HttpError> {
        self.get("content-length")
            .map(|v| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(HttpError::BadLength)
            })
            .transpose()
    }

    pub fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    /// Whether the connection stays open after this message: HTTP/1.1 unless `close`,
    /// HTTP/1.0 only with `keep-alive`.
    pub fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.has_token("connection", "close"),
            Version::Http10 => self.has_token("connection", "keep-alive"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: Version,
    pub headers: Headers<'a>,
    /// Bytes of the head, through its blank line: the body (or the next request) starts here.
    pub head_len: usize,
}

impl Request<'_> {
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub version: Version,
    pub status: u16,
    /// The status line as sent, for messages.
    pub status_line: &'a [u8],
    pub headers: Headers<'a>,
    pub head_len: usize,
}

impl Response<'_> {
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.version)
    }
}

/// Index just past the blank line ending a head (`\r\n\r\n`, or `\n\n` from lax clients).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// A head cut into its first line, its fields, and its length.
type Split<'a> = (&'a [u8], Headers<'a>, usize);

/// The first line and the header lines of a whole head within `limits`; `None` while
/// incomplete.
fn split_head(buf: &[u8], limits: Limits) -> Result<Option<Split<'_>>, HttpError> {
    match buf.iter().position(|&b| b == b'\n') {
        None if buf.len() > limits.line => return Err(HttpError::LineTooLong(limits.line)),
        Some(i) if i > limits.line => return Err(HttpError::LineTooLong(limits.line)),
        _ => {}
    }
    let Some(end) = head_end(buf) else {
        return if buf.len() > limits.head {
            Err(HttpError::HeadTooLarge(limits.head))
        } else {
            Ok(None)
        };
    };
    if end > limits.head {
        return Err(HttpError::HeadTooLarge(limits.head));
    }
    let head = &buf[..end];
    let first_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = &head[..first_end];
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let fields = head.get(first_end + 1..).unwrap_or_default();
    Ok(Some((first, Headers(fields), end)))
}

fn version(text: &[u8]) -> Result<Version, HttpError> {
    match text {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        other => Err(HttpError::Version(crate::escape::untrusted_bytes(
            other, 40,
        ))),
    }
}

/// One whole request head at the start of `buf`; `None` while incomplete.
pub fn parse_request(buf: &[u8], limits: Limits) -> Result<Option<Request<'_>>, HttpError> {
    let Some((line, headers, head_len)) = split_head(buf, limits)? else {
        return Ok(None);
    };
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    Ok(Some(Request {
        method,
        target,
        version: version(v)?,
        headers,
        head_len,
    }))
}

/// One whole response head at the start of `buf`; `None` while incomplete.
pub fn parse_response(buf: &[u8], limits: Limits) -> Result<Option<Response<'_>>, HttpError> {
    let Some((line, headers, head_len)) = split_head(buf, limits)? else {
        return Ok(None);
    };
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let v = version(parts.next().unwrap_or_default())?;
    let status = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or(HttpError::NoStatus)?;
    if headers.iter().any(|(n, v)| {
        std::str::from_utf8(n).is_err() || (!v.is_empty() && std::str::from_utf8(v).is_err())
    }) {
        return Err(HttpError::NotText);
    }
    Ok(Some(Response {
        version: v,
        status,
        status_line: line,
        headers,
        head_len,
    }))
}

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// A response without either: the body runs to the end of the connection.
    UntilClose,
}

pub fn framing(headers: &Headers) -> Result<Framing, HttpError> {
    if headers.chunked() {
        return Ok(Framing::Chunked);
    }
    Ok(match headers.content_length()? {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// A chunked body decoded from the start of `buf`, with the bytes it took (through the last
/// chunk and its trailer); `None` while incomplete. Sizes come off the network: they are
/// compared, never added to, and the decoded body is bounded by `max`.
pub fn dechunk(buf: &[u8], max: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            // A size line is a few hex digits and maybe an extension; past 1 KiB it is garbage.
            return if rest.len() > 1024 {
                Err(HttpError::BadChunk)
            } else {
                Ok(None)
            };
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| HttpError::BadChunk)?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| HttpError::BadChunk)?;
        let data = &rest[line_end + 2..];
        if size == 0 {
            // Trailer fields, if any, end with a blank line.
            return Ok(match data.windows(2).position(|w| w == b"\r\n") {
                Some(0) => Some((out, at + line_end + 4)),
                Some(_) => head_end(data).map(|e| (out, at + line_end + 2 + e)),
                None => None,
            });
        }
        if size > max.saturating_sub(out.len()) {
            return Err(HttpError::BodyTooLarge(max));
        }
        if data.len().saturating_sub(2) < size {
            return Ok(None);
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err(HttpError::BadChunk);
        }
        out.extend_from_slice(&data[..size]);
        at += line_end + 2 + size + 2;
    }
}

/// A whole response read into `buf`: its head and its body (decoded), once all of it is in;
/// `None` while more is to come. `closed`: the connection has ended, which completes a body
/// framed by the end of the connection and cuts any other short (an error).
pub fn whole_response(
    buf: &[u8],
    limits: Limits,
    max_body: usize,
    closed: bool,
) -> Result<Option<(Response<'_>, Vec<u8>)>, HttpError> {
    let Some(head) = parse_response(buf, limits)? else {
        return if closed {
            Err(HttpError::CutShort)
        } else {
            Ok(None)
        };
    };
    let body = &buf[head.head_len..];
    match framing(&head.headers)? {
        Framing::Length(n) if n > max_body as u64 => Err(HttpError::BodyTooLarge(max_body)),
        Framing::Length(n) if (body.len() as u64) < n => {
            if closed {
                Err(HttpError::CutShort)
            } else {
                Ok(None)
            }
        }
        Framing::Length(n) => {
            let body = body[..n as usize].to_vec();
            Ok(Some((head, body)))
        }
        Framing::Chunked => match dechunk(body, max_body)? {
            Some((body, _)) => Ok(Some((head, body))),
            None if closed => Err(HttpError::CutShort),
            None => Ok(None),
        },
        Framing::UntilClose if body.len() > max_body => Err(HttpError::BodyTooLarge(max_body)),
        Framing::UntilClose if closed => {
            let body = body.to_vec();
            Ok(Some((head, body)))
        }
        Framing::UntilClose => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        line: 2048,
        head: 8192,
    };

    #[test]
    fn requests_are_read_whole_with_their_headers_and_keep_alive() {
        let buf =
            b"GET /announce?x HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive, Upgrade\r\n\r\nGET";
        let r = parse_request(buf, LIMITS).unwrap().unwrap();
        assert_eq!((r.method, r.target), (&b"GET"[..], &b"/announce?x"[..]));
        assert_eq!(r.headers.get("HOST"), Some(&b"t"[..]));
        assert!(r.keep_alive() && r.headers.has_token("connection", "upgrade"));
        assert_eq!(&buf[r.head_len..], b"GET");
        let closed = parse_request(b"GET / HTTP/1.0\n\n", LIMITS)
            .unwrap()
            .unwrap();
        assert!(!closed.keep_alive());
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost:", LIMITS), Ok(None));
    }

    #[test]
    fn bad_and_oversized_requests_name_their_status() {
        let status = |buf: &[u8]| parse_request(buf, LIMITS).unwrap_err().status();
        assert_eq!(status(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/2\r\n\r\n"), 505);
        assert_eq!(
            status(format!("GET /{} HTTP/1.1", "a".repeat(3000)).as_bytes()),
            414
        );
        let big = format!("GET / HTTP/1.1\r\n{}", "X: y\r\n".repeat(2000));
        assert_eq!(status(big.as_bytes()), 431);
    }

    #[test]
    fn responses_framed_by_length_chunks_or_close() {
        fn whole(b: &[u8], closed: bool) -> Result<Option<(Response<'_>, Vec<u8>)>, HttpError> {
            whole_response(b, LIMITS, 1 << 20, closed)
        }
        let (h, body) = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ndeXX", false)
            .unwrap()
            .unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"de"[..]));
        assert_eq!(
            whole(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nde", false),
            Ok(None)
        );
        assert!(whole(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nde", true).is_err());
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nd\r\n1;x\r\ne\r\n0\r\n\r\n";
        assert_eq!(whole(chunked, false).unwrap().unwrap().1, b"de");
        assert_eq!(whole(&chunked[..chunked.len() - 2], false), Ok(None));
        let (_, body) = whole(b"HTTP/1.0 200 OK\r\n\r\nde", true).unwrap().unwrap();
        assert_eq!(body, b"de");
        assert_eq!(whole(b"HTTP/1.0 200 OK\r\n\r\nde", false), Ok(None));
        assert_eq!(
            whole(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
                false
            ),
            Err(HttpError::BodyTooLarge(1 << 20))
        );
        assert!(whole(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
        assert!(whole(b"SSH-2.0\r\n\r\n", false).is_err());
    }

    #[test]
    fn chunk_sizes_cannot_wrap_or_run_past_the_bound() {
        assert_eq!(
            dechunk(b"ffffffffffffffff\r\nx\r\n", 1 << 20),
            Err(HttpError::BodyTooLarge(1 << 20))
        );
        assert_eq!(dechunk(b"2\r\nabXY", 100), Err(HttpError::BadChunk));
        assert_eq!(dechunk(b"2\r\nabX", 100), Ok(None));
        assert_eq!(dechunk(b"zz\r\n", 100), Err(HttpError::BadChunk));
        assert_eq!(
            dechunk(b"2\r\nab\r\n0\r\nTrailer: x\r\n\r\nrest", 100),
            Ok(Some((b"ab".to_vec(), 24)))
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)) {
            let _ = parse_request(&bytes, LIMITS);
            let _ = whole_response(&bytes, LIMITS, 1 << 16, true);
            let _ = whole_response(&bytes, LIMITS, 1 << 16, false);
            let _ = dechunk(&bytes, 1 << 16);
        }
    }
}
