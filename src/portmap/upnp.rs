//! UPnP IGD: find the Internet gateway device with SSDP (`M-SEARCH` to 239.255.255.250:1900),
//! read its description for the WANIPConnection (or WANPPPConnection) service, and call
//! `GetExternalIPAddress`, `AddPortMapping` and `DeletePortMapping` on it with SOAP. What a
//! device sends is read bounded (an SSDP answer 2 KiB, a description or SOAP answer 64 KiB,
//! 8 devices, every exchange timed out) and a device may only point at itself.

use super::Protocol;
use crate::http1;
use crate::net::Stream;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const SSDP: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    Ipv4Addr::new(239, 255, 255, 250),
    1900,
));
/// How long answers to an `M-SEARCH` are awaited.
const SEARCH_WAIT: Duration = Duration::from_secs(2);
/// How long other devices are awaited once one has answered.
const FIRST_ANSWER_GRACE: Duration = Duration::from_millis(300);
const MAX_DEVICES: usize = 8;
const MAX_SSDP: usize = 2048;
const MAX_BODY: usize = 64 * 1024;
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
const SERVICES: [&str; 3] = [
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// A gateway's port-mapping service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub addr: SocketAddr,
    /// The control URL's path.
    pub path: String,
    pub service: String,
}

/// A SOAP call the device refused, with its UPnP error code when it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub const CONFLICT: u32 = 718;
pub const ONLY_PERMANENT: u32 = 725;

pub fn msearch() -> Vec<u8> {
    b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\
      ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
        .to_vec()
}

/// The device description's address and path from an SSDP answer that came from `from`;
/// `None` for anything else, or a LOCATION naming another host.
pub fn ssdp_location(packet: &[u8], from: IpAddr) -> Option<(SocketAddr, String)> {
    if packet.len() > MAX_SSDP {
        return None;
    }
    let limits = http1::Limits {
        line: MAX_SSDP,
        head: MAX_SSDP,
    };
    let response = http1::parse_response(packet, limits).ok()??;
    if response.status != 200 {
        return None;
    }
    let location = response.headers.get_str("location")?;
    let (addr, path) = http_url(location)?;
    (addr.ip() == from).then_some((addr, path))
}

/// `http://IP:PORT/path` as an address and a path (devices name themselves by address).
fn http_url(url: &str) -> Option<(SocketAddr, String)> {
    if !url.starts_with("http://") {
        return None;
    }
    let (host, port, path) = crate::url::split_url(url, 80)?;
    let ip: IpAddr = host.parse().ok()?;
    Some((SocketAddr::new(ip, port), path))
}

/// The text between `<tag>` and `</tag>` (any namespace prefix on either), first found.
pub(crate) fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = xml[from..].find('<') {
        let start = from + i + 1;
        let end = start + xml[start..].find('>')?;
        let name = &xml[start..end];
        let local = name.rsplit(':').next().unwrap_or(name);
        if local == tag {
            let body = &xml[end + 1..];
            let close = body.find("</")?;
            return Some(body[..close].trim());
        }
        from = end + 1;
    }
    None
}

/// The port-mapping service of a device description: its type and control URL.
pub fn find_service(xml: &str) -> Option<(String, String)> {
    let mut found: Vec<(usize, String, String)> = Vec::new();
    for block in xml.split("<service>").skip(1).take(64) {
        let block = block.split("</service>").next().unwrap_or(block);
        let (Some(kind), Some(control)) =
            (element(block, "serviceType"), element(block, "controlURL"))
        else {
            continue;
        };
        if let Some(rank) = SERVICES.iter().position(|s| *s == kind) {
            found.push((rank, kind.to_string(), control.to_string()));
        }
    }
    found.sort();
    found
        .into_iter()
        .next()
        .map(|(_, kind, control)| (kind, control))
}

