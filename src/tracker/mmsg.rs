//! Batched datagram I/O for the UDP tracker (Linux `recvmmsg`/`sendmmsg`, as aquatic does): one
//! system call takes up to [`BATCH`] datagrams and one sends up to as many answers, instead of
//! two calls a datagram. The structures are glibc's on 64-bit Linux, declared here since the
//! project takes no `libc` crate.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams a call takes at most.
pub const BATCH: usize = 32;
/// The largest datagram read; BEP 15 requests are at most a few hundred bytes.
pub const DATAGRAM: usize = 2048;

const MSG_WAITFORONE: i32 = 0x10000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const EINTR: i32 = 4;

#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

#[repr(C)]
struct MMsgHdr {
    hdr: MsgHdr,
    len: u32,
}

impl MMsgHdr {
    /// One datagram of `iov`, from or to `name` (of `namelen` bytes), no control data.
    fn new(name: &mut SockAddr, namelen: u32, iov: &mut IoVec) -> MMsgHdr {
        MMsgHdr {
            hdr: MsgHdr {
                name: name.0.as_mut_ptr(),
                namelen,
                iov,
                iovlen: 1,
                control: std::ptr::null_mut(),
                controllen: 0,
                flags: 0,
            },
            len: 0,
        }
    }
}

/// `struct sockaddr_storage`: 128 bytes, aligned for any address.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct SockAddr([u8; 128]);

unsafe extern "C" {
    fn recvmmsg(fd: i32, msgs: *mut MMsgHdr, vlen: u32, flags: i32, timeout: *mut u8) -> i32;
    fn sendmmsg(fd: i32, msgs: *mut MMsgHdr, vlen: u32, flags: i32) -> i32;
}

impl SockAddr {
    /// The address a datagram came from; `None` for a family we do not speak.
    pub fn get(&self) -> Option<SocketAddr> {
        let b = &self.0;
        let family = u16::from_ne_bytes([b[0], b[1]]);
        let port = u16::from_be_bytes([b[2], b[3]]);
        match family {
            AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                port,
            ))),
            AF_INET6 => {
                let ip: [u8; 16] = b[8..24].try_into().expect("16 bytes");
                let scope = u32::from_ne_bytes(b[24..28].try_into().expect("4 bytes"));
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    port,
                    0,
                    scope,
                )))
            }
            _ => None,
        }
    }

    fn len(&self) -> u32 {
        match u16::from_ne_bytes([self.0[0], self.0[1]]) {
            AF_INET6 => 28,
            _ => 16,
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
            names: vec![SockAddr([0; 128]); BATCH],
            lens: vec![0; BATCH],
        }
    }
}

impl Batch {
    /// Waits for one datagram or more and takes up to [`BATCH`] of those waiting.
    pub fn receive(&mut self, fd: RawFd) -> std::io::Result<usize> {
        let mut iovs: Vec<IoVec> = self
            .bufs
            .iter_mut()
            .map(|b| IoVec {
                base: b.as_mut_ptr(),
                len: DATAGRAM,
            })
            .collect();
        let mut msgs: Vec<MMsgHdr> = iovs
            .iter_mut()
            .zip(self.names.iter_mut())
            .map(|(iov, name)| MMsgHdr::new(name, 128, iov))
            .collect();
        loop {
            // SAFETY: every pointer in `msgs` points into `iovs`, `self.bufs` and `self.names`,
            // which outlive the call and are as long as the lengths given.
            let n = unsafe {
                recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                for (i, m) in msgs.iter().take(n as usize).enumerate() {
                    self.lens[i] = (m.len as usize).min(DATAGRAM);
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
    let mut iovs: Vec<IoVec> = answers
        .iter_mut()
        .map(|(a, _)| IoVec {
            base: a.as_mut_ptr(),
            len: a.len(),
        })
        .collect();
    let mut msgs: Vec<MMsgHdr> = iovs
        .iter_mut()
        .zip(answers.iter_mut())
        .map(|(iov, (_, to))| {
            let len = to.len();
            MMsgHdr::new(to, len, iov)
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
            let Ok(server) = std::net::UdpSocket::bind(server_at) else {
                continue; // no IPv6 here
            };
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
