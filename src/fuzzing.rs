//! Entry points for fuzzing: one function a target, each feeding untrusted bytes to a parser the
//! network or a file reaches, and checking what must hold (round trips). The cargo-fuzz targets
//! in `fuzz/` call them, and `tests/fuzz_corpora.rs` replays every corpus file through them in
//! `cargo test`. None may panic, whatever the input.

use crate::bencode;
use crate::extensions::ExtendedHandshake;
use crate::extensions::metadata::MetadataMsg;
use crate::extensions::pex::PexMessage;
use crate::layout::Layout;
use crate::magnet::Magnet;
use crate::metainfo::Torrent;
use crate::tracker::Tracker;
use crate::tracker::client::{http_body, parse_announce_response};
use crate::tracker::http::{Parsed, parse_request, respond};
use crate::tracker::proto::UdpResponse;
use crate::tracker::udp::{ConnectionIds, handle_packet};
use crate::wire::{self, Decoded};
use std::net::SocketAddr;

/// A target: untrusted bytes in, a panic if something that must hold does not.
pub type Target = fn(&[u8]);

/// The targets, by name: what `fuzz/fuzz_targets/NAME.rs` and the corpus directories use.
pub const TARGETS: &[(&str, Target)] = &[
    ("bencode", bencode_target),
    ("metainfo", metainfo),
    ("wire", wire_target),
    ("http_request", http_request),
    ("udp_tracker", udp_tracker),
    ("tracker_reply", tracker_reply),
    ("extensions", extensions),
    ("magnet", magnet),
    ("krpc", krpc),
    ("dht_node", dht_node),
    ("mse", mse),
    ("rpc_request", rpc_request),
    ("gateway", gateway),
    ("hashes", hashes),
    ("utp", utp),
];

pub fn bencode_target(data: &[u8]) {
    if let Ok(v) = bencode::decode(data) {
        // What decodes re-encodes canonically, and that decodes to the same value.
        let again = v.to_owned().encode();
        let back = bencode::decode(&again).expect("canonical output decodes");
        assert_eq!(back.to_owned(), v.to_owned());
    }
    let _ = bencode::decode_prefix(data);
}

pub fn metainfo(data: &[u8]) {
    if let Ok(t) = Torrent::from_bytes(data) {
        // A torrent saved again (as a magnet fetch does) keeps its info-hash.
        let saved = Torrent::from_bytes(&t.to_file_bytes()).expect("a saved torrent loads");
        assert_eq!(saved.info_hash, t.info_hash);
        let _ = Magnet::of(&t).to_uri();
    }
}

/// uTP datagrams as a connection meets them: each input record is a time step (1 byte, in
/// milliseconds) and a datagram (2-byte length, then the bytes), fed to a connection accepted
/// from a fixed SYN, which is written to, read from and ticked after each. Whatever comes,
/// the connection never panics, everything it sends decodes, and its counts and buffers stay
/// within their bounds.
pub fn utp(data: &[u8]) {
    use crate::utp::conn::Conn;
    use crate::utp::packet::{Header, ST_SYN};
    let t0 = std::time::Instant::now();
    let syn = Header {
        kind: ST_SYN,
        conn_id: 100,
        timestamp: 0,
        timestamp_diff: 0,
        wnd_size: 1 << 20,
        seq_nr: 1000,
        ack_nr: 0,
        sack: None,
        max_datagram: None,
    };
    let mut conn = Conn::accept(&syn, 5000, t0);
    let mut now = t0;
    let mut at = 0;
    let mut buf = vec![0u8; 1 << 16];
    while at + 3 <= data.len() {
        now += std::time::Duration::from_millis(data[at] as u64);
        let len = u16::from_be_bytes([data[at + 1], data[at + 2]]) as usize;
        let datagram = &data[at + 3..(at + 3 + len).min(data.len())];
        at += 3 + len;
        if let Some((h, start)) = Header::decode(datagram) {
            conn.on_packet(&h, &datagram[start..], now);
        }
        conn.write(&datagram[..datagram.len().min(3000)]);
        let _ = conn.read(&mut buf);
        conn.on_tick(now);
        for _ in 0..2000 {
            let Some(out) = conn.transmit(now) else { break };
            assert!(Header::decode(&out).is_some(), "what we send decodes");
        }
        conn.check_invariants();
    }
}

