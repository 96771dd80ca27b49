//! The swarm store without sockets: counts, caps, quotas, families, expiry, compact entries.
use super::*;
use std::net::Ipv4Addr;

fn announce(hash: u8, peer: u8, left: u64, event: AnnounceEvent) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([hash; 20]),
        peer_id: [peer; 20],
        port: 6000 + peer as u16,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: 50,
        compact: true,
        no_peer_id: false,
    }
}

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[test]
fn peers_see_each_other_but_never_themselves() {
    let store = SwarmStore::new(Duration::from_secs(60));
    let r = store
        .announce(&announce(1, 1, 10, AnnounceEvent::Started), IP)
        .unwrap();
    assert!(r.peers.is_empty());
    let r = store
        .announce(&announce(1, 2, 0, AnnounceEvent::Started), IP)
        .unwrap();
    assert_eq!(r.peers.len(), 1);
    assert_eq!(r.peers[0].port(), 6001);
    assert_eq!((r.complete, r.incomplete), (1, 1));
    let r = store
        .announce(&announce(1, 1, 10, AnnounceEvent::None), IP)
        .unwrap();
    assert_eq!(
        r.peers.iter().map(|p| p.port()).collect::<Vec<_>>(),
        vec![6002]
    );
    assert_eq!(store.peer_count(), 2);
    assert_eq!(store.torrent_count(), 1);
}

#[test]
fn completed_and_stopped_update_counts() {
    let store = SwarmStore::new(Duration::from_secs(60));
    store
        .announce(&announce(1, 1, 10, AnnounceEvent::Started), IP)
        .unwrap();
    store
        .announce(&announce(1, 1, 0, AnnounceEvent::Completed), IP)
        .unwrap();
    assert_eq!(
        store.scrape(&InfoHash([1; 20])),
        ScrapeEntry {
            complete: 1,
            downloaded: 1,
            incomplete: 0
        }
    );
    store
        .announce(&announce(1, 1, 0, AnnounceEvent::Stopped), IP)
        .unwrap();
    assert_eq!(store.scrape(&InfoHash([1; 20])), ScrapeEntry::default());
    assert_eq!((store.torrent_count(), store.peer_count()), (0, 0));
}

#[test]
fn numwant_caps_the_list_and_seeds_get_leechers_first() {
    let store = SwarmStore::new(Duration::from_secs(60));
    for p in 0..30 {
        store
            .announce(&announce(1, p, (p % 2) as u64, AnnounceEvent::Started), IP)
            .unwrap();
    }
    let mut a = announce(1, 100, 5, AnnounceEvent::None);
    a.numwant = 7;
    assert_eq!(store.announce(&a, IP).unwrap().peers.len(), 7);
    let mut seed = announce(1, 101, 0, AnnounceEvent::None);
    seed.numwant = 16;
    let r = store.announce(&seed, IP).unwrap();
    assert_eq!(r.peers.len(), 16, "15 odd-numbered leechers plus peer 100");
    assert!(
        r.peers
            .iter()
            .all(|p| (p.port() - 6000) % 2 == 1 || p.port() == 6100),
        "{r:?}"
    );
    seed.numwant = 100;
    let r = store.announce(&seed, IP).unwrap();
    assert_eq!(r.peers.len(), 31, "then the seeds: everyone but itself");
}

#[test]
fn a_flood_of_torrents_is_bounded_and_expiry_frees_it() {
    let store = SwarmStore::with_limits(Duration::from_secs(1), 100, 150);
    let mut full = 0;
    for i in 0..300u32 {
        let mut a = announce(0, 0, 1, AnnounceEvent::Started);
        a.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
        a.info_hash.0[0] = i as u8;
        if store.announce(&a, IP).is_err() {
            full += 1;
        }
    }
    assert_eq!(store.torrent_count(), 100);
    assert_eq!(full, 200);
    assert_eq!(store.expire(), 0, "nothing is stale yet");
    store.advance_clock(Duration::from_secs(1));
    assert_eq!(store.expire(), 0, "a peer lasts its whole timeout");
    store.advance_clock(Duration::from_secs(1));
    assert_eq!(store.expire(), 100);
    assert_eq!((store.torrent_count(), store.peer_count()), (0, 0));
}

