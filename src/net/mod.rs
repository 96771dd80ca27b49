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
}
