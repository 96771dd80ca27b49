//! Nodes driven over an in-memory network with latency and loss: a small network in every test
//! run, and the scale simulation (`DHT_SIM_NODES=10000 cargo test --release dht_scale --
//! --ignored --nocapture`, run by `benches/dht.sh`).

use super::krpc::{Body, Id, Msg, NodeInfo, Query, Response};
use super::node::{Event, LookupReport, Node};
use crate::random::Rng;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

struct Net {
    nodes: Vec<Node>,
    by_addr: HashMap<SocketAddr, usize>,
    /// (delivery time in µs, sequence) → (to, from, datagram)
    queue: BTreeMap<(u64, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    seq: u64,
    clock: u64,
    base: Instant,
    rng: Rng,
    loss: f64,
    delivered: u64,
    attacker: Option<Attacker>,
}

/// Node `i`'s address: each in a /24 of its own, as nodes of the real DHT nearly always are.
fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 8) as u8, i as u8, 1], 6881))
}

/// One host that answers every `find_node` and `get_peers` with 16 made-up nodes nearer the
/// target than any before, each on another port of its one IP: the eclipse of issue 24.
struct Attacker {
    ip: Ipv4Addr,
    /// The id each of its ports claims.
    ids: HashMap<u16, Id>,
    /// Bits its next answer's made-up nodes share with the target.
    depth: usize,
    /// Queries it received.
    queries: usize,
}

impl Attacker {
    fn answer(&mut self, to: SocketAddr, datagram: &[u8]) -> Option<Vec<u8>> {
        let Ok(Msg {
            t,
            body: Body::Query { query, .. },
        }) = Msg::parse(datagram)
        else {
            return None;
        };
        self.queries += 1;
        let id = *self.ids.entry(to.port()).or_insert_with(Id::random);
        let target = match query {
            Query::FindNode { target } => target,
            Query::GetPeers { info_hash } => info_hash,
            _ => return Some(response(t, id, Vec::new())),
        };
        // A bit nearer every third answer, up to 150 bits (ten left to vary, so that no two
        // made-up ids are the same): a lookup without bounds goes on for hundreds of queries.
        if self.queries.is_multiple_of(3) {
            self.depth = (self.depth + 1).min(150);
        }
        let nodes = (0..16)
            .map(|_| {
                let port = 10_000 + self.ids.len() as u16;
                let fake = target.random_at(self.depth);
                self.ids.insert(port, fake);
                NodeInfo {
                    id: fake,
                    addr: SocketAddrV4::new(self.ip, port),
                }
            })
            .collect();
        Some(response(t, id, nodes))
    }
}

/// A query from node `id`, as a datagram.
fn query(id: Id, query: Query) -> Vec<u8> {
    Msg {
        t: b"q".to_vec(),
        body: Body::Query { id, query },
    }
    .encode()
}

fn response(t: Vec<u8>, id: Id, nodes: Vec<NodeInfo>) -> Vec<u8> {
    Msg {
        t,
        body: Body::Response(Response {
            id: Some(id),
            nodes,
            values: Vec::new(),
            token: Some(b"tok".to_vec()),
        }),
    }
    .encode()
}

impl Net {
    fn new(n: usize, loss: f64) -> Net {
        let base = Instant::now();
        let nodes: Vec<Node> = (0..n).map(|_| Node::new(Id::random(), base)).collect();
        let by_addr = (0..n).map(|i| (addr(i), i)).collect();
        Net {
            nodes,
            by_addr,
            queue: BTreeMap::new(),
            seq: 0,
            clock: 0,
            base,
            rng: Rng::new(),
            loss,
            delivered: 0,
            attacker: None,
        }
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_micros(self.clock)
    }

    /// Moves node `i`'s outbox onto the wire: 5–80 ms each, `loss` of them lost.
    fn flush(&mut self, i: usize) {
        for (to, bytes) in self.nodes[i].take_outbox() {
            if (self.rng.below(1000) as f64) < self.loss * 1000.0 {
                continue;
            }
            let at = self.clock + 5_000 + self.rng.below(75_000) as u64;
            self.seq += 1;
            self.queue.insert((at, self.seq), (to, addr(i), bytes));
        }
    }