/// BEP 52 hash messages as a seed meets them: each decoded, and every request in them
/// answered from a fixed tree (40 pieces of 4 blocks) as `torrent::hashes` answers, from the
/// piece layer up and, block hashes included, from the whole tree; an answer carries exactly
/// the hashes its asker expects (for runs of two or more, the uncle count both ends compute),
/// the two agree where both answer, and it re-encodes.
pub fn hashes(data: &[u8]) {
    use crate::hash::{Digest256, merkle, sha256};
    use crate::wire::Message;
    static TREE: std::sync::OnceLock<Vec<Vec<Digest256>>> = std::sync::OnceLock::new();
    static WHOLE: std::sync::OnceLock<Vec<Vec<Digest256>>> = std::sync::OnceLock::new();
    let whole = WHOLE.get_or_init(|| {
        let mut blocks: Vec<Digest256> = (0..160u8).map(|i| sha256(&[i])).collect();
        blocks.resize(256, [0; 32]);
        merkle::layers_up(blocks, 8)
    });
    let tree = TREE.get_or_init(|| {
        let pieces: Vec<Digest256> = whole[2][..40].to_vec();
        merkle::layers_above(&pieces, 4 * merkle::BLOCK)
    });
    let mut at = 0;
    while at < data.len() {
        let Decoded::Message(m, used) = wire::decode(&data[at..], 1 << 20) else {
            break;
        };
        at += used;
        let request = match m {
            Message::HashRequest(r) | Message::HashReject(r) | Message::Hashes(r, _) => r,
            _ => continue,
        };
        let asked = (
            request.base,
            request.index,
            request.count,
            request.proof_layers,
        );
        let full = merkle::answer_with(160, asked, |l, i| whole.get(l as usize)?.get(i).copied());
        let above = merkle::answer(tree, 2, 160, asked);
        assert!(above.is_none() || above == full, "one tree, one answer");
        if let Some(answer) = full {
            if request.count >= 2 {
                assert_eq!(answer.len() as u32, request.count + request.uncles());
            }
            let bytes = Message::Hashes(request, answer).encode();
            assert!(matches!(
                wire::decode(&bytes, u32::MAX),
                Decoded::Message(Message::Hashes(..), _)
            ));
        }
    }
}

pub fn wire_target(data: &[u8]) {
    let layout = Layout::new(32 << 10, [1_000_000]);
    let max = wire::max_message_len(layout.piece_count());
    let mut at = 0;
    while at < data.len() {
        match wire::decode(&data[at..], max) {
            Decoded::Message(m, used) => {
                assert!(used > 0);
                at += used;
                let _ = m.validate(&layout);
                let _ = m.block();
                let _ = m.encode();
            }
            Decoded::Incomplete | Decoded::Invalid(_) => break,
        }
    }
    if data.len() >= wire::HANDSHAKE_LEN {
        let hs: &[u8; wire::HANDSHAKE_LEN] = data[..wire::HANDSHAKE_LEN].try_into().expect("len");
        let _ = wire::Handshake::decode(hs);
    }
}

/// The daemon's RPC request path: JSON parsing (bounded depth) and the typed request read
/// from it, whose answer, when refused, is JSON again.
pub fn rpc_request(data: &[u8]) {
    use crate::daemon::request::{Decoded, decode};
    match decode(data) {
        Decoded::Call(_) => {}
        Decoded::Refused(answer) | Decoded::Malformed(answer) => {
            let line = answer.to_line();
            assert!(crate::json::parse(line.as_bytes()).is_ok(), "{line}");
        }
    }
}

/// What a home router or another host on the LAN sends: SSDP answers, device descriptions and
/// SOAP answers (UPnP IGD), NAT-PMP responses, local service discovery announces.
pub fn gateway(data: &[u8]) {
    use crate::portmap::{natpmp, upnp};
    let from = std::net::IpAddr::from([192, 168, 1, 1]);
    if let Some((addr, path)) = upnp::ssdp_location(data, from) {
        assert_eq!(addr.ip(), from, "a device points only at itself");
        assert!(path.starts_with('/') || path.starts_with('?'));
    }
    let text = String::from_utf8_lossy(data);
    let _ = upnp::find_service(&text);
    let _ = upnp::element(&text, "errorCode");
    for op in [0, 1, 2] {
        let _ = natpmp::parse(data, op);
    }
    if let Some(heard) = crate::lsd::parse(data) {
        assert!(heard.port != 0 && !heard.hashes.is_empty() && heard.hashes.len() <= 16);
    }
}

