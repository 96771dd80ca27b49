//! Where this process's traffic leaves from. A user who runs BitTorrent through a VPN binds it
//! to the VPN's address (`--listen ADDR`) or device (`--interface NAME`) and expects every
//! connection, datagram, DHT query and tracker request to leave from there, and traffic to
//! stop, not leak, when the VPN is down. That is a property of the process, set once by the
//! command before its first socket ([`set`]) and never changed while connections run, so it
//! is kept here rather than threaded through every layer that opens a socket.

use async_std::net::{TcpStream, UdpSocket};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// The source address and device of outgoing traffic; both `None` is the system's choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// Every socket is bound to this address first; a peer of the other family is not dialed.
    pub ip: Option<IpAddr>,
    /// Every socket is bound to this device (`SO_BINDTODEVICE`).
    pub device: Option<String>,
}

impl Source {
    /// From a listening address (its IP unless a wildcard) and an interface name.
    pub fn new(listen: SocketAddr, device: Option<String>) -> Source {
        let ip = listen.ip();
        Source {
            ip: (!ip.is_unspecified()).then_some(ip),
            device,
        }
    }

    fn is_default(&self) -> bool {
        self.ip.is_none() && self.device.is_none()
    }

    /// Why `to` cannot be reached from this source, if it cannot: another address family.
    pub fn refuses(&self, to: IpAddr) -> Option<String> {
        let ip = self.ip?;
        (ip.is_ipv4() != to.is_ipv4())
            .then(|| format!("bound to {ip} (--listen): {to} is of another address family"))
    }
}

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Sets the process's source, once, before any socket is opened. A device that does not
/// exist is an error naming it.
pub fn set(source: Source) -> io::Result<()> {
    if let Some(dev) = &source.device {
        check_device(dev)?;
    }
    if SOURCE.set(source.clone()).is_err() && SOURCE.get() != Some(&source) {
        return Err(io::Error::other("the source address was already set"));
    }
    Ok(())
}

fn current() -> Option<&'static Source> {
    SOURCE.get().filter(|s| !s.is_default())
}

/// The device outgoing traffic is bound to, if any (for the log and `--json`).
pub fn device() -> Option<&'static str> {
    current().and_then(|s| s.device.as_deref())
}

fn check_device(name: &str) -> io::Result<()> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network interface named `{name}`"),
        )
    };
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(bad());
    }
    let c = std::ffi::CString::new(name).map_err(|_| bad())?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    if unsafe { libc::if_nametoindex(c.as_ptr()) } == 0 {
        return Err(bad());
    }
    Ok(())
}

/// Binds `fd` to `device` (`SO_BINDTODEVICE`).
fn bind_to_device(fd: RawFd, device: &str) -> io::Result<()> {
    // SAFETY: the option value is `device`'s bytes with their length; the kernel copies them.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            device.as_ptr().cast(),
            device.len() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("binding to interface {device}: {e}"),
        ));
    }
    Ok(())
}

/// Puts a socket this process listens or sends on (the peer listener, the DHT's UDP socket)
/// on the source's device, if one is set: it then neither takes nor sends traffic elsewhere.
pub fn confine(socket: &impl AsRawFd) -> io::Result<()> {
    match current().and_then(|s| s.device.as_deref()) {
        Some(dev) => bind_to_device(socket.as_raw_fd(), dev),
        None => Ok(()),
    }
}

/// A TCP connection to `addr` from the source. Not timed: callers bound it.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let Some(source) = current() else {
        return TcpStream::connect(addr).await;
    };
    if let Some(why) = source.refuses(addr.ip()) {
        return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, why));
    }
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let socket = new_socket(family, libc::SOCK_STREAM)?;
    let fd = socket.as_raw_fd();
    if let Some(dev) = &source.device {
        bind_to_device(fd, dev)?;
    }
    if let Some(ip) = source.ip {
        bind(fd, SocketAddr::new(ip, 0))
            .map_err(|e| io::Error::new(e.kind(), format!("binding to {ip}: {e}")))?;
    }
    let (raw, len) = sockaddr(addr);
    // SAFETY: as above.
    let r = unsafe { libc::connect(fd, (&raw as *const libc::sockaddr_storage).cast(), len) };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    // The connection completes when the socket turns writable; its outcome is SO_ERROR.
    let pending = async_io::Async::new(std::net::TcpStream::from(socket))?;
    pending.writable().await?;
    if let Some(e) = pending.get_ref().take_error()? {
        return Err(e);
    }
    Ok(TcpStream::from(pending.into_inner()?))
}

/// A UDP socket to talk to `to` from, bound to the source (port 0).
pub async fn udp_for(to: SocketAddr) -> io::Result<UdpSocket> {
    let wildcard: IpAddr = if to.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let ip = match current() {
        Some(source) => {
            if let Some(why) = source.refuses(to.ip()) {
                return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, why));
            }
            source.ip.unwrap_or(wildcard)
        }
        None => wildcard,
    };
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    confine(&socket)?;
    Ok(socket)
}