/// A SOAP request's body.
pub fn soap_body(service: &str, action: &str, args: &[(&str, String)]) -> String {
    let mut inner = String::new();
    for (name, value) in args {
        inner.push_str(&format!("<{name}>{value}</{name}>"));
    }
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action} \
         xmlns:u=\"{service}\">{inner}</u:{action}></s:Body></s:Envelope>\r\n"
    )
}

/// One HTTP exchange with a device (the connection closed after it): status and body.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    let run = async {
        let mut stream = Stream::open(addr, &addr.ip().to_string(), false)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let answer = stream
            .exchange(&request, MAX_BODY)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        Ok((answer.status, answer.body))
    };
    crate::runtime::within(EXCHANGE_TIMEOUT, run)
        .await
        .unwrap_or_else(|| {
            Err(format!(
                "{addr}: no answer within {}s",
                EXCHANGE_TIMEOUT.as_secs()
            ))
        })
}

/// Finds a gateway's port-mapping service: the first of the devices answering an `M-SEARCH`
/// within two seconds whose description has one.
pub async fn discover() -> Result<Device, String> {
    let socket = crate::net::source::udp_for(SSDP)
        .await
        .map_err(|e| format!("SSDP: {e}"))?;
    socket
        .send_to(&msearch(), SSDP)
        .await
        .map_err(|e| format!("SSDP: {e}"))?;
    let mut deadline = Instant::now() + SEARCH_WAIT;
    let mut locations: Vec<(SocketAddr, String)> = Vec::new();
    let mut buf = vec![0u8; MAX_SSDP + 1];
    while locations.len() < MAX_DEVICES {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(Ok((n, from))) = crate::runtime::within(left, socket.recv_from(&mut buf)).await
        else {
            break;
        };
        if let Some(found) = ssdp_location(&buf[..n], from.ip())
            && !locations.contains(&found)
        {
            locations.push(found);
            // A gateway has answered: others on the LAN get a moment more, not the whole wait.
            deadline = deadline.min(Instant::now() + FIRST_ANSWER_GRACE);
        }
    }
    for (addr, path) in locations {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let Ok((200, body)) = exchange(addr, request.into_bytes()).await else {
            continue;
        };
        let xml = String::from_utf8_lossy(&body);
        let Some((service, control)) = find_service(&xml) else {
            continue;
        };
        let path = if control.starts_with('/') {
            control
        } else {
            match http_url(&control) {
                Some((at, p)) if at.ip() == addr.ip() => p,
                _ => continue,
            }
        };
        return Ok(Device {
            addr,
            path,
            service,
        });
    }
    Err("no UPnP gateway answered".into())
}