/// The one HTTP/1 module ([`crate::http1`]) both ways, and the tracker's server on top of it.
pub fn http_request(data: &[u8]) {
    let limits = crate::http1::Limits {
        line: 2048,
        head: 8192,
    };
    if let Ok(Some(r)) = crate::http1::parse_request(data, limits) {
        assert!(r.head_len <= data.len());
    }
    for closed in [false, true] {
        if let Ok(Some((r, body))) = crate::http1::whole_response(data, limits, 1 << 16, closed) {
            assert!(r.head_len <= data.len() && body.len() <= 1 << 16);
        }
    }
    if let Parsed::Request { target, used, .. } = parse_request(data) {
        assert!(used <= data.len());
        let tracker = Tracker::new(60, "fuzz".into());
        let _ = respond(&tracker, target, "10.0.0.1".parse().expect("an IP"));
    }
}

pub fn udp_tracker(data: &[u8]) {
    let tracker = Tracker::new(60, "fuzz".into());
    let ids = ConnectionIds::new();
    let from: SocketAddr = "10.0.0.1:6881".parse().expect("an address");
    let _ = handle_packet(&tracker, &ids, data, from, 1000);
    // Again with a valid connection id, so announces and scrapes are reached too.
    if data.len() >= 16 {
        let mut p = data.to_vec();
        p[..8].copy_from_slice(&ids.issue(&from, 1000).to_be_bytes());
        let _ = handle_packet(&tracker, &ids, &p, from, 1000);
    }
}

pub fn tracker_reply(data: &[u8]) {
    if let Ok(body) = http_body(data) {
        let _ = parse_announce_response(&body);
    }
    let _ = parse_announce_response(data);
    let _ = UdpResponse::parse(data, false);
    let _ = UdpResponse::parse(data, true);
}

pub fn extensions(data: &[u8]) {
    if let Ok(h) = ExtendedHandshake::parse(data) {
        let _ = ExtendedHandshake::parse(&h.encode()).expect("ours parses");
    }
    if let Ok(Some(m)) = MetadataMsg::parse(data) {
        assert_eq!(MetadataMsg::parse(&m.encode()), Ok(Some(m)));
    }
    if let Ok(p) = PexMessage::parse(data) {
        assert!(p.added.len() <= crate::extensions::pex::MAX_ADDED);
    }
}

pub fn magnet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(text) {
        assert_eq!(Magnet::parse(&m.to_uri()), Ok(m));
    }
}

pub fn krpc(data: &[u8]) {
    use crate::dht::krpc::{Id, Msg};
    use crate::dht::node::Node;
    if let Ok(m) = Msg::parse(data) {
        let _ = Msg::parse(&m.encode()).expect("ours parses");
    }
    let now = std::time::Instant::now();
    let mut node = Node::new(Id([7; 20]), now);
    node.receive("10.0.0.1:6881".parse().expect("an address"), data, now);
    for (_, reply) in node.take_outbox() {
        // No amplification: a reply fits one small datagram whatever was asked.
        assert!(reply.len() <= 1500, "a {}-byte reply", reply.len());
    }
}

