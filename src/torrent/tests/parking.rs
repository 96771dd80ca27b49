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

/// Whether the task, ended, left every piece verified for its owner.
fn handed_back_whole(stats: &Stats) -> bool {
    let have = stats.final_have.lock().unwrap().take();
    have.is_some_and(|h| h.is_full())
}

/// The torrent parked, as its task ends parking.
fn parked(h: Harness) -> Box<parking::Parked> {
    match parking::park(Box::new(h.task), h.ctrl) {
        parking::End::Parked(p) => p,
        parking::End::Done(_) => unreachable!("park parks"),
    }
}

#[test]
fn a_parked_seed_starts_again_where_it_stopped() {
    let mut h = parking_seed(Some("http://127.0.0.1:9/announce"));
    let now = Instant::now();
    let started = h.task.schedule.due(now).expect("the first announce is due");
    let interval = Duration::from_secs(1800);
    h.task.schedule.on_result(started, Ok(interval), false, now);
    let peer = SocketAddr::from(([127, 0, 0, 1], 7000));
    h.task.dialer.add(peer, true, now + Duration::from_secs(60));
    let stats = h.task.stats.clone();
    let parked = parked(h);
    assert_eq!(
        parked.wake_at,
        now + Duration::from_secs(60),
        "its next dial"
    );
    assert!(handed_back_whole(&stats), "its pieces are handed back");
    let mut again = parking_seed(Some("http://127.0.0.1:9/announce"));
    assert!(
        again.task.wake_at() <= Instant::now(),
        "a new task announces at once"
    );
    again.task.resume_from(*parked);
    assert_eq!(again.task.wake_at(), now + Duration::from_secs(60));
    assert_eq!(
        again.task.schedule.next_at(),
        now + interval,
        "no second `started`: its next announce is the one it had"
    );
    assert_eq!(
        again.task.schedule.farewell(),
        [crate::tracker::AnnounceEvent::Stopped],
        "it tells the tracker it stops"
    );
}

#[test]
fn what_reaches_a_task_as_it_parks_is_kept_for_the_next_and_a_peer_list_is_answered() {
    let h = parking_seed(None);
    let tx = h.task.ctrl.clone();
    let mut parked = parked(h);
    let (reply, answer) = async_std::channel::bounded(1);
    tx.try_send(Event::Peers(reply)).unwrap();
    tx.try_send(Event::Reannounce).unwrap();
    assert!(
        parked.settle(),
        "an event to handle: it starts again at once"
    );
    assert!(
        matches!(answer.try_recv(), Ok(p) if p.is_empty()),
        "no peers"
    );
    assert!(matches!(parked.take_pending()[..], [Event::Reannounce]));
    let h = parking_seed(None);
    assert!(!parked_with_nothing(h), "nothing came: it stays parked");
}

fn parked_with_nothing(h: Harness) -> bool {
    parked(h).settle()
}

#[test]
fn a_parking_seed_parks_at_its_start_without_running_and_is_started_again_to_stop() {
    let h = parking_seed(None);
    let Task {
        meta,
        store,
        config,
        ..
    } = h.task;
    let have = || {
        let mut have = Bitfield::new(4);
        (0..4).for_each(|p| {
            have.set(p);
        });
        have
    };
    let (tx, ends) = async_std::channel::unbounded();
    let spawn = |parked: Option<Box<parking::Parked>>| {
        let tx = tx.clone();
        let config = Config {
            options: Options {
                keep_seeding: true,
                park_after: Some(AFTER),
                parked,
                ..Options::default()
            },
            ..Config {
                peer_id: config.peer_id,
                listen: config.listen,
                options: Options::default(),
                dht: None,
            }
        };
        let on_end = move |end| drop(tx.try_send(end));
        super::super::spawn(
            meta.clone(),
            store.clone(),
            have(),
            config,
            Box::new(on_end),
        )
    };
    let end = |ends: &Receiver<parking::End>| {
        crate::runtime::block_on(crate::runtime::within(Duration::from_secs(10), ends.recv()))
            .expect("the task ends within 10 s")
            .unwrap()
    };
    let first = spawn(None);
    let parking::End::Parked(mut parked) = end(&ends) else {
        panic!("a seed with nothing due parks at once")
    };
    assert!(
        parked.wake_at > Instant::now() + Duration::from_secs(86_000),
        "nothing due for a day"
    );
    drop(first);
    parked.push(Event::Stop);
    let second = spawn(Some(parked));
    assert!(matches!(end(&ends), parking::End::Done(Ok(()))), "it stops");
    assert!(
        handed_back_whole(&second.stats),
        "its pieces are handed back"
    );
}
