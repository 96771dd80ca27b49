//! uTP (BEP 29): BitTorrent's transport over UDP, with LEDBAT congestion control so that a
//! transfer yields to the user's other traffic. `packet` is the codec, `ledbat` the congestion
//! controller, `conn` one connection's state machine, all three sans-IO; `socket` runs them on
//! the peer port's UDP socket (shared with the DHT) as async streams.

pub mod conn;
mod icmp;
pub mod ledbat;
pub mod packet;
pub mod socket;

pub use socket::{Datagram, UtpSocket, UtpStream};

/// `--utp`: whether connections run over uTP as well as TCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// uTP first, TCP when the peer does not answer uTP; both taken in.
    #[default]
    On,
    /// TCP alone (no uTP; the DHT keeps the UDP port to itself).
    Off,
    /// uTP alone, both ways.
    Only,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "on" => Some(Mode::On),
            "off" => Some(Mode::Off),
            "only" => Some(Mode::Only),
            _ => None,
        }
    }
}
