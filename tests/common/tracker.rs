//! `p2p tracker` for tests, and the one percent-encoder and scrape decoder they share.

use super::process::{Logged, spawn_logged};
use std::time::Duration;

/// `p2p tracker` on 127.0.0.1 with a free port; returns it with its port.
pub fn start_tracker(interval: u32) -> (Logged, u16) {
    let t = spawn_logged(
        "tracker",
        &[
            "tracker",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            &interval.to_string(),
            "--name",
            "testnode",
        ],
    );
    let port = t.listening_port();
    (t, port)
}

/// Every byte percent-encoded, as a BEP 3 query wants raw info-hashes and peer ids.
pub fn enc(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A hex info-hash percent-encoded for a query string.
pub fn enc_hex(hex: &str) -> String {
    (0..hex.len() / 2)
        .map(|i| format!("%{}", &hex[2 * i..2 * i + 2]))
        .collect()
}

/// (complete, downloaded, incomplete) of the first torrent in a bencoded scrape body.
pub fn decode_scrape(body: &[u8]) -> (i64, i64, i64) {
    let v = p2p::bencode::decode(body).expect("bencoded scrape");
    let p2p::bencode::Kind::Dict(files) = &v.get("files").expect("files").kind else {
        panic!("files is not a dictionary")
    };
    let entry = &files[0].1;
    let n = |k: &str| entry.get(k).and_then(|x| x.as_int()).expect(k);
    (n("complete"), n("downloaded"), n("incomplete"))
}

/// (complete, downloaded, incomplete) for one info-hash (hex) from `p2p tracker`'s HTTP scrape.
pub fn scrape(tracker_port: u16, info_hash_hex: &str) -> (i64, i64, i64) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", tracker_port)).expect("connect to the tracker");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /scrape?info_hash={} HTTP/1.1\r\nConnection: close\r\n\r\n",
        enc_hex(info_hash_hex)
    )
    .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).expect("scrape response");
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head")
        + 4;
    decode_scrape(&response[body_at..])
}
