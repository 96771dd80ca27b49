//! The HTTP side of a web seed: one byte range of one file with `Range`, over a kept-alive
//! connection where the server allows it. Bounded like the tracker client: a response head of
//! at most [`MAX_HEAD`] bytes, a body of exactly the bytes asked for, every read timed out.

use crate::http1::{self, HttpError};
use crate::net::Stream;
use crate::url::{default_port, host_header, split_url};
use std::net::SocketAddr;
use std::time::Duration;

pub const MAX_HEAD: usize = 16 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A server silent this long in the middle of an answer has failed.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_REDIRECTS: usize = 3;
/// From a server that ignores Range, the most bytes read and dropped to reach a range.
pub const MAX_SKIP: u64 = 256 << 20;

/// Why a range could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// Not a URL we can fetch (only `http://` and `https://`): the web seed is not used.
    Unsupported(String),
    /// The file is not there (404, 410): the web seed cannot give its pieces.
    Missing(String),
    /// Anything else: try again later.
    Failed(String),
}

impl std::fmt::Display for RangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeError::Unsupported(m) | RangeError::Missing(m) | RangeError::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

/// What matters of a response head.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub content_length: Option<u64>,
    /// `Content-Range: bytes FIRST-LAST/...`
    pub content_range: Option<(u64, u64)>,
    pub location: Option<String>,
    pub close: bool,
    pub chunked: bool,
}

/// Parses a response head (through its blank line), as [`crate::http1`] reads it.
pub fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
    let limits = http1::Limits {
        line: MAX_HEAD,
        head: MAX_HEAD,
    };
    let r = http1::parse_response(head, limits)?.ok_or(HttpError::CutShort)?;
    Ok(Head {
        status: r.status,
        content_length: r.headers.content_length()?,
        content_range: r
            .headers
            .get_str("content-range")
            .and_then(parse_content_range),
        location: r.headers.get_str("location").map(str::to_string),
        close: !r.keep_alive(),
        chunked: r.headers.chunked(),
    })
}

fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let range = value.strip_prefix("bytes ")?.split('/').next()?;
    let (a, b) = range.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// A kept-alive connection and where it goes.
pub struct Conn {
    addr: SocketAddr,
    https: bool,
    stream: Stream,
    /// A whole file being answered (the server ignored Range): its URL, and the file offset
    /// the stream is at. Later ranges at or past it are read on from there.
    open_body: Option<(String, u64)>,
}

impl Conn {
    async fn discard(&mut self, mut n: u64) -> Result<(), RangeError> {
        let mut chunk = [0u8; 16384];
        while n > 0 {
            let want = n.min(chunk.len() as u64) as usize;
            let got = read_some(&mut self.stream, &mut chunk[..want]).await?;
            n -= got as u64;
        }
        Ok(())
    }

    /// Reads until `body` holds `len` bytes.
    async fn fill(&mut self, body: &mut Vec<u8>, len: u64) -> Result<(), RangeError> {
        let mut chunk = [0u8; 16384];
        while (body.len() as u64) < len {
            let want = (len as usize - body.len()).min(chunk.len());
            let got = read_some(&mut self.stream, &mut chunk[..want]).await?;
            body.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }
}

/// One read within [`READ_TIMEOUT`]; the end of the stream is an error (a body cut short).
async fn read_some(stream: &mut Stream, buf: &mut [u8]) -> Result<usize, RangeError> {
    let n = crate::runtime::timeout("reading the response", READ_TIMEOUT, stream.read(buf))
        .await
        .map_err(|e| RangeError::Failed(e.to_string()))?;
    if n == 0 {
        return Err(RangeError::Failed(
            "the server closed the connection".into(),
        ));
    }
    Ok(n)
}

/// Resolves the host of an `http://` or `https://` URL.
pub async fn address(url: &str) -> Result<SocketAddr, RangeError> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(RangeError::Unsupported(
            "only http:// and https:// web seeds are supported".into(),
        ));
    }
    let failed = RangeError::Failed;
    let (host, port, _) =
        split_url(url, default_port(url)).ok_or_else(|| failed("not a valid URL".into()))?;
    crate::runtime::resolve(&host, port)
        .await
        .map_err(|e| failed(format!("resolving {host}: {e}")))
}

