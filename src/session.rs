//! The listening side of a peer process: one port for every torrent it serves. Inbound
//! connections are handshaken here (10 s at most) and handed, by info-hash, to their torrent's
//! task; connections for unknown torrents are closed.

use crate::metainfo::InfoHash;
use crate::peer;
use crate::torrent::Event;
use async_std::channel::Sender;
use async_std::net::TcpListener;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 256;

#[derive(Clone, Default)]
pub struct Routes {
    torrents: Arc<Mutex<HashMap<InfoHash, Sender<Event>>>>,
}

impl Routes {
    pub fn add(&self, info_hash: InfoHash, events: Sender<Event>) {
        self.lock().insert(info_hash, events);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InfoHash, Sender<Event>>> {
        self.torrents.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, info_hash: &InfoHash) -> Option<Sender<Event>> {
        self.lock().get(info_hash).cloned()
    }
}

/// Binds `addr`; returns the bound address and the accept loop to spawn.
pub async fn listen(
    addr: SocketAddr,
    routes: Routes,
) -> crate::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| crate::Error::Net {
            what: format!("listening on {addr}"),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| crate::Error::Net {
        what: "the listener".into(),
        source,
    })?;
    Ok((bound, accept_loop(listener, routes)))
}

async fn accept_loop(listener: TcpListener, routes: Routes) {
    let pending = Arc::new(AtomicUsize::new(0));
    loop {
        let (mut stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                log::warn!("accept failed: {e}");
                async_std::task::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if pending.load(Ordering::Relaxed) >= MAX_PENDING_HANDSHAKES {
            continue;
        }
        pending.fetch_add(1, Ordering::Relaxed);
        let (routes, pending) = (routes.clone(), pending.clone());
        async_std::task::spawn(async move {
            let hs = peer::read_handshake(&mut stream).await;
            pending.fetch_sub(1, Ordering::Relaxed);
            match hs {
                Ok(hs) => match routes.get(&hs.info_hash) {
                    Some(torrent) => {
                        let _ = torrent.send(Event::Inbound(stream, hs)).await;
                    }
                    None => log::debug!("{from}: handshake for unknown torrent {}", hs.info_hash),
                },
                Err(e) => log::debug!("{from}: {e}"),
            }
        });
    }
}

/// A fresh Azureus-style peer id (BEP 20): `-P20001-` and 12 random bytes.
pub fn new_peer_id() -> [u8; 20] {
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-P20001-");
    id[8..].copy_from_slice(&crate::random::secure_bytes::<12>());
    id
}
