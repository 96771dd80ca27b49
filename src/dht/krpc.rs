//! KRPC (BEP 5), sans-IO: the bencoded queries, responses and errors DHT nodes trade over UDP.
//! Every field is checked before it is trusted: ids are 20 bytes, compact nodes a multiple of
//! 26, transaction ids and tokens short, ports non-zero, the datagram itself small.

use crate::bencode::{self, Bencode, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The largest datagram read or sent; real KRPC messages stay under 1,500 bytes.
pub const MAX_DATAGRAM: usize = 2048;
const MAX_TID: usize = 32;
const MAX_TOKEN: usize = 64;
/// Peers and nodes one response carries at most (values kept small: no amplification).
pub const MAX_VALUES: usize = 32;
const MAX_NODES: usize = 16;

/// A node id or info-hash: 160 bits in the same XOR metric.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; 20]);

impl Id {
    pub fn random() -> Id {
        Id(crate::random::secure_bytes::<20>())
    }

    pub fn distance(&self, other: &Id) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }

    /// Leading bits `self` and `other` share (160 for equal ids).
    pub fn common_prefix(&self, other: &Id) -> usize {
        let d = self.distance(other);
        d.iter()
            .position(|&b| b != 0)
            .map(|i| i * 8 + d[i].leading_zeros() as usize)
            .unwrap_or(160)
    }

    /// An id sharing exactly `prefix` leading bits with `self` (random after that).
    pub fn random_at(&self, prefix: usize) -> Id {
        let mut id = Id::random();
        for bit in 0..prefix.min(160) {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            id.0[byte] = (id.0[byte] & !mask) | (self.0[byte] & mask);
        }
        if prefix < 160 {
            let (byte, mask) = (prefix / 8, 0x80u8 >> (prefix % 8));
            id.0[byte] = (id.0[byte] & !mask) | (!self.0[byte] & mask);
        }
        id
    }

    fn from_bytes(b: &[u8]) -> Option<Id> {
        b.try_into().ok().map(Id)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A node as compact node info carries it (BEP 5: IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: Id,
    pub addr: SocketAddrV4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Ping,
    FindNode {
        target: Id,
    },
    GetPeers {
        info_hash: Id,
    },
    AnnouncePeer {
        info_hash: Id,
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
    /// A method we do not know: answered with error 204.
    Unknown(String),
}

impl Query {
    pub fn name(&self) -> &str {
        match self {
            Query::Ping => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
            Query::Unknown(name) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub id: Option<Id>,
    pub nodes: Vec<NodeInfo>,
    pub values: Vec<SocketAddr>,
    pub token: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Query { id: Id, query: Query },
    Response(Response),
    Error { code: i64, message: String },
}

/// Error codes (BEP 5).
pub const GENERIC_ERROR: i64 = 201;
pub const PROTOCOL_ERROR: i64 = 203;
pub const METHOD_UNKNOWN: i64 = 204;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Transaction id, echoed by the response.
    pub t: Vec<u8>,
    pub body: Body,
}

/// Why a datagram is not a KRPC message we accept; `t` is its transaction id when it had a
/// usable one, so a query can still be answered with error 203.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub t: Option<Vec<u8>>,
    pub why: &'static str,
}

impl Msg {
    pub fn parse(datagram: &[u8]) -> Result<Msg, Malformed> {
        let bad = |t: Option<Vec<u8>>, why| Malformed { t, why };
        if datagram.len() > MAX_DATAGRAM {
            return Err(bad(None, "datagram too large"));
        }
        let v = bencode::decode(datagram).map_err(|_| bad(None, "not bencode"))?;
        if !v.is_dict() {
            return Err(bad(None, "not a dictionary"));
        }
        let t = v
            .get("t")
            .and_then(Value::as_bytes)
            .filter(|t| t.len() <= MAX_TID)
            .ok_or(bad(None, "no usable transaction id"))?
            .to_vec();
        let tt = || Some(t.clone());
        let body = match v.get("y").and_then(Value::as_bytes) {
            Some(b"q") => {
                let args = v
                    .get("a")
                    .filter(|a| a.is_dict())
                    .ok_or(bad(tt(), "query without arguments"))?;
                let id = id_field(args, "id").ok_or(bad(tt(), "query without a 20-byte id"))?;
                let name = v
                    .get("q")
                    .and_then(Value::as_str)
                    .ok_or(bad(tt(), "query without a method"))?;
                let query = match name {
                    "ping" => Query::Ping,
                    "find_node" => Query::FindNode {
                        target: id_field(args, "target")
                            .ok_or(bad(tt(), "find_node without a 20-byte target"))?,
                    },
                    "get_peers" => Query::GetPeers {
                        info_hash: id_field(args, "info_hash")
                            .ok_or(bad(tt(), "get_peers without a 20-byte info_hash"))?,
                    },
                    "announce_peer" => {
                        let implied_port =
                            args.get("implied_port").and_then(Value::as_int) == Some(1);
                        let port = args
                            .get("port")
                            .and_then(Value::as_int)
                            .and_then(|p| u16::try_from(p).ok())
                            .filter(|&p| p > 0);
                        Query::AnnouncePeer {
                            info_hash: id_field(args, "info_hash")
                                .ok_or(bad(tt(), "announce_peer without a 20-byte info_hash"))?,
                            port: match (port, implied_port) {
                                (Some(p), _) => p,
                                (None, true) => 0,
                                (None, false) => {
                                    return Err(bad(tt(), "announce_peer without a port"));
                                }
                            },
                            implied_port,
                            token: args
                                .get("token")
                                .and_then(Value::as_bytes)
                                .filter(|t| t.len() <= MAX_TOKEN)
                                .ok_or(bad(tt(), "announce_peer without a token"))?
                                .to_vec(),
                        }
                    }
                    other => Query::Unknown(crate::escape::untrusted(other, 32)),
                };
                Body::Query { id, query }
            }
            Some(b"r") => {
                let r = v
                    .get("r")
                    .filter(|r| r.is_dict())
                    .ok_or(bad(tt(), "response without a body"))?;
                let nodes = match r.get("nodes").and_then(Value::as_bytes) {
                    None => Vec::new(),
                    Some(b) if b.len() % 26 == 0 => b
                        .chunks_exact(26)
                        .take(MAX_NODES)
                        .filter_map(|c| {
                            let addr = compact_v4(&c[20..])?;
                            Some(NodeInfo {
                                id: Id::from_bytes(&c[..20])?,
                                addr,
                            })
                        })
                        .collect(),
                    Some(_) => return Err(bad(tt(), "compact nodes not a multiple of 26 bytes")),
                };
                let mut values = Vec::new();
                if let Some(list) = r.get("values").and_then(Value::as_list) {
                    for item in list.iter().take(MAX_VALUES * 4) {
                        if let Some(a) = item
                            .as_bytes()
                            .filter(|b| b.len() == 6)
                            .and_then(compact_v4)
                            && values.len() < MAX_VALUES * 4
                        {
                            values.push(SocketAddr::V4(a));
                        }
                    }
                }
                Body::Response(Response {
                    id: Some(id_field(r, "id").ok_or(bad(tt(), "response without a 20-byte id"))?),
                    nodes,
                    values,
                    token: r
                        .get("token")
                        .and_then(Value::as_bytes)
                        .filter(|t| t.len() <= MAX_TOKEN)
                        .map(<[u8]>::to_vec),
                })
            }
            Some(b"e") => {
                let list = v.get("e").and_then(Value::as_list).unwrap_or_default();
                Body::Error {
                    code: list
                        .first()
                        .and_then(Value::as_int)
                        .unwrap_or(GENERIC_ERROR),
                    message: list
                        .get(1)
                        .and_then(Value::as_bytes)
                        .map(|m| crate::escape::untrusted_bytes(m, 100))
                        .unwrap_or_default(),
                }
            }
            _ => return Err(bad(tt(), "unknown message type")),
        };
        Ok(Msg { t, body })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut top = BTreeMap::new();
        top.insert(b"t".to_vec(), Bencode::Bytes(self.t.clone()));
        top.insert(b"v".to_vec(), Bencode::str("P2\x00\x01"));
        match &self.body {
            Body::Query { id, query } => {
                let mut a = BTreeMap::new();
                a.insert(b"id".to_vec(), bytes(&id.0));
                match query {
                    Query::Ping | Query::Unknown(_) => {}
                    Query::FindNode { target } => {
                        a.insert(b"target".to_vec(), bytes(&target.0));
                    }
                    Query::GetPeers { info_hash } => {
                        a.insert(b"info_hash".to_vec(), bytes(&info_hash.0));
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        a.insert(b"info_hash".to_vec(), bytes(&info_hash.0));
                        a.insert(b"port".to_vec(), Bencode::Int(*port as i64));
                        a.insert(b"implied_port".to_vec(), Bencode::Int(*implied_port as i64));
                        a.insert(b"token".to_vec(), bytes(token));
                    }
                }
                top.insert(b"y".to_vec(), Bencode::str("q"));
                top.insert(b"q".to_vec(), Bencode::str(query.name()));
                top.insert(b"a".to_vec(), Bencode::Dict(a));
            }
            Body::Response(r) => {
                let mut d = BTreeMap::new();
                if let Some(id) = r.id {
                    d.insert(b"id".to_vec(), bytes(&id.0));
                }
                if !r.nodes.is_empty() {
                    let mut compact = Vec::with_capacity(r.nodes.len() * 26);
                    for n in &r.nodes {
                        compact.extend_from_slice(&n.id.0);
                        compact.extend_from_slice(&n.addr.ip().octets());
                        compact.extend_from_slice(&n.addr.port().to_be_bytes());
                    }
                    d.insert(b"nodes".to_vec(), Bencode::Bytes(compact));
                }
                if !r.values.is_empty() {
                    let values = r
                        .values
                        .iter()
                        .filter_map(|a| match a {
                            SocketAddr::V4(v4) => {
                                let mut b = v4.ip().octets().to_vec();
                                b.extend_from_slice(&v4.port().to_be_bytes());
                                Some(Bencode::Bytes(b))
                            }
                            SocketAddr::V6(_) => None,
                        })
                        .collect();
                    d.insert(b"values".to_vec(), Bencode::List(values));
                }
                if let Some(token) = &r.token {
                    d.insert(b"token".to_vec(), bytes(token));
                }
                top.insert(b"y".to_vec(), Bencode::str("r"));
                top.insert(b"r".to_vec(), Bencode::Dict(d));
            }
            Body::Error { code, message } => {
                top.insert(b"y".to_vec(), Bencode::str("e"));
                top.insert(
                    b"e".to_vec(),
                    Bencode::List(vec![Bencode::Int(*code), Bencode::str(message)]),
                );
            }
        }
        Bencode::Dict(top).encode()
    }
}

fn bytes(b: &[u8]) -> Bencode {
    Bencode::Bytes(b.to_vec())
}

fn id_field(dict: &Value<'_>, key: &str) -> Option<Id> {
    dict.get(key)
        .and_then(Value::as_bytes)
        .and_then(Id::from_bytes)
}

fn compact_v4(b: &[u8]) -> Option<SocketAddrV4> {
    let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let port = u16::from_be_bytes([b[4], b[5]]);
    (port != 0).then_some(SocketAddrV4::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> Id {
        Id([b; 20])
    }

    #[test]
    fn bep_5_examples_parse() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let m = Msg::parse(ping).unwrap();
        assert_eq!(m.t, b"aa");
        assert_eq!(
            m.body,
            Body::Query {
                id: Id(*b"abcdefghij0123456789"),
                query: Query::Ping
            }
        );
        let announce = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        let Body::Query {
            query:
                Query::AnnouncePeer {
                    implied_port,
                    port,
                    token,
                    ..
                },
            ..
        } = Msg::parse(announce).unwrap().body
        else {
            panic!()
        };
        assert!(implied_port);
        assert_eq!((port, token.as_slice()), (6881, &b"aoeusnth"[..]));
        let values = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
        let Body::Response(r) = Msg::parse(values).unwrap().body else {
            panic!()
        };
        assert_eq!(r.values.len(), 2);
        assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));
        let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        assert_eq!(
            Msg::parse(err).unwrap().body,
            Body::Error {
                code: 201,
                message: "A Generic Error Ocurred".into()
            }
        );
    }

    #[test]
    fn round_trips() {
        let nodes = vec![NodeInfo {
            id: id(3),
            addr: "10.0.0.1:6881".parse().unwrap(),
        }];
        for body in [
            Body::Query {
                id: id(1),
                query: Query::FindNode { target: id(2) },
            },
            Body::Query {
                id: id(1),
                query: Query::AnnouncePeer {
                    info_hash: id(9),
                    port: 5,
                    implied_port: false,
                    token: b"tok".to_vec(),
                },
            },
            Body::Response(Response {
                id: Some(id(4)),
                nodes,
                values: vec!["1.2.3.4:5".parse().unwrap()],
                token: Some(b"x".to_vec()),
            }),
            Body::Error {
                code: 204,
                message: "Method Unknown".into(),
            },
        ] {
            let m = Msg {
                t: b"ab".to_vec(),
                body,
            };
            assert_eq!(Msg::parse(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn hostile_messages_are_refused_with_a_reason() {
        let why = |b: &[u8]| Msg::parse(b).unwrap_err().why;
        assert_eq!(why(b"d1:t2:aa1:y1:q"), "not bencode");
        assert_eq!(why(b"le"), "not a dictionary");
        assert_eq!(
            why(b"d1:ad2:id5:shorte1:q4:ping1:t2:aa1:y1:qe"),
            "query without a 20-byte id"
        );
        assert_eq!(
            why(b"d1:rd2:id20:abcdefghij01234567895:nodes5:xxxxxe1:t2:aa1:y1:re"),
            "compact nodes not a multiple of 26 bytes"
        );
        assert!(Msg::parse(&vec![b'x'; MAX_DATAGRAM + 1]).is_err());
        // A query with a bad argument keeps its transaction id, for error 203.
        let m = Msg::parse(
            b"d1:ad2:id20:abcdefghij01234567896:target3:abce1:q9:find_node1:t2:zz1:y1:qe",
        )
        .unwrap_err();
        assert_eq!(m.t.as_deref(), Some(&b"zz"[..]));
        // Unknown methods parse, to be answered with 204.
        let u = Msg::parse(b"d1:ad2:id20:abcdefghij0123456789e1:q6:vote!!1:t2:aa1:y1:qe").unwrap();
        assert!(matches!(
            u.body,
            Body::Query {
                query: Query::Unknown(_),
                ..
            }
        ));
    }

    #[test]
    fn prefixes_and_ids_at_a_distance() {
        let a = id(0);
        assert_eq!(a.common_prefix(&a), 160);
        let mut b = a;
        b.0[2] = 0x10;
        assert_eq!(a.common_prefix(&b), 19);
        for p in [0, 7, 8, 100, 159] {
            assert_eq!(a.common_prefix(&a.random_at(p)), p);
        }
    }
}