/// `len` bytes of the file at `url` from byte `start`, following a few redirects. `conn` is
/// reused when it goes to the same address, and kept when the server allows.
pub async fn get_range(
    conn: &mut Option<Conn>,
    url: &str,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, RangeError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        match get_once(conn, &url, start, len).await {
            Ok(Answer::Body(b)) => return Ok(b),
            Ok(Answer::Redirect(to)) => {
                *conn = None;
                url = if to.starts_with('/') {
                    let https = url.starts_with("https://");
                    let (host, port, _) = split_url(&url, default_port(&url))
                        .ok_or_else(|| RangeError::Failed("not a valid URL".into()))?;
                    let scheme = if https { "https" } else { "http" };
                    format!("{scheme}://{}{to}", host_header(&host, port, https))
                } else {
                    to
                };
            }
            Err(e) => {
                *conn = None;
                return Err(e);
            }
        }
    }
    Err(RangeError::Failed(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

enum Answer {
    Body(Vec<u8>),
    Redirect(String),
}

async fn get_once(
    conn: &mut Option<Conn>,
    url: &str,
    start: u64,
    len: u64,
) -> Result<Answer, RangeError> {
    let failed = RangeError::Failed;
    // A whole-file answer already streaming past this range's start: read on.
    if let Some(c) = conn.as_mut()
        && let Some((open, at)) = c.open_body.clone()
    {
        if open == url && start >= at && start - at <= MAX_SKIP {
            c.discard(start - at).await?;
            let mut body = Vec::with_capacity(len as usize);
            c.fill(&mut body, len).await?;
            c.open_body = Some((open, start + len));
            return Ok(Answer::Body(body));
        }
        // Behind it, or another file: that answer is of no more use.
        *conn = None;
    }
    let addr = address(url).await?;
    let https = url.starts_with("https://");
    let (host, port, path) =
        split_url(url, default_port(url)).ok_or_else(|| failed("bad URL".into()))?;
    if conn
        .as_ref()
        .is_none_or(|c| c.addr != addr || c.https != https)
    {
        let stream = crate::runtime::timeout(
            "connecting",
            CONNECT_TIMEOUT,
            Stream::open(addr, &host, https),
        )
        .await
        .map_err(|e| failed(format!("connecting to {addr}: {e}")))?;
        *conn = Some(Conn {
            https,
            addr,
            stream,
            open_body: None,
        });
    }
    let c = conn.as_mut().expect("set above");
    let host_header = host_header(&host, port, https);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nRange: bytes={start}-{}\r\nUser-Agent: p2p/{}\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n",
        start + len - 1,
        env!("CARGO_PKG_VERSION")
    );
    c.stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| failed(format!("sending the request: {e}")))?;
    // The head; what follows it in `buf` is the body's start.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = http1::head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(failed(format!("a response head over {MAX_HEAD} bytes")));
        }
        let n = read_some(&mut c.stream, &mut chunk).await?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = parse_head(&buf[..head_end]).map_err(|e| failed(e.to_string()))?;
    let status = head.status;
    match status {
        206 => {
            if head.chunked {
                return Err(failed("a chunked range response".into()));
            }
            if head
                .content_range
                .is_some_and(|(a, b)| a != start || b != start + len - 1)
            {
                return Err(failed(format!(
                    "the server sent another range than bytes {start}-{}",
                    start + len - 1
                )));
            }
            if head.content_length.is_some_and(|l| l != len) {
                return Err(failed("a range response of the wrong length".into()));
            }
        }
        // A server that ignores Range (python3 -m http.server does) sends the whole file: the
        // range is read out of it, skipping at most MAX_SKIP bytes before it, and the stream
        // is kept for the ranges after it.
        200 if !head.chunked
            && start <= MAX_SKIP
            && head.content_length.is_none_or(|l| l >= start + len) => {}
        200 => {
            return Err(failed(format!(
                "the server ignores Range requests, and bytes past {} MiB of a file cannot be \
                 had from it that way",
                MAX_SKIP >> 20
            )));
        }
        301 | 302 | 303 | 307 | 308 => {
            return match head.location {
                Some(to)
                    if to.starts_with("http://")
                        || to.starts_with("https://")
                        || to.starts_with('/') =>
                {
                    Ok(Answer::Redirect(to))
                }
                _ => Err(failed(format!("HTTP {status} to a place we cannot follow"))),
            };
        }
        404 | 410 => return Err(RangeError::Missing(format!("HTTP {status} for {url}"))),
        _ => return Err(failed(format!("HTTP {status} for {url}"))),
    }
    let mut body = buf[head_end..].to_vec();
    if status == 200 {
        // What comes before the range is read and dropped.
        let early = (body.len() as u64).min(start);
        body.drain(..early as usize);
        c.discard(start - early).await?;
    }
    let extra = body.len() as u64 > len;
    let over = if extra {
        body.split_off(len as usize)
    } else {
        Vec::new()
    };
    c.fill(&mut body, len).await?;
    if status == 200 && over.is_empty() {
        c.open_body = Some((url.to_string(), start + len));
    } else if head.close || !over.is_empty() {
        // Unread bytes of this answer, or a server that closes: not reusable.
        *conn = None;
    }
    Ok(Answer::Body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads() {
        let h = parse_head(
            b"HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\nContent-Range: bytes 50-149/1000\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            h,
            Head {
                status: 206,
                content_length: Some(100),
                content_range: Some((50, 149)),
                ..Head::default()
            }
        );
        let h = parse_head(b"HTTP/1.0 302 Found\r\nLocation: http://x/y\r\n\r\n").unwrap();
        assert!(h.close, "HTTP/1.0 closes unless told otherwise");
        assert_eq!(h.location.as_deref(), Some("http://x/y"));
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert!(h.chunked && h.close);
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert_eq!(
            parse_head(b"HTTP/1.1 206 x\r\nContent-Range: bytes */1000\r\n\r\n")
                .unwrap()
                .content_range,
            None
        );
    }

    #[test]
    fn only_http_urls() {
        let address = |url| crate::runtime::block_on(address(url));
        assert!(address("ftp://example.org/x").is_err());
        assert_eq!(
            address("https://127.0.0.1/x").unwrap(),
            "127.0.0.1:443".parse().unwrap()
        );
        assert_eq!(
            address("http://127.0.0.1:8080/a/b").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address("http://[::1]:8080/a").unwrap(),
            "[::1]:8080".parse().unwrap()
        );
    }
}
