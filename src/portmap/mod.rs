//! Port mapping: asks the home router to forward the peer port (TCP and UDP) from its public
//! address, so that peers on the Internet can connect to a node behind NAT. NAT-PMP (RFC 6886)
//! to the default gateway first, for it answers at once or not at all; else UPnP IGD. The
//! mapping is renewed at half its lease, retried every five minutes while nothing answers,
//! and removed when the node stops. A port the router has given to another host is asked
//! for again one port up, a few times, and the log says which port was mapped.

pub mod natpmp;
pub mod upnp;

use crate::runtime::Cancel;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The lease asked for, in seconds; renewed at half.
const LEASE: u32 = 3600;
/// How long after nothing answered it asks again.
const RETRY: Duration = Duration::from_secs(300);
/// Other external ports tried when the router has given ours to another host.
const CONFLICT_TRIES: u16 = 8;
/// How long removing the mappings at the end may take.
const UNMAP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// Where peers on the Internet reach the node, and through what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub external: SocketAddr,
    pub via: &'static str,
}

/// The running mapper: what it mapped, and a way to stop it (removing the mappings).
pub struct PortMapper {
    cancel: Cancel,
    mapped: Arc<Mutex<Option<Mapped>>>,
    task: crate::runtime::JoinHandle<()>,
}

impl PortMapper {
    /// Starts mapping `port` (TCP and UDP) on the router in front of this host.
    pub fn start(port: u16) -> PortMapper {
        let cancel = Cancel::new();
        let mapped = Arc::new(Mutex::new(None));
        let task = crate::runtime::spawn(run(port, cancel.clone(), mapped.clone()));
        PortMapper {
            cancel,
            mapped,
            task,
        }
    }

    pub fn mapped(&self) -> Option<Mapped> {
        self.mapped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Removes the mappings (five seconds at most) and stops.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await;
    }
}

/// What is mapped, and with whom.
enum Active {
    NatPmp { gateway: Ipv4Addr },
    Upnp { device: upnp::Device, external: u16 },
}

async fn run(port: u16, cancel: Cancel, mapped: Arc<Mutex<Option<Mapped>>>) {
    let Some(gateway) = default_gateway(crate::net::source::device()) else {
        log::debug!("port mapping: no default gateway");
        return;
    };
    let Some(client) = local_ip_toward(gateway).await else {
        log::debug!("port mapping: no address toward the gateway {gateway}");
        return;
    };
    let mut active: Option<Active> = None;
    let mut told_failure = false;
    loop {
        let wait = match map(gateway, client, port, &mut active).await {
            Ok(now) => {
                let mut slot = mapped.lock().unwrap_or_else(|p| p.into_inner());
                if slot.as_ref() != Some(&now) {
                    log::info!(
                        "port mapping: TCP and UDP port {port} reachable at {} (through {}, \
                         gateway {gateway})",
                        now.external,
                        now.via
                    );
                    *slot = Some(now);
                }
                told_failure = false;
                Duration::from_secs(u64::from(LEASE / 2))
            }
            Err(e) => {
                if !told_failure {
                    log::info!(
                        "port mapping: {e}; peers on the Internet may not reach port {port} \
                         (asking again every {} minutes)",
                        RETRY.as_secs() / 60
                    );
                    told_failure = true;
                }
                *mapped.lock().unwrap_or_else(|p| p.into_inner()) = None;
                RETRY
            }
        };
        if crate::runtime::within(wait, cancel.cancelled())
            .await
            .is_some()
        {
            break;
        }
    }
    if let Some(a) = active {
        let what = match &a {
            Active::NatPmp { .. } => "NAT-PMP",
            Active::Upnp { .. } => "UPnP",
        };
        match crate::runtime::within(UNMAP_TIMEOUT, unmap(a, port)).await {
            Some(Ok(())) => log::info!("port mapping: removed ({what})"),
            Some(Err(e)) => log::warn!("port mapping: not removed: {e}"),
            None => log::warn!("port mapping: the gateway did not answer the removal"),
        }
    }
}

/// Maps (or renews) `port`: with what already answered, else NAT-PMP, else UPnP.
async fn map(
    gateway: Ipv4Addr,
    client: Ipv4Addr,
    port: u16,
    active: &mut Option<Active>,
) -> Result<Mapped, String> {
    match active.take() {
        Some(Active::NatPmp { .. }) | None => match map_natpmp(gateway, port).await {
            Ok(mapped) => {
                *active = Some(Active::NatPmp { gateway });
                return Ok(mapped);
            }
            Err(e) => log::debug!("port mapping: NAT-PMP: {e}"),
        },
        Some(Active::Upnp { device, external }) => {
            if let Ok(m) = renew_upnp(&device, client, port, external).await {
                *active = Some(Active::Upnp { device, external });
                return Ok(m);
            }
        }
    }
    let device = upnp::discover()
        .await
        .map_err(|e| format!("no gateway answered NAT-PMP at {gateway} or UPnP ({e})"))?;
    let (mapped, external) = map_upnp(&device, client, port).await?;
    *active = Some(Active::Upnp { device, external });
    Ok(mapped)
}

