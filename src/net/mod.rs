//! Outgoing traffic: where it leaves from ([`source`]: `--listen`'s address, `--interface`),
//! and connections of the HTTP kind, a TCP stream or a TLS session over one for `https://`
//! ([`tls`]), read and written the same way by the tracker client and web seeds.

pub mod source;
pub mod tls;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use std::io;
use std::net::SocketAddr;

/// A connection to an HTTP server, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tls::TlsStream>),
}

impl Stream {
    /// Connects to `addr`; for `https`, makes the TLS handshake with `host` (the URL's host,
    /// which the certificate must name). Not timed: the caller bounds the whole exchange.
    pub async fn open(addr: SocketAddr, host: &str, https: bool) -> io::Result<Stream> {
        let tcp = source::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        if https {
            Ok(Stream::Tls(Box::new(
                tls::TlsStream::connect(tcp, host).await?,
            )))
        } else {
            Ok(Stream::Plain(tcp))
        }
    }

    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(data).await,
            Stream::Tls(s) => s.write_all(data).await,
        }
    }

    /// Sends `request` and reads one whole answer: a head within [`ANSWER_HEAD`], a body of at
    /// most `max_body` bytes, framed by its length or chunks or ended by the server closing.
    /// Not timed: the caller bounds the exchange.
    pub async fn exchange(&mut self, request: &[u8], max_body: usize) -> Result<Answer, String> {
        self.write_all(request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        let mut response = Vec::new();
        let mut chunk = vec![0u8; 16384];
        loop {
            let n = self
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?;
            response.extend_from_slice(&chunk[..n]);
            if response.len() > max_body + ANSWER_HEAD.head {
                return Err(format!("an answer over {max_body} bytes"));
            }
            if let Some((head, body)) =
                crate::http1::whole_response(&response, ANSWER_HEAD, max_body, n == 0)
                    .map_err(|e| e.to_string())?
            {
                return Ok(Answer {
                    status: head.status,
                    location: head.headers.get_str("location").map(str::to_string),
                    body,
                });
            }
        }
    }
}

/// Bounds of the head of an answer [`Stream::exchange`] reads.
pub const ANSWER_HEAD: crate::http1::Limits = crate::http1::Limits {
    line: 8192,
    head: 16384,
};

/// A whole HTTP answer: its status, where it redirects to, its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What a GET came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Body(Vec<u8>),
    /// A redirect to a URL of another kind (indexers answer a .torrent link with a
    /// `magnet:` link this way).
    Elsewhere(String),
}

/// Redirects followed by [`get`].
const MAX_REDIRECTS: usize = 3;

/// The body of a GET of an `http://` or `https://` URL: at most `max` bytes, the whole
/// exchange (redirects included) within `limit`, certificates checked as for trackers.
pub async fn get(url: &str, max: usize, limit: std::time::Duration) -> Result<Got, String> {
    crate::runtime::within(limit, get_following(url, max))
        .await
        .unwrap_or_else(|| Err(format!("{url}: no answer within {}s", limit.as_secs())))
}

async fn get_following(url: &str, max: usize) -> Result<Got, String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Ok(Got::Elsewhere(url));
        }
        let (host, port, path) = crate::url::split_url(&url, crate::url::default_port(&url))
            .ok_or_else(|| format!("`{url}` is not a valid URL"))?;
        let addr = crate::runtime::resolve(&host, port)
            .await
            .map_err(|e| format!("{url}: resolving {host}: {e}"))?;
        let mut stream = Stream::open(addr, &host, https)
            .await
            .map_err(|e| format!("{url}: connecting: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: p2p/{}\r\nAccept-Encoding: identity\r\n\
             Connection: close\r\n\r\n",
            crate::url::host_header(&host, port, https),
            env!("CARGO_PKG_VERSION")
        );
        let answer = stream
            .exchange(request.as_bytes(), max)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        match (answer.status, answer.location) {
            (200, _) => return Ok(Got::Body(answer.body)),
            (301 | 302 | 303 | 307 | 308, Some(to)) => {
                url = if to.starts_with('/') {
                    let scheme = if https { "https" } else { "http" };
                    format!(
                        "{scheme}://{}{to}",
                        crate::url::host_header(&host, port, https)
                    )
                } else {
                    to
                };
            }
            (status, _) => return Err(format!("{url}: HTTP {status}")),
        }
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}
