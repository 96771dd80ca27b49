//! uTP (BEP 29): BitTorrent's transport over UDP, with LEDBAT congestion control so that a
//! transfer yields to the user's other traffic. `packet` is the codec, `ledbat` the congestion
//! controller, `conn` one connection's state machine, all three sans-IO; `socket` runs them on
//! the peer port's UDP socket (shared with the DHT) as async streams.

pub mod conn;
pub mod ledbat;
pub mod packet;
pub mod socket;

pub use socket::{Datagram, UtpSocket, UtpStream};