async fn map_natpmp(gateway: Ipv4Addr, port: u16) -> Result<Mapped, String> {
    let natpmp::Response::Public(public) =
        natpmp::transact(gateway, &natpmp::public_request()).await?
    else {
        return Err("an answer of another kind".into());
    };
    let mut tcp_external = None;
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let request = natpmp::map_request(protocol, port, port, LEASE);
        match natpmp::transact(gateway, &request).await? {
            natpmp::Response::Mapped { external, .. } => {
                if external != port {
                    log::info!(
                        "port mapping: the gateway gave {} port {external} for {port}",
                        protocol.name()
                    );
                }
                tcp_external.get_or_insert(external);
            }
            natpmp::Response::Public(_) => return Err("an answer of another kind".into()),
        }
    }
    let external = tcp_external.unwrap_or(port);
    Ok(Mapped {
        external: SocketAddr::from((public, external)),
        via: "NAT-PMP",
    })
}

async fn map_upnp(
    device: &upnp::Device,
    client: Ipv4Addr,
    port: u16,
) -> Result<(Mapped, u16), String> {
    let mut last = String::new();
    for external in (0..CONFLICT_TRIES).filter_map(|i| port.checked_add(i)) {
        match add_both(device, client, port, external).await {
            Ok(()) => {
                if external != port {
                    log::info!(
                        "port mapping: port {port} is taken on the router; mapped {external}"
                    );
                }
                return renew_upnp(device, client, port, external)
                    .await
                    .map(|m| (m, external));
            }
            Err(e) if e.code == Some(upnp::CONFLICT) => last = e.to_string(),
            Err(e) => return Err(format!("UPnP at {}: {e}", device.addr)),
        }
    }
    Err(format!("UPnP at {}: {last}", device.addr))
}

/// Adds both mappings (a lease of 0 where the router takes only permanent ones).
async fn add_both(
    device: &upnp::Device,
    client: Ipv4Addr,
    port: u16,
    external: u16,
) -> Result<(), upnp::Refused> {
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        match device.add(protocol, external, port, client, LEASE).await {
            Err(e) if e.code == Some(upnp::ONLY_PERMANENT) => {
                device.add(protocol, external, port, client, 0).await?
            }
            other => other?,
        }
    }
    Ok(())
}

async fn renew_upnp(
    device: &upnp::Device,
    client: Ipv4Addr,
    port: u16,
    external: u16,
) -> Result<Mapped, String> {
    add_both(device, client, port, external)
        .await
        .map_err(|e| format!("UPnP at {}: {e}", device.addr))?;
    let ip = device
        .external_ip()
        .await
        .map_err(|e| format!("UPnP at {}: {e}", device.addr))?;
    Ok(Mapped {
        external: SocketAddr::new(ip, external),
        via: "UPnP",
    })
}

async fn unmap(active: Active, port: u16) -> Result<(), String> {
    match active {
        Active::NatPmp { gateway, .. } => {
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                natpmp::transact(gateway, &natpmp::map_request(protocol, port, 0, 0)).await?;
            }
        }
        Active::Upnp { device, external } => {
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                device
                    .delete(protocol, external)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// The IPv4 default gateway from the kernel's routing table (on `device` when given).
fn default_gateway(device: Option<&str>) -> Option<Ipv4Addr> {
    let table = crate::state_file::read(
        std::path::Path::new("/proc/net/route"),
        1 << 20,
        crate::state_file::Links::Follow,
    )
    .ok()?;
    parse_routes(&String::from_utf8_lossy(&table), device)
}

/// `/proc/net/route`'s default route: destination 0, the gateway flag, its gateway.
fn parse_routes(table: &str, device: Option<&str>) -> Option<Ipv4Addr> {
    const RTF_GATEWAY: u32 = 0x2;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, gateway, flags) = (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?);
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if *dest != "00000000" || flags & RTF_GATEWAY == 0 || device.is_some_and(|d| d != *iface) {
            return None;
        }
        // The address's bytes in the kernel's (little-endian) order.
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        Some(Ipv4Addr::from(raw.to_le_bytes()))
    })
}

/// This host's address on the way to `gateway` (what the router forwards to).
async fn local_ip_toward(gateway: Ipv4Addr) -> Option<Ipv4Addr> {
    let to = SocketAddr::from((gateway, natpmp::PORT));
    let socket = crate::net::source::udp_for(to).await.ok()?;
    socket.connect(to).await.ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// Whether a node listening on `listen` should map its port: not on loopback (no one from
/// outside could reach it anyway), and only for IPv4 (NAT is an IPv4 matter).
pub fn worth_mapping(listen: SocketAddr) -> bool {
    match listen.ip() {
        IpAddr::V4(ip) => !ip.is_loopback(),
        IpAddr::V6(ip) => ip.is_unspecified(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_is_read_from_the_kernel_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
            eth1\t0010A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
            eth0\t00000000\t014DA8C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(
            parse_routes(table, None),
            Some(Ipv4Addr::new(192, 168, 77, 1))
        );
        assert_eq!(
            parse_routes(table, Some("eth0")),
            Some(Ipv4Addr::new(192, 168, 77, 1))
        );
        assert_eq!(parse_routes(table, Some("tun0")), None);
        assert_eq!(parse_routes("Iface\n", None), None);
        assert_eq!(parse_routes("x\neth0 00000000 zz 0003\n", None), None);
    }

    #[test]
    fn only_listeners_others_can_reach_are_mapped() {
        assert!(worth_mapping("0.0.0.0:6881".parse().unwrap()));
        assert!(worth_mapping("[::]:6881".parse().unwrap()));
        assert!(worth_mapping("192.168.1.5:6881".parse().unwrap()));
        assert!(!worth_mapping("127.0.0.1:6881".parse().unwrap()));
        assert!(!worth_mapping("[::1]:6881".parse().unwrap()));
    }
}
