//! Batched datagram I/O for the UDP tracker (Linux `recvmmsg`/`sendmmsg`, as aquatic does): one
//! system call takes up to [`BATCH`] datagrams and one sends up to as many answers, instead of
//! two calls a datagram. The structures and calls are `libc`'s.

use libc::{AF_INET, AF_INET6, EINTR, MSG_WAITFORONE, iovec, mmsghdr, msghdr, recvmmsg, sendmmsg};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams a call takes at most.
pub const BATCH: usize = 32;
/// The largest datagram read; BEP 15 requests are at most a few hundred bytes.
pub const DATAGRAM: usize = 2048;

/// One datagram of `iov`, from or to `name` (of `namelen` bytes), no control data.
fn header(name: &mut SockAddr, namelen: u32, iov: &mut iovec) -> mmsghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid value (null pointers, zero lengths),
    // and the fields that matter are set below.
    let mut hdr: msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = (&mut name.0 as *mut libc::sockaddr_storage).cast();
    hdr.msg_namelen = namelen;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    mmsghdr {
        msg_hdr: hdr,
        msg_len: 0,
    }
}

/// An address a datagram came from or goes to (`struct sockaddr_storage`).
#[derive(Clone, Copy)]
pub struct SockAddr(libc::sockaddr_storage);

impl SockAddr {
    fn empty() -> SockAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid (unspecified) value.
        SockAddr(unsafe { std::mem::zeroed() })
    }

    /// The address a datagram came from; `None` for a family we do not speak.
    pub fn get(&self) -> Option<SocketAddr> {
        let storage: *const libc::sockaddr_storage = &self.0;
        match self.0.ss_family as i32 {
            AF_INET => {
                // SAFETY: the kernel filled a sockaddr_in, which sockaddr_storage is sized and
                // aligned to hold.
                let v4 = unsafe { &*storage.cast::<libc::sockaddr_in>() };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                    u16::from_be(v4.sin_port),
                )))
            }
            AF_INET6 => {
                // SAFETY: as above, a sockaddr_in6.
                let v6 = unsafe { &*storage.cast::<libc::sockaddr_in6>() };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    u16::from_be(v6.sin6_port),
                    0,
                    v6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    fn len(&self) -> u32 {
        match self.0.ss_family as i32 {
            AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>() as u32,
            _ => std::mem::size_of::<libc::sockaddr_in>() as u32,
        }
    }
}

/// Buffers for a batch of datagrams in and out.
pub struct Batch {
    bufs: Vec<[u8; DATAGRAM]>,
    names: Vec<SockAddr>,
    lens: Vec<usize>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            bufs: vec![[0; DATAGRAM]; BATCH],
            names: vec![SockAddr::empty(); BATCH],
            lens: vec![0; BATCH],
        }
    }
}

impl Batch {
    /// Waits for one datagram or more and takes up to [`BATCH`] of those waiting.
    pub fn receive(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let mut iovs: Vec<iovec> = self
            .bufs
            .iter_mut()
            .map(|b| iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: DATAGRAM,
            })
            .collect();
        let storage = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        let mut msgs: Vec<mmsghdr> = iovs
            .iter_mut()
            .zip(self.names.iter_mut())
            .map(|(iov, name)| header(name, storage, iov))
            .collect();
        loop {
            // SAFETY: every pointer in `msgs` points into `iovs`, `self.bufs` and `self.names`,
            // which outlive the call and are as long as the lengths given.
            let n = unsafe {
                recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    MSG_WAITFORONE as _,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                for (i, m) in msgs.iter().take(n as usize).enumerate() {
                    self.lens[i] = (m.msg_len as usize).min(DATAGRAM);
                }
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(EINTR) {
                return Err(e);
            }
        }
    }

    /// Datagram `i` of the last receive and where it came from.
    pub fn datagram(&self, i: usize) -> (&[u8], &SockAddr) {
        (&self.bufs[i][..self.lens[i]], &self.names[i])
    }
}

/// Sends each answer to its address, as few calls as the kernel allows; what it refuses is
/// dropped (UDP: the client asks again).
pub fn send_all(fd: RawFd, answers: &mut [(Vec<u8>, SockAddr)]) {
    let mut iovs: Vec<iovec> = answers
        .iter_mut()
        .map(|(a, _)| iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: a.len(),
        })
        .collect();
    let mut msgs: Vec<mmsghdr> = iovs
        .iter_mut()
        .zip(answers.iter_mut())
        .map(|(iov, (_, to))| {
            let len = to.len();
            header(to, len, iov)
        })
        .collect();
    let mut sent = 0;
    while sent < msgs.len() {
        // SAFETY: as in `receive`: the pointers are into `iovs` and `answers`, alive here.
        let n = unsafe { sendmmsg(fd, msgs[sent..].as_mut_ptr(), (msgs.len() - sent) as u32, 0) };
        if n > 0 {
            sent += n as usize;
            continue;
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(EINTR) {
            continue;
        }
        // A full socket buffer or an unreachable client: skip the one that failed.
        sent += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn datagrams_in_and_answers_out_in_batches_v4_and_v6() {
        for (server_at, client_at) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
            let server = std::net::UdpSocket::bind(server_at)
                .unwrap_or_else(|e| panic!("binding {server_at}: {e} (this test needs IPv6 too)"));
            let client = std::net::UdpSocket::bind(client_at).unwrap();
            client
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            for i in 0..5u8 {
                client
                    .send_to(&[i; 10], server.local_addr().unwrap())
                    .unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut batch = Batch::default();
            let n = batch.receive(server.as_raw_fd()).unwrap();
            assert_eq!(n, 5, "all five waiting, taken in one call");
            let mut answers = Vec::new();
            for i in 0..n {
                let (data, from) = batch.datagram(i);
                assert_eq!(data, &[i as u8; 10]);
                assert_eq!(from.get(), Some(client.local_addr().unwrap()));
                answers.push((vec![data[0] + 100; 3], *from));
            }
            send_all(server.as_raw_fd(), &mut answers);
            let mut buf = [0u8; 16];
            for i in 0..5u8 {
                let (len, _) = client.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..len], &[i + 100; 3]);
            }
        }
    }
}
