//! The Mainline DHT (BEP 5). Sans-IO parts: [`krpc`] (messages), [`table`] (routing table),
//! [`store`] (announced peers, tokens), [`node`] (the node: answering, lookups). This file is
//! the UDP driver: one task owns the node and its socket, and torrents ask it for peers through
//! a [`DhtHandle`]; [`state`] saves and loads the node id and good nodes.

pub mod krpc;
pub mod lookup;
pub mod node;
pub mod state;
pub mod store;
pub mod table;
#[cfg(test)]
mod tests;

use crate::metainfo::InfoHash;
use crate::runtime;
use async_std::channel::{Receiver, Sender};
use async_std::net::UdpSocket;
use krpc::Id;
use node::{Event, Node};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The routers a node joins through when none is given.
pub const DEFAULT_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// How a node is set up.
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// `HOST:PORT`s to join through (resolved off the async threads); none means the saved
    /// nodes, else [`DEFAULT_ROUTERS`].
    pub bootstrap: Vec<String>,
    /// Where the node id and good nodes are kept between runs; `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
}

enum Command {
    GetPeers {
        info_hash: Id,
        announce: Option<u16>,
        found: Sender<Vec<SocketAddr>>,
    },
    AddNode(SocketAddr),
    Stats(Sender<Stats>),
    Stop(Sender<()>),
}

/// What `p2p dht` logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub nodes: usize,
    /// Nodes of the table whose id does not follow BEP 42 for their address.
    pub without_bep42: usize,
    pub buckets: usize,
    pub info_hashes: usize,
    pub peers: usize,
    pub queries_in: u64,
    pub queries_out: u64,
    pub dropped: u64,
}

/// A running node: ask it for peers, tell it of nodes, stop it (saving its state).
#[derive(Clone, Debug)]
pub struct DhtHandle {
    tx: Sender<Command>,
    pub local: SocketAddr,
    pub id: Id,
}

impl DhtHandle {
    /// A handle with no node behind it, for tests of what others tell the node: returns it and
    /// a function counting the nodes it was told of (`add_node`) since last asked.
    #[cfg(test)]
    pub fn detached() -> (DhtHandle, impl FnMut() -> usize) {
        let (tx, rx) = async_std::channel::bounded(64);
        let handle = DhtHandle {
            tx,
            local: "127.0.0.1:1".parse().expect("literal"),
            id: Id([0; 20]),
        };
        let count = move || {
            std::iter::from_fn(|| rx.try_recv().ok())
                .filter(|c| matches!(c, Command::AddNode(_)))
                .count()
        };
        (handle, count)
    }

    /// Looks `info_hash` up; peers arrive on the returned channel as they are found, and it
    /// closes when the lookup is over. With `announce`, we are announced at the end on that
    /// port.
    pub fn get_peers(
        &self,
        info_hash: InfoHash,
        announce: Option<u16>,
    ) -> Receiver<Vec<SocketAddr>> {
        let (found, rx) = async_std::channel::bounded(64);
        let _ = self.tx.try_send(Command::GetPeers {
            info_hash: Id(info_hash.0),
            announce,
            found,
        });
        rx
    }

    /// A node heard of elsewhere (a peer's BEP 5 `port` message): pinged, kept if it answers.
    pub fn add_node(&self, addr: SocketAddr) {
        let _ = self.tx.try_send(Command::AddNode(addr));
    }

    pub async fn stats(&self) -> Stats {
        let (tx, rx) = async_std::channel::bounded(1);
        let _ = self.tx.send(Command::Stats(tx)).await;
        rx.recv().await.unwrap_or_default()
    }

    /// Saves the state and stops.
    pub async fn stop(&self) {
        let (tx, rx) = async_std::channel::bounded(1);
        if self.tx.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.recv().await;
        }
    }
}

/// Datagrams handed to the node by the socket's owner, with their senders.
pub type Handed = Receiver<(Vec<u8>, SocketAddr)>;

/// Binds `addr` (UDP) and starts the node.
pub async fn start(addr: SocketAddr, config: DhtConfig) -> std::io::Result<DhtHandle> {
    let socket = UdpSocket::bind(addr).await?;
    crate::net::source::confine(&socket)?;
    start_on(socket, None, config)
}

