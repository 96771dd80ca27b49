//! uTP (BEP 29): BitTorrent's transport over UDP, with LEDBAT congestion control so that a
//! transfer yields to the user's other traffic. `packet` is the codec, `ledbat` the congestion
//! controller, `conn` one connection's state machine; all three are sans-IO.

pub mod conn;
pub mod ledbat;
pub mod packet;
