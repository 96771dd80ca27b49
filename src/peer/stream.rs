//! A peer connection's byte stream, TCP or uTP: the handshake, the reader and the writer run
//! over either unchanged.

use crate::utp::{UtpSocket, UtpStream};
use async_std::net::TcpStream;
use std::future::Future;
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
    /// address before, and over TCP where that is allowed — at once when uTP fails, else after
    /// [`UTP_HEAD_START`], the first to connect kept. A peer reached over TCP that way is
    /// dialed over TCP from then on.
    pub async fn open(addr: SocketAddr, via: &Transports) -> io::Result<PeerStream> {
        let Some(utp) = via
            .utp
            .as_ref()
            .filter(|u| !via.tcp || !u.failed_before(addr))
        else {
            return tcp(addr).await;
        };
        let mut over_utp = std::pin::pin!(crate::runtime::timeout(
            "connecting over uTP",
            super::CONNECT_TIMEOUT,
            utp.connect(addr),
        ));
        if !via.tcp {
            return Ok(PeerStream::Utp(over_utp.await?));
        }
        match crate::runtime::within(UTP_HEAD_START, over_utp.as_mut()).await {
            Some(Ok(s)) => return Ok(PeerStream::Utp(s)),
            Some(Err(e)) => {
                log::debug!("{addr}: {e}; trying TCP");
                return tcp(addr).await;
            }
            None => {}
        }
        let mut over_tcp = std::pin::pin!(tcp(addr));
        let (mut utp_failed, mut tcp_failed) = (false, None);
        let won = std::future::poll_fn(|cx| {
            if !utp_failed && let Poll::Ready(r) = over_utp.as_mut().poll(cx) {
                match r {
                    Ok(s) => return Poll::Ready(Ok(PeerStream::Utp(s))),
                    Err(_) => utp_failed = true,
                }
            }
            if tcp_failed.is_none()
                && let Poll::Ready(r) = over_tcp.as_mut().poll(cx)
            {
                match r {
                    Ok(s) => return Poll::Ready(Ok(s)),
                    Err(e) => tcp_failed = Some(e),
                }
            }
            // Both failed: TCP's error is the one to tell.
            if utp_failed && let Some(e) = tcp_failed.take() {
                return Poll::Ready(Err(e));
            }
            Poll::Pending
        })
        .await?;
        if !won.is_utp() {
            log::debug!("{addr}: TCP answered before uTP");
            utp.forget(addr);
        }
        Ok(won)
    }
}

/// How long a dial waits for uTP alone before trying TCP beside it (a peer that answers uTP
/// does so within a round trip; one that does not costs this much, not uTP's whole timeout).
pub const UTP_HEAD_START: std::time::Duration = std::time::Duration::from_millis(500);

async fn tcp(addr: SocketAddr) -> io::Result<PeerStream> {
    let stream = crate::runtime::timeout(
        "connecting",
        super::CONNECT_TIMEOUT,
        crate::net::source::connect(addr),
    )
    .await?;
    let _ = stream.set_nodelay(true);
    Ok(PeerStream::Tcp(stream))
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