/// Starts the node on a socket another owner reads (the peer port's, shared with uTP): it
/// sends from `socket` and hears the datagrams that come on `incoming`.
pub fn start_shared(
    socket: UdpSocket,
    incoming: Handed,
    config: DhtConfig,
) -> std::io::Result<DhtHandle> {
    start_on(socket, Some(incoming), config)
}

fn start_on(
    socket: UdpSocket,
    incoming: Option<Handed>,
    config: DhtConfig,
) -> std::io::Result<DhtHandle> {
    let local = socket.local_addr()?;
    let now = Instant::now();
    let saved = config
        .state_dir
        .as_deref()
        .and_then(|d| match state::load(d) {
            Ok(saved) => saved,
            Err(e) => {
                log::warn!("dht: starting afresh: {} {e}", d.join("dht.dat").display());
                None
            }
        });
    let lock = config.state_dir.as_deref().and_then(state::lock);
    let id = match (&saved, &lock) {
        (Some(s), Some(_)) => s.id,
        _ => Id::random(),
    };
    let node = Node::new(id, now);
    if let (Some(s), Some(_)) = (&saved, &lock)
        && !s.nodes.is_empty()
    {
        log::info!("dht: rejoining through {} saved nodes", s.nodes.len());
    }
    let (tx, rx) = async_std::channel::bounded(256);
    let (resolved_tx, resolved_rx) = async_std::channel::bounded(1);
    let saved_nodes: Vec<SocketAddr> = match (&saved, &lock) {
        (Some(s), Some(_)) => s.nodes.iter().map(|n| SocketAddr::V4(*n)).collect(),
        _ => Vec::new(),
    };
    // No bootstrap given: the saved nodes, else the well-known routers.
    let bootstrap = if config.bootstrap.is_empty() && saved_nodes.is_empty() {
        DEFAULT_ROUTERS.iter().map(|r| r.to_string()).collect()
    } else {
        config.bootstrap.clone()
    };
    runtime::spawn(async move {
        let mut addrs = runtime::spawn_blocking(move || resolve(&bootstrap)).await;
        addrs.extend(saved_nodes);
        let _ = resolved_tx.send(addrs).await;
    });
    let state_dir = lock.as_ref().and(config.state_dir.clone());
    runtime::spawn(run(
        (socket, incoming),
        node,
        rx,
        resolved_rx,
        state_dir,
        lock,
    ));
    Ok(DhtHandle { tx, local, id })
}

fn resolve(hosts: &[String]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for h in hosts {
        match h.to_socket_addrs() {
            Ok(addrs) => out.extend(addrs.filter(SocketAddr::is_ipv4).take(4)),
            Err(e) => log::debug!("dht: bootstrap node {h}: {e}"),
        }
    }
    out
}