/// A DHT node driven by a sequence of events read from `data`, with a simulated clock: queries
/// from 40 addresses (some sharing an IP or a /24, some loopback), answers to the queries it
/// sent (made-up nodes and peers, right or wrong ids, garbage), raw datagrams, lookups it is
/// asked for, and time passing. After every event its bounds must hold: table, peer store,
/// queries in flight, lookups and each lookup's queries, the size of what it sends.
pub fn dht_node(data: &[u8]) {
    use crate::dht::krpc::{Body, Id, Msg, NodeInfo, Query, Response};
    use crate::dht::lookup::MAX_QUERIES;
    use crate::dht::node::{MAX_LOOKUPS, MAX_PENDING, Node};
    use crate::dht::store::{MAX_INFO_HASHES, MAX_PEERS};
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    let base = std::time::Instant::now();
    let mut clock = Duration::ZERO;
    let mut node = Node::new(Id([0x55; 20]), base);
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let addr_of = |i: u8| -> SocketAddr {
        let i = i % 40;
        let ip = match i {
            0..=9 => Ipv4Addr::new(198, 51, 100, 7),
            10..=19 => Ipv4Addr::new(203, 0, 113, i),
            20..=29 => Ipv4Addr::new(10, i, 0, 1),
            _ => Ipv4Addr::LOCALHOST,
        };
        SocketAddr::V4(SocketAddrV4::new(ip, 1000 + i as u16))
    };
    let id_from = |b: u8| {
        let mut id = [0x55u8; 20];
        id[0] ^= b;
        id[19] = b.wrapping_mul(31);
        Id(id)
    };
    // What the node sent and has not been answered yet: (to, transaction id).
    let mut sent: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    // The last get_peers each address asked, and the token the node gave it: announces use
    // them, so that peers are really stored.
    let mut asked: std::collections::HashMap<SocketAddr, (Id, Vec<u8>)> = Default::default();
    while let Some(op) = next() {
        let now = base + clock;
        match op % 6 {
            0 => {
                let (Some(from), Some(kind), Some(x)) = (next(), next(), next()) else {
                    break;
                };
                let query = match kind % 4 {
                    0 => Query::Ping,
                    1 => Query::FindNode { target: id_from(x) },
                    2 => {
                        asked.insert(addr_of(from), (id_from(x), Vec::new()));
                        Query::GetPeers {
                            info_hash: id_from(x),
                        }
                    }
                    _ => {
                        let (info_hash, token) = asked
                            .get(&addr_of(from))
                            .cloned()
                            .unwrap_or((id_from(x), vec![x; 8]));
                        Query::AnnouncePeer {
                            info_hash,
                            port: 1 + x as u16,
                            implied_port: x & 1 == 0,
                            token,
                        }
                    }
                };
                let msg = Msg {
                    t: vec![kind],
                    body: Body::Query {
                        id: id_from(from),
                        query,
                    },
                };
                node.receive(addr_of(from), &msg.encode(), now);
            }
            1 if !sent.is_empty() => {
                let (Some(which), Some(shape), Some(n)) = (next(), next(), next()) else {
                    break;
                };
                let (to, t) = sent.swap_remove(which as usize % sent.len());
                let nodes = (0..n % 17)
                    .map(|k| NodeInfo {
                        id: id_from(n.wrapping_add(k)),
                        addr: match addr_of(n.wrapping_add(k)) {
                            SocketAddr::V4(v4) => v4,
                            SocketAddr::V6(_) => unreachable!("IPv4 test addresses"),
                        },
                    })
                    .collect();
                let body = match shape % 3 {
                    0 => Body::Response(Response {
                        id: Some(id_from(shape)),
                        nodes,
                        values: (0..n % 5).map(|k| addr_of(k + 7)).collect(),
                        token: Some(vec![shape; 4]),
                    }),
                    1 => Body::Error {
                        code: 201,
                        message: "no".into(),
                    },
                    _ => Body::Response(Response {
                        id: Some(id_from(shape)),
                        ..Response::default()
                    }),
                };
                node.receive(to, &Msg { t, body }.encode(), now);
            }
            2 => {
                let (Some(from), Some(len)) = (next(), next()) else {
                    break;
                };
                let raw: Vec<u8> = (0..len).map_while(|_| next()).collect();
                node.receive(addr_of(from), &raw, now);
            }
            3 => {
                let Some(x) = next() else { break };
                let _ = node.get_peers(id_from(x), (x & 1 == 0).then_some(6881), now);
            }
            4 => {
                let Some(x) = next() else { break };
                node.bootstrap(vec![addr_of(x)], now);
            }
            _ => {
                let Some(x) = next() else { break };
                clock += Duration::from_millis(250 * (1 + x as u64 % 40));
                node.tick(base + clock);
            }
        }
        for (to, datagram) in node.take_outbox() {
            assert!(datagram.len() <= 1500, "a {}-byte datagram", datagram.len());
            match Msg::parse(&datagram) {
                Ok(Msg {
                    t,
                    body: Body::Query { .. },
                }) => sent.push((to, t)),
                Ok(Msg {
                    body:
                        Body::Response(Response {
                            token: Some(token), ..
                        }),
                    ..
                }) => {
                    if let Some(a) = asked.get_mut(&to) {
                        a.1 = token;
                    }
                }
                _ => {}
            }
        }
        sent.truncate(4096);
        let _ = node.take_events();
        assert!(node.table().len() <= 8 * 160);
        assert!(node.store().peer_count() <= MAX_PEERS);
        assert!(node.store().info_hashes() <= MAX_INFO_HASHES);
        assert!(node.in_flight() <= MAX_PENDING);
        let (lookups, most) = node.lookups();
        assert!(lookups <= MAX_LOOKUPS, "{lookups} lookups");
        assert!(most <= MAX_QUERIES, "a lookup sent {most} queries");
    }
}

