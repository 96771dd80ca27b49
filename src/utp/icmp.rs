//! What the kernel tells the uTP socket of the paths to its peers: the ICMP errors queued
//! for datagrams we sent (`IP_RECVERR`), and the MTU it knows for a route.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// What an ICMP message said of a datagram we sent to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    /// Port or host unreachable, or any other refusal: no uTP there.
    Refused,
    /// Too big for a link on the path, whose MTU it names.
    TooBig(usize),
}

/// Takes the queued ICMP errors, each with the address the datagram was sent to.
pub fn take_errors(udp: &UdpSocket) -> Vec<(SocketAddr, Icmp)> {
    let mut out = Vec::new();
    for _ in 0..64 {
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        // Room for a sock_extended_err and the offender's address, with cmsg headers.
        let mut control = [0u64; 64];
        let mut data = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: every pointer in `msg` points at a live buffer of the length given.
        let n = unsafe {
            libc::recvmsg(
                udp.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            break;
        }
        let Some(addr) = sockaddr(&name) else {
            continue;
        };
        out.push((addr, extended_error(&msg).unwrap_or(Icmp::Refused)));
    }
    out
}

/// The `IP_RECVERR` (or `IPV6_RECVERR`) message of a datagram read from the error queue.
fn extended_error(msg: &libc::msghdr) -> Option<Icmp> {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros stay within msg_controllen, and a
    // RECVERR message's data is a sock_extended_err (read unaligned, as it may lie).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            let recverr = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
            let len = (*cmsg).cmsg_len as usize;
            let fits = len
                >= libc::CMSG_LEN(std::mem::size_of::<libc::sock_extended_err>() as u32) as usize;
            if recverr && fits {
                let err = std::ptr::read_unaligned(
                    libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>(),
                );
                return Some(if err.ee_errno == libc::EMSGSIZE as u32 {
                    Icmp::TooBig(err.ee_info as usize)
                } else {
                    Icmp::Refused
                });
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

fn sockaddr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match name.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let a =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let a =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

/// The MTU the kernel knows for the path to `to` (the route's interface's, or less where an
/// ICMP message said so): asked of a UDP socket connected to it for the purpose, which sends
/// nothing. An IPv4 peer is asked for as IPv4 (not IPv4-mapped).
pub fn path_mtu(to: SocketAddr) -> io::Result<usize> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let probe = UdpSocket::bind(any)?;
    // `--interface`: the route through it, as uTP's own socket takes.
    crate::net::source::confine(&probe)?;
    probe.connect(to)?;
    let (level, name) = if to.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_MTU)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `mtu` and `len` are live and sized for an int option.
    let rc = unsafe {
        libc::getsockopt(
            probe.as_raw_fd(),
            level,
            name,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(mtu).map_err(|_| io::Error::other("negative MTU"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_a_wide_path_and_unreachable_ports_are_reported() {
        let mtu = path_mtu("127.0.0.1:9".parse().unwrap()).unwrap();
        assert!(mtu > 1500, "loopback's MTU is 64 KiB, not {mtu}");
        // A datagram to a port nobody listens on comes back as "refused".
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        crate::net::source::set_int(udp.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVERR, 1)
            .unwrap();
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = closed.local_addr().unwrap();
        drop(closed);
        udp.send_to(b"x", to).unwrap();
        let mut errors = Vec::new();
        for _ in 0..100 {
            errors = take_errors(&udp);
            if !errors.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(errors, vec![(to, Icmp::Refused)]);
    }
}