#[test]
fn one_source_holds_a_bounded_share_and_loopback_is_exempt() {
    let store = SwarmStore::new(Duration::from_secs(60)).with_source_limit(10);
    let from = |ip: &str| ip.parse::<IpAddr>().unwrap();
    let flood = |ip: &str, peer: u8| {
        (0..50u8)
            .filter(|&t| {
                store.announce(&announce(t, peer, 1, AnnounceEvent::Started), from(ip))
                    == Err(Full::Source)
            })
            .count()
    };
    assert_eq!(flood("10.0.0.1", 1), 40, "10 of 50 torrents stored");
    assert_eq!(
        store
            .announce(&announce(0, 1, 1, AnnounceEvent::None), from("10.0.0.1"))
            .map(|_| ()),
        Ok(()),
        "a peer already stored re-announces"
    );
    // Another address of the same IPv6 /64 shares its share; another /64 does not.
    assert_eq!(flood("2001:db8:1:2::1", 2), 40);
    assert_eq!(flood("2001:db8:1:2::ffff", 3), 50);
    assert_eq!(flood("2001:db8:1:3::1", 4), 40);
    assert_eq!(flood("127.0.0.1", 5), 0, "loopback is not counted");
    assert_eq!(flood("10.0.0.2", 6), 40);
    // Leaving gives the share back.
    store
        .announce(&announce(0, 1, 1, AnnounceEvent::Stopped), from("10.0.0.1"))
        .unwrap();
    assert_eq!(flood("10.0.0.1", 7), 49);
    assert_eq!(
        Full::Source.to_string(),
        "too many peers announced from this address"
    );
}

#[test]
fn compact_addresses_round_trip_and_sizes_stay_small() {
    for a in [
        "1.2.3.4:5",
        "[2001:db8::1]:6881",
        "[::1]:1",
        "0.0.0.0:65535",
        "[::ffff:1.2.3.4]:80",
    ] {
        let addr: SocketAddr = a.parse().unwrap();
        let back = match Compact::new(addr.ip(), addr.port()) {
            Compact::V4(a) => Slot { addr: a, stamp: 0 }.socket_addr(),
            Compact::V6(a) => Slot { addr: a, stamp: 0 }.socket_addr(),
        };
        assert_eq!(back, SocketAddr::new(canonical_ip(addr.ip()), addr.port()));
    }
    assert_eq!(std::mem::size_of::<Slot<6>>(), 7);
    assert_eq!(std::mem::size_of::<Slot<18>>(), 19);
    assert_eq!(std::mem::size_of::<Swarm>(), 40);
    assert_eq!(std::mem::size_of::<(InfoHash, Swarm)>(), 64);
}

#[test]
fn a_peer_is_its_address() {
    let store = SwarmStore::new(Duration::from_secs(60));
    let mut a = announce(1, 1, 10, AnnounceEvent::Started);
    store.announce(&a, IP).unwrap();
    // Restarted with a fresh peer id on the same port: the same entry, now a seed.
    a.peer_id = [9; 20];
    a.left = 0;
    let r = store.announce(&a, IP).unwrap();
    assert_eq!((r.complete, r.incomplete, store.peer_count()), (1, 0, 1));
    // The same port from another address is another peer, and each sees the other.
    let other: IpAddr = "10.1.1.1".parse().unwrap();
    let r = store.announce(&a, other).unwrap();
    assert_eq!(r.peers, vec![SocketAddr::new(IP, 6001)]);
    assert_eq!(store.peer_count(), 2);
    // A stop names the address it comes from and the port it announces.
    a.event = AnnounceEvent::Stopped;
    store.announce(&a, other).unwrap();
    assert_eq!((store.peer_count(), store.seed_count()), (1, 1));
    assert_eq!(store.scrape(&InfoHash([1; 20])).complete, 1);
}