/// A UDP socket on `group`'s port that other programs on this host may bind too
/// (`SO_REUSEADDR`), joined to the group on the source's address (or every interface), its
/// own datagrams looped back so that programs on one host hear each other.
pub fn multicast_v4(group: std::net::SocketAddrV4) -> io::Result<UdpSocket> {
    let source = current().cloned().unwrap_or_default();
    let on = match source.ip {
        Some(IpAddr::V4(ip)) => ip,
        Some(ip) => {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("bound to {ip} (--listen): no IPv4 multicast from there"),
            ));
        }
        None => Ipv4Addr::UNSPECIFIED,
    };
    let socket = new_socket(libc::AF_INET, libc::SOCK_DGRAM)?;
    let fd = socket.as_raw_fd();
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if let Some(dev) = &source.device {
        bind_to_device(fd, dev)?;
    }
    bind(fd, SocketAddr::from((Ipv4Addr::UNSPECIFIED, group.port())))?;
    let udp = std::net::UdpSocket::from(socket);
    udp.join_multicast_v4(group.ip(), &on)?;
    udp.set_multicast_loop_v4(true)?;
    if !on.is_unspecified() {
        let addr = libc::in_addr {
            s_addr: u32::from(on).to_be(),
        };
        // SAFETY: the option value is an in_addr that outlives the call.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                (&addr as *const libc::in_addr).cast(),
                std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(UdpSocket::from(udp))
}

/// The IPv6 counterpart of [`multicast_v4`]: joined to `group` on every interface that takes
/// it (the source's device alone when one is set).
pub fn multicast_v6(group: std::net::SocketAddrV6) -> io::Result<UdpSocket> {
    let source = current().cloned().unwrap_or_default();
    if let Some(ip @ IpAddr::V4(_)) = source.ip {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("bound to {ip} (--listen): no IPv6 multicast from there"),
        ));
    }
    let socket = new_socket(libc::AF_INET6, libc::SOCK_DGRAM)?;
    let fd = socket.as_raw_fd();
    set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if let Some(dev) = &source.device {
        bind_to_device(fd, dev)?;
    }
    bind(fd, SocketAddr::from((Ipv6Addr::UNSPECIFIED, group.port())))?;
    let udp = std::net::UdpSocket::from(socket);
    let joined = interfaces()
        .into_iter()
        .filter(|(_, name)| source.device.as_ref().is_none_or(|d| d == name))
        .filter(|(index, _)| udp.join_multicast_v6(group.ip(), *index).is_ok())
        .count();
    if joined == 0 {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no interface joined {}", group.ip()),
        ));
    }
    udp.set_multicast_loop_v6(true)?;
    Ok(UdpSocket::from(udp))
}

/// `to` as a socket bound to IPv6 (dual-stack) sends to it: an IPv4 address mapped.
pub fn for_socket(to: SocketAddr, v6_socket: bool) -> SocketAddr {
    match to {
        SocketAddr::V4(v4) if v6_socket => {
            SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
        }
        other => other,
    }
}

/// Sets an integer socket option.
pub fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    set_option(fd, level, name, &value)
}

/// Sets a socket option whose value is a plain C struct or number (`value` is the C type the
/// option takes: an int, a `linger`, ...).
pub fn set_option<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: the option value is `value`'s bytes with their size; the kernel copies them.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The network interfaces, as (index, name).
fn interfaces() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    // SAFETY: if_nameindex(3) returns an array ended by a zero entry, or null; it is read up
    // to that entry and freed once.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return out;
        }
        let mut at = list;
        while (*at).if_index != 0 && out.len() < 1024 {
            let name = std::ffi::CStr::from_ptr((*at).if_name)
                .to_string_lossy()
                .into_owned();
            out.push(((*at).if_index, name));
            at = at.add(1);
        }
        libc::if_freenameindex(list);
    }
    out
}

/// A new non-blocking, close-on-exec socket of `family` and `kind`, owned.
fn new_socket(family: libc::c_int, kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant flags; the descriptor is owned at once.
    let fd = unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// bind(2) of `fd` to `addr`.
fn bind(fd: RawFd, addr: SocketAddr) -> io::Result<()> {
    let (raw, len) = sockaddr(addr);
    // SAFETY: `raw` holds a sockaddr of `len` bytes for the call's duration.
    if unsafe { libc::bind(fd, (&raw as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A `sockaddr_in`/`sockaddr_in6` for `addr` in a `sockaddr_storage`, with its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value to fill in.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is sized and aligned to hold a sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, a sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_binds_nothing() {
        assert!(Source::new("[::]:6881".parse().unwrap(), None).is_default());
        assert!(Source::new("0.0.0.0:0".parse().unwrap(), None).is_default());
        let s = Source::new("127.0.0.2:0".parse().unwrap(), None);
        assert_eq!(s.ip, Some("127.0.0.2".parse().unwrap()));
        assert!(s.refuses("::1".parse().unwrap()).is_some());
        assert!(s.refuses("127.0.0.1".parse().unwrap()).is_none());
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = check_device("nosuchif0").unwrap_err();
        assert!(e.to_string().contains("nosuchif0"));
        assert!(check_device("lo").is_ok());
        assert!(check_device(&"x".repeat(40)).is_err());
    }

    #[test]
    fn sockaddrs_round_trip_through_the_kernel() {
        // A socket bound through our sockaddr reports the same address back.
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let listener = std::net::TcpListener::bind(addr).unwrap();
            let to = listener.local_addr().unwrap();
            let (raw, len) = sockaddr(to);
            let family = if to.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            // SAFETY: plain socket calls on a descriptor owned below.
            let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            assert!(fd >= 0);
            let _owned = unsafe { OwnedFd::from_raw_fd(fd) };
            let r =
                unsafe { libc::connect(fd, (&raw as *const libc::sockaddr_storage).cast(), len) };
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            let (_, from) = listener.accept().unwrap();
            assert_eq!(from.ip(), to.ip());
        }
    }
}
