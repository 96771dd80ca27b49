//! One DHT node (BEP 5), sans-IO: datagrams and the clock go in ([`Node::receive`],
//! [`Node::tick`]), datagrams to send and lookup results come out ([`Node::take_outbox`],
//! [`Node::take_events`]). It answers `ping`, `find_node`, `get_peers` and `announce_peer`
//! (error 204 for other methods, 203 for malformed queries, queries past a per-IP rate
//! dropped), keeps the routing table, and runs iterative lookups: α = 3 queries in flight,
//! converging on the k closest nodes that answered, then (for an announce) `announce_peer` to
//! each of them with its token.

use super::krpc::{self, Body, Id, Msg, NodeInfo, Query, Response};
use super::lookup::{CandState, Lookup, MAX_QUERIES, add_cand};
use super::store::{PeerStore, Tokens};
use super::table::{Inserted, K, Table};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

pub const ALPHA: usize = 3;
/// A query unanswered this long has failed.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Queries in flight at most.
pub const MAX_PENDING: usize = 2048;
/// Queries a lookup sends one node at most.
const MAX_TRIES: u8 = 2;
/// Lookups running at once; more are refused until some end.
pub const MAX_LOOKUPS: usize = 64;
/// Queries one IP may send us a second (with a burst of twice that); past it they go
/// unanswered. Generous: tests and closed networks put many nodes on one address.
pub const QUERIES_PER_IP: f64 = 200.0;
/// IPs the rate limiter tracks at most (cleared when full).
const MAX_TRACKED_IPS: usize = 10_000;
/// Lookups for far id ranges a join starts besides the one for our own id.
const JOIN_REFRESH: usize = 4;
/// A table with fewer than k nodes that answered us asks the bootstrap nodes again this often
/// (a node that merely queried us, perhaps to sit alone in our table, does not count).
const REBOOTSTRAP: Duration = Duration::from_secs(30);

/// What a lookup found, for the caller and the scale simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupReport {
    pub peers: usize,
    /// Queries sent by the lookup.
    pub messages: usize,
    /// Hops from our table to the first node that knew peers (or to the deepest answering
    /// node, for a lookup that found none).
    pub rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Peers a running lookup just learned (each told once per lookup).
    Peers {
        lookup: u64,
        peers: Vec<SocketAddr>,
    },
    Done {
        lookup: u64,
        report: LookupReport,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Ping,
    Lookup(u64),
    Announce,
}

#[derive(Debug)]
struct Pending {
    addr: SocketAddr,
    id: Option<Id>,
    sent: Instant,
    purpose: Purpose,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub queries_in: u64,
    pub queries_out: u64,
    pub dropped: u64,
}

pub struct Node {
    table: Table,
    store: PeerStore,
    tokens: Tokens,
    pending: HashMap<Vec<u8>, Pending>,
    /// Kernel randomness for transaction ids, taken two bytes at a time: an id nobody can
    /// guess, so an answer cannot be forged from off the path (the address is checked too).
    tid_pool: Vec<u8>,
    lookups: HashMap<u64, Lookup>,
    next_lookup: u64,
    /// The lookups of the last join ([`Node::bootstrap`]).
    join: Vec<u64>,
    routers: Vec<SocketAddr>,
    last_bootstrap: Option<Instant>,
    last_expire: Instant,
    limiter: HashMap<IpAddr, (f64, Instant)>,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<Event>,
    pub counters: Counters,
}

impl Node {
    pub fn new(id: Id, now: Instant) -> Node {
        Node::with_store(id, now, PeerStore::default())
    }

    pub fn with_store(id: Id, now: Instant, store: PeerStore) -> Node {
        Node {
            table: Table::new(id, now),
            store,
            tokens: Tokens::new(now),
            pending: HashMap::new(),
            tid_pool: Vec::new(),
            lookups: HashMap::new(),
            next_lookup: 1,
            join: Vec::new(),
            routers: Vec::new(),
            last_bootstrap: None,
            last_expire: now,
            limiter: HashMap::new(),
            outbox: Vec::new(),
            events: Vec::new(),
            counters: Counters::default(),
        }
    }