    /// Runs until `until` µs of virtual time, ticking every node each 250 ms.
    fn run_for(&mut self, span: Duration) -> Vec<(usize, Event)> {
        let end = self.clock + span.as_micros() as u64;
        let mut events = Vec::new();
        let mut next_tick = self.clock - self.clock % 250_000 + 250_000;
        loop {
            let next_msg = self.queue.keys().next().map(|k| k.0);
            let at = match next_msg {
                Some(m) if m < next_tick => m,
                _ => next_tick,
            };
            if at > end {
                self.clock = end;
                return events;
            }
            self.clock = at;
            let now = self.now();
            if next_msg == Some(at) && at < next_tick {
                let key = *self.queue.keys().next().unwrap();
                let (to, from, bytes) = self.queue.remove(&key).unwrap();
                if let Some(a) = self.attacker.as_mut().filter(|a| to.ip() == a.ip)
                    && let Some(reply) = a.answer(to, &bytes)
                {
                    self.seq += 1;
                    self.queue
                        .insert((self.clock + 5_000, self.seq), (from, to, reply));
                } else if let Some(&i) = self.by_addr.get(&to) {
                    self.delivered += 1;
                    self.nodes[i].receive(from, &bytes, now);
                    self.flush(i);
                    events.extend(self.nodes[i].take_events().into_iter().map(|e| (i, e)));
                }
            } else {
                next_tick += 250_000;
                for i in 0..self.nodes.len() {
                    self.nodes[i].tick(now);
                    self.flush(i);
                    events.extend(self.nodes[i].take_events().into_iter().map(|e| (i, e)));
                }
            }
        }
    }

    fn bootstrap_all(&mut self, through: usize) {
        for i in 0..self.nodes.len() {
            if i != through {
                let now = self.now();
                self.nodes[i].bootstrap(vec![addr(through)], now);
                self.flush(i);
            }
            // Let joins overlap, but not all at once.
            if i % 50 == 49 {
                self.run_for(Duration::from_millis(300));
            }
        }
        self.run_for(Duration::from_secs(10));
        if std::env::var("SIM_REJOIN").is_ok() {
            for i in 0..self.nodes.len() {
                let now = self.now();
                self.nodes[i].bootstrap(vec![addr(through)], now);
                self.flush(i);
                if i % 50 == 49 {
                    self.run_for(Duration::from_millis(300));
                }
            }
            self.run_for(Duration::from_secs(10));
        }
    }

    /// Node `who` looks `hash` up; returns what the lookup reported and the peers it found.
    fn lookup(
        &mut self,
        who: usize,
        hash: Id,
        announce: Option<u16>,
    ) -> (LookupReport, Vec<SocketAddr>) {
        let now = self.now();
        let id = self.nodes[who].get_peers(hash, announce, now).unwrap();
        self.flush(who);
        let mut peers = Vec::new();
        for _ in 0..180 {
            for (i, e) in self.run_for(Duration::from_millis(500)) {
                match e {
                    Event::Peers { lookup, peers: p } if i == who && lookup == id => {
                        peers.extend(p)
                    }
                    Event::Done { lookup, report } if i == who && lookup == id => {
                        return (report, peers);
                    }
                    _ => {}
                }
            }
        }
        panic!("lookup did not end in 90 s of virtual time");
    }
}

