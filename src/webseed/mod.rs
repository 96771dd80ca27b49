//! Web seeds (BEP 19, the torrent's `url-list`): an HTTP server holding the content, used as a
//! peer that has every piece and never chokes. Each web seed is a task that looks to the
//! torrent like any connection — it announces itself with a handle, says `have all` (or a
//! bitfield without the files the server lacks) and `unchoke`, takes the torrent's requests and
//! answers with `piece` messages — so the picker, verification and smart bans treat it as they
//! treat peers: a web seed that sends corrupt data is banned like a peer.
//!
//! Requests queued at once are fetched as runs contiguous in the torrent (at most
//! [`MAX_RUN`] bytes, one HTTP range request for each file a run crosses). A failure ends the
//! connection and the web seed comes back after a pause (5 s, doubling to 5 minutes); a file the
//! server does not have (404) is left out of what it offers from then on. When the torrent
//! lets go of it (complete, banned, stopped) the task ends.

pub mod http;

use crate::bitfield::Bitfield;
use crate::layout::{BlockRef, Layout, PeerKey};
use crate::metainfo::{Info, Torrent};
use crate::peer::{PeerError, PeerEvent, PeerHandle};
use crate::rate::RateLimit;
use crate::url::percent_encode;
use crate::wire::Message;
use async_std::channel::{Receiver, Sender};
use http::{Conn, RangeError};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most bytes one run of requests asks of the server at once.
pub const MAX_RUN: u64 = 4 << 20;
/// Where the keys web seeds give their connections start: far above those the torrent gives
/// its peers, so that the two never meet. (What a connection is, the torrent learns from its
/// `Connected` event, not from its key.)
pub const KEY_BASE: PeerKey = 1 << 48;

