//! The daemon's HTTP side: `POST /transmission/rpc` (Transmission's session-id handshake,
//! basic auth, a Host check against DNS rebinding) and the web page at `/` (or another web
//! client's files, `--web-home`, under `/transmission/web/`). Bounded like the tracker's
//! server: a head over 16 KiB, a body over [`MAX_BODY`] or a request slower than
//! [`REQUEST_TIMEOUT`] ends the connection, after an answer saying why when there is one.

use super::{Node, rpc};
use crate::http1::{self, HttpError};
use crate::json::Json;
use crate::{Error, Result, runtime};
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A request body: a `torrent-add` carries a .torrent in base64 (4/3 of its size).
pub const MAX_BODY: usize = 16 << 20;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: usize = 256;
/// How long a wrong password waits for its 401 (guessing is slow).
const WRONG_PASSWORD_DELAY: Duration = Duration::from_secs(1);
const LIMITS: http1::Limits = http1::Limits {
    line: 8192,
    head: 16384,
};

/// The web page, embedded: no file to install, no network to fetch it from.
const PAGE: &str = include_str!("web.html");

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// `user:password` for basic auth; `None` when none is asked.
    pub auth: Option<String>,
    /// Serve this directory (another web client) under `/transmission/web/`.
    pub web_home: Option<PathBuf>,
    /// Host names accepted besides IP addresses and `localhost`.
    pub hosts: Vec<String>,
}

struct Server {
    node: Arc<Node>,
    config: Config,
    session_id: String,
    open: AtomicUsize,
}

