//! Starting the torrent's web seeds.

use super::{Event, Kind, Stats};
use crate::metainfo::Torrent;
use crate::piece_store::PieceStore;
use crate::rate::RateLimit;
use crate::wire::Handshake;
use async_std::channel::Sender;
use std::sync::Arc;

/// A task for each `http://` URL of the torrent's `url-list` (BEP 19): each is a peer to the
/// torrent (see [`crate::webseed`]), under a peer id of its own that stays the same across its
/// reconnections, so that a ban sticks.
pub(super) fn start(
    meta: &Arc<Torrent>,
    store: &Arc<PieceStore>,
    stats: &Arc<Stats>,
    (events, ctrl): (Sender<super::PeerTraffic>, Sender<Event>),
    download_limit: Option<Arc<RateLimit>>,
) {
    for (index, url) in meta.url_list.iter().enumerate() {
        let info_hash = meta.info_hash;
        let mut id = *b"-WS0001-............";
        id[8..].copy_from_slice(&crate::hash::sha1(url.as_bytes())[..12]);
        let connect = move |key, addr, handle| {
            let mut theirs = Handshake::new(info_hash, id);
            // It takes no extension messages; `have all` needs the fast extension's bit.
            let (byte, bit) = crate::wire::RESERVED_EXTENSION;
            theirs.reserved[byte] &= !bit;
            Event::Connected(Box::new(super::Connected {
                key,
                addr,
                theirs,
                encrypted: false,
                handle,
                kind: Kind::WebSeed,
            }))
        };
        log::info!(
            "{}: web seed {url}",
            crate::escape::untrusted(&meta.info.name, 80)
        );
        crate::runtime::spawn(crate::webseed::run(crate::webseed::Setup {
            url: url.clone(),
            index,
            meta: meta.clone(),
            layout: store.layout().clone(),
            events: events.clone(),
            connect: Box::new(connect),
            ctrl: ctrl.clone(),
            download_limit: download_limit.clone(),
            delivered: stats.web_seed_bytes.clone(),
        }));
    }
}
