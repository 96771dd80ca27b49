//! A peer written by hand for wire-level tests: a handshake offering the extension protocol
//! (BEP 10) and the fast extension (BEP 6), and length-prefixed messages read one at a time.

use super::info_hash;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// Connects to 127.0.0.1:`port` and trades handshakes for `torrent` as `peer_id`; returns the
/// stream (reads time out after 20 s) and the other side's handshake.
pub fn raw_handshake(port: u16, torrent: &Path, peer_id: &[u8; 20]) -> (TcpStream, [u8; 68]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut hs = b"\x13BitTorrent protocol".to_vec();
    hs.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
    let hex = info_hash(torrent);
    hs.extend((0..20).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()));
    hs.extend_from_slice(peer_id);
    s.write_all(&hs).unwrap();
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).unwrap();
    (s, theirs)
}

/// One length-prefixed message (id and body), or `None` for a keep-alive.
pub fn read_message(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("a message");
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return None;
    }
    assert!(len <= (1 << 20) + 16, "a message of {len} bytes");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("a whole message");
    Some((body[0], body[1..].to_vec()))
}
