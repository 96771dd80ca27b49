//! Parking (see `parking.rs`): when an idle seed may park, what wakes it, and a parked
//! torrent's run from its start to its stop.
use super::*;
use crate::peer::PeerError;
use crate::torrent::parking;

const AFTER: Duration = Duration::from_secs(10);

/// A complete seed in a node that parks its idle seeds.
fn parking_seed(announce: Option<&str>) -> Harness {
    let mut h = harness_for(4, B, true, announce);
    h.task.config.options.park_after = Some(AFTER);
    h
}

#[test]
fn an_idle_seed_parks_only_after_the_wait_with_no_peer() {
    let mut h = parking_seed(None);
    let start = h.task.last_peer_at;
    assert!(!h.task.may_park(start + AFTER / 2), "not before the wait");
    assert!(h.task.may_park(start + AFTER));
    let _rx = h.connect(1);
    assert!(!h.task.may_park(start + AFTER * 2), "not with a peer");
    h.event(Event::Peer(1, PeerEvent::Closed(PeerError::Closed)));
    let left = h.task.last_peer_at;
    assert!(
        !h.task.may_park(left + AFTER / 2),
        "the wait starts again when the last peer leaves"
    );
    assert!(h.task.may_park(left + AFTER));
}

#[test]
fn a_download_a_fetch_that_ends_and_a_node_that_does_not_park_never_park() {
    let later = Instant::now() + AFTER * 10;
    let mut h = harness(4, B, false);
    h.task.config.options.park_after = Some(AFTER);
    assert!(!h.task.may_park(later), "incomplete");
    let mut h = parking_seed(None);
    h.task.config.options.keep_seeding = false;
    assert!(!h.task.may_park(later), "a fetch that ends once complete");
    let h = harness(4, B, true);
    assert!(
        !h.task.may_park(later),
        "no park_after: a command's torrent"
    );
}

#[test]
fn a_parked_seed_wakes_for_its_next_announce_or_dial_and_not_while_one_is_under_way() {
    let mut h = parking_seed(Some("http://127.0.0.1:9/announce"));
    let now = Instant::now();
    // Its first announce is due at once.
    assert!(h.task.wake_at() <= now);
    let Some(event) = h.task.schedule.due(now) else {
        panic!("the first announce is due");
    };
    assert!(
        !h.task.may_park(now + AFTER * 2),
        "never with an announce under way"
    );
    let interval = Duration::from_secs(1800);
    h.task.schedule.on_result(event, Ok(interval), false, now);
    assert!(h.task.may_park(h.task.last_peer_at + AFTER));
    assert_eq!(h.task.wake_at(), now + interval, "its next announce");
    // A peer to dial again in a minute wakes it sooner.
    let peer = SocketAddr::from(([127, 0, 0, 1], 7000));
    h.task.dialer.add(peer, true, now + Duration::from_secs(60));
    assert_eq!(h.task.wake_at(), now + Duration::from_secs(60));
}

#[test]
fn with_nothing_due_a_parked_seed_sleeps_a_day_at_most() {
    let h = parking_seed(None);
    let wake = h.task.wake_at();
    assert!(wake > Instant::now() + Duration::from_secs(86_000));
    assert!(wake <= Instant::now() + Duration::from_secs(86_400));
}

/// Until `parked` says `want` (bounded: 5 s).
fn until_parked(stats: &Stats, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.parked.load(Ordering::Relaxed) != want {
        assert!(Instant::now() < deadline, "parked never became {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_parked_seed_answers_for_its_peers_wakes_parks_again_and_wakes_to_stop() {
    let mut h = parking_seed(None);
    // Parks at its first tick once woken.
    h.task.config.options.park_after = Some(Duration::ZERO);
    let Harness {
        task, ctrl, _dir, ..
    } = h;
    let (tx, stats) = (task.ctrl.clone(), task.stats.clone());
    let run = crate::runtime::spawn(parking::run(Box::new(task), ctrl, None));
    crate::runtime::block_on(async {
        let (reply, answer) = async_std::channel::bounded(1);
        tx.send(Event::Peers(reply)).await.unwrap();
        let peers = crate::runtime::within(Duration::from_secs(5), answer.recv()).await;
        assert!(
            matches!(peers, Some(Ok(p)) if p.is_empty()),
            "answered while parked"
        );
    });
    assert!(stats.parked.load(Ordering::Relaxed), "it starts parked");
    crate::runtime::block_on(tx.send(Event::Reannounce)).unwrap();
    until_parked(&stats, false);
    until_parked(&stats, true);
    crate::runtime::block_on(tx.send(Event::Stop)).unwrap();
    let ended = crate::runtime::block_on(crate::runtime::within(Duration::from_secs(10), run));
    assert!(matches!(ended, Some(Ok(()))), "woken to stop, it ends");
    let have = stats.final_have.lock().unwrap().take();
    assert!(
        have.is_some_and(|h| h.is_full()),
        "its pieces are handed back"
    );
}