#[test]
fn both_families_are_kept_and_the_askers_comes_first() {
    let store = SwarmStore::new(Duration::from_secs(60));
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
    for (peer, ip) in [(1, IP), (2, v6), (3, mapped)] {
        store
            .announce(&announce(1, peer, 5, AnnounceEvent::Started), ip)
            .unwrap();
    }
    assert_eq!(store.peer_count(), 3);
    let mut a = announce(1, 4, 5, AnnounceEvent::Started);
    a.numwant = 1;
    let r = store.announce(&a, v6).unwrap();
    assert_eq!(r.peers, vec![SocketAddr::new(v6, 6002)], "IPv6 first");
    a.numwant = 50;
    let r = store.announce(&a, "10.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(r.peers.len(), 4, "both families: {r:?}");
    assert!(r.peers[..2].iter().all(|p| p.is_ipv4()), "{r:?}");
    assert_eq!(
        r.peers
            .iter()
            .filter(|p| p.ip() == IpAddr::V4("10.0.0.9".parse().unwrap()))
            .count(),
        1,
        "a mapped address is its IPv4 one"
    );
    // Stop and expiry take IPv6 peers too.
    store
        .announce(&announce(1, 2, 5, AnnounceEvent::Stopped), v6)
        .unwrap();
    assert_eq!(store.peer_count(), 4);
}

#[test]
fn a_large_swarm_stays_sorted_and_every_peer_is_found_again() {
    let store = SwarmStore::new(Duration::from_secs(60));
    let mut rng = Rng::seeded(7);
    let mut ports: Vec<u16> = (1..=5000).collect();
    for i in (1..ports.len()).rev() {
        ports.swap(i, rng.below(i + 1));
    }
    for &port in &ports {
        let mut a = announce(3, 0, 1, AnnounceEvent::Started);
        a.port = port;
        store.announce(&a, IP).unwrap();
    }
    assert_eq!(store.peer_count(), 5000);
    // Half of them complete, found by address among the 5,000.
    for (k, &port) in ports[..2500].iter().enumerate() {
        let mut a = announce(3, 0, 0, AnnounceEvent::Completed);
        a.port = port;
        a.numwant = 0;
        let r = store.announce(&a, IP).unwrap();
        assert_eq!((r.complete, r.incomplete), (k + 1, 5000 - k - 1));
    }
    assert_eq!(store.scrape(&InfoHash([3; 20])).downloaded, 2500);
    assert_eq!((store.peer_count(), store.seed_count()), (5000, 2500));
    for &port in &ports {
        let mut a = announce(3, 0, 1, AnnounceEvent::Stopped);
        a.port = port;
        store.announce(&a, IP).unwrap();
    }
    assert_eq!(
        (
            store.peer_count(),
            store.seed_count(),
            store.torrent_count()
        ),
        (0, 0, 0)
    );
}

#[test]
fn ticks_wrap_without_reviving_or_killing_peers() {
    let clock = Clock::new(Duration::from_secs(3600));
    assert_eq!((clock.tick_secs, clock.timeout), (113, 32));
    assert!(!clock.expired(120, 120));
    assert!(
        !clock.expired(120, 120u8.wrapping_add(32) & TICKS),
        "32 ticks is not stale"
    );
    assert!(
        clock.expired(120, 120u8.wrapping_add(33) & TICKS),
        "33 ticks is"
    );
    assert!(clock.expired(3, 127), "124 ticks old");
    assert!(!clock.expired(120, 3), "11 ticks old, across the wrap");
    let quick = Clock::new(Duration::from_secs(1));
    assert_eq!((quick.tick_secs, quick.timeout), (1, 1));
}

#[test]
fn mapped_ipv4_is_ipv4() {
    let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
    assert_eq!(canonical_ip(mapped), "1.2.3.4".parse::<IpAddr>().unwrap());
}
