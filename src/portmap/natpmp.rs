//! NAT-PMP (RFC 6886): the gateway's public address and a port mapping, asked over UDP to
//! port 5351 of the default gateway. Packets are built and read here without I/O;
//! [`transact`] sends one request with the RFC's retries (250 ms, doubling; four tries here).

use super::Protocol;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const PORT: u16 = 5351;
const TRIES: u32 = 4;
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// What the gateway answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Public(Ipv4Addr),
    Mapped {
        protocol: Protocol,
        internal: u16,
        external: u16,
        lifetime: u32,
    },
}

/// Asks for the gateway's public address.
pub fn public_request() -> Vec<u8> {
    vec![0, 0]
}

/// Asks to map `internal` (to `external` if free) for `lifetime` seconds; 0 removes it.
pub fn map_request(protocol: Protocol, internal: u16, external: u16, lifetime: u32) -> Vec<u8> {
    let op = match protocol {
        Protocol::Udp => 1,
        Protocol::Tcp => 2,
    };
    let mut p = vec![0, op, 0, 0];
    p.extend_from_slice(&internal.to_be_bytes());
    p.extend_from_slice(&external.to_be_bytes());
    p.extend_from_slice(&lifetime.to_be_bytes());
    p
}

/// Reads a response to a request with opcode `op`.
pub fn parse(packet: &[u8], op: u8) -> Result<Response, String> {
    if packet.len() < 8 || packet[0] != 0 {
        return Err("not a NAT-PMP response".into());
    }
    if packet[1] != op | 0x80 {
        return Err(format!(
            "a response to opcode {} (asked {op})",
            packet[1] & 0x7f
        ));
    }
    let code = u16::from_be_bytes([packet[2], packet[3]]);
    if code != 0 {
        let why = match code {
            1 => "unsupported version",
            2 => "not authorized or refused",
            3 => "the gateway has no network",
            4 => "out of resources",
            5 => "unsupported opcode",
            _ => "an unknown result code",
        };
        return Err(format!("NAT-PMP result {code}: {why}"));
    }
    match (op, packet.len()) {
        (0, 12..) => Ok(Response::Public(Ipv4Addr::new(
            packet[8], packet[9], packet[10], packet[11],
        ))),
        (1 | 2, 16..) => Ok(Response::Mapped {
            protocol: if op == 1 {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            internal: u16::from_be_bytes([packet[8], packet[9]]),
            external: u16::from_be_bytes([packet[10], packet[11]]),
            lifetime: u32::from_be_bytes([packet[12], packet[13], packet[14], packet[15]]),
        }),
        _ => Err("a NAT-PMP response cut short".into()),
    }
}

/// Sends `request` to the gateway and waits for its answer, retrying as RFC 6886 says.
pub async fn transact(gateway: Ipv4Addr, request: &[u8]) -> Result<Response, String> {
    let to = SocketAddr::from((gateway, PORT));
    let socket = crate::net::source::udp_for(to)
        .await
        .map_err(|e| e.to_string())?;
    socket.connect(to).await.map_err(|e| e.to_string())?;
    let mut wait = FIRST_WAIT;
    let mut buf = [0u8; 64];
    for _ in 0..TRIES {
        socket.send(request).await.map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match crate::runtime::within(left, socket.recv(&mut buf)).await {
                None => break,
                // Port unreachable comes back as an error: nobody speaks NAT-PMP there.
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(n)) => match parse(&buf[..n], request[1]) {
                    Ok(r) => return Ok(r),
                    Err(e) if n >= 4 && buf[1] == request[1] | 0x80 => return Err(e),
                    Err(_) => continue,
                },
            }
        }
        wait *= 2;
    }
    Err(format!("no NAT-PMP answer from {gateway}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_the_rfc_says() {
        assert_eq!(public_request(), [0, 0]);
        assert_eq!(
            map_request(Protocol::Tcp, 6881, 6882, 7200),
            [0, 2, 0, 0, 0x1a, 0xe1, 0x1a, 0xe2, 0, 0, 0x1c, 0x20]
        );
        assert_eq!(map_request(Protocol::Udp, 1, 0, 0)[1], 1);
    }

    #[test]
    fn responses_and_refusals() {
        let public = [0, 128, 0, 0, 0, 0, 1, 0, 5, 5, 5, 1];
        assert_eq!(
            parse(&public, 0),
            Ok(Response::Public(Ipv4Addr::new(5, 5, 5, 1)))
        );
        let mapped = [
            0, 130, 0, 0, 0, 0, 1, 0, 0x1a, 0xe1, 0x1a, 0xe2, 0, 0, 0x0e, 0x10,
        ];
        assert_eq!(
            parse(&mapped, 2),
            Ok(Response::Mapped {
                protocol: Protocol::Tcp,
                internal: 6881,
                external: 6882,
                lifetime: 3600
            })
        );
        let refused = [0, 130, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse(&refused, 2).unwrap_err().contains("not authorized"));
        assert!(parse(&mapped, 1).is_err(), "an answer to another request");
        assert!(parse(&mapped[..10], 2).is_err());
        assert!(parse(&[1, 128, 0, 0, 0, 0, 0, 0], 0).is_err());
        assert!(parse(&[], 0).is_err());
    }
}