    pub fn id(&self) -> Id {
        self.table.own_id()
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn store(&self) -> &PeerStore {
        &self.store
    }

    /// Queries of ours waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Lookups running, and the most queries any of them has sent.
    pub fn lookups(&self) -> (usize, usize) {
        let most = self.lookups.values().map(|l| l.messages).max().unwrap_or(0);
        (self.lookups.len(), most)
    }

    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Joins through `routers` (asked for nodes near our own id), again whenever the table is
    /// empty.
    pub fn bootstrap(&mut self, routers: Vec<SocketAddr>, now: Instant) {
        self.routers = routers;
        self.last_bootstrap = Some(now);
        let seeds = self.table.closest(&self.id(), K);
        let own = self.id();
        self.join = vec![self.start(own, false, None, false, seeds, self.routers.clone(), now)];
        // Nodes far from us, too: one lookup in each of the farthest ranges fills the
        // buckets a lookup near our own id passes by.
        for prefix in 0..JOIN_REFRESH {
            let seeds = self.table.closest(&own.random_at(prefix), K);
            let id = self.start(
                own.random_at(prefix),
                false,
                None,
                false,
                seeds,
                self.routers.clone(),
                now,
            );
            self.join.push(id);
        }
    }

    /// Whether the lookups of the last join are still running (each ends within its bounds).
    pub fn is_joining(&self) -> bool {
        self.join.iter().any(|id| self.lookups.contains_key(id))
    }

    /// Adds nodes known from before (the state file, a peer's `port` message): pinged, and
    /// in the table once they answer.
    pub fn ping(&mut self, addr: SocketAddr, now: Instant) {
        let q = Query::Ping;
        self.query(addr, None, q, Purpose::Ping, now);
    }

    /// Starts a `get_peers` lookup for `info_hash`, announcing `port` to the closest nodes at
    /// the end when given (0: the port our datagrams come from). `None` when too many
    /// lookups are running.
    pub fn get_peers(&mut self, info_hash: Id, announce: Option<u16>, now: Instant) -> Option<u64> {
        if self.lookups.len() >= MAX_LOOKUPS {
            return None;
        }
        let seeds = self.table.closest(&info_hash, K * 2);
        let unknown = if seeds.is_empty() {
            self.routers.clone()
        } else {
            Vec::new()
        };
        Some(self.start(info_hash, true, announce, true, seeds, unknown, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        target: Id,
        get_peers: bool,
        announce: Option<u16>,
        reported: bool,
        seeds: Vec<NodeInfo>,
        unknown: Vec<SocketAddr>,
        now: Instant,
    ) -> u64 {
        let id = self.next_lookup;
        self.next_lookup += 1;
        let mut lookup = Lookup::new(target, get_peers, announce, reported, unknown, now);
        for s in seeds {
            add_cand(&mut lookup, s, 0);
        }
        self.lookups.insert(id, lookup);
        self.step(id, now);
        id
    }

    /// Sends what a lookup may send now, or ends it: when nothing is left to ask, or past one
    /// of its bounds ([`Lookup::exhausted`]) once its queries are back, or out of time at once.
    fn step(&mut self, id: u64, now: Instant) {
        let Some(mut l) = self.lookups.remove(&id) else {
            return;
        };
        let exhausted = l.exhausted(now);
        let query = |target: Id, get_peers: bool| {
            if get_peers {
                Query::GetPeers { info_hash: target }
            } else {
                Query::FindNode { target }
            }
        };
        while !exhausted
            && l.in_flight < ALPHA
            && l.messages < MAX_QUERIES
            && let Some(addr) = l.unknown.pop()
        {
            if self.query(
                addr,
                None,
                query(l.target, l.get_peers),
                Purpose::Lookup(id),
                now,
            ) {
                l.in_flight += 1;
                l.messages += 1;
            }
        }
        let mut considered = 0;
        let mut i = 0;
        while !exhausted
            && i < l.cands.len()
            && considered < K
            && l.in_flight < ALPHA
            && l.messages < MAX_QUERIES
        {
            if l.cands[i].state != CandState::Failed {
                considered += 1;
            }
            if l.cands[i].state == CandState::Fresh {
                let (addr, node) = (SocketAddr::V4(l.cands[i].info.addr), l.cands[i].info.id);
                if self.query(
                    addr,
                    Some(node),
                    query(l.target, l.get_peers),
                    Purpose::Lookup(id),
                    now,
                ) {
                    l.cands[i].state = CandState::Asked;
                    l.cands[i].tries += 1;
                    l.in_flight += 1;
                    l.messages += 1;
                } else {
                    break;
                }
            }
            i += 1;
        }
        let fresh_left = l
            .cands
            .iter()
            .filter(|c| c.state != CandState::Failed)
            .take(K)
            .any(|c| c.state == CandState::Fresh);
        let more_to_ask = !exhausted && (fresh_left || !l.unknown.is_empty());
        if (l.in_flight > 0 || more_to_ask) && !l.out_of_time(now) {
            self.lookups.insert(id, l);
            return;
        }
        // Converged: announce to the k closest that answered, with their tokens.
        if let Some(port) = l.announce {
            let closest: Vec<(NodeInfo, Vec<u8>)> = l
                .cands
                .iter()
                .filter_map(|c| match &c.state {
                    CandState::Answered(Some(token)) => Some((c.info, token.clone())),
                    _ => None,
                })
                .take(K)
                .collect();
            for (info, token) in closest {
                let q = Query::AnnouncePeer {
                    info_hash: l.target,
                    port,
                    implied_port: port == 0,
                    token,
                };
                self.query(
                    SocketAddr::V4(info.addr),
                    Some(info.id),
                    q,
                    Purpose::Announce,
                    now,
                );
            }
        }
        if l.reported {
            self.events.push(Event::Done {
                lookup: id,
                report: LookupReport {
                    peers: l.peers.len(),
                    messages: l.messages,
                    rounds: l.first_value_hop.unwrap_or(l.max_hop),
                },
            });
        }
    }

    /// A random transaction id not in use (2,048 at most are: a few draws find one).
    fn new_tid(&mut self) -> Vec<u8> {
        loop {
            if self.tid_pool.len() < 2 {
                self.tid_pool = crate::random::secure_bytes::<512>().to_vec();
            }
            let t = self.tid_pool.split_off(self.tid_pool.len() - 2);
            if !self.pending.contains_key(&t) {
                return t;
            }
        }
    }

    /// Sends a query; false when too many are in flight.
    fn query(
        &mut self,
        addr: SocketAddr,
        id: Option<Id>,
        query: Query,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        if self.pending.len() >= MAX_PENDING {
            return false;
        }
        let t = self.new_tid();
        let msg = Msg {
            t: t.clone(),
            body: Body::Query {
                id: self.id(),
                query,
            },
        };
        self.outbox.push((addr, msg.encode()));
        self.counters.queries_out += 1;
        self.pending.insert(
            t,
            Pending {
                addr,
                id,
                sent: now,
                purpose,
            },
        );
        true
    }

    pub fn receive(&mut self, from: SocketAddr, datagram: &[u8], now: Instant) {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        match Msg::parse(datagram) {
            Ok(Msg {
                t,
                body: Body::Query { id, query },
            }) => self.answer(from, t, id, query, now),
            Ok(Msg {
                t,
                body: Body::Response(r),
            }) => self.response(from, &t, Ok(r), now),
            Ok(Msg {
                t,
                body: Body::Error { .. },
            }) => self.response(from, &t, Err(false), now),
            Err(m) => {
                let Some(t) = m.t else {
                    self.counters.dropped += 1;
                    return;
                };
                if self.pending.get(&t).is_some_and(|p| p.addr == from) {
                    // A reply we were waiting for, in pieces: that node goes.
                    self.response(from, &t, Err(true), now);
                } else if self.allow(from.ip(), now) {
                    self.reply(
                        from,
                        t,
                        Body::Error {
                            code: krpc::PROTOCOL_ERROR,
                            message: m.why.into(),
                        },
                    );
                }
            }
        }
    }

    fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.limiter.len() >= MAX_TRACKED_IPS && !self.limiter.contains_key(&ip) {
            self.limiter.clear();
        }
        let (tokens, at) = self
            .limiter
            .entry(ip)
            .or_insert((QUERIES_PER_IP * 2.0, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * QUERIES_PER_IP)
            .min(QUERIES_PER_IP * 2.0);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.counters.dropped += 1;
            false
        }
    }

    fn reply(&mut self, to: SocketAddr, t: Vec<u8>, body: Body) {
        self.outbox.push((to, Msg { t, body }.encode()));
    }

    fn answer(&mut self, from: SocketAddr, t: Vec<u8>, id: Id, query: Query, now: Instant) {
        if !self.allow(from.ip(), now) {
            return;
        }
        self.counters.queries_in += 1;
        if let SocketAddr::V4(v4) = from {
            self.learn(NodeInfo { id, addr: v4 }, now, false);
        }
        let own = Some(self.id());
        let body = match query {
            Query::Ping => Body::Response(Response {
                id: own,
                ..Response::default()
            }),
            Query::FindNode { target } => Body::Response(Response {
                id: own,
                nodes: self.table.closest(&target, K),
                ..Response::default()
            }),
            Query::GetPeers { info_hash } => {
                let values = self.store.peers(&info_hash, krpc::MAX_VALUES, now);
                Body::Response(Response {
                    id: own,
                    nodes: if values.is_empty() {
                        self.table.closest(&info_hash, K)
                    } else {
                        Vec::new()
                    },
                    values,
                    token: Some(self.tokens.issue(from.ip(), &info_hash)),
                })
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.accepts(&token, from.ip(), &info_hash) {
                    Body::Error {
                        code: krpc::PROTOCOL_ERROR,
                        message: "bad token".into(),
                    }
                } else {
                    let port = if implied_port { from.port() } else { port };
                    if from.is_ipv4() {
                        self.store
                            .announce(info_hash, SocketAddr::new(from.ip(), port), now);
                    }
                    Body::Response(Response {
                        id: own,
                        ..Response::default()
                    })
                }
            }
            Query::Unknown(_) => Body::Error {
                code: krpc::METHOD_UNKNOWN,
                message: "Method Unknown".into(),
            },
        };
        self.reply(from, t, body);
    }

    /// A node we heard from (it `answered` a query of ours, or queried us) goes into the
    /// table; a full bucket, or another address claiming an id we know, asks us to ping one.
    fn learn(&mut self, info: NodeInfo, now: Instant, answered: bool) {
        match self.table.heard_from(info, now, answered) {
            Inserted::Pending(Some(q)) | Inserted::Unverified(q) => self.ping_unless_asked(q, now),
            Inserted::Yes | Inserted::Pending(None) | Inserted::Refused => {}
        }
    }

    /// Pings a node in the table unless a query to it is under way already.
    fn ping_unless_asked(&mut self, node: NodeInfo, now: Instant) {
        if !self.pending.values().any(|p| p.id == Some(node.id)) {
            self.query(
                SocketAddr::V4(node.addr),
                Some(node.id),
                Query::Ping,
                Purpose::Ping,
                now,
            );
        }
    }

    /// A response (`Ok`), an error reply (`Err(false)`) or garbage (`Err(true)`) for `t`.
    fn response(&mut self, from: SocketAddr, t: &[u8], r: Result<Response, bool>, now: Instant) {
        // Only the address we asked may answer a transaction.
        let Some(p) = self.pending.remove(t) else {
            return;
        };
        if p.addr != from {
            self.pending.insert(t.to_vec(), p);
            return;
        }
        let r = match r {
            Ok(r) => r,
            Err(garbage) => {
                if let Some(id) = p.id {
                    if garbage {
                        self.table.remove(&id);
                    } else {
                        self.table.failed(&id);
                    }
                }
                return self.lookup_failed(p, now);
            }
        };
        let responder = r.id.expect("responses carry an id");
        if p.id.is_some_and(|asked| asked != responder) {
            // An answer under another id than the one the node was asked as: not the node we
            // meant (or one making ids up as it goes). It counts as no answer, for good.
            if let Purpose::Lookup(lid) = p.purpose
                && let Some(l) = self.lookups.get_mut(&lid)
            {
                l.in_flight = l.in_flight.saturating_sub(1);
                if let Some(c) = l.cands.iter_mut().find(|c| Some(c.info.id) == p.id) {
                    c.state = CandState::Failed;
                }
                self.step(lid, now);
            }
            return;
        }
        if let SocketAddr::V4(v4) = from {
            self.learn(
                NodeInfo {
                    id: responder,
                    addr: v4,
                },
                now,
                true,
            );
        }
        let Purpose::Lookup(lid) = p.purpose else {
            return;
        };
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        l.in_flight = l.in_flight.saturating_sub(1);
        let hop = match l.cands.iter_mut().find(|c| c.info.id == responder) {
            Some(c) => {
                c.state = CandState::Answered(r.token.clone());
                c.hop
            }
            None => {
                // A bootstrap node (asked without an id) joins the candidates as answered.
                let info = match from {
                    SocketAddr::V4(v4) => Some(NodeInfo {
                        id: responder,
                        addr: v4,
                    }),
                    SocketAddr::V6(_) => None,
                };
                if let Some(info) = info {
                    add_cand(l, info, 0);
                    if let Some(c) = l.cands.iter_mut().find(|c| c.info.id == responder) {
                        c.state = CandState::Answered(r.token.clone());
                    }
                }
                0
            }
        };
        l.max_hop = l.max_hop.max(hop);
        l.answered_by(&responder);
        let own = self.table.own_id();
        for n in r.nodes {
            if n.id != own && crate::address::admissible(SocketAddr::V4(n.addr), Some(from.ip())) {
                add_cand(l, n, hop + 1);
            }
        }
        if l.get_peers && !r.values.is_empty() {
            let new: Vec<SocketAddr> = r
                .values
                .into_iter()
                .filter(|a| crate::address::admissible(*a, Some(from.ip())))
                .filter(|a| l.peers.len() < 2000 && l.peers.insert(*a))
                .collect();
            if !new.is_empty() {
                l.first_value_hop.get_or_insert(hop);
                if l.reported {
                    self.events.push(Event::Peers {
                        lookup: lid,
                        peers: new,
                    });
                }
            }
        }
        self.step(lid, now);
    }

    fn lookup_failed(&mut self, p: Pending, now: Instant) {
        let Purpose::Lookup(lid) = p.purpose else {
            return;
        };
        if let Some(l) = self.lookups.get_mut(&lid) {
            l.in_flight = l.in_flight.saturating_sub(1);
            if let Some(id) = p.id
                && let Some(c) = l.cands.iter_mut().find(|c| c.info.id == id)
            {
                c.state = if c.tries < MAX_TRIES {
                    CandState::Fresh
                } else {
                    CandState::Failed
                };
            }
            self.step(lid, now);
        }
    }

    /// Timeouts, token rotation, expiry, bucket refresh, pings of questionable nodes, and a
    /// new bootstrap when the table is empty.
    pub fn tick(&mut self, now: Instant) {
        let late: Vec<Vec<u8>> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.sent) >= QUERY_TIMEOUT)
            .map(|(t, _)| t.clone())
            .collect();
        for t in late {
            if let Some(p) = self.pending.remove(&t) {
                if let Some(id) = p.id {
                    self.table.failed(&id);
                }
                self.lookup_failed(p, now);
            }
        }
        // A lookup whose time is up ends, its slot freed, whatever it still waits for; one that
        // could send nothing (every query slot taken) tries again.
        let due: Vec<u64> = self
            .lookups
            .iter()
            .filter(|(_, l)| l.out_of_time(now) || l.in_flight == 0)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.step(id, now);
        }
        self.tokens.rotate_if_due(now);
        if now.duration_since(self.last_expire) >= Duration::from_secs(60) {
            self.last_expire = now;
            self.store.expire(now);
        }
        for target in self.table.stale_buckets(now) {
            if self.lookups.len() < MAX_LOOKUPS {
                let seeds = self.table.closest(&target, K);
                self.start(target, false, None, false, seeds, Vec::new(), now);
            }
        }
        for q in self.table.questionable(now, 3) {
            self.ping_unless_asked(q, now);
        }
        if self.table.answered(now) < K
            && !self.routers.is_empty()
            && self
                .last_bootstrap
                .is_none_or(|t| now.duration_since(t) >= REBOOTSTRAP)
        {
            self.bootstrap(self.routers.clone(), now);
        }
    }

    pub fn contains(&self, addr: &SocketAddrV4) -> bool {
        self.table.contains(addr)
    }
}