impl Device {
    async fn call(&self, action: &str, args: &[(&str, String)]) -> Result<String, Refused> {
        let body = soap_body(&self.service, action, args);
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
             SOAPAction: \"{}#{action}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.addr,
            self.service,
            body.len()
        );
        let refused = |code, message| Refused { code, message };
        let (status, body) = exchange(self.addr, request.into_bytes())
            .await
            .map_err(|e| refused(None, e))?;
        let xml = String::from_utf8_lossy(&body).into_owned();
        if status == 200 {
            return Ok(xml);
        }
        let code = element(&xml, "errorCode").and_then(|c| c.parse().ok());
        let text = element(&xml, "errorDescription").unwrap_or("");
        Err(refused(
            code,
            format!(
                "{action}: UPnP error {} {}",
                code.map_or("?".into(), |c: u32| c.to_string()),
                crate::escape::untrusted(text, 80)
            ),
        ))
    }

    pub async fn external_ip(&self) -> Result<IpAddr, Refused> {
        let xml = self.call("GetExternalIPAddress", &[]).await?;
        element(&xml, "NewExternalIPAddress")
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| Refused {
                code: None,
                message: "GetExternalIPAddress: no address in the answer".into(),
            })
    }

    pub async fn add(
        &self,
        protocol: Protocol,
        external: u16,
        internal: u16,
        client: Ipv4Addr,
        lease: u32,
    ) -> Result<(), Refused> {
        let args = [
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", external.to_string()),
            ("NewProtocol", protocol.name().to_string()),
            ("NewInternalPort", internal.to_string()),
            ("NewInternalClient", client.to_string()),
            ("NewEnabled", "1".to_string()),
            ("NewPortMappingDescription", "p2p".to_string()),
            ("NewLeaseDuration", lease.to_string()),
        ];
        self.call("AddPortMapping", &args).await.map(|_| ())
    }

    pub async fn delete(&self, protocol: Protocol, external: u16) -> Result<(), Refused> {
        let args = [
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", external.to_string()),
            ("NewProtocol", protocol.name().to_string()),
        ];
        self.call("DeletePortMapping", &args).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIPTION: &str = "<?xml version=\"1.0\"?><root><device><serviceList><service>\
        <serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>\
        <controlURL>/ctl/L3F</controlURL></service></serviceList><deviceList><device>\
        <serviceList><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1\
        </serviceType><controlURL>/ctl/PPP</controlURL></service><service>\
        <serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>\
        <controlURL>/ctl/IPConn</controlURL></service></serviceList></device></deviceList>\
        </device></root>";

    #[test]
    fn the_ip_connection_service_is_found_in_a_description() {
        assert_eq!(
            find_service(DESCRIPTION),
            Some((
                "urn:schemas-upnp-org:service:WANIPConnection:2".into(),
                "/ctl/IPConn".into()
            ))
        );
        assert_eq!(find_service("<root><service><serviceType>x"), None);
        assert_eq!(find_service(""), None);
    }

    #[test]
    fn ssdp_answers_name_only_their_own_sender() {
        let answer =
            b"HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
            LOCATION: http://192.168.77.1:41669/rootDesc.xml\r\n\r\n";
        let from: IpAddr = "192.168.77.1".parse().unwrap();
        assert_eq!(
            ssdp_location(answer, from),
            Some((
                "192.168.77.1:41669".parse().unwrap(),
                "/rootDesc.xml".into()
            ))
        );
        assert_eq!(ssdp_location(answer, "192.168.77.9".parse().unwrap()), None);
        assert_eq!(ssdp_location(b"NOTIFY * HTTP/1.1\r\n\r\n", from), None);
        let named = b"HTTP/1.1 200 OK\r\nLOCATION: http://router.lan/desc.xml\r\n\r\n";
        assert_eq!(ssdp_location(named, from), None);
        assert_eq!(ssdp_location(&[b'x'; 4000], from), None);
    }

    #[test]
    fn soap_values_and_errors_are_read_whatever_their_prefix() {
        let ok = "<s:Envelope><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"x\">\
            <NewExternalIPAddress>5.5.5.1</NewExternalIPAddress></u:GetExternalIPAddressResponse>\
            </s:Body></s:Envelope>";
        assert_eq!(element(ok, "NewExternalIPAddress"), Some("5.5.5.1"));
        let fault = "<s:Fault><detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">\
            <errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription>\
            </UPnPError></detail></s:Fault>";
        assert_eq!(element(fault, "errorCode"), Some("718"));
        assert_eq!(element("<a><b>", "errorCode"), None);
        assert_eq!(element("<a", "a"), None);
    }

    proptest::proptest! {
        #[test]
        fn hostile_answers_never_panic(text in ".{0,400}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let from: IpAddr = "192.168.1.1".parse().unwrap();
            let _ = find_service(&text);
            let _ = element(&text, "controlURL");
            let _ = ssdp_location(text.as_bytes(), from);
            let _ = ssdp_location(&bytes, from);
            let _ = super::super::natpmp::parse(&bytes, 2);
        }
    }

    #[test]
    fn a_soap_body_names_the_service_and_its_arguments() {
        let body = soap_body(
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            "DeletePortMapping",
            &[("NewExternalPort", "6881".into())],
        );
        assert!(body.contains(
            "<u:DeletePortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\">"
        ));
        assert!(body.contains("<NewExternalPort>6881</NewExternalPort>"));
    }
}