async fn run(
    (socket, incoming): (UdpSocket, Option<Handed>),
    mut node: Node,
    commands: Receiver<Command>,
    resolved: Receiver<Vec<SocketAddr>>,
    state_dir: Option<PathBuf>,
    _lock: Option<state::Lock>,
) {
    let v6_socket = socket.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut lookups: HashMap<u64, Sender<Vec<SocketAddr>>> = HashMap::new();
    // Lookups asked for before the node has joined (its bootstrap addresses resolved and the
    // join's lookups over) wait for it: a seed's one announce at its start would otherwise go
    // to the few nodes a table still filling holds, and the next is ten minutes away.
    let mut routers_known = false;
    let mut waiting: Vec<Command> = Vec::new();
    let mut buf = vec![0u8; krpc::MAX_DATAGRAM + 1];
    let mut last_tick = Instant::now();
    let mut last_save = Instant::now();
    enum Wake {
        Datagram(usize, SocketAddr),
        Command(Command),
        Routers(Vec<SocketAddr>),
        Tick,
    }
    loop {
        let datagram = async {
            match &incoming {
                Some(handed) => match handed.recv().await {
                    Ok((bytes, from)) => {
                        let n = bytes.len().min(buf.len());
                        buf[..n].copy_from_slice(&bytes[..n]);
                        Wake::Datagram(bytes.len(), from)
                    }
                    Err(_) => std::future::pending().await,
                },
                None => match socket.recv_from(&mut buf).await {
                    Ok((n, from)) => Wake::Datagram(n, from),
                    Err(_) => Wake::Tick,
                },
            }
        };
        let command = async {
            match commands.recv().await {
                Ok(c) => Wake::Command(c),
                // Every handle is gone: nothing will ask again.
                Err(_) => Wake::Command(Command::Stop(async_std::channel::bounded(1).0)),
            }
        };
        let routers = async {
            match resolved.recv().await {
                Ok(r) => Wake::Routers(r),
                Err(_) => std::future::pending().await,
            }
        };
        let tick = async {
            runtime::sleep(Duration::from_millis(250)).await;
            Wake::Tick
        };
        let wake = runtime::race(
            runtime::race(datagram, command),
            runtime::race(routers, tick),
        )
        .await;
        let now = Instant::now();
        match wake {
            Wake::Datagram(n, from) if n <= krpc::MAX_DATAGRAM => {
                node.receive(from, &buf[..n], now)
            }
            Wake::Datagram(..) => {}
            Wake::Command(c @ Command::GetPeers { .. }) if !routers_known || node.is_joining() => {
                if waiting.len() < 64 {
                    waiting.push(c);
                }
            }
            Wake::Command(Command::GetPeers {
                info_hash,
                announce,
                found,
            }) => {
                if let Some(id) = node.get_peers(info_hash, announce, now) {
                    lookups.insert(id, found);
                }
            }
            Wake::Command(Command::AddNode(addr)) => node.ping(addr, now),
            Wake::Command(Command::Stats(reply)) => {
                let c = node.counters;
                let _ = reply.try_send(Stats {
                    nodes: node.table().len(),
                    without_bep42: node.table().without_bep42_id(),
                    buckets: node.table().bucket_count(),
                    info_hashes: node.store().info_hashes(),
                    peers: node.store().peer_count(),
                    queries_in: c.queries_in,
                    queries_out: c.queries_out,
                    dropped: c.dropped,
                });
            }
            Wake::Command(Command::Stop(done)) => {
                save(&node, state_dir.as_deref());
                let _ = done.try_send(());
                return;
            }
            Wake::Routers(routers) => {
                log::debug!("dht: joining through {} bootstrap addresses", routers.len());
                node.bootstrap(routers, now);
                routers_known = true;
            }
            Wake::Tick => {}
        }
        if routers_known && !node.is_joining() {
            for c in waiting.drain(..) {
                if let Command::GetPeers {
                    info_hash,
                    announce,
                    found,
                } = c
                    && let Some(id) = node.get_peers(info_hash, announce, now)
                {
                    lookups.insert(id, found);
                }
            }
        }
        if now.duration_since(last_tick) >= Duration::from_millis(250) {
            last_tick = now;
            node.tick(now);
        }
        if now.duration_since(last_save) >= Duration::from_secs(300) {
            last_save = now;
            save(&node, state_dir.as_deref());
        }
        for (to, bytes) in node.take_outbox() {
            let to = crate::net::source::for_socket(to, v6_socket);
            let _ = socket.send_to(&bytes, to).await;
        }
        for event in node.take_events() {
            match event {
                Event::Peers { lookup, peers } => {
                    if let Some(tx) = lookups.get(&lookup) {
                        let _ = tx.try_send(peers);
                    }
                }
                Event::Done { lookup, report } => {
                    log::debug!(
                        "dht: lookup {lookup} ended: {} peers, {} queries, {} hops",
                        report.peers,
                        report.messages,
                        report.rounds
                    );
                    lookups.remove(&lookup);
                }
            }
        }
    }
}

fn save(node: &Node, dir: Option<&std::path::Path>) {
    let Some(dir) = dir else {
        return;
    };
    let nodes: Vec<_> = node
        .table()
        .good_nodes(Instant::now())
        .iter()
        .map(|n| n.addr)
        .collect();
    match state::save(dir, node.id(), &nodes) {
        Ok(()) => log::debug!("dht: saved {} nodes in {}", nodes.len(), dir.display()),
        Err(e) => log::warn!("dht: could not save its state in {}: {e}", dir.display()),
    }
}

/// The default state directory: `$XDG_STATE_HOME/p2p`, else `~/.local/state/p2p`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("p2p"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/p2p"))
}