const FIRST_PAUSE: Duration = Duration::from_secs(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(300);

/// The URL of file `file` of the torrent on the web seed `base` (BEP 19): a single-file
/// torrent's URL is the file itself unless it ends in `/` (then the name is added); a
/// multi-file torrent's files are `base/NAME/PATH…`, each component percent-encoded.
pub fn file_url(base: &str, info: &Info, file: usize) -> String {
    let enc = |s: &str| percent_encode(s.as_bytes());
    if !info.multi_file {
        return if base.ends_with('/') {
            format!("{base}{}", enc(&info.name))
        } else {
            base.to_string()
        };
    }
    let mut url = base.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(&enc(&info.name));
    for c in &info.files[file].path {
        url.push('/');
        url.push_str(&enc(c));
    }
    url
}

/// Requests grouped into runs that are contiguous in the torrent's bytes, in order, each of at
/// most [`MAX_RUN`] bytes.
pub fn runs(layout: &Layout, mut requests: Vec<BlockRef>) -> Vec<Vec<BlockRef>> {
    let offset = |b: &BlockRef| layout.piece_offset(b.piece as usize) + b.begin as u64;
    requests.sort_by_key(offset);
    requests.dedup();
    let mut out: Vec<Vec<BlockRef>> = Vec::new();
    let mut end = 0;
    let mut size = 0;
    for b in requests {
        let start = offset(&b);
        match out.last_mut() {
            Some(run) if start == end && size + b.length as u64 <= MAX_RUN => {
                run.push(b);
                size += b.length as u64;
            }
            _ => {
                out.push(vec![b]);
                size = b.length as u64;
            }
        }
        end = start + b.length as u64;
    }
    out
}

/// The pieces a web seed lacking `missing` files can give.
pub fn offered(layout: &Layout, missing: &HashSet<usize>) -> Bitfield {
    let mut bits = Bitfield::new(layout.piece_count());
    for p in 0..layout.piece_count() {
        let spans = layout.spans(layout.piece_offset(p), layout.piece_size(p));
        if spans.iter().all(|s| !missing.contains(&s.file)) {
            bits.set(p);
        }
    }
    bits
}

/// What a web seed task needs: where it reports, and how it becomes a connection.
pub struct Setup<E, C> {
    pub url: String,
    /// Its number among the torrent's web seeds (for its keys).
    pub index: usize,
    pub meta: Arc<Torrent>,
    pub layout: Layout,
    /// Where its messages go (the torrent's peer queue).
    pub events: Sender<E>,
    /// Where it announces itself (the torrent's control queue), given a key, the server's
    /// address, the handle the torrent sends through and the pieces it offers.
    pub connect: Box<dyn Fn(PeerKey, SocketAddr, PeerHandle) -> C + Send + Sync>,
    pub ctrl: Sender<C>,
    pub download_limit: Option<Arc<RateLimit>>,
    /// Bytes this web seed delivered, for the fetch's summary.
    pub delivered: Arc<std::sync::atomic::AtomicU64>,
}

/// Why one connection of a web seed ended.
enum End {
    /// The torrent let go of it: the task is over.
    Released,
    /// With the file whose range failed, when one did.
    Failed(RangeError, Option<usize>),
}

/// Runs a web seed until the torrent no longer wants it.
pub async fn run<E: From<(PeerKey, PeerEvent)> + Send + 'static, C: Send + 'static>(
    setup: Setup<E, C>,
) {
    let mut pause = FIRST_PAUSE;
    let mut missing: HashSet<usize> = HashSet::new();
    for attempt in 0u64.. {
        let key = KEY_BASE + ((setup.index as u64) << 32) + attempt;
        let offers = offered(&setup.layout, &missing);
        if offers.count() == 0 {
            log::warn!(
                "web seed {}: has none of the files; no longer used",
                setup.url
            );
            return;
        }
        let before = setup.delivered.load(std::sync::atomic::Ordering::Relaxed);
        let end = match http::address(&setup.url).await {
            Ok(addr) => connection(&setup, key, addr, &offers).await,
            Err(e) => End::Failed(e, None),
        };
        match end {
            End::Released => return,
            End::Failed(e @ RangeError::Unsupported(_), _) => {
                log::warn!("web seed {}: {e}; not used", setup.url);
                return;
            }
            End::Failed(e, file) => {
                let _ = setup
                    .events
                    .send(E::from((
                        key,
                        PeerEvent::Closed(PeerError::Io(std::io::Error::other(e.to_string()))),
                    )))
                    .await;
                if let (RangeError::Missing(_), Some(f)) = (&e, file) {
                    missing.insert(f);
                }
                if setup.delivered.load(std::sync::atomic::Ordering::Relaxed) > before {
                    pause = FIRST_PAUSE;
                }
                log::warn!(
                    "web seed {}: {e}; trying again in {}s",
                    setup.url,
                    pause.as_secs()
                );
                crate::runtime::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

/// One connection: announce, then answer requests until a failure or the torrent lets go.
async fn connection<E: From<(PeerKey, PeerEvent)> + Send + 'static, C: Send + 'static>(
    setup: &Setup<E, C>,
    key: PeerKey,
    addr: SocketAddr,
    offers: &Bitfield,
) -> End {
    let (handle, outgoing) = PeerHandle::detached(addr);
    if setup
        .ctrl
        .send((setup.connect)(key, addr, handle))
        .await
        .is_err()
    {
        return End::Released;
    }
    let first = if offers.is_full() {
        Message::HaveAll
    } else {
        Message::Bitfield(offers.as_bytes().to_vec())
    };
    for m in [first, Message::Unchoke] {
        if setup
            .events
            .send(E::from((key, PeerEvent::Message(m))))
            .await
            .is_err()
        {
            return End::Released;
        }
    }
    // The torrent's messages are read at once, whatever the server is doing: requests are
    // queued, cancels take them back, the rest (interest, haves) means nothing to a server.
    let pending: Arc<Mutex<Vec<BlockRef>>> = Arc::default();
    let (wake_tx, wake_rx) = async_std::channel::bounded::<()>(1);
    crate::runtime::spawn(drain(outgoing, pending.clone(), wake_tx));
    let mut conn: Option<Conn> = None;
    loop {
        if wake_rx.recv().await.is_err() {
            return End::Released;
        }
        let batch = std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()));
        for run in runs(&setup.layout, batch) {
            // What came before a failure is delivered, then the failure ends the connection.
            let (data, failure) = fetch_run(setup, &mut conn, &run).await;
            crate::rate::take(&setup.download_limit, data.len()).await;
            let mut at = 0;
            for b in run {
                let end = at + b.length as usize;
                if end > data.len() {
                    break;
                }
                setup
                    .delivered
                    .fetch_add(b.length as u64, std::sync::atomic::Ordering::Relaxed);
                let piece = Message::Piece {
                    index: b.piece,
                    begin: b.begin,
                    data: data[at..end].to_vec(),
                };
                at = end;
                if setup
                    .events
                    .send(E::from((key, PeerEvent::Message(piece))))
                    .await
                    .is_err()
                {
                    return End::Released;
                }
            }
            if let Some((e, file)) = failure {
                return End::Failed(e, Some(file));
            }
        }
    }
}

/// Moves the torrent's requests into `pending` and wakes the fetcher; ends (closing `wake`)
/// when the torrent drops the handle.
async fn drain(
    outgoing: Receiver<crate::peer::Outgoing>,
    pending: Arc<Mutex<Vec<BlockRef>>>,
    wake: Sender<()>,
) {
    use crate::peer::Outgoing;
    while let Ok(item) = outgoing.recv().await {
        let mut queue = pending.lock().unwrap_or_else(|p| p.into_inner());
        match item {
            Outgoing::Message(Message::Request {
                index,
                begin,
                length,
            }) => queue.push(BlockRef {
                piece: index,
                begin,
                length,
            }),
            Outgoing::Message(Message::Cancel {
                index,
                begin,
                length,
            }) => queue.retain(|b| {
                *b != BlockRef {
                    piece: index,
                    begin,
                    length,
                }
            }),
            _ => continue,
        }
        drop(queue);
        let _ = wake.try_send(());
    }
}

/// The bytes of one run: a range request for each file it crosses. On a failure, the bytes
/// before it, the failure and the file it was in.
async fn fetch_run<E, C>(
    setup: &Setup<E, C>,
    conn: &mut Option<Conn>,
    run: &[BlockRef],
) -> (Vec<u8>, Option<(RangeError, usize)>) {
    let first = run[0];
    let start = setup.layout.piece_offset(first.piece as usize) + first.begin as u64;
    let len: u64 = run.iter().map(|b| b.length as u64).sum();
    let mut data = Vec::with_capacity(len as usize);
    log::debug!("web seed {}: {len} bytes from {start}", setup.url);
    for span in setup.layout.spans(start, len) {
        // Padding (BEP 47) before this file: zeros, asked of no server.
        data.resize(span.at as usize, 0);
        let url = file_url(&setup.url, &setup.meta.info, span.file);
        match http::get_range(conn, &url, span.file_offset, span.len).await {
            Ok(bytes) => data.extend_from_slice(&bytes),
            Err(e) => return (data, Some((e, span.file))),
        }
    }
    data.resize(len as usize, 0);
    (data, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::FileEntry;

    fn info(multi: bool) -> Info {
        Info {
            name: "My Album".into(),
            piece_length: 16384,
            pieces: Arc::from([]),
            files: FileEntry::end_to_end([
                (vec!["cd 1".into(), "a&b.flac".into()], 20_000),
                (vec!["c.txt".into()], 30_000),
            ]),
            stream_length: 50_000,
            multi_file: multi,
            private: false,
            source: None,
            v2: None,
        }
    }

    #[test]
    fn urls_as_bep_19_builds_them() {
        let multi = info(true);
        assert_eq!(
            file_url("http://h/seed/", &multi, 0),
            "http://h/seed/My%20Album/cd%201/a%26b.flac"
        );
        assert_eq!(
            file_url("http://h/seed", &multi, 1),
            "http://h/seed/My%20Album/c.txt"
        );
        let single = info(false);
        assert_eq!(file_url("http://h/f.iso", &single, 0), "http://h/f.iso");
        assert_eq!(file_url("http://h/d/", &single, 0), "http://h/d/My%20Album");
    }

    #[test]
    fn requests_go_out_as_contiguous_runs() {
        let layout = Layout::new(32768, [100_000]);
        let b = |piece: u32, block: u32| BlockRef {
            piece,
            begin: block * 16384,
            length: 16384,
        };
        let grouped = runs(&layout, vec![b(1, 1), b(0, 1), b(1, 0), b(0, 1), b(2, 1)]);
        assert_eq!(
            grouped,
            vec![vec![b(0, 1), b(1, 0), b(1, 1)], vec![b(2, 1)]]
        );
        // A long run is cut at MAX_RUN bytes: 5 MiB of blocks make runs of 4 MiB and 1 MiB.
        let layout = Layout::new(1 << 20, [10 << 20]);
        let many: Vec<BlockRef> = (0..5).flat_map(|p| (0..64).map(move |k| b(p, k))).collect();
        let sizes: Vec<usize> = runs(&layout, many).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [256, 64]);
    }

    #[test]
    fn a_missing_file_takes_its_pieces_out_of_the_offer() {
        // 20,000 + 30,000 bytes over 16 KiB pieces: 0 = f0, 1 = f0+f1, 2 and 3 = f1.
        let layout = Layout::new(16384, [20_000, 30_000]);
        let missing: HashSet<usize> = [0].into();
        assert_eq!(
            offered(&layout, &missing).ones().collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(offered(&layout, &HashSet::new()).is_full());
    }
}
