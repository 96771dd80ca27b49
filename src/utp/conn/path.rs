//! A connection's packet size: from the path's MTU, as the kernel knows it, and what the peer
//! said it reads (see [`super::PAYLOAD`]).

use super::{Conn, PAYLOAD};
use crate::utp::packet::{EXTENSIONS_ROOM, HEADER_LEN};

/// Payload bytes a packet carries at least, whatever an ICMP message says of the path.
const MIN_PAYLOAD: usize = 500;
const ETHERNET_MTU: usize = 1500;

impl Conn {
    /// The MTU the kernel knows for the path to the peer (the route's, or less where ICMP
    /// said so), and whether it is IPv6. Packets grow past [`PAYLOAD`] only when it is wider
    /// than Ethernet's and the peer said it reads such datagrams; they shrink below it when
    /// it is narrower.
    pub fn set_path_mtu(&mut self, mtu: usize, ipv6: bool) {
        self.path_mtu = Some((mtu, if ipv6 { 40 } else { 20 }));
        self.resize();
    }

    /// Payload bytes a new packet carries at most.
    pub fn payload_size(&self) -> usize {
        self.payload
    }

    /// Sets the packet size from the path and the peer (and LEDBAT's packet with it).
    pub(super) fn resize(&mut self) {
        let overhead = 8 + HEADER_LEN + EXTENSIONS_ROOM;
        let size = match self.path_mtu {
            None => PAYLOAD,
            Some((mtu, ip)) => {
                let path = mtu.saturating_sub(ip + overhead);
                match self.peer_datagram {
                    Some(peer) if mtu > ETHERNET_MTU => {
                        path.min(peer.saturating_sub(HEADER_LEN + EXTENSIONS_ROOM))
                    }
                    _ => path.min(PAYLOAD),
                }
            }
        };
        self.payload = size.max(MIN_PAYLOAD);
        self.cc.set_mss(HEADER_LEN + self.payload);
    }
}