/// The responder's private key in the `mse` target: fixed, so that a seed transcript made for
/// it gets past the Diffie-Hellman exchange and mutations reach the encrypted fields after it.
const MSE_RESPONDER: [u8; 20] = [0x5a; 20];
const MSE_TORRENT: crate::metainfo::InfoHash = crate::metainfo::InfoHash([0x42; 20]);

/// Bytes in memory as a socket: reads come from `input`, writes go to `output`.
struct MemStream {
    input: Vec<u8>,
    at: usize,
    output: Vec<u8>,
}

impl async_std::io::Read for MemStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.input.len() - self.at);
        let at = self.at;
        buf[..n].copy_from_slice(&self.input[at..at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(n))
    }
}

impl async_std::io::Write for MemStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.output.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The accepting side of an MSE/PE handshake fed the initiator's bytes (after a first byte
/// whose low bit says `--encryption require`): it ends in an error or an accepted torrent, its
/// answer and leftover bounded.
pub fn mse(data: &[u8]) {
    use crate::wire::mse::{KEY_LEN, MAX_IA};
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (accepted, answer) = mse_respond(rest, flags & 1 == 1);
    if let Ok(a) = accepted {
        assert_eq!(a.info_hash, MSE_TORRENT);
        assert!(a.crypto.leftover.len() <= MAX_IA + rest.len());
    }
    // Our key, at most 64 bytes of padding, then VC, the method and an empty PadD.
    assert!(answer.len() <= KEY_LEN + 64 + 14);
}

/// The `mse` target's responder (fixed key, one torrent) fed `input`: what it accepted, and
/// what it wrote back.
fn mse_respond(
    input: &[u8],
    require: bool,
) -> (std::io::Result<crate::peer::encryption::Accepted>, Vec<u8>) {
    use crate::peer::encryption::respond_keyed;
    use crate::wire::mse::{KeyPair, req2};
    let mut stream = MemStream {
        input: input.to_vec(),
        at: 0,
        output: Vec::new(),
    };
    let ours = |d: &crate::hash::Digest| (req2(&MSE_TORRENT.0) == *d).then_some(MSE_TORRENT);
    // The fixed key's public half is computed once: one modular exponentiation an input.
    static KEYS: std::sync::OnceLock<KeyPair> = std::sync::OnceLock::new();
    let keys = KEYS
        .get_or_init(|| KeyPair::from_private(MSE_RESPONDER))
        .clone();
    let accepted = crate::runtime::block_on(respond_keyed(&mut stream, &[], ours, require, keys));
    (accepted, stream.output)
}