fn percentile(v: &mut [usize], p: f64) -> usize {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Bootstraps `n` nodes, has one announce, then `lookups` others look for it.
fn simulate(n: usize, lookups: usize, loss: f64) -> (Vec<usize>, Vec<usize>, usize, f64) {
    let mut net = Net::new(n, loss);
    net.bootstrap_all(0);
    let hash = Id::random();
    let (_, _) = net.lookup(n / 2, hash, Some(7000));
    net.run_for(Duration::from_secs(5));
    if std::env::var("SIM_DEBUG").is_ok() {
        let holders = net
            .nodes
            .iter()
            .filter(|x| x.store().peer_count() > 0)
            .count();
        let mut all: Vec<Id> = net.nodes.iter().map(|x| x.id()).collect();
        all.sort_by_key(|i| i.distance(&hash));
        let closest_holders = net
            .nodes
            .iter()
            .filter(|x| x.store().peer_count() > 0 && all[..8].contains(&x.id()))
            .count();
        eprintln!("holders {holders}, of the 8 truly closest {closest_holders}");
    }
    let (mut rounds, mut messages, mut found) = (Vec::new(), Vec::new(), 0);
    for k in 0..lookups {
        let who = (k * 7919 + 13) % n;
        let (report, peers) = net.lookup(who, hash, None);
        rounds.push(report.rounds as usize);
        messages.push(report.messages);
        if peers.contains(&SocketAddr::new(addr(n / 2).ip(), 7000)) {
            found += 1;
        }
    }
    let avg_table = net.nodes.iter().map(|x| x.table().len()).sum::<usize>() as f64 / n as f64;
    (rounds, messages, found, avg_table)
}

#[test]
fn a_small_lossy_network_finds_an_announced_peer() {
    let (rounds, messages, found, table) = simulate(300, 20, 0.10);
    assert!(found >= 18, "found by {found} of 20 lookups");
    let mut m = messages.clone();
    assert!(percentile(&mut m, 0.5) < 60, "{messages:?}");
    assert!(table >= 8.0, "tables hold {table} nodes on average");
    let mut r = rounds;
    assert!(percentile(&mut r, 0.95) <= 8, "{r:?}");
}

#[test]
fn one_host_answering_with_ever_closer_nodes_neither_holds_nor_eclipses_a_lookup() {
    let mut net = Net::new(60, 0.0);
    net.bootstrap_all(0);
    // A hash near the victim's own id, so that the attacker's id near it falls in the
    // victim's own bucket, which splits rather than turning a newcomer away.
    let victim = 30;
    let hash = net.nodes[victim].id().random_at(30);
    net.lookup(5, hash, Some(7000));
    let ip = Ipv4Addr::new(10, 250, 0, 1);
    net.attacker = Some(Attacker {
        ip,
        ids: HashMap::new(),
        depth: 40,
        queries: 0,
    });
    // The attacker makes itself known to the victim with an id near the hash.
    let near = hash.random_at(40);
    net.attacker.as_mut().unwrap().ids.insert(9000, near);
    let now = net.now();
    net.nodes[victim].receive(SocketAddr::from((ip, 9000)), &query(near, Query::Ping), now);
    net.flush(victim);
    assert!(net.nodes[victim].contains(&SocketAddrV4::new(ip, 9000)));
    let started = net.clock;
    let (report, peers) = net.lookup(victim, hash, None);
    let took = Duration::from_micros(net.clock - started);
    assert!(
        peers.contains(&SocketAddr::new(addr(5).ip(), 7000)),
        "the honest nodes were not reached: {report:?}"
    );
    let attacker = net.attacker.as_ref().unwrap();
    assert!(attacker.queries >= 1, "the attacker was never asked");
    assert!(
        attacker.queries <= 3,
        "{} queries went to one /24",
        attacker.queries
    );
    assert!(report.messages <= 200, "{report:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_lookup_ends_within_its_query_and_time_bounds_whatever_it_hears() {
    // A network of attackers alone, each in a /24 of its own: nothing honest to find, fake
    // nodes without end. The lookup still ends, within 200 queries and 60 s.
    let mut net = Net::new(1, 0.0);
    let hash = Id::random();
    let mut victim_heard = 0;
    // One made-up network: its nodes' ids grow ever nearer, whichever of them is asked.
    let mut attacker = Attacker {
        ip: Ipv4Addr::UNSPECIFIED,
        ids: HashMap::new(),
        depth: 20,
        queries: 0,
    };
    // Its first node makes itself known, so the lookup starts from it.
    let first = hash.random_at(20);
    attacker.ids.insert(9000, first);
    let now = net.now();
    net.nodes[0].receive(
        "10.1.1.1:9000".parse().unwrap(),
        &query(first, Query::Ping),
        now,
    );
    net.nodes[0].take_outbox();
    assert!(net.nodes[0].get_peers(hash, Some(1), now).is_some());
    let mut rng = Rng::new();
    let mut done = None;
    let start = net.now();
    for step in 0..2000u64 {
        let now = start + Duration::from_millis(step * 50);
        for (to, bytes) in net.nodes[0].take_outbox() {
            if let Some(reply) = attacker.answer(to, &bytes) {
                // Each made-up node answers from an address of its own /24 next time.
                let mut reply_msg = Msg::parse(&reply).unwrap();
                if let Body::Response(r) = &mut reply_msg.body {
                    for n in &mut r.nodes {
                        let b = rng.below(250) as u8 + 1;
                        n.addr = SocketAddrV4::new(
                            Ipv4Addr::new(10, b, rng.below(250) as u8, 1),
                            n.addr.port(),
                        );
                    }
                }
                victim_heard += 1;
                net.nodes[0].receive(to, &reply_msg.encode(), now);
            }
        }
        net.nodes[0].tick(now);
        for e in net.nodes[0].take_events() {
            if let Event::Done { report, .. } = e {
                done = Some((report, now.duration_since(start)));
            }
        }
        if done.is_some() {
            break;
        }
    }
    let (report, took) = done.expect("the lookup never ended");
    assert!(report.messages <= 200, "{report:?}");
    assert!(victim_heard <= 200, "{victim_heard}");
    assert!(took <= Duration::from_secs(61), "{took:?}");
}

#[test]
fn a_claimed_id_or_a_flood_from_one_ip_changes_nothing_find_node_returns() {
    let now = Instant::now();
    let mut node = Node::new(Id([1; 20]), now);
    // 20 honest nodes, each at an IP of its own, make themselves known.
    for i in 0..20 {
        node.receive(addr(i), &query(Id::random(), Query::Ping), now);
    }
    let target = Id::random();
    let find = |node: &mut Node, from: &str| {
        node.take_outbox();
        node.receive(
            from.parse().unwrap(),
            &query(Id::random(), Query::FindNode { target }),
            now,
        );
        let out = node.take_outbox();
        let Body::Response(r) = Msg::parse(&out.last().unwrap().1).unwrap().body else {
            panic!()
        };
        r.nodes
    };
    let before = find(&mut node, "10.200.0.1:1");
    assert_eq!(before.len(), 8);
    // The hijack: every id find_node named is claimed from another address…
    let thief = Ipv4Addr::new(203, 0, 113, 5);
    for n in &before {
        node.receive(
            SocketAddr::from((thief, 7000)),
            &query(n.id, Query::Ping),
            now,
        );
    }
    // …and the bucket filling: 320 made-up nodes on the ports of one IP.
    let flood = Ipv4Addr::new(198, 51, 100, 7);
    for p in 0..320u16 {
        let from = SocketAddr::from((flood, 1000 + p));
        node.receive(
            from,
            &query(target.random_at(p as usize % 100), Query::Ping),
            now,
        );
    }
    let after = find(&mut node, "10.200.0.2:1");
    assert!(!after.iter().any(|n| *n.addr.ip() == thief), "{after:?}");
    assert!(after.iter().filter(|n| *n.addr.ip() == flood).count() <= 1);
    let kept = before.iter().filter(|n| after.contains(n)).count();
    assert!(
        kept >= 7,
        "only {kept} of the 8 honest nodes are still named"
    );
}

/// The node's one answer to transaction `t` (it may also ping a querier it does not know).
fn reply_to(node: &mut Node, t: &[u8]) -> Body {
    let mut replies: Vec<Body> = node
        .take_outbox()
        .into_iter()
        .map(|(_, b)| Msg::parse(&b).unwrap())
        .filter(|m| m.t == t)
        .map(|m| m.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.pop().unwrap()
}

#[test]
fn transaction_ids_cannot_be_guessed_from_the_last_one() {
    let now = Instant::now();
    let mut node = Node::new(Id([1; 20]), now);
    for i in 0..200 {
        node.ping(addr(i), now);
    }
    let tids: Vec<u16> = node
        .take_outbox()
        .iter()
        .map(|(_, b)| {
            let t = Msg::parse(b).unwrap().t;
            u16::from_be_bytes([t[0], t[1]])
        })
        .collect();
    assert_eq!(tids.len(), 200);
    let mut distinct = tids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 200, "ids in flight are never shared");
    let next = tids
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    assert!(next < 5, "{next} of 199 ids followed the one before");
}

#[test]
fn queries_are_answered_as_bep_5_says() {
    let now = Instant::now();
    let mut node = Node::new(Id([1; 20]), now);
    let from: SocketAddr = "10.0.0.9:1000".parse().unwrap();
    let ask = |node: &mut Node, q: Query| -> Body {
        let m = Msg {
            t: b"tt".to_vec(),
            body: Body::Query {
                id: Id([9; 20]),
                query: q,
            },
        };
        node.receive(from, &m.encode(), now);
        reply_to(node, b"tt")
    };
    let Body::Response(r) = ask(
        &mut node,
        Query::GetPeers {
            info_hash: Id([5; 20]),
        },
    ) else {
        panic!()
    };
    let token = r.token.unwrap();
    assert!(r.values.is_empty());
    // An announce with another IP's token is refused; with ours it is stored.
    let other_token = {
        let mut other = Node::new(Id([2; 20]), now);
        let m = Msg {
            t: b"x".to_vec(),
            body: Body::Query {
                id: Id([9; 20]),
                query: Query::GetPeers {
                    info_hash: Id([5; 20]),
                },
            },
        };
        other.receive("10.0.0.10:1".parse().unwrap(), &m.encode(), now);
        let Body::Response(r) = reply_to(&mut other, b"x") else {
            panic!()
        };
        r.token.unwrap()
    };
    let announce = |token: Vec<u8>| Query::AnnouncePeer {
        info_hash: Id([5; 20]),
        port: 0,
        implied_port: true,
        token,
    };
    assert!(matches!(
        ask(&mut node, announce(other_token)),
        Body::Error { code: 203, .. }
    ));
    assert!(matches!(ask(&mut node, announce(token)), Body::Response(_)));
    let Body::Response(r) = ask(
        &mut node,
        Query::GetPeers {
            info_hash: Id([5; 20]),
        },
    ) else {
        panic!()
    };
    assert_eq!(
        r.values,
        [from],
        "implied_port: the port the query came from"
    );
    assert!(matches!(
        ask(&mut node, Query::Unknown("vote".into())),
        Body::Error { code: 204, .. }
    ));
    // Garbage with a transaction id gets 203; without one, nothing.
    node.receive(from, b"d1:t2:zz1:y1:q1:q4:pinge", now);
    assert!(matches!(
        reply_to(&mut node, b"zz"),
        Body::Error { code: 203, .. }
    ));
    node.receive(from, b"\xff\xfe", now);
    assert!(node.take_outbox().is_empty());
}

#[test]
fn one_ip_past_the_rate_limit_goes_unanswered() {
    let now = Instant::now();
    let mut node = Node::new(Id([1; 20]), now);
    let ping = Msg {
        t: b"p".to_vec(),
        body: Body::Query {
            id: Id([9; 20]),
            query: Query::Ping,
        },
    }
    .encode();
    for i in 0..2000u16 {
        node.receive(SocketAddr::from(([10, 0, 0, 1], 1000 + i)), &ping, now);
    }
    let answers = |node: &mut Node| {
        node.take_outbox()
            .iter()
            .filter(|(_, b)| Msg::parse(b).unwrap().t == b"p")
            .count()
    };
    let answered = answers(&mut node);
    assert!(answered <= 401, "{answered} answers in one instant");
    node.receive("10.0.0.2:5".parse().unwrap(), &ping, now);
    assert_eq!(answers(&mut node), 1, "another IP is still answered");
}

#[test]
fn a_flood_of_announces_for_random_hashes_stays_bounded() {
    use super::store::PeerStore;
    let now = Instant::now();
    let mut node = Node::with_store(Id([1; 20]), now, PeerStore::with_limit(1000));
    for i in 0..5000u32 {
        let from = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 1));
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        let get = Msg {
            t: b"g".to_vec(),
            body: Body::Query {
                id: Id([9; 20]),
                query: Query::GetPeers { info_hash: Id(h) },
            },
        };
        node.receive(from, &get.encode(), now);
        // The answer to `from` (the node may also ping the address it knows id 9 at).
        let r = node
            .take_outbox()
            .into_iter()
            .filter(|(to, _)| *to == from)
            .find_map(|(_, b)| match Msg::parse(&b).unwrap().body {
                Body::Response(r) => Some(r),
                _ => None,
            })
            .expect("an answer");
        let ann = Msg {
            t: b"a".to_vec(),
            body: Body::Query {
                id: Id([9; 20]),
                query: Query::AnnouncePeer {
                    info_hash: Id(h),
                    port: 9,
                    implied_port: false,
                    token: r.token.unwrap(),
                },
            },
        };
        node.receive(from, &ann.encode(), now);
        node.take_outbox();
    }
    assert_eq!(node.store().info_hashes(), 1000);
    assert!(node.table().len() <= 8 * 160);
}

/// The scale simulation: prints rounds and messages per lookup against log2(N).
#[test]
#[ignore]
fn dht_scale() {
    let n: usize = std::env::var("DHT_SIM_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let started = std::time::Instant::now();
    let loss: f64 = std::env::var("DHT_SIM_LOSS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.10);
    let (mut rounds, mut messages, found, table) = simulate(n, 200, loss);
    let per_node = std::mem::size_of::<Node>() as f64
        + table * std::mem::size_of::<super::table::Entry>() as f64 * 1.5;
    println!(
        "dht_scale: {n} nodes, 10% loss, 200 get_peers lookups: found {found}/200; rounds median {} p95 {} (log2 N = {:.1}); messages median {} p95 {}; table {table:.1} nodes on average, ~{:.1} KiB a node; {:.1}s wall",
        percentile(&mut rounds, 0.5),
        percentile(&mut rounds, 0.95),
        (n as f64).log2(),
        percentile(&mut messages, 0.5),
        percentile(&mut messages, 0.95),
        per_node / 1024.0,
        started.elapsed().as_secs_f64()
    );
}