/// Binds the RPC address and serves it on a task of its own; returns the address bound.
pub async fn bind(config: Config, node: Arc<Node>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Listen {
        addr: config.listen,
        source,
    })?;
    let id: [u8; 24] = crate::random::secure_bytes();
    let server = Arc::new(Server {
        node,
        config,
        session_id: id.iter().map(|b| format!("{b:02x}")).collect(),
        open: AtomicUsize::new(0),
    });
    runtime::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                runtime::sleep(Duration::from_millis(100)).await;
                continue;
            };
            if server.open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                continue;
            }
            server.open.fetch_add(1, Ordering::Relaxed);
            let server = server.clone();
            runtime::spawn(async move {
                let _ = server.connection(stream).await;
                server.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(local)
}

/// An answer: status, extra header lines, content type and body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    kind: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Json) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            kind: "application/json; charset=UTF-8",
            body: body.to_line().into_bytes(),
        }
    }

    fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            kind: "text/plain; charset=UTF-8",
            body: format!("{text}\n").into_bytes(),
        }
    }

    /// The status line and headers, up to the blank line.
    fn head(&self, keep_alive: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: p2p\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.kind,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Sends the reply: a small one in one write, a large one (a `torrent-get` of thousands of
    /// torrents) as its head and then its body, not copied behind the head first.
    async fn send(&self, stream: &mut TcpStream, keep_alive: bool) -> std::io::Result<()> {
        let mut head = self.head(keep_alive);
        if self.body.len() <= SMALL_BODY {
            head.extend_from_slice(&self.body);
            return stream.write_all(&head).await;
        }
        // The head goes out now, not after the body's first segment is acknowledged.
        stream.set_nodelay(true)?;
        stream.write_all(&head).await?;
        stream.write_all(&self.body).await
    }
}

/// A body up to this size is copied behind its head and sent in one write.
const SMALL_BODY: usize = 16 << 10;

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

impl Server {
    async fn connection(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        loop {
            let read = runtime::within(REQUEST_TIMEOUT, self.request(&mut stream, &mut buf)).await;
            let (reply, keep_alive) = match read {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(Err(bad))) => {
                    let status = bad.status();
                    let answer = Json::Obj(vec![
                        ("result", Json::str(format!("bad request: {bad}"))),
                        ("arguments", Json::Obj(Vec::new())),
                    ]);
                    (Reply::json(status, &answer), false)
                }
                Some(Ok(Ok(Some((reply, keep_alive))))) => (reply, keep_alive),
                Some(Ok(Ok(None))) => return Ok(()),
            };
            reply.send(&mut stream, keep_alive).await?;
            if !keep_alive {
                return Ok(());
            }
        }
    }

    /// Reads one request and answers it; `Ok(None)` when the client closed between requests.
    async fn request(
        &self,
        stream: &mut TcpStream,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<Result<Option<(Reply, bool)>, HttpError>> {
        let mut chunk = [0u8; 16384];
        // The head read whole: where it ends and how its body is framed.
        let (head_len, length, chunked) = loop {
            match http1::parse_request(buf, LIMITS) {
                Ok(Some(r)) => match r.headers.content_length() {
                    Ok(l) => break (r.head_len, l.unwrap_or(0), r.headers.chunked()),
                    Err(e) => return Ok(Err(e)),
                },
                Ok(None) => {}
                Err(e) => return Ok(Err(e)),
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return if buf.is_empty() {
                    Ok(Ok(None))
                } else {
                    Ok(Err(HttpError::CutShort))
                };
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if chunked {
            return Ok(Ok(Some((
                Reply::text(411, "send the body with a Content-Length"),
                false,
            ))));
        }
        if length > MAX_BODY as u64 {
            return Ok(Err(HttpError::BodyTooLarge(MAX_BODY)));
        }
        let end = head_len + length as usize;
        while buf.len() < end {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(Err(HttpError::CutShort));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let whole: Vec<u8> = buf.drain(..end).collect();
        let Ok(Some(r)) = http1::parse_request(&whole, LIMITS) else {
            return Ok(Err(HttpError::BadRequestLine));
        };
        let keep_alive = r.keep_alive();
        let reply = self.answer(&r, &whole[head_len..]).await;
        Ok(Ok(Some((reply, keep_alive))))
    }

    async fn answer(&self, r: &http1::Request<'_>, body: &[u8]) -> Reply {
        if !self.host_allowed(r.headers.get_str("host")) {
            return Reply::text(
                421,
                "p2p answers only requests for an IP address, localhost, or a name given with \
                 --rpc-host (this guards against DNS rebinding)",
            );
        }
        if let Some(expected) = &self.config.auth {
            let given = r
                .headers
                .get_str("authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| crate::base64::decode(b.trim().as_bytes()));
            let ok = given
                .as_deref()
                .is_some_and(|g| constant_time_eq(g, expected.as_bytes()));
            if !ok {
                if given.is_some() {
                    runtime::sleep(WRONG_PASSWORD_DELAY).await;
                }
                let mut reply = Reply::text(401, "unauthorized: give the user and password");
                reply
                    .headers
                    .push(("WWW-Authenticate", "Basic realm=\"p2p\"".into()));
                return reply;
            }
        }
        let target = std::str::from_utf8(r.target).unwrap_or("");
        let path = target.split('?').next().unwrap_or("");
        match path {
            // Boxed: the methods' future (adding a torrent by URL, say) is tens of kilobytes,
            // which a connection's future would otherwise carry while it waits between
            // requests.
            "/transmission/rpc" | "/transmission/rpc/" => Box::pin(self.rpc(r, body)).await,
            "/" | "/index.html" | "/transmission/web" | "/transmission/web/"
                if self.config.web_home.is_none() || path == "/" =>
            {
                match &self.config.web_home {
                    Some(_) => redirect("/transmission/web/"),
                    None if path == "/" || path == "/index.html" => Reply {
                        status: 200,
                        headers: Vec::new(),
                        kind: "text/html; charset=UTF-8",
                        body: PAGE.as_bytes().to_vec(),
                    },
                    None => redirect("/"),
                }
            }
            p if p.starts_with("/transmission/web/") => match &self.config.web_home {
                Some(home) => static_file(home, &p["/transmission/web/".len()..]),
                None => redirect("/"),
            },
            _ => Reply::text(404, "not found: the daemon answers /transmission/rpc and /"),
        }
    }

    async fn rpc(&self, r: &http1::Request<'_>, body: &[u8]) -> Reply {
        let given = r.headers.get_str("x-transmission-session-id");
        if given != Some(self.session_id.as_str()) || r.method != b"POST" {
            let mut reply = Reply::text(
                409,
                "send the X-Transmission-Session-Id header this answer carries, with a POST",
            );
            reply
                .headers
                .push(("X-Transmission-Session-Id", self.session_id.clone()));
            return reply;
        }
        match rpc::handle(&self.node, body).await {
            Ok(answer) => Reply::json(200, &answer),
            Err(bad) => Reply::json(400, &bad),
        }
    }

    /// IP literals and `localhost` always; names only when given with `--rpc-host`.
    fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else {
            // HTTP/1.0 clients may send none: nothing to rebind.
            return true;
        };
        let name = match host.strip_prefix('[') {
            Some(v6) => {
                return v6
                    .split(']')
                    .next()
                    .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
            }
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        name.parse::<std::net::Ipv4Addr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || self
                .config
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    }
}

fn redirect(to: &str) -> Reply {
    let mut reply = Reply::text(301, to);
    reply.headers.push(("Location", to.into()));
    reply
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A file of the `--web-home` directory: no `..`, no hidden names, regular files only, at most
/// 16 MiB.
fn static_file(home: &Path, rel: &str) -> Reply {
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = crate::url::percent_decode(rel.as_bytes()).map(|r| r.into_owned());
    let Some(Ok(rel)) = rel.map(String::from_utf8) else {
        return Reply::text(404, "not found");
    };
    if rel
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        return Reply::text(404, "not found");
    }
    let path = home.join(&rel);
    let Ok(body) = crate::state_file::read(&path, 16 << 20, crate::state_file::Links::Follow)
    else {
        return Reply::text(404, "not found");
    };
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=UTF-8",
        Some("js") => "application/javascript",
        Some("css") => "text/css",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("gif") => "image/gif",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Reply {
        status: 200,
        headers: Vec::new(),
        kind,
        body,
    }
}
