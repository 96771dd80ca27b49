//! A peer connection's byte stream, TCP or uTP: the handshake, the reader and the writer run
//! over either unchanged.

use crate::utp::{UtpSocket, UtpStream};
use async_std::net::TcpStream;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Clone, Debug)]
pub enum PeerStream {
    Tcp(TcpStream),
    Utp(UtpStream),
}

/// How connections are made: uTP (on the peer port's UDP socket) first when there is one, TCP
/// as well unless `tcp` is off (`--utp only`).
#[derive(Clone, Debug)]
pub struct Transports {
    pub utp: Option<UtpSocket>,
    pub tcp: bool,
}

impl Default for Transports {
    /// TCP alone.
    fn default() -> Transports {
        Transports {
            utp: None,
            tcp: true,
        }
    }
}

impl PeerStream {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            PeerStream::Tcp(s) => s.peer_addr(),
            PeerStream::Utp(s) => Ok(s.peer_addr()),
        }
    }

    /// Ends the connection: reads end and writes fail from now on.
    pub fn shutdown(&self) {
        match self {
            PeerStream::Tcp(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            PeerStream::Utp(s) => s.shutdown(),
        }
    }

    pub fn is_utp(&self) -> bool {
        matches!(self, PeerStream::Utp(_))
    }

    /// Opens a connection to `addr`: over uTP first where it is on and has not failed to this
    /// address before, then over TCP where that is allowed.
    pub async fn open(addr: SocketAddr, via: &Transports) -> io::Result<PeerStream> {
        if let Some(utp) = via
            .utp
            .as_ref()
            .filter(|u| !via.tcp || !u.failed_before(addr))
        {
            match crate::runtime::timeout(
                "connecting over uTP",
                super::CONNECT_TIMEOUT,
                utp.connect(addr),
            )
            .await
            {
                Ok(s) => return Ok(PeerStream::Utp(s)),
                Err(e) if !via.tcp => return Err(e),
                Err(e) => log::debug!("{addr}: uTP: {e}; trying TCP"),
            }
        }
        let stream = crate::runtime::timeout(
            "connecting",
            super::CONNECT_TIMEOUT,
            crate::net::source::connect(addr),
        )
        .await?;
        let _ = stream.set_nodelay(true);
        Ok(PeerStream::Tcp(stream))
    }
}

impl From<TcpStream> for PeerStream {
    fn from(s: TcpStream) -> PeerStream {
        PeerStream::Tcp(s)
    }
}

impl async_std::io::Read for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Utp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl async_std::io::Write for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Utp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Utp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Tcp(s) => Pin::new(s).poll_close(cx),
            PeerStream::Utp(s) => Pin::new(s).poll_close(cx),
        }
    }
}
