//! A client of the daemon's RPC, for the `p2p add|list|pause|…` verbs: one request a
//! connection, the session-id handshake done once, every read bounded in size and time.

use crate::http1;
use crate::json::{Json, Value};
use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REPLY: usize = 256 << 20;

pub struct Client {
    /// `HOST:PORT`, as given.
    addr: String,
    /// `user:password`.
    auth: Option<String>,
    session_id: String,
}

impl Client {
    pub fn new(addr: &str, auth: Option<String>) -> Client {
        Client {
            addr: addr.to_owned(),
            auth,
            session_id: String::new(),
        }
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> Error {
        Error::Failed(format!(
            "no p2p daemon answers at {} ({why}); start one with `p2p daemon`, or name it with \
             --rpc HOST:PORT or $P2P_RPC",
            self.addr
        ))
    }

    /// Calls `method`; the answer's `arguments` on success, its `result` as the error
    /// otherwise.
    pub fn call(&mut self, method: &str, arguments: Json) -> Result<Value> {
        let body = Json::Obj(vec![
            ("method", Json::str(method)),
            ("arguments", arguments),
        ])
        .to_line();
        for _ in 0..2 {
            let (status, session, reply) = self.post(&body)?;
            match status {
                409 => {
                    self.session_id = session.ok_or_else(|| {
                        self.unreachable("a 409 without X-Transmission-Session-Id")
                    })?;
                }
                401 => {
                    return Err(Error::Failed(format!(
                        "the daemon at {} wants a user and password: --rpc-auth USER:PASS or \
                         $P2P_RPC_AUTH",
                        self.addr
                    )));
                }
                _ => {
                    let answer = crate::json::parse(&reply)
                        .map_err(|e| self.unreachable(format!("HTTP {status}, {e}")))?;
                    let result = answer.get("result").and_then(Value::as_str).unwrap_or("");
                    if result != "success" {
                        return Err(Error::Failed(format!(
                            "{method}: {}",
                            crate::escape::untrusted(result, 300)
                        )));
                    }
                    return Ok(answer
                        .get("arguments")
                        .cloned()
                        .unwrap_or(Value::Obj(Vec::new())));
                }
            }
        }
        Err(self.unreachable("the session id was refused twice"))
    }

    /// One POST: (status, session id header, body).
    fn post(&self, body: &str) -> Result<(u16, Option<String>, Vec<u8>)> {
        let addr = self
            .addr
            .to_socket_addrs()
            .map_err(|e| self.unreachable(e))?
            .next()
            .ok_or_else(|| self.unreachable("it resolves to no address"))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| self.unreachable(e))?;
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.set_write_timeout(Some(TIMEOUT));
        let mut head = format!(
            "POST /transmission/rpc HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            self.addr,
            body.len()
        );
        if !self.session_id.is_empty() {
            head.push_str(&format!(
                "X-Transmission-Session-Id: {}\r\n",
                self.session_id
            ));
        }
        if let Some(auth) = &self.auth {
            head.push_str(&format!(
                "Authorization: Basic {}\r\n",
                crate::base64::encode(auth.as_bytes())
            ));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| self.unreachable(e))?;
        let mut buf = Vec::new();
        stream
            .take(MAX_REPLY as u64 + 65536)
            .read_to_end(&mut buf)
            .map_err(|e| self.unreachable(e))?;
        let limits = http1::Limits {
            line: 8192,
            head: 65536,
        };
        let (head, reply) = http1::whole_response(&buf, limits, MAX_REPLY, true)
            .map_err(|e| self.unreachable(e))?
            .ok_or_else(|| self.unreachable("a cut-short answer"))?;
        let session = head
            .headers
            .get_str("x-transmission-session-id")
            .map(str::to_owned);
        Ok((head.status, session, reply))
    }
}