/// An initiator's whole side of a handshake for the `mse` target's fixed responder, carrying a
/// BitTorrent handshake: a seed for its corpus.
pub fn mse_seed(require: bool) -> Vec<u8> {
    use crate::peer::encryption::initiate_keyed;
    use crate::wire::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4, KeyPair};
    let responder = KeyPair::from_private(MSE_RESPONDER);
    let mut stream = MemStream {
        input: responder.public.to_vec(),
        at: 0,
        output: Vec::new(),
    };
    let ia = crate::wire::Handshake::new(MSE_TORRENT, [7; 20]).encode();
    let provide = if require {
        CRYPTO_RC4
    } else {
        CRYPTO_RC4 | CRYPTO_PLAINTEXT
    };
    // It fails once its input (the responder's key) runs out; what it wrote is the transcript.
    let _ = crate::runtime::block_on(initiate_keyed(
        &mut stream,
        &MSE_TORRENT,
        &ia,
        provide,
        KeyPair::from_private([0x11; 20]),
    ));
    let mut seed = vec![require as u8];
    seed.extend_from_slice(&stream.output);
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mse_seed_gets_past_the_key_exchange_to_an_accepted_torrent() {
        for require in [false, true] {
            let seed = mse_seed(require);
            let accepted = mse_respond(&seed[1..], require)
                .0
                .expect("the seed is a whole, valid handshake");
            assert_eq!(accepted.info_hash, MSE_TORRENT);
            assert_eq!(accepted.crypto.is_encrypted(), require);
            mse(&seed);
        }
    }

    #[test]
    fn random_event_sequences_keep_the_node_within_its_bounds() {
        // The `dht_node` fuzz target's checks, on inputs drawn here: each a mix of queries from 40
        // addresses, answers to what the node asked, garbage, lookups and time passing.
        let mut rng = crate::random::Rng::seeded(0x24);
        for round in 0..200 {
            let len = 64 + rng.below(2048);
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    let b = rng.below(256) as u8;
                    // Every fourth byte an event: often answers, so lookups go deep.
                    if i % 4 == 0 && round % 2 == 0 {
                        [0, 1, 1, 3, 5][b as usize % 5]
                    } else {
                        b
                    }
                })
                .collect();
            dht_node(&data);
        }
    }

    #[test]
    fn mutated_v2_and_hybrid_torrents_never_panic_and_round_trip() {
        // The `metainfo` target's checks on the v2 seeds of its corpus, each byte-mutated
        // thousands of times: a flipped length, key or hash lands on every v2 check.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/metainfo/");
        let mut rng = crate::random::Rng::seeded(0x52);
        for name in [
            "v2-multi",
            "hybrid-multi",
            "v2-libtorrent",
            "v2-single-libtorrent",
        ] {
            let seed = std::fs::read(format!("{dir}{name}")).unwrap();
            assert!(Torrent::from_bytes(&seed).is_ok(), "{name} is a valid seed");
            for _ in 0..3000 {
                let mut data = seed.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(data.len());
                    data[at] = match rng.below(3) {
                        0 => rng.below(256) as u8,
                        1 => data[at].wrapping_add(1),
                        _ => b"0123456789:deil"[rng.below(15)],
                    };
                }
                metainfo(&data);
            }
        }
    }

    #[test]
    fn mutated_utp_streams_never_panic_and_keep_their_bounds() {
        // The `utp` target's checks on its corpus, each byte-mutated thousands of times, and
        // on drawn streams of well-formed packets with numbers near the connection's own.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/utp/");
        let mut rng = crate::random::Rng::seeded(0x29);
        for entry in std::fs::read_dir(dir).unwrap() {
            let seed = std::fs::read(entry.unwrap().path()).unwrap();
            for _ in 0..2000 {
                let mut data = seed.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(data.len());
                    data[at] = match rng.below(2) {
                        0 => rng.below(256) as u8,
                        _ => data[at].wrapping_add(1),
                    };
                }
                utp(&data);
            }
        }
        for _ in 0..300 {
            let mut data = Vec::new();
            for _ in 0..rng.below(60) {
                let kind = [0u8, 0, 0, 1, 2, 2, 3, 4][rng.below(8)];
                let mut d = vec![(kind << 4) | 1, 0];
                d.extend_from_slice(&101u16.to_be_bytes());
                d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 9]);
                d.extend_from_slice(&(rng.below(2 << 20) as u32).to_be_bytes());
                d.extend_from_slice(&(1000 + rng.below(80) as u16).to_be_bytes());
                d.extend_from_slice(&(4990 + rng.below(80) as u16).to_be_bytes());
                if rng.below(3) == 0 {
                    d[1] = 1;
                    let n = 1 + rng.below(9);
                    d.extend_from_slice(&[0, n as u8]);
                    d.extend((0..n).map(|_| rng.below(256) as u8));
                }
                d.extend(std::iter::repeat_n(7u8, rng.below(1500)));
                data.push(rng.below(40) as u8);
                data.extend_from_slice(&(d.len() as u16).to_be_bytes());
                data.extend_from_slice(&d);
            }
            utp(&data);
        }
    }

    #[test]
    fn random_hash_requests_get_answers_of_the_length_their_askers_expect() {
        // The `hashes` target's checks on requests drawn here, most of them inside the tree.
        let mut rng = crate::random::Rng::seeded(0x21);
        let mut data = Vec::new();
        for _ in 0..20_000 {
            let pick = |rng: &mut crate::random::Rng, n: usize| rng.below(n) as u32;
            let (base, index) = (pick(&mut rng, 10), pick(&mut rng, 70));
            let count = [
                pick(&mut rng, 9),
                1 << pick(&mut rng, 7),
                pick(&mut rng, 10_000),
            ][rng.below(3)];
            let proof = pick(&mut rng, 9);
            data.extend_from_slice(&49u32.to_be_bytes());
            data.push(21);
            data.extend_from_slice(&[0; 32]);
            for n in [base, index, count, proof] {
                data.extend_from_slice(&n.to_be_bytes());
            }
        }
        hashes(&data);
    }
}
